// SPDX-License-Identifier: GPL-2.0
/*
 * sluice top - live per-disk (and, expanded, per class and cgroup) I/O
 * rates, latency percentiles, queue depth and %util, refreshed every
 * --interval. On a terminal the screen is redrawn; piped, each interval is
 * a plain block (or one JSON object per line with --json), never escapes.
 *
 * JSON (--json), one object per interval: {"ts_ns", "interval_s",
 * "disks": [{"dev", "name", "r_s", "w_s", "rbytes_s", "wbytes_s", "avg_ns",
 * "p50_ns", "p99_ns", "p999_ns", "aqu_sz", "util_pct", "errors",
 * "inflight", "classes": [{"class", "cgroup_id", "cgroup", ...same rates}]}],
 * "self": {"run_ns", "run_cnt", "ns_per_event", "cpu_pct"}} (self with --self).
 * A disk policed by a live `sluice throttle` (its state file, fresh) also
 * gets "throttle": {"state", "latency_ns", "threshold_ns", "threshold_mode",
 * "peak_iops", "classes": [{"name", "class_id", "cgroup", "shares",
 * "dynamic", "allow_iops", "riops", "wiops", "rbps", "wbps"}]}.
 * A disk served by `sluice serve` gets a row even without I/O, and
 * "filter_stats": {"time_ns", "filters": [{"index", "name", "counters"}]},
 * its chain's counters as its live server last published them (text: a
 * "filters:" line under its row).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "cmd/filter_stats_cli.h"
#include "cmd/meter_cli.h"
#include "lib/disk_state.h"
#include "lib/disks.h"
#include "lib/hist.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/units.h"
#include "throttle/state_read.h"

enum sort_key { SORT_IOPS, SORT_TPUT, SORT_LAT, SORT_UTIL, SORT_NAME };
static const char *const sort_names[] = { "iops", "tput", "lat", "util", "name" };

struct rates {
	double r_s, w_s, rb_s, wb_s, avg_ns, p50, p99, p999, aqu, util;
	uint64_t errors;
	unsigned long long lat[SLUICE_HIST_BUCKETS];
	uint64_t lat_ns, timed;
};

struct row {
	unsigned int dev;
	unsigned int class_id;
	uint64_t cgroup_id;
	long long inflight;
	struct rates r;
	struct row *sub;	/* per class/cgroup rows, for disk rows */
	size_t nsub;
};

struct top {
	unsigned int dev;		/* --disk */
	uint64_t cgroup_id;		/* --cgroup */
	bool has_cgroup;
	bool classes, json, self, tty;
	enum sort_key sort;
	struct meter *m;
	struct meter_snapshot prev;
	struct meter_hist *prev_h;
	size_t prev_nh;
	struct meter_self prev_self;
	const char *tstate_path;	/* --throttle-state */
	struct tstate ts;		/* empty unless fresh this interval */
	struct filter_stats *fs;	/* served disks' live filter counters */
	unsigned int *fs_dev;		/* the disk of each */
	size_t nfs;
};

static struct row *find_row(struct row **rows, size_t *n, unsigned int dev,
			    unsigned int class_id, uint64_t cg)
{
	struct row *tmp;
	size_t i;

	for (i = 0; i < *n; i++)
		if ((*rows)[i].dev == dev && (*rows)[i].class_id == class_id &&
		    (*rows)[i].cgroup_id == cg)
			return &(*rows)[i];
	tmp = realloc(*rows, (*n + 1) * sizeof(*tmp));
	if (!tmp)
		return NULL;
	*rows = tmp;
	memset(&tmp[*n], 0, sizeof(*tmp));
	tmp[*n].dev = dev;
	tmp[*n].class_id = class_id;
	tmp[*n].cgroup_id = cg;
	return &tmp[(*n)++];
}

