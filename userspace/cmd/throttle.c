// SPDX-License-Identifier: GPL-2.0
/*
 * sluice throttle - Storage I/O Control for Linux: every interval, read each
 * policed disk's latency and each class's I/O, run the control law
 * (throttle/control.h) and enforce the allowances through cgroup v2 io.max
 * (throttle/iomax.h). Every change is logged with its reason; the state is
 * published in a JSON file for 'sluice top' and the exporter (format in
 * docs/throttle.md). SIGTERM/SIGINT take back every dynamic limit and keep
 * the static ones; after a kill -9 the guardian process does it (or, if it
 * was killed too, 'sluice throttle --cleanup').
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "loader/meter.h"
#include "loader/policy_compile.h"
#include "loader/policy_maps.h"
#include "lib/units.h"
#include "lib/disk_state.h"
#include "lib/enforcer.h"
#include "lib/json.h"
#include "lib/log.h"
#include "throttle/control.h"
#include "throttle/iomax.h"
#include "throttle/policy.h"
#include "throttle/source.h"
#include "throttle/spec.h"
#include "throttle/state_read.h"

#define MAX_DISKS		8
#define DEF_STATE		"/run/sluice/throttle.json"
#define DEF_RECORD		"/run/sluice/throttle.iomax"
#define CGROUP_ROOT		"/sys/fs/cgroup"

struct tclass {
	char path[PATH_MAX];
	char name[64];
	unsigned int class_id;		/* the policy's, or the position + 1 */
	bool in_policy;			/* class_id is the policy's */
	bool server;			/* the ublk server holds it: no io.max */
	int book_idx;			/* -1 when not in the book */
};

struct tdisk {
	char name[32];
	char policy[SLUICE_CLASS_NAME_LEN];	/* policy mode: the policy governing it */
	unsigned int maj, min;
	bool server;			/* a sluice ublk server holds its classes */
	struct throttle_disk_cfg cfg;
	struct throttle_disk ctl;
	struct throttle_src_disk src;
	struct tclass cls[THROTTLE_MAX_CLASSES];
	struct throttle_sample last;
	uint64_t interval_ns;		/* policy mode: its policy's throttle_interval, 0 = none */
};

struct topts {
	struct tdisk disks[MAX_DISKS];
	unsigned int nr_disks;
	uint64_t interval_ns;		/* in force: see pick_interval() */
	uint64_t cli_interval_ns;	/* --interval, 0 = not given */
	bool once, json, cleanup, p99;
	const char *state_path;
	const char *record_path;
	const char *source;		/* "auto", "meter" or "sysfs" */
	bool policy;			/* classes from the applied policy */
	uint64_t generation;		/* policy mode: the generation in force */
	uint64_t failed_generation;	/* policy mode: the last one that could not be used,
					 * UINT64_MAX for none */
	const char *cgroup_root;	/* relative cgroup paths resolve under it */
	unsigned int lat_kind;		/* SLUICE_LAT_TOTAL or SLUICE_LAT_DEVICE */
	const struct throttle_source_ops *src;
	struct meter *meter;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice throttle [OPTIONS] --disk DISK --threshold T --cgroup SPEC...\n"
		"       sluice throttle --config FILE [OPTIONS]\n"
		"       sluice throttle [--policy] [OPTIONS]\n"
		"       sluice throttle --cleanup\n"
		"\n"
		"Latency-based throttling (Storage I/O Control): when a disk's latency\n"
		"crosses its threshold, the cgroups bound to it get IOPS in proportion to\n"
		"their shares (reservations first, static limits always), through io.max;\n"
		"when it is calm, the limits relax step by step until none is left. Runs\n"
		"in the foreground; SIGTERM or SIGINT removes the dynamic limits.\n"
		"\n"
		"Options:\n"
		"  --disk DISK         /dev/NAME, NAME or MAJ:MIN; the next options apply to it\n"
		"  --threshold T       a latency (30ms, 500us) or N%%peak (SIOC's mode: the\n"
		"                      latency at which the disk gave N%% of its learned peak)\n"
		"  --cgroup SPEC       PATH[:shares=N,riops=N,wiops=N,rbps=S,wbps=S,reserve=N]\n"
		"                      PATH relative to /sys/fs/cgroup; shares default 100;\n"
		"                      riops.. are static limits; reserve a minimum IOPS\n"
		"  --p99               compare the p99 latency, not the average (meter only)\n"
		"  --latency KIND      total (from the block layer's start, the default) or\n"
		"                      device (issue to completion)\n"
		"  --source SRC        auto (the default: the BPF meter if it loads), meter,\n"
		"                      or sysfs (the kernel's counters: average only)\n"
		"  --interval D        control interval (default: the smallest\n"
		"                      throttle_interval of the policies, else 1s)\n"
		"  --config FILE       read the options above from FILE, one per line\n"
		"                      ('disk /dev/sdb', 'cgroup db:shares=200', '# ...')\n"
		"  --policy            disks, thresholds and classes from the applied policy\n"
		"                      (the default without --disk/--config); a new\n"
		"                      'sluice policy apply' is taken at the next interval\n"
		"  --cgroup-root DIR   the policy's relative cgroup paths resolve under DIR\n"
		"                      (default: the cgroup v2 mount)\n"
		"  --once              one step: measure one interval, set io.max, exit\n"
		"                      (limits stay; remove them with --cleanup)\n"
		"  --cleanup           remove the dynamic limits a killed throttle left\n"
		"  --state FILE        state for 'sluice top' (default " DEF_STATE ")\n"
		"  --record FILE       for --cleanup (default " DEF_RECORD ")\n"
		"  --json              one JSON object per disk and interval on stdout\n"
		"  -h, --help          this text\n"
		"\n"
		"Per-class I/O counts come from each cgroup's io.stat; see docs/throttle.md.\n"
		"\n"
		"Examples:\n"
		"  sluice throttle --disk /dev/sdb --threshold 30ms \\\n"
		"      --cgroup db:shares=200,reserve=500 --cgroup batch:shares=100\n"
		"  sluice throttle --disk nvme0n1 --threshold 90%%peak --cgroup a --cgroup b\n"
		"  sluice policy apply policies/shares.yaml && sluice throttle\n"
		"  sluice throttle --cleanup\n");
}

