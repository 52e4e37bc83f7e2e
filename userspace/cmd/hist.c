// SPDX-License-Identifier: GPL-2.0
/*
 * sluice hist - latency histograms per disk (and per class and cgroup with
 * --classes), collected for --duration, while a command runs, or until ^C,
 * drawn as bars per power of two with percentiles from the full log-linear
 * precision (16 sub-buckets per power of two).
 *
 * JSON (--json): {"lat": "total", "disks": [{"dev", "name", "streams": [
 *   {"class", "cgroup_id", "cgroup", "dir", "count", "p50", "p99", "p999",
 *    "buckets": [{"ge": ns, "lt": ns, "count": n}]}]}]}; without --classes
 * each disk has one stream per direction with class and cgroup omitted.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "cmd/meter_cli.h"
#include "lib/disks.h"
#include "lib/hist.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/units.h"

static const char *const dir_names[SLUICE_DIR_MAX] = { "read", "write", "other" };
static const char *const lat_names[SLUICE_LAT_MAX] = { "queue", "device", "total" };

struct hrow {
	struct sluice_hist_key key;	/* class/cgroup zero unless --classes */
	unsigned long long b[SLUICE_HIST_BUCKETS];
};

static int cmp_rows(const void *a, const void *b)
{
	const struct sluice_hist_key *x = &((const struct hrow *)a)->key;
	const struct sluice_hist_key *y = &((const struct hrow *)b)->key;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->class_id != y->class_id)
		return x->class_id < y->class_id ? -1 : 1;
	if (x->cgroup_id != y->cgroup_id)
		return x->cgroup_id < y->cgroup_id ? -1 : 1;
	return (int)x->dir - (int)y->dir;
}

/* Fold the map's streams into rows; *rows is malloc'ed. */
static int fold(struct meter *m, unsigned int dev, bool classes, int lat,
		struct hrow **rows, size_t *nr)
{
	struct meter_hist *h = NULL;
	struct hrow *r = NULL, *tmp;
	size_t n = 0, i, j;
	struct sluice_hist_key k;
	int err;

	err = meter_read_hists(m, &h, &n);
	if (err)
		return err;
	*nr = 0;
	for (i = 0; i < n; i++) {
		if (dev && h[i].key.dev != dev)
			continue;
		k = h[i].key;
		if (!classes) {
			k.class_id = 0;
			k.cgroup_id = 0;
		}
		for (j = 0; j < *nr; j++)
			if (!memcmp(&r[j].key, &k, sizeof(k)))
				break;
		if (j == *nr) {
			tmp = realloc(r, (*nr + 1) * sizeof(*r));
			if (!tmp) {
				err = -ENOMEM;
				break;
			}
			r = tmp;
			memset(&r[j], 0, sizeof(r[j]));
			r[j].key = k;
			(*nr)++;
		}
		hist_merge(r[j].b, h[i].val.buckets[lat]);
	}
	free(h);
	if (err) {
		free(r);
		return err;
	}
	qsort(r, *nr, sizeof(*r), cmp_rows);
	*rows = r;
	return 0;
}