static void add_val(struct rates *r, const struct sluice_meter_val *cur,
		    const struct sluice_meter_val *prev)
{
	struct meter_sum s = {};
	int op;

	meter_sum_add(&s, cur, prev);
	r->r_s += s.ios[SLUICE_OP_READ];
	r->w_s += s.ios[SLUICE_OP_WRITE];
	r->rb_s += s.bytes[SLUICE_OP_READ];
	r->wb_s += s.bytes[SLUICE_OP_WRITE];
	for (op = 0; op < SLUICE_OP_MAX; op++) {
		r->lat_ns += s.lat_ns[op];
		r->timed += s.timed[op];
	}
	r->errors += meter_sum_errors(&s);
}

static void finish(struct rates *r, double secs)
{
	r->r_s /= secs;
	r->w_s /= secs;
	r->rb_s /= secs;
	r->wb_s /= secs;
	r->avg_ns = r->timed ? (double)r->lat_ns / r->timed : 0;
	r->aqu = r->lat_ns / (secs * 1e9);
	r->p50 = hist_percentile(r->lat, 0.5);
	r->p99 = hist_percentile(r->lat, 0.99);
	r->p999 = hist_percentile(r->lat, 0.999);
}

static const struct meter_hist *prev_hist(struct top *t, const struct sluice_hist_key *k)
{
	size_t i;

	for (i = 0; i < t->prev_nh; i++)
		if (!memcmp(&t->prev_h[i].key, k, sizeof(*k)))
			return &t->prev_h[i];
	return NULL;
}

static bool wanted(struct top *t, unsigned int dev, uint64_t cg)
{
	if (t->dev && dev != t->dev)
		return false;
	return !t->has_cgroup || cg == t->cgroup_id;
}

static void served_stats_drop(struct top *t)
{
	free(t->fs);
	free(t->fs_dev);
	t->fs = NULL;
	t->fs_dev = NULL;
	t->nfs = 0;
}

/* The served disks' filter counters, as their servers last published them. */
static void served_stats_load(struct top *t)
{
	unsigned int ma, mi;
	size_t i;

	served_stats_drop(t);
	if (filter_stats_read_all(state_dir(), &t->fs, &t->nfs) || !t->nfs)
		return;
	t->fs_dev = calloc(t->nfs, sizeof(*t->fs_dev));
	if (!t->fs_dev) {
		served_stats_drop(t);
		return;
	}
	/* 0, no disk's number, for a disk gone from sysfs */
	for (i = 0; i < t->nfs; i++)
		if (!state_devnum(t->fs[i].id, &ma, &mi))
			t->fs_dev[i] = SLUICE_MKDEV(ma, mi);
}

static const struct filter_stats *served_stats(const struct top *t, unsigned int dev)
{
	size_t i;

	for (i = 0; i < t->nfs; i++)
		if (t->fs_dev[i] && t->fs_dev[i] == dev)
			return &t->fs[i];
	return NULL;
}

/* Build disk rows (with sub rows) from the deltas since the last interval. */
static int build(struct top *t, struct meter_snapshot *cur, struct meter_hist *h, size_t nh,
		 struct row **out, size_t *nout)
{
	static unsigned long long delta[SLUICE_HIST_BUCKETS];
	struct row *rows = NULL, *d, *s;
	double secs = (cur->ts_ns - t->prev.ts_ns) / 1e9;
	const struct meter_stream *ps;
	const struct meter_hist *ph;
	const struct meter_disk *md, *pd;
	size_t n = 0, i, j;

