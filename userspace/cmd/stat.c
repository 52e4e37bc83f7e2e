// SPDX-License-Identifier: GPL-2.0
/*
 * sluice stat - run a command, meter the block I/O while it runs, print
 * totals per disk (and per cgroup) with latency percentiles when it exits,
 * and exit with the command's status, like `perf stat`.
 *
 * JSON (--json): {"command": [...], "status": N, "elapsed_s": S, "disks": [
 *   {"dev": "7:3", "name": "loop3", "ios": {"read": N, ...}, "bytes": {...},
 *    "errors": N, "latency_ns": {"read": {"count", "mean", "p50", "p99",
 *    "p999"}, "write": {...}}, "cgroups": [{"id", "path", "ios", "bytes"}]}]}
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define MAX_CG	64

struct cg_row {
	uint64_t id;
	struct meter_sum sum;
};

struct disk_row {
	unsigned int dev;
	struct meter_sum sum;
	unsigned long long lat[SLUICE_DIR_MAX][SLUICE_HIST_BUCKETS];
	struct cg_row cg[MAX_CG];
	int nr_cg;
};

struct report {
	struct disk_row *rows;
	int n;
};

static struct disk_row *row_of(struct report *r, unsigned int dev)
{
	struct disk_row *tmp;
	int i;

	for (i = 0; i < r->n; i++)
		if (r->rows[i].dev == dev)
			return &r->rows[i];
	tmp = realloc(r->rows, (r->n + 1) * sizeof(*tmp));
	if (!tmp)
		return NULL;
	r->rows = tmp;
	memset(&r->rows[r->n], 0, sizeof(*tmp));
	r->rows[r->n].dev = dev;
	return &r->rows[r->n++];
}

static void add_cgroup(struct disk_row *d, const struct meter_stream *s)
{
	int i;

	for (i = 0; i < d->nr_cg; i++)
		if (d->cg[i].id == s->key.cgroup_id)
			break;
	if (i == d->nr_cg) {
		if (d->nr_cg == MAX_CG)
			return;
		d->cg[d->nr_cg++].id = s->key.cgroup_id;
	}
	meter_sum_add(&d->cg[i].sum, &s->val, NULL);
}

static int collect(struct meter *m, unsigned int only_dev, struct report *r)
{
	struct meter_snapshot snap;
	struct meter_hist *h = NULL;
	struct disk_row *d;
	size_t i, nh = 0;
	int err;

	err = meter_snapshot(m, &snap);
	if (err)
		return err;
	for (i = 0; i < snap.nr_streams; i++) {
		const struct meter_stream *s = &snap.streams[i];

		if (only_dev && s->key.dev != only_dev)
			continue;
		d = row_of(r, s->key.dev);
		if (!d) {
			err = -ENOMEM;
			goto out_free;
		}
		meter_sum_add(&d->sum, &s->val, NULL);
		add_cgroup(d, s);
	}
	err = meter_read_hists(m, &h, &nh);
	if (err)
		goto out_free;
	for (i = 0; i < nh; i++) {
		if (only_dev && h[i].key.dev != only_dev)
			continue;
		if (h[i].key.dir >= SLUICE_DIR_MAX)
			continue;
		d = row_of(r, h[i].key.dev);
		if (d)
			hist_merge(d->lat[h[i].key.dir], h[i].val.buckets[SLUICE_LAT_TOTAL]);
	}
	free(h);
out_free:
	meter_snapshot_free(&snap);
	return err;
}

static void json_ops(struct json_writer *w, const char *key, const uint64_t *v)
{
	int op;

	json_key(w, key);
	json_obj_open(w);
	for (op = 0; op < SLUICE_OP_MAX; op++)
		json_kv_u64(w, meter_op_names[op], v[op]);
	json_obj_close(w);
}

static void json_lat(struct json_writer *w, const char *key, const unsigned long long *b)
{
	json_key(w, key);
	json_obj_open(w);
	json_kv_u64(w, "count", hist_count(b));
	json_kv_double(w, "mean", hist_mean(b));
	json_kv_double(w, "p50", hist_percentile(b, 0.50));
	json_kv_double(w, "p99", hist_percentile(b, 0.99));
	json_kv_double(w, "p999", hist_percentile(b, 0.999));
	json_obj_close(w);
}

static int print_json_to(FILE *f, const struct report *r, char **cmd, int status,
			 double elapsed)
{
	struct json_writer w;
	char buf[256];
	int i, j;

	json_init(&w, f);
	json_obj_open(&w);
	json_key(&w, "command");
	json_arr_open(&w);
	for (i = 0; cmd[i]; i++)
		json_str(&w, cmd[i]);
	json_arr_close(&w);
	json_kv_i64(&w, "status", status);
	json_kv_double(&w, "elapsed_s", elapsed);
	json_key(&w, "disks");
	json_arr_open(&w);
	for (i = 0; i < r->n; i++) {
		const struct disk_row *d = &r->rows[i];

		json_obj_open(&w);
		snprintf(buf, sizeof(buf), "%u:%u", SLUICE_MAJOR(d->dev), SLUICE_MINOR(d->dev));
		json_kv_str(&w, "dev", buf);
		disk_name(d->dev, buf, sizeof(buf));
		json_kv_str(&w, "name", buf);
		if (!disk_dm_name(d->dev, buf, sizeof(buf)))
			json_kv_str(&w, "dm_name", buf);
		json_ops(&w, "ios", d->sum.ios);
		json_ops(&w, "bytes", d->sum.bytes);
		json_kv_u64(&w, "errors", meter_sum_errors(&d->sum));
		json_key(&w, "latency_ns");
		json_obj_open(&w);
		json_lat(&w, "read", d->lat[SLUICE_DIR_READ]);
		json_lat(&w, "write", d->lat[SLUICE_DIR_WRITE]);
		json_lat(&w, "other", d->lat[SLUICE_DIR_OTHER]);
		json_obj_close(&w);
		json_key(&w, "cgroups");
		json_arr_open(&w);
		for (j = 0; j < d->nr_cg; j++) {
			json_obj_open(&w);
			json_kv_u64(&w, "id", d->cg[j].id);
			meter_cli_cgroup_label(d->cg[j].id, buf, sizeof(buf));
			json_kv_str(&w, "path", buf);
			json_ops(&w, "ios", d->cg[j].sum.ios);
			json_ops(&w, "bytes", d->cg[j].sum.bytes);
			json_obj_close(&w);
		}
		json_arr_close(&w);
		json_obj_close(&w);
	}
	json_arr_close(&w);
	json_obj_close(&w);
	return json_end(&w);
}

static void print_lat_line(FILE *f, const char *dir, const unsigned long long *b)
{
	char a[16], p50[16], p99[16], p999[16];

	if (!hist_count(b))
		return;
	fprintf(f, "  %-6s latency  avg %-8s p50 %-8s p99 %-8s p99.9 %s\n", dir,
		units_fmt_ns(hist_mean(b), a, sizeof(a)),
		units_fmt_ns(hist_percentile(b, 0.5), p50, sizeof(p50)),
		units_fmt_ns(hist_percentile(b, 0.99), p99, sizeof(p99)),
		units_fmt_ns(hist_percentile(b, 0.999), p999, sizeof(p999)));
}

static void print_text(FILE *f, const struct report *r, bool cgroups, int status, double elapsed)
{
	char name[192], rb[16], wb[16], cg[256];
	int i, j;

	fprintf(f, "\n sluice stat: %.3f s, command exited with status %d\n\n", elapsed, status);
	if (!r->n)
		fprintf(f, "  no block I/O completed\n");
	for (i = 0; i < r->n; i++) {
		const struct disk_row *d = &r->rows[i];

		disk_label(d->dev, name, sizeof(name));
		fprintf(f, "%s:\n", name);
		fprintf(f, "  reads %-10llu (%s)  writes %-10llu (%s)\n",
			(unsigned long long)d->sum.ios[SLUICE_OP_READ],
			units_fmt_bytes(d->sum.bytes[SLUICE_OP_READ], rb, sizeof(rb)),
			(unsigned long long)d->sum.ios[SLUICE_OP_WRITE],
			units_fmt_bytes(d->sum.bytes[SLUICE_OP_WRITE], wb, sizeof(wb)));
		fprintf(f, "  discards %-7llu  flushes %-7llu  other %-7llu  errors %llu\n",
			(unsigned long long)d->sum.ios[SLUICE_OP_DISCARD],
			(unsigned long long)d->sum.ios[SLUICE_OP_FLUSH],
			(unsigned long long)d->sum.ios[SLUICE_OP_OTHER],
			(unsigned long long)meter_sum_errors(&d->sum));
		print_lat_line(f, "read", d->lat[SLUICE_DIR_READ]);
		print_lat_line(f, "write", d->lat[SLUICE_DIR_WRITE]);
		for (j = 0; cgroups && j < d->nr_cg; j++) {
			meter_cli_cgroup_label(d->cg[j].id, cg, sizeof(cg));
			fprintf(f, "  cgroup %-30s reads %-8llu writes %llu\n", cg,
				(unsigned long long)d->cg[j].sum.ios[SLUICE_OP_READ],
				(unsigned long long)d->cg[j].sum.ios[SLUICE_OP_WRITE]);
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice stat [OPTIONS] -- COMMAND [ARGS...]\n"
		"\n"
		"Run COMMAND, meter the block I/O completed while it runs (by every process,\n"
		"as iostat would), print totals per disk with latency percentiles, and exit\n"
		"with COMMAND's status.\n"
		"\n"
		"Options:\n"
		"  -d, --disk DISK     only this disk (loop3, /dev/sda, 7:3, mapper name)\n"
		"      --partitions    meter partitions separately (default: roll up)\n"
		"      --cgroups       break totals down per cgroup\n"
		"  -o, --output FILE   write the report to FILE instead of stderr/stdout\n"
		"      --json          one JSON object on stdout (or FILE)\n"
		"  -h, --help          this help\n"
		"\n"
		"The text report goes to stderr so COMMAND's output stays clean.\n"
		"\n"
		"Examples:\n"
		"  sluice stat -- dd if=/dev/sda of=/dev/null bs=1M count=100 iflag=direct\n"
		"  sluice stat --disk loop3 --json -- fio job.fio --output=/dev/null\n");
}

static int run_child(char **cmd, int *status)
{
	pid_t pid;
	int err = meter_cli_spawn(cmd, &pid);

	if (err)
		return err;
	/* The terminal's ^C reaches the child; we report after it exits. */
	signal(SIGINT, SIG_IGN);
	return meter_cli_wait(pid, status);
}