static void print_bars(const struct hrow *r, bool classes)
{
	unsigned long long pow2[SLUICE_HIST_MAX_LOG2 + 1] = {}, max = 0;
	char name[192], cg[128], lo[16], hi[16], p[3][16];
	unsigned int i, first = SLUICE_HIST_MAX_LOG2 + 1, last = 0, bits;
	int width, n, room;
	size_t len;

	for (i = 0; i < SLUICE_HIST_BUCKETS; i++) {
		uint64_t l = hist_lower(i);

		bits = l ? 63 - __builtin_clzll(l) + 1 : 0;
		if (bits > SLUICE_HIST_MAX_LOG2)
			bits = SLUICE_HIST_MAX_LOG2;
		pow2[bits] += r->b[i];
	}
	for (i = 0; i <= SLUICE_HIST_MAX_LOG2; i++) {
		if (!pow2[i])
			continue;
		if (i < first)
			first = i;
		last = i;
		if (pow2[i] > max)
			max = pow2[i];
	}
	disk_label(r->key.dev, name, sizeof(name));
	n = printf("%s %s", name, dir_names[r->key.dir]);
	if (classes) {
		/* a cgroup path can fill a line: the numbers go on the next one */
		meter_cli_cgroup_label(r->key.cgroup_id, cg, sizeof(cg));
		n += printf("  class %u  cgroup ", r->key.class_id);
		room = 80 - n - 1;
		len = strlen(cg);
		if (room >= 8 && len > (size_t)room + 1)
			printf("~%s\n ", cg + len - room);
		else
			printf("%s\n ", cg);
	} else {
		putchar(':');
	}
	printf(" %llu I/Os  p50 %s  p99 %s  p99.9 %s\n", (unsigned long long)hist_count(r->b),
	       units_fmt_ns(hist_percentile(r->b, 0.5), p[0], sizeof(p[0])),
	       units_fmt_ns(hist_percentile(r->b, 0.99), p[1], sizeof(p[1])),
	       units_fmt_ns(hist_percentile(r->b, 0.999), p[2], sizeof(p[2])));
	for (i = first; i <= last && max; i++) {
		units_fmt_ns(i ? (double)(1ull << (i - 1)) : 0, lo, sizeof(lo));
		units_fmt_ns((double)(1ull << i), hi, sizeof(hi));
		width = (int)(pow2[i] * 40 / max);
		printf("  %7s .. %-7s %10llu |%-40.*s|\n", lo, hi, pow2[i], width,
		       "****************************************");
	}
	putchar('\n');
}

static void json_row(struct json_writer *w, const struct hrow *r, bool classes)
{
	char cg[256];
	unsigned int i;

	json_obj_open(w);
	if (classes) {
		json_kv_u64(w, "class", r->key.class_id);
		json_kv_u64(w, "cgroup_id", r->key.cgroup_id);
		meter_cli_cgroup_label(r->key.cgroup_id, cg, sizeof(cg));
		json_kv_str(w, "cgroup", cg);
	}
	json_kv_str(w, "dir", dir_names[r->key.dir < SLUICE_DIR_MAX ? r->key.dir : 2]);
	json_kv_u64(w, "count", hist_count(r->b));
	json_kv_double(w, "p50", hist_percentile(r->b, 0.5));
	json_kv_double(w, "p99", hist_percentile(r->b, 0.99));
	json_kv_double(w, "p999", hist_percentile(r->b, 0.999));
	json_key(w, "buckets");
	json_arr_open(w);
	for (i = 0; i < SLUICE_HIST_BUCKETS; i++) {
		if (!r->b[i])
			continue;
		json_obj_open(w);
		json_kv_u64(w, "ge", hist_lower(i));
		if (i + 1 < SLUICE_HIST_BUCKETS)
			json_kv_u64(w, "lt", hist_upper(i));
		json_kv_u64(w, "count", r->b[i]);
		json_obj_close(w);
	}
	json_arr_close(w);
	json_obj_close(w);
}

static int print_json(const struct hrow *rows, size_t n, bool classes, int lat)
{
	struct json_writer w;
	char buf[128];
	size_t i;

	json_init(&w, stdout);
	json_obj_open(&w);
	json_kv_str(&w, "lat", lat_names[lat]);
	json_key(&w, "disks");
	json_arr_open(&w);
	for (i = 0; i < n; i++) {
		if (i == 0 || rows[i].key.dev != rows[i - 1].key.dev) {
			if (i)
				json_arr_close(&w), json_obj_close(&w);
			json_obj_open(&w);
			snprintf(buf, sizeof(buf), "%u:%u", SLUICE_MAJOR(rows[i].key.dev),
				 SLUICE_MINOR(rows[i].key.dev));
			json_kv_str(&w, "dev", buf);
			disk_name(rows[i].key.dev, buf, sizeof(buf));
			json_kv_str(&w, "name", buf);
			json_key(&w, "streams");
			json_arr_open(&w);
		}
		json_row(&w, &rows[i], classes);
	}
	if (n)
		json_arr_close(&w), json_obj_close(&w);
	json_arr_close(&w);
	json_obj_close(&w);
	return json_end(&w);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice hist [OPTIONS] [-- COMMAND [ARGS...]]\n"
		"\n"
		"Collect block I/O latency histograms for --duration, while COMMAND runs,\n"
		"or until ^C, then draw them per disk and direction.\n"
		"\n"
		"Options:\n"
		"  -d, --disk DISK       only this disk (loop3, /dev/sda, 7:3, mapper name)\n"
		"  -C, --classes         one histogram per class and cgroup\n"
		"  -l, --lat KIND        total (default), queue (start to issue) or device\n"
		"      --duration D      collect for D (10s, 500ms, 2m; a bare number is\n"
		"                        seconds)\n"
		"      --partitions      meter partitions separately\n"
		"      --json            one JSON object with every non-empty bucket\n"
		"  -h, --help            this help\n"
		"\n"
		"Examples:\n"
		"  sluice hist --duration 10 --disk nvme0n1\n"
		"  sluice hist --classes --lat device -- fio job.fio\n"
		"  sluice hist --json --duration 5 | jq '.disks[].streams[].p99'\n");
}