	if (secs <= 0)
		secs = 1e-9;
	for (i = 0; i < cur->nr_streams; i++) {
		const struct meter_stream *cs = &cur->streams[i];

		if (!wanted(t, cs->key.dev, cs->key.cgroup_id))
			continue;
		ps = meter_snapshot_find(&t->prev, &cs->key);
		d = find_row(&rows, &n, cs->key.dev, 0, 0);
		if (!d)
			return -ENOMEM;
		add_val(&d->r, &cs->val, ps ? &ps->val : NULL);
		if (!t->classes)
			continue;
		s = find_row(&d->sub, &d->nsub, cs->key.dev, cs->key.class_id, cs->key.cgroup_id);
		if (!s)
			return -ENOMEM;
		add_val(&s->r, &cs->val, ps ? &ps->val : NULL);
	}
	for (i = 0; i < nh; i++) {
		if (!wanted(t, h[i].key.dev, h[i].key.cgroup_id))
			continue;
		memcpy(delta, h[i].val.buckets[SLUICE_LAT_TOTAL], sizeof(delta));
		ph = prev_hist(t, &h[i].key);
		if (ph)
			hist_sub(delta, ph->val.buckets[SLUICE_LAT_TOTAL]);
		for (j = 0; j < n; j++) {
			if (rows[j].dev != h[i].key.dev)
				continue;
			hist_merge(rows[j].r.lat, delta);
			s = t->classes ? find_row(&rows[j].sub, &rows[j].nsub, h[i].key.dev,
						  h[i].key.class_id, h[i].key.cgroup_id) : NULL;
			if (s)
				hist_merge(s->r.lat, delta);
		}
	}
	/* A served disk has its row, I/O or not: its filters' counters go there. */
	for (i = 0; i < t->nfs && !t->has_cgroup; i++) {
		if (!t->fs_dev[i] || !wanted(t, t->fs_dev[i], 0))
			continue;
		if (!find_row(&rows, &n, t->fs_dev[i], 0, 0))
			return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		finish(&rows[i].r, secs);
		for (j = 0; j < rows[i].nsub; j++)
			finish(&rows[i].sub[j].r, secs);
		md = meter_snapshot_disk(cur, rows[i].dev);
		pd = meter_snapshot_disk(&t->prev, rows[i].dev);
		if (md) {
			rows[i].inflight = md->inflight > 0 ? md->inflight : 0;
			rows[i].r.util = (md->busy_ns - (pd ? pd->busy_ns : 0)) / (secs * 1e7);
			if (rows[i].r.util > 100)
				rows[i].r.util = 100;
			if (rows[i].r.util < 0)
				rows[i].r.util = 0;
		}
	}
	*out = rows;
	*nout = n;
	return 0;
}

static double sort_val(const struct row *r, enum sort_key k)
{
	switch (k) {
	case SORT_TPUT:
		return r->r.rb_s + r->r.wb_s;
	case SORT_LAT:
		return r->r.p99;
	case SORT_UTIL:
		return r->r.util;
	default:
		return r->r.r_s + r->r.w_s;
	}
}

static enum sort_key g_sort;

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	char nx[64], ny[64];
	double vx, vy;

	if (g_sort == SORT_NAME) {
		disk_name(x->dev, nx, sizeof(nx));
		disk_name(y->dev, ny, sizeof(ny));
		return strcmp(nx, ny);
	}
	vx = sort_val(x, g_sort);
	vy = sort_val(y, g_sort);
	if (vx != vy)
		return vx < vy ? 1 : -1;
	return x->dev < y->dev ? -1 : x->dev > y->dev;
}

static void json_rates(struct json_writer *w, const struct rates *r, bool disk)
{
	json_kv_double(w, "r_s", r->r_s);
	json_kv_double(w, "w_s", r->w_s);
	json_kv_double(w, "rbytes_s", r->rb_s);
	json_kv_double(w, "wbytes_s", r->wb_s);
	json_kv_double(w, "avg_ns", r->avg_ns);
	json_kv_double(w, "p50_ns", r->p50);
	json_kv_double(w, "p99_ns", r->p99);
	json_kv_double(w, "p999_ns", r->p999);
	json_kv_double(w, "aqu_sz", r->aqu);
	if (disk)
		json_kv_double(w, "util_pct", r->util);
	json_kv_u64(w, "errors", r->errors);
}