/* DISK as /dev/NAME, NAME or MAJ:MIN, to a whole disk's numbers and name. */
static int resolve_disk(const char *arg, struct tdisk *d)
{
	char path[PATH_MAX], link[PATH_MAX];
	unsigned int maj, min;
	struct stat st;
	ssize_t n;
	FILE *f;

	if (sscanf(arg, "%u:%u", &maj, &min) == 2) {
		/* taken as is */
	} else if (arg[0] == '/') {
		if (stat(arg, &st))
			return -errno;
		if (!S_ISBLK(st.st_mode))
			return -ENOTBLK;
		maj = major(st.st_rdev);
		min = minor(st.st_rdev);
	} else {
		snprintf(path, sizeof(path), "/sys/class/block/%s/dev", arg);
		f = fopen(path, "re");
		if (!f)
			return -ENODEV;
		n = fscanf(f, "%u:%u", &maj, &min);
		fclose(f);
		if (n != 2)
			return -ENODEV;
	}
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", maj, min);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -ENODEV;
	link[n] = '\0';
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", maj, min);
	if (!access(path, F_OK))
		return -EISDIR;	/* io.max takes whole disks only */
	snprintf(d->name, sizeof(d->name), "%s", basename(link));
	d->maj = maj;
	d->min = min;
	return 0;
}

static int add_cgroup(struct tdisk *d, const char *spec)
{
	struct throttle_class_cfg cc;
	char path[PATH_MAX - 32], *p;
	struct tclass *c;
	int err;

	if (d->cfg.nr_classes >= THROTTLE_MAX_CLASSES) {
		log_err("%s: at most %d cgroups per disk", d->name, THROTTLE_MAX_CLASSES);
		return -E2BIG;
	}
	err = throttle_parse_class(spec, path, sizeof(path), &cc);
	if (err) {
		log_err("--cgroup '%s': %s; expected PATH[:shares=N,riops=N,wiops=N,"
			"rbps=S,wbps=S,reserve=N]", spec,
			err == -ENOENT ? "unknown key" : "malformed");
		return err;
	}
	c = &d->cls[d->cfg.nr_classes];
	/* Keep room for "/io.max" after the directory. */
	if (path[0] == '/')
		snprintf(c->path, sizeof(c->path), "%s", path);
	else
		snprintf(c->path, sizeof(c->path), CGROUP_ROOT "/%s", path);
	for (p = c->path + strlen(c->path) - 1; p > c->path && *p == '/'; p--)
		*p = '\0';
	snprintf(c->name, sizeof(c->name), "%s", strrchr(c->path, '/') + 1);
	c->class_id = d->cfg.nr_classes + 1;
	d->cfg.cls[d->cfg.nr_classes++] = cc;
	return 0;
}

static int set_option(struct topts *o, const char *key, const char *val)
{
	struct tdisk *d = o->nr_disks ? &o->disks[o->nr_disks - 1] : NULL;
	int err;

	if (!strcmp(key, "disk")) {
		if (o->nr_disks >= MAX_DISKS) {
			log_err("at most %d disks", MAX_DISKS);
			return -E2BIG;
		}
		d = &o->disks[o->nr_disks];
		err = resolve_disk(val, d);
		if (err) {
			log_err("%s: %s; list disks with lsblk", val,
				err == -EISDIR ? "a partition; io.max takes the whole disk" :
				"no such disk");
			return err;
		}
		o->nr_disks++;
		return 0;
	}
	if (!d) {
		log_err("--%s %s: give --disk first; the settings that follow apply to it",
			key, val);
		return -EINVAL;
	}
	if (!strcmp(key, "threshold")) {
		err = throttle_parse_threshold(val, &d->cfg);
		if (err)
			log_err("--threshold '%s': expected a latency (30ms) or N%%peak", val);
		return err;
	}
	if (!strcmp(key, "cgroup"))
		return add_cgroup(d, val);
	log_err("unknown setting '%s'; see 'sluice throttle --help'", key);
	return -EINVAL;
}

static int read_config(struct topts *o, const char *file)
{
	char line[1024], *key, *val, *end;
	unsigned int lineno = 0;
	int err = 0;
	FILE *f;

	f = fopen(file, "re");
	if (!f) {
		err = -errno;
		log_err("%s: %s", file, strerror(-err));
		return err;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		lineno++;
		key = line + strspn(line, " \t");
		if (*key == '#' || *key == '\n' || !*key)
			continue;
		end = key + strlen(key);
		while (end > key && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!strncmp(key, "--", 2))
			key += 2;
		val = key + strcspn(key, " \t=");
		if (!*val) {
			log_err("%s:%u: '%s' needs a value", file, lineno, key);
			err = -EINVAL;
			break;
		}
		*val++ = '\0';
		val += strspn(val, " \t=");
		err = set_option(o, key, val);
		if (err)
			log_err("%s:%u: in this line", file, lineno);
	}
	fclose(f);
	return err;
}