struct stat_opts {
	struct meter_opts mo;
	const char *output;
	bool json, cgroups;
	unsigned int dev;		/* --disk, 0 = every disk */
	char **cmd;			/* after -- */
};

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct stat_opts *o)
{
	static const struct option opts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "partitions", no_argument, NULL, 'p' },
		{ "cgroups", no_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *disk = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+d:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			disk = optarg;
			break;
		case 'p':
			o->mo.partitions = true;
			break;
		case 'c':
			o->cgroups = true;
			break;
		case 'o':
			o->output = optarg;
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
	}
	if (optind >= argc) {
		log_err("stat needs a command to run: sluice stat [OPTIONS] -- COMMAND");
		return -EINVAL;
	}
	o->cmd = argv + optind;
	if (disk && meter_cli_disk(disk, o->mo.partitions, &o->dev))
		return -EINVAL;
	return 1;
}

int cmd_stat(int argc, char **argv)
{
	struct stat_opts o = {};
	struct report rep = {};
	struct meter *m = NULL;
	uint64_t t0;
	FILE *out;
	int ret, status = 0, err;

	err = parse_argv(argc, argv, &o);
	if (err <= 0)
		return args_exit_status(err);
	if ((ret = meter_cli_open(&m, &o.mo)))
		return ret;

	t0 = meter_now_ns();
	err = run_child(o.cmd, &status);
	if (err) {
		log_err("%s: cannot run: %s", o.cmd[0], strerror(-err));
		ret = 1;
		goto out_close;
	}
	err = collect(m, o.dev, &rep);
	if (err) {
		log_err("reading the meter's maps failed: %s", strerror(-err));
		ret = 1;
		goto out_close;
	}
	out = o.json ? stdout : stderr;
	if (o.output) {
		out = fopen(o.output, "we");
		if (!out) {
			log_err("%s: cannot write: %s", o.output, strerror(errno));
			ret = 1;
			goto out_free;
		}
	}
	if (o.json)
		print_json_to(out, &rep, o.cmd, status, (meter_now_ns() - t0) / 1e9);
	else
		print_text(out, &rep, o.cgroups, status, (meter_now_ns() - t0) / 1e9);
	if (o.output)
		fclose(out);
	ret = status;
out_free:
	free(rep.rows);
out_close:
	meter_cli_close(m);
	return ret;
}