static void json_throttle(struct json_writer *w, const struct tstate_disk *d)
{
	size_t i;

	json_key(w, "throttle");
	json_obj_open(w);
	json_kv_str(w, "state", d->congested ? "congested" : "calm");
	json_kv_str(w, "mode", !d->congested ? "calm" : d->steering ? "steering" : "holding");
	json_kv_str(w, "enforced_by", d->server ? "server" : "kernel");
	json_kv_u64(w, "latency_ns", d->latency_ns);
	json_kv_u64(w, "threshold_ns", d->threshold_ns);
	json_kv_str(w, "threshold_mode", d->threshold_mode);
	json_kv_u64(w, "peak_iops", d->peak_iops);
	json_key(w, "classes");
	json_arr_open(w);
	for (i = 0; i < d->nr_cls; i++) {
		const struct tstate_class *c = &d->cls[i];

		json_obj_open(w);
		json_kv_str(w, "name", c->name);
		json_kv_u64(w, "class_id", c->class_id);
		json_kv_str(w, "cgroup", c->cgroup);
		json_kv_u64(w, "shares", c->shares);
		json_kv_bool(w, "dynamic", c->dynamic);
		json_kv_u64(w, "allow_iops", c->allow_iops);
		json_kv_u64(w, "riops", c->riops);
		json_kv_u64(w, "wiops", c->wiops);
		json_kv_u64(w, "rbps", c->rbps);
		json_kv_u64(w, "wbps", c->wbps);
		json_obj_close(w);
	}
	json_arr_close(w);
	json_obj_close(w);
}

static const struct tstate_disk *throttled(const struct top *t, unsigned int dev)
{
	return tstate_find(&t->ts, SLUICE_MAJOR(dev), SLUICE_MINOR(dev));
}

static void emit_json(struct top *t, const struct row *rows, size_t n, uint64_t ts,
		      double secs, const struct meter_self *self)
{
	struct json_writer w;
	char buf[256];
	size_t i, j;

	json_init(&w, stdout);
	json_obj_open(&w);
	json_kv_u64(&w, "ts_ns", ts);
	json_kv_double(&w, "interval_s", secs);
	json_key(&w, "disks");
	json_arr_open(&w);
	for (i = 0; i < n; i++) {
		json_obj_open(&w);
		snprintf(buf, sizeof(buf), "%u:%u", SLUICE_MAJOR(rows[i].dev),
			 SLUICE_MINOR(rows[i].dev));
		json_kv_str(&w, "dev", buf);
		disk_name(rows[i].dev, buf, sizeof(buf));
		json_kv_str(&w, "name", buf);
		if (!disk_dm_name(rows[i].dev, buf, sizeof(buf)))
			json_kv_str(&w, "dm_name", buf);
		json_rates(&w, &rows[i].r, true);
		json_kv_i64(&w, "inflight", rows[i].inflight);
		if (throttled(t, rows[i].dev))
			json_throttle(&w, throttled(t, rows[i].dev));
		if (served_stats(t, rows[i].dev)) {
			json_key(&w, "filter_stats");
			filter_stats_cli_json(&w, served_stats(t, rows[i].dev));
		}
		if (t->classes) {
			json_key(&w, "classes");
			json_arr_open(&w);
			for (j = 0; j < rows[i].nsub; j++) {
				const struct row *s = &rows[i].sub[j];

				json_obj_open(&w);
				json_kv_u64(&w, "class", s->class_id);
				json_kv_u64(&w, "cgroup_id", s->cgroup_id);
				meter_cli_cgroup_label(s->cgroup_id, buf, sizeof(buf));
				json_kv_str(&w, "cgroup", buf);
				json_rates(&w, &s->r, false);
				json_obj_close(&w);
			}
			json_arr_close(&w);
		}
		json_obj_close(&w);
	}
	json_arr_close(&w);
	if (self) {
		json_key(&w, "self");
		json_obj_open(&w);
		json_kv_u64(&w, "run_ns", self->run_ns);
		json_kv_u64(&w, "run_cnt", self->run_cnt);
		json_kv_double(&w, "ns_per_event", self->run_cnt ?
			       (double)self->run_ns / self->run_cnt : 0);
		json_kv_double(&w, "cpu_pct", self->run_ns / (secs * 1e7));
		json_obj_close(&w);
	}
	json_obj_close(&w);
	json_end(&w);
}