static void fmt_iops(char *buf, size_t len, double v)
{
	if (v >= 10000)
		snprintf(buf, len, "%.0fk", v / 1000);
	else if (v >= 1000)
		snprintf(buf, len, "%.1fk", v / 1000);
	else
		snprintf(buf, len, "%.0f", v);
}

static void fmt_lat(char *buf, size_t len, double ns)
{
	if (ns >= 1e6)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.0fus", ns / 1e3);
}

/* One line per change: disk, state, latency vs threshold, allowances, why. */
static void log_change(const struct tdisk *d)
{
	const struct throttle_disk *c = &d->ctl;
	char lat[16], thr[16], v[16], line[512];
	size_t off;
	unsigned int i;
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	fmt_lat(lat, sizeof(lat), c->last_lat_ns);
	if (c->threshold_ns)
		fmt_lat(thr, sizeof(thr), c->threshold_ns);
	else
		snprintf(thr, sizeof(thr), "(learning)");
	off = snprintf(line, sizeof(line), "%02d:%02d:%02d %s %s %s/%s", tm.tm_hour, tm.tm_min,
		       tm.tm_sec, d->name, throttle_state_name(c->state), lat, thr);
	for (i = 0; i < d->cfg.nr_classes && off < sizeof(line); i++) {
		if (c->allow[i].dynamic)
			fmt_iops(v, sizeof(v), c->allow[i].total_iops);
		else
			snprintf(v, sizeof(v), "max");
		off += snprintf(line + off, sizeof(line) - off, " %s=%s", d->cls[i].name, v);
	}
	if (c->lagging >= 0 && c->state == THROTTLE_CONGESTED)
		printf("%s: %s (%s over its target)\n", line, c->reason ? c->reason : "",
		       d->cls[c->lagging].name);
	else
		printf("%s: %s\n", line, c->reason ? c->reason : "");
	fflush(stdout);
}

static void json_disk(struct json_writer *w, const struct tdisk *d)
{
	const struct throttle_disk *c = &d->ctl;
	char dev[32];
	unsigned int i;

	snprintf(dev, sizeof(dev), "%u:%u", d->maj, d->min);
	json_obj_open(w);
	json_kv_str(w, "disk", d->name);
	json_kv_str(w, "dev", dev);
	if (d->policy[0])
		json_kv_str(w, "policy", d->policy);
	json_kv_str(w, "enforced_by", d->server ? "server" : "kernel");
	json_kv_str(w, "state", throttle_state_name(c->state));
	json_kv_str(w, "mode", throttle_mode_name(c));
	json_kv_u64(w, "latency_ns", (uint64_t)c->last_lat_ns);
	json_kv_u64(w, "threshold_ns", c->threshold_ns);
	json_kv_str(w, "threshold_mode", c->cfg.mode == THROTTLE_MODE_PEAK ? "peak" : "latency");
	if (c->cfg.mode == THROTTLE_MODE_PEAK)
		json_kv_u64(w, "peak_pct", c->cfg.peak_pct);
	json_kv_u64(w, "peak_iops", (uint64_t)c->peak_iops);
	json_kv_u64(w, "peak_bps", (uint64_t)c->peak_bps);
	json_kv_u64(w, "iops", (uint64_t)c->last_iops);
	json_kv_u64(w, "bps", (uint64_t)c->last_bps);
	json_kv_u64(w, "window_iops", (uint64_t)c->window);
	json_kv_double(w, "elasticity", c->elasticity);
	json_kv_bool(w, "changed", c->changed);
	json_kv_str(w, "reason", c->reason ? c->reason : "");
	json_key(w, "classes");
	json_arr_open(w);
	for (i = 0; i < d->cfg.nr_classes; i++) {
		const struct throttle_allow *a = &c->allow[i];

		json_obj_open(w);
		json_kv_str(w, "name", d->cls[i].name);
		json_kv_u64(w, "class_id", d->cls[i].class_id);
		json_kv_str(w, "enforced_by", d->cls[i].server ? "server" : "kernel");
		json_kv_str(w, "cgroup", d->cls[i].path);
		json_kv_u64(w, "shares", d->cfg.cls[i].shares);
		json_kv_u64(w, "reserve_iops", c->eff[i].reserve_iops);
		json_kv_u64(w, "iops", (uint64_t)c->class_iops[i]);
		if (d->cfg.cls[i].latency_target_ns) {
			json_kv_u64(w, "latency_ns", d->last.cls[i].lat_avg_ns);
			json_kv_u64(w, "latency_target_ns", d->cfg.cls[i].latency_target_ns);
		}
		json_kv_bool(w, "dynamic", a->dynamic);
		json_kv_u64(w, "allow_iops", a->dynamic ? a->total_iops : 0);
		json_kv_u64(w, "riops", a->iops[THROTTLE_READ]);
		json_kv_u64(w, "wiops", a->iops[THROTTLE_WRITE]);
		json_kv_u64(w, "rbps", a->bps[THROTTLE_READ]);
		json_kv_u64(w, "wbps", a->bps[THROTTLE_WRITE]);
		json_obj_close(w);
	}
	json_arr_close(w);
	json_obj_close(w);
}