static int wait_child(char **cmd, int *status)
{
	pid_t pid;
	int err = meter_cli_spawn(cmd, &pid);

	return err ?: meter_cli_wait(pid, status);
}

struct hist_opts {
	struct meter_opts mo;
	bool json, classes;
	unsigned int lat;		/* SLUICE_LAT_* */
	unsigned int dev;		/* --disk, 0 = every disk */
	uint64_t duration_ns;		/* 0 = until the command ends or ^C */
};

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct hist_opts *o)
{
	static const struct option opts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "classes", no_argument, NULL, 'C' },
		{ "lat", required_argument, NULL, 'l' },
		{ "duration", required_argument, NULL, 'D' },
		{ "partitions", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *disk = NULL;
	int c, err = 0;

	o->lat = SLUICE_LAT_TOTAL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+d:Cl:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			disk = optarg;
			break;
		case 'C':
			o->classes = true;
			break;
		case 'l':
			err = parse_enum_argument("--lat", optarg, lat_names, SLUICE_LAT_MAX,
						  &o->lat);
			break;
		case 'D':
			err = parse_duration_argument("--duration", optarg, 1, 0, &o->duration_ns);
			break;
		case 'p':
			o->mo.partitions = true;
			break;
		case 'j':
			o->json = true;
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
	if (disk && meter_cli_disk(disk, o->mo.partitions, &o->dev))
		return -EINVAL;
	return 1;
}

int cmd_hist(int argc, char **argv)
{
	struct hist_opts o = {};
	struct meter *m = NULL;
	struct hrow *rows = NULL;
	int ret, status = 0, err;
	size_t n = 0, i;
	uint64_t end;

	err = parse_argv(argc, argv, &o);
	if (err <= 0)
		return args_exit_status(err);
	if ((ret = meter_cli_open(&m, &o.mo)))
		return ret;
	if (optind < argc) {
		err = wait_child(argv + optind, &status);
		if (err) {
			log_err("%s: cannot run: %s", argv[optind], strerror(-err));
			ret = 1;
			goto out_close;
		}
	} else {
		end = meter_now_ns() + o.duration_ns;
		if (!o.duration_ns && !o.json && isatty(STDERR_FILENO))
			log_info("collecting; press ^C to draw the histograms");
		while (!meter_cli_stop && (!o.duration_ns || meter_now_ns() < end))
			usleep(50000);
	}
	err = fold(m, o.dev, o.classes, o.lat, &rows, &n);
	if (err) {
		log_err("reading the meter's histograms failed: %s", strerror(-err));
		ret = 1;
		goto out_close;
	}
	if (o.json) {
		print_json(rows, n, o.classes, o.lat);
	} else {
		if (!n)
			printf("no block I/O completed\n");
		for (i = 0; i < n; i++)
			if (hist_count(rows[i].b))
				print_bars(&rows[i], o.classes);
	}
	ret = status;
	free(rows);
out_close:
	meter_cli_close(m);
	return ret;
}