static void text_line(const char *name, const struct rates *r, bool disk)
{
	char rb[16], wb[16], a[16], p50[16], p99[16], p999[16], rs[16], ws[16];
	size_t len = strlen(name);

	/*
	 * A class label (cgroup path) longer than the column gets a line of
	 * its own, its end kept if even 80 columns are too few: the end is
	 * what tells two cgroups apart.
	 */
	if (!disk && len > 8) {
		if (len > 79)
			printf(" ~%s\n", name + len - 77);
		else
			printf("%s\n", name);
		name = "";
	}
	printf("%-8.8s %6s %6s %6s %6s %6s %6s %6s %6s %5.1f ", name,
	       units_fmt_count(r->r_s, rs, sizeof(rs)), units_fmt_count(r->w_s, ws, sizeof(ws)),
	       units_fmt_count(r->rb_s / 1e6, rb, sizeof(rb)),
	       units_fmt_count(r->wb_s / 1e6, wb, sizeof(wb)),
	       units_fmt_ns(r->avg_ns, a, sizeof(a)), units_fmt_ns(r->p50, p50, sizeof(p50)),
	       units_fmt_ns(r->p99, p99, sizeof(p99)), units_fmt_ns(r->p999, p999, sizeof(p999)),
	       r->aqu);
	if (disk)
		printf("%5.1f", r->util);
	else
		printf("%5s", "");
	printf(" %3llu\n", (unsigned long long)(r->errors > 999 ? 999 : r->errors));
}

/*
 * Under a policed disk's row: its state and latency against the threshold,
 * and with --classes each class's allowance. Cut at 79 columns.
 */
static void text_throttle(const struct top *t, const struct tstate_disk *d)
{
	char lat[16], thr[16], peak[16], allow[40], line[160];
	size_t i;

	units_fmt_ns(d->latency_ns, lat, sizeof(lat));
	/* a %peak threshold is 0 until the peak is learned */
	if (d->threshold_ns)
		units_fmt_ns(d->threshold_ns, thr, sizeof(thr));
	else
		snprintf(thr, sizeof(thr), "-");
	printf("  throttle: %s %s/%s", d->congested ? "congested" : "calm", lat, thr);
	if (!strcmp(d->threshold_mode, "peak"))
		printf(" (%s iops peak)", units_fmt_count(d->peak_iops, peak, sizeof(peak)));
	if (d->server)
		printf(", by the ublk server");
	putchar('\n');
	if (!t->classes)
		return;
	for (i = 0; i < d->nr_cls; i++) {
		const struct tstate_class *c = &d->cls[i];

		if (c->dynamic)
			snprintf(allow, sizeof(allow), "allow %llu iops",
				 (unsigned long long)c->allow_iops);
		else
			snprintf(allow, sizeof(allow), "allow max");
		snprintf(line, sizeof(line), "    %-12.12s %-22s %.60s", c->name, allow,
			 c->cgroup);
		printf("%.79s\n", line);
	}
}

static void emit_text(struct top *t, const struct row *rows, size_t n, double secs,
		      const struct meter_self *self)
{
	char name[192], cg[128], when[32];
	time_t now = time(NULL);
	size_t i, j;

	if (t->tty)
		fputs("\033[H\033[2J", stdout);
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	printf("sluice top  %s  interval %.1fs  %zu disk%s", when, secs, n, n == 1 ? "" : "s");
	if (self)
		printf("  bpf %.0f ns/event, %.2f%% cpu",
		       self->run_cnt ? (double)self->run_ns / self->run_cnt : 0,
		       self->run_ns / (secs * 1e7));
	printf("\n%-8s %6s %6s %6s %6s %6s %6s %6s %6s %5s %5s %3s\n", "DISK", "r/s", "w/s",
	       "rMB/s", "wMB/s", "avg", "p50", "p99", "p99.9", "aqu", "%util", "err");
	for (i = 0; i < n; i++) {
		disk_label(rows[i].dev, name, sizeof(name));
		text_line(name, &rows[i].r, true);
		if (throttled(t, rows[i].dev))
			text_throttle(t, throttled(t, rows[i].dev));
		if (served_stats(t, rows[i].dev)) {
			filter_stats_cli_line(stdout, served_stats(t, rows[i].dev));
			filter_stats_cli_alerts(stdout, served_stats(t, rows[i].dev));
		}
		for (j = 0; j < rows[i].nsub; j++) {
			meter_cli_cgroup_label(rows[i].sub[j].cgroup_id, cg, sizeof(cg));
			if (rows[i].sub[j].class_id)
				snprintf(name, sizeof(name), " %u:%s", rows[i].sub[j].class_id, cg);
			else
				snprintf(name, sizeof(name), " %s", cg);
			text_line(name, &rows[i].sub[j].r, false);
		}
	}
	if (!t->tty)
		putchar('\n');
	fflush(stdout);
}