static int mkdir_parent(const char *file)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", file);
	dirname(dir);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Written whole to a temporary file and renamed: readers never see half. */
static int write_state(const struct topts *o, bool running)
{
	char tmp[PATH_MAX];
	struct json_writer w;
	unsigned int i;
	FILE *f;
	int err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", o->state_path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	json_init(&w, f);
	json_obj_open(&w);
	json_kv_u64(&w, "version", 1);
	json_kv_i64(&w, "time", (int64_t)time(NULL));
	json_kv_i64(&w, "pid", getpid());
	json_kv_bool(&w, "running", running);
	json_kv_double(&w, "interval_s", o->interval_ns / 1e9);
	json_kv_str(&w, "source", o->src ? o->src->name : "none");
	json_kv_str(&w, "latency", o->lat_kind == SLUICE_LAT_DEVICE ? "device" : "total");
	if (o->policy)
		json_kv_u64(&w, "policy_generation", o->generation);
	json_key(&w, "disks");
	json_arr_open(&w);
	for (i = 0; i < o->nr_disks; i++)
		json_disk(&w, &o->disks[i]);
	json_arr_close(&w);
	json_obj_close(&w);
	err = json_end(&w);
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, o->state_path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void to_limits(const struct throttle_allow *a, struct iomax_limits *l)
{
	l->riops = a->iops[THROTTLE_READ];
	l->wiops = a->iops[THROTTLE_WRITE];
	l->rbps = a->bps[THROTTLE_READ];
	l->wbps = a->bps[THROTTLE_WRITE];
}

/* Two names of one file, which need not exist yet (its directory must). */
static bool same_file(const char *a, const char *b)
{
	char da[PATH_MAX], db[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX], ba[PATH_MAX], bb[PATH_MAX];

	snprintf(da, sizeof(da), "%s", a);
	snprintf(db, sizeof(db), "%s", b);
	snprintf(ba, sizeof(ba), "%s", a);
	snprintf(bb, sizeof(bb), "%s", b);
	if (!realpath(dirname(da), ra) || !realpath(dirname(db), rb))
		return !strcmp(a, b);
	return !strcmp(ra, rb) && !strcmp(basename(ba), basename(bb));
}

/*
 * One enforcer per disk: a ublk disk a live sluice server serves with its
 * throttle filter gets its limits from this state file, through the
 * server; io.max stays off it (lib/enforcer.h). A cgroup the policy has no
 * class for on that disk cannot be told apart by the server: io.max holds
 * it, and the state file says so, so that the server leaves its entry alone.
 */
static void choose_enforcer(const struct topts *o, struct tdisk *d)
{
	struct served_throttle t;
	const char *reads;
	unsigned int i;
	int err;

	d->server = false;
	for (i = 0; i < d->cfg.nr_classes; i++)
		d->cls[i].server = false;
	err = enforcer_find(state_dir(), d->maj, d->min, &t);
	if (err) {
		if (err != -ENOENT)
			log_warn("%s: cannot read its ublk server's state in %s (%s); io.max "
				 "holds its limits", d->name, state_dir(), strerror(-err));
		return;
	}
	reads = t.state[0] ? t.state : TSTATE_DEFAULT_PATH;
	if (!same_file(reads, o->state_path)) {
		log_warn("%s: its ublk server reads limits from %s, not %s; io.max holds "
			 "them (drop --state)", d->name, reads, o->state_path);
		return;
	}
	for (i = 0; i < d->cfg.nr_classes; i++) {
		d->cls[i].server = d->cls[i].in_policy;
		d->server |= d->cls[i].in_policy;
		if (!d->cls[i].in_policy)
			log_warn("%s: %s is in no class of policy '%s' on this disk: its "
				 "limits cannot reach the ublk server, io.max holds them (give "
				 "the cgroups the policy's classes name)", d->name,
				 d->cls[i].path, t.policy);
	}
	if (d->server)
		log_info("%s: enforced by its ublk server (/dev/ublkb%u's throttle filter); "
			 "io.max left alone", d->name, t.id);
}

/*
 * @prev: the same disk under the previous policy generation, or NULL; what
 * it learned (peak, curve) is kept before the static limits are written,
 * so a limit given as a percentage of the peak holds from the first write.
 */
static int setup_disk(const struct topts *o, struct tdisk *d, struct iomax_book *book,
		      const struct throttle_disk *prev)
{
	unsigned int i;
	int err, idx;

	if (!d->cfg.nr_classes) {
		log_err("%s: no --cgroup bound to it", d->name);
		return -EINVAL;
	}
	if (d->cfg.mode == THROTTLE_MODE_LATENCY && !d->cfg.threshold_ns) {
		log_err("%s: no --threshold (a latency such as 30ms, or 90%%peak)", d->name);
		return -EINVAL;
	}
	d->cfg.use_p99 = o->p99;
	err = throttle_disk_init(&d->ctl, &d->cfg);
	if (err) {
		log_err("%s: invalid throttle settings", d->name);
		return err;
	}
	if (prev)
		throttle_disk_inherit(&d->ctl, prev);
	d->src.ctx = o->meter;
	d->src.lat_kind = o->lat_kind;
	d->src.maj = d->maj;
	d->src.min = d->min;
	d->src.nr_classes = d->cfg.nr_classes;
	choose_enforcer(o, d);
	for (i = 0; i < d->cfg.nr_classes; i++) {
		struct iomax_limits stat;

		d->src.cgroup_dir[i] = d->cls[i].path;
		d->cls[i].book_idx = -1;
		if (d->cls[i].server)
			continue;
		to_limits(&d->ctl.allow[i], &stat);
		idx = iomax_book_add(book, d->cls[i].path, d->maj, d->min, &stat);
		if (idx < 0) {
			log_err("%s/io.max: %s; create the cgroup and enable the io controller "
				"(echo +io > its parent's cgroup.subtree_control)",
				d->cls[i].path, strerror(-idx));
			return idx;
		}
		d->cls[i].book_idx = idx;
		/* Static limits hold from the start, congested or not. */
		err = iomax_book_apply(book, idx, NULL, NULL);
		if (err) {
			log_err("%s/io.max: cannot write: %s", d->cls[i].path, strerror(-err));
			return err;
		}
	}
	err = o->src->prime(&d->src);
	if (err) {
		log_err("%s: cannot read its counters: %s", d->name, strerror(-err));
		return err;
	}
	return 0;
}

static int step_disk(struct topts *o, struct tdisk *d, struct iomax_book *book, double dt)
{
	unsigned int i;
	int err;

	err = o->src->sample(&d->src, dt, &d->last);
	if (err) {
		log_err("%s: cannot read its counters: %s", d->name, strerror(-err));
		return err;
	}
	err = throttle_disk_step(&d->ctl, &d->last);
	if (err)
		return err;
	for (i = 0; i < d->cfg.nr_classes; i++) {
		struct iomax_limits l;

		if (d->cls[i].book_idx < 0)
			continue;	/* the server reads it from the state file */
		to_limits(&d->ctl.allow[i], &l);
		err = iomax_book_apply(book, d->cls[i].book_idx, &l, NULL);
		if (err) {
			log_err("%s/io.max: cannot write: %s", d->cls[i].path, strerror(-err));
			return err;
		}
	}
	if (o->json) {
		struct json_writer w;

		json_init(&w, stdout);
		json_disk(&w, d);
		json_end(&w);
	} else if (d->ctl.changed) {
		log_change(d);
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cleanup_record(const char *record)
{
	unsigned int n;
	int err;

	err = iomax_book_cleanup_record(record, &n);
	if (err == -ENOENT)
		return 0;
	if (err) {
		log_err("%s: cannot restore every limit it lists: %s", record, strerror(-err));
		return err;
	}
	log_info("removed the dynamic limits of a previous throttle (%u cgroup/disk pairs)", n);
	return 0;
}

/*
 * io.max outlives the process that wrote it: a throttle killed by SIGKILL
 * (or the OOM killer) would leave its dynamic limits in force until the
 * next start or a --cleanup. A guardian, forked before anything is loaded
 * or written, waits for its parent's death (PR_SET_PDEATHSIG) and then puts
 * back the base limits the record lists, as --cleanup does. After a clean
 * exit the record is gone and it has nothing to do. It ignores the signals
 * a terminal or 'timeout' sends the whole group: the daemon is the one to
 * stop, and its death is the guardian's cue.
 */
static void guard(pid_t parent, const char *record)
{
	sigset_t set;
	unsigned int n;
	int sig, fd, err;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR1))
		_exit(1);
	/* Holding the caller's stdout would keep a reader of it waiting. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	while (getppid() == parent)
		sigwait(&set, &sig);
	err = iomax_book_cleanup_record(record, &n);
	if (!err)
		log_info("throttle %d died without removing its dynamic limits: removed them "
			 "(%u cgroup/disk pairs)", (int)parent, n);
	else if (err != -ENOENT)
		log_err("%s: throttle %d died and its limits cannot all be restored: %s; run "
			"'sluice throttle --cleanup'", record, (int)parent, strerror(-err));
	_exit(err && err != -ENOENT ? 1 : 0);
}

static int start_guardian(const char *record)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid)
		guard(parent, record);
	return 0;
}

/* The meter when it loads (auto) or when asked; else the kernel's counters. */
static int open_source(struct topts *o)
{
	struct meter_opts mo = {};
	int err;

	o->src = &throttle_sysfs_source_ops;
	if (!strcmp(o->source, "sysfs"))
		return 0;
	log_setup_libbpf();
	err = meter_open(&o->meter, &mo);
	if (!err) {
		o->src = &throttle_meter_source_ops;
		return 0;
	}
	if (!strcmp(o->source, "meter")) {
		log_err("cannot load the BPF meter: %s; see 'sluice doctor', or use "
			"--source sysfs", strerror(-err));
		return err;
	}
	log_warn("BPF meter unavailable (%s): latency from the kernel's counters "
		 "(average only); see 'sluice doctor'", strerror(-err));
	o->meter = NULL;
	return 0;
}

/* The cgroup v2 hierarchy, where io.max lives: /sys/fs/cgroup, or its
 * unified mount on a hybrid host. */
static const char *default_cgroup_root(void)
{
	if (!access(CGROUP_ROOT "/cgroup.controllers", F_OK))
		return CGROUP_ROOT;
	if (!access(CGROUP_ROOT "/unified/cgroup.controllers", F_OK))
		return CGROUP_ROOT "/unified";
	return CGROUP_ROOT;
}

static void class_dir(const char *root, const char *path, char *out, size_t len)
{
	char *p;

	if (path[0] == '/')
		snprintf(out, len, "%s", path);
	else
		snprintf(out, len, "%s/%s", root, path);
	for (p = out + strlen(out) - 1; p > out && *p == '/'; p--)
		*p = '\0';
}

/*
 * The disks the applied policy hands to the throttle, as tdisks in @disks.
 * -ENOENT (not logged) when no policy is in force; other errors logged.
 */
static int policy_disks(const struct topts *o, struct tdisk *disks, unsigned int *nr,
			uint64_t *gen)
{
	struct throttle_policy *tp;
	struct policy_image img;
	char dev[32];
	unsigned int i, j;
	int err;

	*nr = 0;
	*gen = 0;
	err = policy_maps_read(&img);
	if (err == -ENOENT)
		return err;
	if (err) {
		log_err("cannot read the applied policy: %s; see 'sluice policy status'",
			strerror(-err));
		return err;
	}
	tp = calloc(1, sizeof(*tp));
	if (!tp) {
		policy_image_free(&img);
		return -ENOMEM;
	}
	err = throttle_policy_from_image(&img, tp);
	policy_image_free(&img);
	if (err == -E2BIG) {
		log_err("the applied policy needs more than %d cgroups on one disk or %d "
			"policed disks; split its classes", THROTTLE_MAX_CLASSES,
			THROTTLE_POLICY_MAX_DISKS);
		goto out_free;
	}
	if (err) {
		log_err("the applied policy's maps do not refer to each other (%s); "
			"re-apply it with 'sluice policy apply'", strerror(-err));
		goto out_free;
	}
	*gen = tp->generation;
	for (i = 0; i < tp->nr_disks; i++) {
		const struct throttle_policy_disk *pd = &tp->disks[i];
		struct tdisk *d = &disks[*nr];

		memset(d, 0, sizeof(*d));
		snprintf(dev, sizeof(dev), "%u:%u", pd->maj, pd->min);
		if (resolve_disk(dev, d)) {
			log_warn("%s: bound to policy '%s' but no such disk now; not policed",
				 dev, pd->policy);
			continue;
		}
		if (!pd->cfg.nr_classes) {
			log_warn("%s: policy '%s' has no class matching a cgroup; nothing to "
				 "police", d->name, pd->policy);
			continue;
		}
		snprintf(d->policy, sizeof(d->policy), "%s", pd->policy);
		d->cfg = pd->cfg;
		d->interval_ns = pd->interval_ns;
		for (j = 0; j < pd->cfg.nr_classes; j++) {
			class_dir(o->cgroup_root, pd->cls[j].cgroup, d->cls[j].path,
				  sizeof(d->cls[j].path));
			snprintf(d->cls[j].name, sizeof(d->cls[j].name), "%s", pd->cls[j].name);
			d->cls[j].class_id = pd->cls[j].class_id;
			d->cls[j].in_policy = true;
			d->src.class_id[j] = pd->cls[j].class_id;
		}
		(*nr)++;
	}
	err = 0;
out_free:
	free(tp);
	return err;
}

/*
 * The one control interval (throttle/policy.h says which wins), set at
 * start and after each new generation; run() sleeps by it from the next
 * interval on. Logged when a policy sets it, moves it, or is overruled.
 */
static void pick_interval(struct topts *o)
{
	uint64_t asked[MAX_DISKS], was = o->interval_ns, ns;
	char now_s[24], was_s[24], ask_s[24];
	const char *by = NULL;
	unsigned int i;

	for (i = 0; i < o->nr_disks; i++)
		asked[i] = o->disks[i].interval_ns;
	o->interval_ns = throttle_interval_pick(o->cli_interval_ns, asked, o->nr_disks);
	ns = throttle_interval_pick(0, asked, o->nr_disks);
	for (i = 0; i < o->nr_disks && !by; i++)
		if (o->disks[i].interval_ns == ns)
			by = o->disks[i].policy;
	units_format(UNIT_DURATION, o->interval_ns, now_s, sizeof(now_s));
	units_format(UNIT_DURATION, was, was_s, sizeof(was_s));
	units_format(UNIT_DURATION, ns, ask_s, sizeof(ask_s));
	if (o->cli_interval_ns) {
		if (by && ns != o->cli_interval_ns)
			log_info("control interval %s from --interval; policy '%s' asks for %s",
				 now_s, by, ask_s);
	} else if (!was) {
		if (by)
			log_info("control interval %s: policy '%s' asks for it", now_s, by);
	} else if (was != o->interval_ns) {
		if (by)
			log_info("control interval %s (was %s) from the next one on: policy "
				 "'%s' asks for it", now_s, was_s, by);
		else
			log_info("control interval %s (was %s) from the next one on: no "
				 "policy in force sets throttle_interval", now_s, was_s);
	}
}

/* Every class's io.max can be read: a generation is taken whole or not at all. */
static int check_cgroups(const struct tdisk *disks, unsigned int nr)
{
	struct iomax_limits l;
	unsigned int i, j;
	int err;

	for (i = 0; i < nr; i++) {
		for (j = 0; j < disks[i].cfg.nr_classes; j++) {
			err = iomax_read(disks[i].cls[j].path, disks[i].maj, disks[i].min, &l);
			if (err) {
				log_err("%s/io.max: %s; create the cgroup and enable the io "
					"controller (echo +io > its parent's "
					"cgroup.subtree_control), or give --cgroup-root",
					disks[i].cls[j].path, strerror(-err));
				return err;
			}
		}
	}
	return 0;
}

static const struct tdisk *find_disk(const struct tdisk *disks, unsigned int nr,
				     unsigned int maj, unsigned int min)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (disks[i].maj == maj && disks[i].min == min)
			return &disks[i];
	return NULL;
}

/*
 * A new generation was applied: build its settings whole, and only if that
 * works let go of the old one's dynamic limits and start the new one, with
 * what was learned about each disk kept. A generation that cannot be used
 * leaves the old one in force (logged once). 1 when switched, 0 when not,
 * -errno when the switch failed half-way (the caller restores and exits).
 */
static int reload_policy(struct topts *o, struct iomax_book *book, uint64_t gen)
{
	struct tdisk *next, *old;
	const struct tdisk *same;
	unsigned int nr = 0, old_nr = o->nr_disks, i, kept;
	uint64_t got = 0;
	int err;

	next = calloc(MAX_DISKS, sizeof(*next));
	old = calloc(MAX_DISKS, sizeof(*old));
	if (!next || !old) {
		free(next);
		free(old);
		return -ENOMEM;
	}
	err = policy_disks(o, next, &nr, &got);
	if (err == -ENOENT)
		err = 0;	/* removed: nothing to police until the next apply */
	if (!err)
		err = check_cgroups(next, nr);
	if (err) {
		log_warn("policy generation %" PRIu64 " cannot be used; generation %" PRIu64
			 " stays in force", gen, o->generation);
		o->failed_generation = gen;
		free(next);
		free(old);
		return 0;
	}
	for (i = 0; i < o->nr_disks; i++)
		throttle_disk_release(&o->disks[i].ctl);
	err = iomax_book_release(book, &kept);
	if (err)
		log_warn("cannot remove every dynamic limit of generation %" PRIu64 " (%s)",
			 o->generation, strerror(-err));
	iomax_book_free(book);
	/* In place: the source keeps pointers into each tdisk. */
	memcpy(old, o->disks, sizeof(*old) * MAX_DISKS);
	memcpy(o->disks, next, sizeof(*next) * MAX_DISKS);
	free(next);
	err = iomax_book_init(book, o->record_path);
	for (i = 0; i < nr && !err; i++) {
		same = find_disk(old, old_nr, o->disks[i].maj, o->disks[i].min);
		err = setup_disk(o, &o->disks[i], book, same ? &same->ctl : NULL);
	}
	free(old);
	o->nr_disks = err ? 0 : nr;
	if (err)
		return err;
	log_info("policy generation %" PRIu64 " in force (was %" PRIu64 "): %u disk%s "
		 "policed%s", gen, o->generation, nr, nr == 1 ? "" : "s",
		 kept ? "; limits rewritten by the apply kept" : "");
	o->generation = gen;
	o->failed_generation = UINT64_MAX;
	return 1;
}

/*
 * --cgroup mode: a cgroup that a class of the applied policy names on that
 * disk is published under the policy's class id, by which a ublk server's
 * throttle filter finds the limits of its requests; the others keep their
 * position on the command line.
 */
static void cgroup_class_ids(struct topts *o)
{
	struct policy_image img;
	unsigned int i, j, id;
	struct tdisk *d;

	if (policy_maps_read(&img))
		return;		/* no policy in force: positions it is */
	for (i = 0; i < o->nr_disks; i++) {
		d = &o->disks[i];
		for (j = 0; j < d->cfg.nr_classes; j++) {
			if (throttle_policy_class_of(&img, d->maj, d->min, o->cgroup_root,
						     d->cls[j].path, &id))
				continue;
			d->cls[j].class_id = id;
			d->cls[j].in_policy = true;
		}
	}
	policy_image_free(&img);
}

static int run(struct topts *o)
{
	struct iomax_book book;
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec next;
	double last;
	unsigned int i;
	int err, rerr;

	err = mkdir_parent(o->record_path);
	if (!err)
		err = mkdir_parent(o->state_path);
	if (err) {
		log_err("%s: cannot create its directory: %s", o->state_path, strerror(-err));
		return 1;
	}
	if (!o->once) {
		err = start_guardian(o->record_path);
		if (err) {
			log_err("cannot fork the guardian that removes the limits if this throttle "
				"is killed: %s", strerror(-err));
			return 1;
		}
	}
	err = open_source(o);
	if (err)
		return 1;
	/* A record means a throttle died without cleaning up: start clean. */
	if (cleanup_record(o->record_path))
		return 1;
	err = iomax_book_init(&book, o->record_path);
	if (err)
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (i = 0; i < o->nr_disks && !err; i++)
		err = setup_disk(o, &o->disks[i], &book, NULL);
	if (err)
		goto out_restore;
	clock_gettime(CLOCK_MONOTONIC, &next);
	last = now_s();
	while (!stop) {
		double t, dt;

		next.tv_sec += o->interval_ns / 1000000000ull;
		next.tv_nsec += o->interval_ns % 1000000000ull;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (stop)
			break;
		t = now_s();
		dt = t - last;
		last = t;
		if (o->policy) {
			uint64_t gen = policy_maps_generation();

			if (gen != o->generation && gen != o->failed_generation) {
				err = reload_policy(o, &book, gen);
				if (err < 0)
					goto out_restore;
				if (err > 0) {
					/* The new disks were primed just now: their
					 * first sample starts here. */
					err = 0;
					pick_interval(o);
					write_state(o, true);
					continue;
				}
			}
		}
		for (i = 0; i < o->nr_disks && !err; i++)
			err = step_disk(o, &o->disks[i], &book, dt);
		if (err)
			goto out_restore;
		rerr = write_state(o, true);
		if (rerr)
			log_warn("%s: cannot write the state: %s", o->state_path, strerror(-rerr));
		if (o->once) {
			iomax_book_free(&book);
			meter_close(o->meter);
			return 0;
		}
	}
	if (stop)
		log_info("signal %d: removing dynamic limits", (int)stop);
out_restore:
	for (i = 0; i < o->nr_disks; i++)
		throttle_disk_release(&o->disks[i].ctl);
	rerr = iomax_book_restore(&book);
	if (rerr)
		log_err("cannot remove every dynamic limit (%s); run 'sluice throttle --cleanup'",
			strerror(-rerr));
	write_state(o, false);
	iomax_book_free(&book);
	meter_close(o->meter);
	return err || rerr ? 1 : 0;
}

int cmd_throttle(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "threshold", required_argument, NULL, 't' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "interval", required_argument, NULL, 'i' },
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, '1' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "p99", no_argument, NULL, 'p' },
		{ "latency", required_argument, NULL, 'L' },
		{ "source", required_argument, NULL, 'S' },
		{ "state", required_argument, NULL, 's' },
		{ "record", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "policy", no_argument, NULL, 'P' },
		{ "cgroup-root", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static struct topts o;
	int c, err = 0;

	memset(&o, 0, sizeof(o));
	o.state_path = DEF_STATE;
	o.record_path = DEF_RECORD;
	o.source = "auto";
	o.lat_kind = SLUICE_LAT_TOTAL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			err = set_option(&o, "disk", optarg);
			break;
		case 't':
			err = set_option(&o, "threshold", optarg);
			break;
		case 'g':
			err = set_option(&o, "cgroup", optarg);
			break;
		case 'c':
			err = read_config(&o, optarg);
			break;
		case 'i':
			if (throttle_parse_duration(optarg, &o.cli_interval_ns) ||
			    o.cli_interval_ns < 10000000ull) {
				log_err("--interval '%s': expected a duration of at least 10ms "
					"(500ms, 1s)", optarg);
				err = -EINVAL;
			}
			break;
		case '1':
			o.once = true;
			break;
		case 'C':
			o.cleanup = true;
			break;
		case 'p':
			o.p99 = true;
			break;
		case 'L':
			if (!strcmp(optarg, "total")) {
				o.lat_kind = SLUICE_LAT_TOTAL;
			} else if (!strcmp(optarg, "device")) {
				o.lat_kind = SLUICE_LAT_DEVICE;
			} else {
				log_err("--latency '%s': expected total or device", optarg);
				err = -EINVAL;
			}
			break;
		case 'S':
			if (strcmp(optarg, "auto") && strcmp(optarg, "meter") &&
			    strcmp(optarg, "sysfs")) {
				log_err("--source '%s': expected auto, meter or sysfs", optarg);
				err = -EINVAL;
			}
			o.source = optarg;
			break;
		case 's':
			o.state_path = optarg;
			break;
		case 'r':
			o.record_path = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'P':
			o.policy = true;
			break;
		case 'R':
			o.cgroup_root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (err)
			return 2;
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'; see 'sluice throttle --help'", argv[optind]);
		return 2;
	}
	if (o.cleanup)
		return cleanup_record(o.record_path) ? 1 : 0;
	if (o.policy && o.nr_disks) {
		log_err("--policy takes the disks from the applied policy; drop --disk and "
			"--config");
		return 2;
	}
	if (!o.cgroup_root)
		o.cgroup_root = default_cgroup_root();
	if (!o.nr_disks) {
		uint64_t gen;
		unsigned int nr;

		err = policy_disks(&o, o.disks, &nr, &gen);
		if (err == -ENOENT && o.policy) {
			log_err("no policy is in force; apply one with 'sluice policy apply FILE'");
			return 2;
		}
		if (err == -ENOENT) {
			log_err("no disk to police; give --disk DISK --threshold T --cgroup PATH, "
				"or apply a policy (see 'sluice throttle --help')");
			return 2;
		}
		if (err)
			return 1;
		if (!nr) {
			log_err("the policy in force (generation %" PRIu64 ") polices no disk; "
				"set 'throttle: true' on a policy bound to a disk", gen);
			return 2;
		}
		o.policy = true;
		o.generation = gen;
		o.failed_generation = UINT64_MAX;
		o.nr_disks = nr;
		log_info("policy generation %" PRIu64 ": %u disk%s policed", gen, nr,
			 nr == 1 ? "" : "s");
	}
	if ((o.p99 || o.lat_kind == SLUICE_LAT_DEVICE) && !strcmp(o.source, "sysfs")) {
		/* The kernel's counters carry one sum from start to completion. */
		log_err("--p99 and --latency device need the BPF meter; drop --source sysfs");
		return 2;
	}
	if (o.p99 || o.lat_kind == SLUICE_LAT_DEVICE)
		o.source = "meter";
	pick_interval(&o);
	if (!o.policy)
		cgroup_class_ids(&o);
	return run(&o);
}
