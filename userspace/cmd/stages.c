// SPDX-License-Identifier: GPL-2.0
/*
 * sluice stages - where the time of ublk requests goes, per served disk:
 * driver to server, the server's filters down, the backing, the filters up,
 * and the commit back to the block layer. Kernel side from the ublk
 * driver's request path (kprobe by BTF name, or the block tracepoints),
 * server side from sluice's USDT probes.
 *
 * JSON (--json): one object per interval: {"interval_s", "hook"
 * ("kprobe"|"tracepoint"), "disks": [{"id", "device", "stages": [{"stage",
 * "count", "avg_us", "p50_us", "p99_us"}]}]}. Percentiles are the upper
 * bounds of log2 buckets.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "lib/json.h"
#include "lib/log.h"
#include "loader/ublk_stages.h"

#define MAX_IDS	SLUICE_UBLK_MAX_DISKS


struct disk_hist {
	uint32_t id;
	struct sluice_ublk_stage_val prev[SLUICE_UBLK_STAGES];
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice stages [--interval D] [--count N] [--json] [--server PATH]\n"
		"\n"
		"Per ublk disk served by sluice, where request time goes: driver to server\n"
		"(to_server), the filters on the way down (filters_down), the backing, the\n"
		"filters on the way up (filters_up), the commit back to the block layer\n"
		"(to_kernel) and the total. Count, mean and log2-bucket p50/p99 per interval.\n"
		"\n"
		"Options:\n"
		"  --interval D   time per report (default 1s; 500ms, 5s, a bare number is\n"
		"                 seconds)\n"
		"  --count N      stop after N reports (default: until interrupted)\n"
		"  --json         one JSON object per report\n"
		"  --server PATH  the sluice binary the servers run (default: this one)\n"
		"  -h, --help     this text\n"
		"\n"
		"Examples:\n"
		"  sluice stages\n"
		"  sluice stages --interval 5 --count 1 --json | jq '.disks[0].stages'\n");
}

static double pct_us(const struct sluice_ublk_stage_val *v, double p)
{
	uint64_t want, acc = 0;
	int i;

	if (!v->count)
		return 0;
	want = (uint64_t)(v->count * p + 0.999999);
	for (i = 0; i < SLUICE_UBLK_SLOTS; i++) {
		acc += v->slots[i];
		if (acc >= want)
			return (double)(2ull << i) / 1000.0;
	}
	return (double)(2ull << (SLUICE_UBLK_SLOTS - 1)) / 1000.0;
}

static void delta(const struct sluice_ublk_stage_val *now, const struct sluice_ublk_stage_val *prev,
		  struct sluice_ublk_stage_val *d)
{
	int i;

	d->count = now->count - prev->count;
	d->sum_ns = now->sum_ns - prev->sum_ns;
	for (i = 0; i < SLUICE_UBLK_SLOTS; i++)
		d->slots[i] = now->slots[i] - prev->slots[i];
}

static int list_ids(uint32_t *ids, int max)
{
	struct dirent *de;
	DIR *d = opendir("/sys/block");
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		char *end;
		unsigned long id;

		if (strncmp(de->d_name, "ublkb", 5))
			continue;
		id = strtoul(de->d_name + 5, &end, 10);
		if (!*end)
			ids[n++] = id;
	}
	closedir(d);
	return n;
}

static struct disk_hist *find_disk(struct disk_hist *h, int *n, uint32_t id)
{
	int i;

	for (i = 0; i < *n; i++)
		if (h[i].id == id)
			return &h[i];
	if (*n >= MAX_IDS)
		return NULL;
	memset(&h[*n], 0, sizeof(h[*n]));
	h[*n].id = id;
	return &h[(*n)++];
}

static void report(struct ublk_stages *s, struct disk_hist *hist, int *nhist, bool json,
		   uint64_t interval_ns, struct json_writer *w)
{
	struct sluice_ublk_stage_val now[SLUICE_UBLK_STAGES], d;
	uint32_t ids[MAX_IDS];
	enum sluice_ublk_stage st;
	int n, i;

	n = list_ids(ids, MAX_IDS);
	if (json) {
		json_obj_open(w);
		json_kv_double(w, "interval_s", interval_ns / 1e9);
		json_kv_str(w, "hook", ublk_stages_uses_kprobe(s) ? "kprobe" : "tracepoint");
		json_key(w, "disks");
		json_arr_open(w);
	} else {
		printf("%-12s %-13s %9s %10s %10s %10s\n", "DEVICE", "STAGE", "COUNT", "AVG(us)",
		       "P50(us)", "P99(us)");
	}
	for (i = 0; i < n; i++) {
		struct disk_hist *h = find_disk(hist, nhist, ids[i]);
		char dev[32];

		if (!h)
			continue;
		if (ublk_stages_read(s, ids[i], now))
			memset(now, 0, sizeof(now));
		snprintf(dev, sizeof(dev), "/dev/ublkb%u", ids[i]);
		if (json) {
			json_obj_open(w);
			json_kv_u64(w, "id", ids[i]);
			json_kv_str(w, "device", dev);
			json_key(w, "stages");
			json_arr_open(w);
		}
		for (st = 0; st < SLUICE_UBLK_STAGES; st++) {
			double avg;

			delta(&now[st], &h->prev[st], &d);
			avg = d.count ? d.sum_ns / 1000.0 / d.count : 0;
			if (json) {
				json_obj_open(w);
				json_kv_str(w, "stage", ublk_stage_name(st));
				json_kv_u64(w, "count", d.count);
				json_kv_double(w, "avg_us", avg);
				json_kv_double(w, "p50_us", pct_us(&d, 0.5));
				json_kv_double(w, "p99_us", pct_us(&d, 0.99));
				json_obj_close(w);
			} else {
				printf("%-12s %-13s %9llu %10.1f %10.1f %10.1f\n",
				       st ? "" : dev, ublk_stage_name(st), d.count, avg,
				       pct_us(&d, 0.5), pct_us(&d, 0.99));
			}
		}
		memcpy(h->prev, now, sizeof(now));
		if (json) {
			json_arr_close(w);
			json_obj_close(w);
		}
	}
	if (json) {
		json_arr_close(w);
		json_obj_close(w);
		json_end(w);
	} else {
		if (!n)
			printf("(no ublk disks)\n");
		printf("\n");
		fflush(stdout);
	}
}

struct stages_opts {
	uint64_t interval_ns;
	uint64_t count;			/* 0 = until interrupted */
	bool json;
	const char *server;
};

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct stages_opts *o)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "server", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, err = 0;

	o->interval_ns = NSEC_PER_SEC;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			err = parse_duration_argument("--interval", optarg, 10 * NSEC_PER_MSEC, 0,
						      &o->interval_ns);
			break;
		case 'c':
			err = parse_count_argument("--count", optarg, 1, UINT64_MAX, &o->count);
			break;
		case 'j':
			o->json = true;
			break;
		case 's':
			o->server = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (err)
			return err;
	}
	if (optind < argc)
		return args_unexpected("stages", argv[optind]);
	return 1;
}