static void free_rows(struct row *rows, size_t n)
{
	size_t i;

	for (i = 0; rows && i < n; i++)
		free(rows[i].sub);
	free(rows);
}

static int tick(struct top *t)
{
	struct meter_snapshot cur;
	struct meter_hist *h = NULL;
	struct meter_self self, d;
	struct row *rows = NULL;
	size_t nh = 0, n = 0, i;
	double secs;
	int err;

	err = meter_snapshot(t->m, &cur);
	if (err)
		return err;
	err = meter_read_hists(t->m, &h, &nh);
	if (err)
		goto out_snap;
	/* a missing, broken or stale state file means no throttle: no column */
	tstate_free(&t->ts);
	if (t->tstate_path)
		tstate_load_fresh(t->tstate_path, &t->ts);
	served_stats_load(t);
	err = build(t, &cur, h, nh, &rows, &n);
	if (err)
		goto out_rows;
	g_sort = t->sort;
	qsort(rows, n, sizeof(*rows), cmp_row);
	for (i = 0; i < n; i++)
		if (rows[i].nsub)
			qsort(rows[i].sub, rows[i].nsub, sizeof(*rows), cmp_row);
	secs = (cur.ts_ns - t->prev.ts_ns) / 1e9;
	if (t->self) {
		meter_read_self(t->m, &self);
		d.run_ns = self.run_ns - t->prev_self.run_ns;
		d.run_cnt = self.run_cnt - t->prev_self.run_cnt;
		t->prev_self = self;
	}
	if (t->json)
		emit_json(t, rows, n, cur.ts_ns, secs, t->self ? &d : NULL);
	else
		emit_text(t, rows, n, secs, t->self ? &d : NULL);
	meter_snapshot_free(&t->prev);
	t->prev = cur;
	free(t->prev_h);
	t->prev_h = h;
	t->prev_nh = nh;
	free_rows(rows, n);
	return 0;

out_rows:
	free_rows(rows, n);
	free(h);
out_snap:
	meter_snapshot_free(&cur);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice top [OPTIONS]\n"
		"\n"
		"Live block I/O per disk: r/s, w/s, rMB/s, wMB/s, average and p50/p99/p99.9\n"
		"latency (queue + device), average queue size (aqu), %%util and errors.\n"
		"A disk served by 'sluice serve' gets a line with its filters' counters.\n"
		"\n"
		"Options:\n"
		"  -i, --interval D      refresh every D (default 1s; 500ms, 5s, a bare\n"
		"                        number is seconds)\n"
		"  -n, --count N         exit after N intervals\n"
		"  -d, --disk DISK       only this disk (loop3, /dev/sda, 7:3, mapper name)\n"
		"  -c, --cgroup CGROUP   only I/O charged to this cgroup (path or id)\n"
		"  -C, --classes         expand each disk into class and cgroup rows\n"
		"  -s, --sort KEY        iops (default), tput, lat (p99), util, name\n"
		"      --self            show the BPF programs' own cost per event\n"
		"      --partitions      meter partitions separately\n"
		"      --throttle-state FILE  show a running 'sluice throttle' (its state,\n"
		"                        latency/threshold, class allowances) from FILE\n"
		"                        (default " TSTATE_DEFAULT_PATH ")\n"
		"      --json            one JSON object per interval, one per line\n"
		"  -h, --help            this help\n"
		"\n"
		"Examples:\n"
		"  sluice top\n"
		"  sluice top --classes --sort lat --disk nvme0n1\n"
		"  sluice top --json --count 10 --interval 5 > io.ndjson\n"
		"  sluice top --classes --throttle-state /tmp/throttle.json\n");
}

/* What top's options set beside struct top and the meter's options. */
struct top_args {
	const char *disk;
	uint64_t count;			/* 0 = until interrupted */
	uint64_t interval_ns;
};

/* >0 go on, 0 exit after --help, <0 usage error (logged); see cmd/args.h. */
static int parse_argv(int argc, char **argv, struct top *t, struct meter_opts *mo,
		      struct top_args *a)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "disk", required_argument, NULL, 'd' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "classes", no_argument, NULL, 'C' },
		{ "sort", required_argument, NULL, 's' },
		{ "self", no_argument, NULL, 'S' },
		{ "partitions", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "throttle-state", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned int k;
	int c, err = 0;

	a->interval_ns = NSEC_PER_SEC;
	optind = 1;
	while ((c = getopt_long(argc, argv, "i:n:d:c:Cs:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			err = parse_duration_argument("--interval", optarg, 50 * NSEC_PER_MSEC, 0,
						      &a->interval_ns);
			break;
		case 'n':
			err = parse_count_argument("--count", optarg, 1, UINT64_MAX, &a->count);
			break;
		case 'd':
			a->disk = optarg;
			break;
		case 'c':
			if (meter_cli_cgroup(optarg, &t->cgroup_id))
				return -EINVAL;
			t->has_cgroup = true;
			break;
		case 'C':
			t->classes = true;
			break;
		case 's':
			err = parse_enum_argument("--sort", optarg, sort_names,
						  ARRAY_SIZE(sort_names), &k);
			if (!err)
				t->sort = k;
			break;
		case 'S':
			t->self = true;
			mo->self_stats = true;
			break;
		case 'p':
			mo->partitions = true;
			break;
		case 'j':
			t->json = true;
			break;
		case 'T':
			t->tstate_path = optarg;
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
		return args_unexpected("top", argv[optind]);
	return 1;
}

int cmd_top(int argc, char **argv)
{
	struct top t = { .tstate_path = TSTATE_DEFAULT_PATH };
	struct meter_opts mo = {};
	struct top_args a = {};
	uint64_t next, done = 0;
	int ret = 0, err;

	err = parse_argv(argc, argv, &t, &mo, &a);
	if (err <= 0)
		return args_exit_status(err);
	if (a.disk && (ret = meter_cli_disk(a.disk, mo.partitions, &t.dev)))
		return ret;
	if ((ret = meter_cli_open(&t.m, &mo)))
		return ret;
	t.tty = !t.json && isatty(STDOUT_FILENO);
	err = meter_snapshot(t.m, &t.prev);
	if (!err && t.self)
		err = meter_read_self(t.m, &t.prev_self);
	next = t.prev.ts_ns;
	while (!err && !meter_cli_stop) {
		next += a.interval_ns;
		while (!meter_cli_stop && meter_now_ns() < next) {
			uint64_t left = next - meter_now_ns();

			usleep(left > 100000000 ? 100000 : left / 1000 + 1);
		}
		if (meter_cli_stop)
			break;
		err = tick(&t);
		if (a.count && ++done >= a.count)
			break;
	}
	if (err) {
		log_err("reading the meter's maps failed: %s", strerror(-err));
		ret = 1;
	}
	meter_snapshot_free(&t.prev);
	free(t.prev_h);
	tstate_free(&t.ts);
	served_stats_drop(&t);
	meter_cli_close(t.m);
	return ret;
}