/* Disks come and go: the programs learn them within a second. */
static void wait_refreshing(struct ublk_stages *s, uint64_t ns)
{
	uint64_t step;
	struct timespec ts;

	while (ns) {
		step = ns < NSEC_PER_SEC ? ns : NSEC_PER_SEC;
		ublk_stages_refresh(s);
		ts.tv_sec = step / NSEC_PER_SEC;
		ts.tv_nsec = step % NSEC_PER_SEC;
		nanosleep(&ts, NULL);
		ns -= step;
	}
}

int cmd_stages(int argc, char **argv)
{
	static struct disk_hist hist[MAX_IDS];
	struct stages_opts o = {};
	char self[PATH_MAX];
	const char *server;
	struct ublk_stages *s;
	struct json_writer w;
	int nhist = 0, err;
	bool forever;
	ssize_t len;

	err = parse_argv(argc, argv, &o);
	if (err <= 0)
		return args_exit_status(err);
	server = o.server;
	if (!server) {
		len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (len < 0) {
			log_err("/proc/self/exe: %s; give --server PATH", strerror(errno));
			return 1;
		}
		self[len] = '\0';
		server = self;
	}
	log_setup_libbpf();
	err = ublk_stages_open(&s, server);
	if (err) {
		log_err("loading the ublk stage probes failed: %s; run as root, and check "
			"'sluice doctor' (BPF, BTF, kprobes) and that %s has USDT probes",
			strerror(-err), server);
		return 1;
	}
	forever = !o.count;
	while (forever || o.count-- > 0) {
		wait_refreshing(s, o.interval_ns);
		json_init(&w, stdout);
		report(s, hist, &nhist, o.json, o.interval_ns, &w);
	}
	ublk_stages_close(s);
	return 0;
}
