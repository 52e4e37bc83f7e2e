// SPDX-License-Identifier: GPL-2.0
/*
 * daemon.c - the throttle daemon's run loop, disk setup and step, policy
 * reload and enforcer choice; see daemon.h. Reports, never logs.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "lib/disk_state.h"
#include "lib/enforcer.h"
#include "lib/json.h"
#include "loader/meter.h"
#include "loader/policy_compile.h"
#include "loader/policy_maps.h"
#include "throttle/daemon.h"
#include "throttle/guardian.h"
#include "throttle/iomax.h"
#include "throttle/policy.h"
#include "throttle/state_read.h"
#include "throttle/state_write.h"

static void report(const struct tdaemon *o, const struct tdaemon_event *ev)
{
	o->report(o, ev);
}

#define REPORT(o, k, ...)							\
	report((o), &(const struct tdaemon_event){ .kind = (k), __VA_ARGS__ })

int tdaemon_resolve_disk(const char *arg, struct tdaemon_disk *d)
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



static int mkdir_parent(const char *file)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", file);
	dirname(dir);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
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
 * class limiter (filter "throttle") gets its limits from this state file,
 * through the server; io.max stays off it (lib/enforcer.h). A cgroup the policy has no
 * class for on that disk cannot be told apart by the server: io.max holds
 * it, and the state file says so, so that the server leaves its entry alone.
 */
static void choose_enforcer(const struct tdaemon *o, struct tdaemon_disk *d)
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
			REPORT(o, TDAEMON_EV_SERVER_UNREADABLE, .disk = d, .path = state_dir(),
			       .err = err);
		return;
	}
	reads = t.state[0] ? t.state : TSTATE_DEFAULT_PATH;
	if (!same_file(reads, o->state_path)) {
		REPORT(o, TDAEMON_EV_SERVER_OTHER_STATE, .disk = d, .path = reads,
		       .path2 = o->state_path);
		return;
	}
	for (i = 0; i < d->cfg.nr_classes; i++) {
		d->cls[i].server = d->cls[i].in_policy;
		d->server |= d->cls[i].in_policy;
		if (!d->cls[i].in_policy)
			REPORT(o, TDAEMON_EV_SERVER_NO_CLASS, .disk = d, .path = d->cls[i].path,
			       .policy = t.policy);
	}
	if (d->server)
		REPORT(o, TDAEMON_EV_SERVER_ENFORCES, .disk = d, .n = t.id);
}

/*
 * @prev: the same disk under the previous policy generation, or NULL; what
 * it learned (peak, curve) is kept before the static limits are written,
 * so a limit given as a percentage of the peak holds from the first write.
 */
static int setup_disk(const struct tdaemon *o, struct tdaemon_disk *d, struct iomax_book *book,
		      const struct throttle_disk *prev)
{
	unsigned int i;
	int err, idx;

	if (!d->cfg.nr_classes) {
		REPORT(o, TDAEMON_EV_NO_CGROUP, .disk = d);
		return -EINVAL;
	}
	if (d->cfg.mode == THROTTLE_MODE_LATENCY && !d->cfg.threshold_ns) {
		REPORT(o, TDAEMON_EV_NO_THRESHOLD, .disk = d);
		return -EINVAL;
	}
	d->cfg.use_p99 = o->p99;
	err = throttle_disk_init(&d->ctl, &d->cfg);
	if (err) {
		REPORT(o, TDAEMON_EV_BAD_SETTINGS, .disk = d);
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
			REPORT(o, TDAEMON_EV_IOMAX_OPEN, .path = d->cls[i].path, .err = idx);
			return idx;
		}
		d->cls[i].book_idx = idx;
		/* Static limits hold from the start, congested or not. */
		err = iomax_book_apply(book, idx, NULL, NULL);
		if (err) {
			REPORT(o, TDAEMON_EV_IOMAX_WRITE, .path = d->cls[i].path, .err = err);
			return err;
		}
	}
	err = o->src->prime(&d->src);
	if (err) {
		REPORT(o, TDAEMON_EV_COUNTERS, .disk = d, .err = err);
		return err;
	}
	return 0;
}

static int step_disk(struct tdaemon *o, struct tdaemon_disk *d, struct iomax_book *book, double dt)
{
	unsigned int i;
	int err;

	err = o->src->sample(&d->src, dt, &d->last);
	if (err) {
		REPORT(o, TDAEMON_EV_COUNTERS, .disk = d, .err = err);
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
			REPORT(o, TDAEMON_EV_IOMAX_WRITE, .path = d->cls[i].path, .err = err);
			return err;
		}
	}
	REPORT(o, TDAEMON_EV_SAMPLE, .disk = d);
	return 0;
}



static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}



int tdaemon_cleanup_record(const struct tdaemon *o, const char *record)
{
	unsigned int n;
	int err;

	err = iomax_book_cleanup_record(record, &n);
	if (err == -ENOENT)
		return 0;
	if (err) {
		REPORT(o, TDAEMON_EV_RECORD_RESTORE, .path = record, .err = err);
		return err;
	}
	REPORT(o, TDAEMON_EV_RECORD_CLEANED, .n = n);
	return 0;
}



/* The meter when it loads (auto) or when asked; else the kernel's counters. */
static int open_source(struct tdaemon *o)
{
	struct meter_opts mo = {};
	int err;

	o->src = &throttle_sysfs_source_ops;
	if (!strcmp(o->source, "sysfs"))
		return 0;
	err = meter_open(&o->meter, &mo);
	if (!err) {
		o->src = &throttle_meter_source_ops;
		return 0;
	}
	if (!strcmp(o->source, "meter")) {
		REPORT(o, TDAEMON_EV_METER, .err = err);
		return err;
	}
	REPORT(o, TDAEMON_EV_METER_FALLBACK, .err = err);
	o->meter = NULL;
	return 0;
}

const char *tdaemon_default_cgroup_root(void)
{
	if (!access(TDAEMON_CGROUP_ROOT "/cgroup.controllers", F_OK))
		return TDAEMON_CGROUP_ROOT;
	if (!access(TDAEMON_CGROUP_ROOT "/unified/cgroup.controllers", F_OK))
		return TDAEMON_CGROUP_ROOT "/unified";
	return TDAEMON_CGROUP_ROOT;
}

void tdaemon_class_dir(const char *root, const char *path, char *out, size_t len)
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
 * The disks the applied policy hands to the throttle, into @disks.
 * -ENOENT (not reported) when no policy is in force; other errors reported.
 */
int tdaemon_policy_disks(const struct tdaemon *o, struct tdaemon_disk *disks,
			 unsigned int *nr, uint64_t *gen)
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
		REPORT(o, TDAEMON_EV_POLICY_READ, .err = err);
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
		REPORT(o, TDAEMON_EV_POLICY_TOO_BIG, .err = err);
		goto out_free;
	}
	if (err) {
		REPORT(o, TDAEMON_EV_POLICY_MAPS, .err = err);
		goto out_free;
	}
	*gen = tp->generation;
	for (i = 0; i < tp->nr_disks; i++) {
		const struct throttle_policy_disk *pd = &tp->disks[i];
		struct tdaemon_disk *d = &disks[*nr];

		memset(d, 0, sizeof(*d));
		snprintf(dev, sizeof(dev), "%u:%u", pd->maj, pd->min);
		if (tdaemon_resolve_disk(dev, d)) {
			REPORT(o, TDAEMON_EV_DISK_GONE, .name = dev, .policy = pd->policy);
			continue;
		}
		if (!pd->cfg.nr_classes) {
			REPORT(o, TDAEMON_EV_DISK_NO_CLASS, .disk = d, .policy = pd->policy);
			continue;
		}
		snprintf(d->policy, sizeof(d->policy), "%s", pd->policy);
		d->cfg = pd->cfg;
		d->interval_ns = pd->interval_ns;
		for (j = 0; j < pd->cfg.nr_classes; j++) {
			tdaemon_class_dir(o->cgroup_root, pd->cls[j].cgroup, d->cls[j].path,
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
 * start and after each new generation; tdaemon_run() sleeps by it from the
 * next interval on. Reported every time: the caller says when it moved.
 */
void tdaemon_pick_interval(struct tdaemon *o)
{
	uint64_t asked[TDAEMON_MAX_DISKS], was = o->interval_ns, ns;
	const char *by = NULL;
	unsigned int i;

	for (i = 0; i < o->nr_disks; i++)
		asked[i] = o->disks[i].interval_ns;
	o->interval_ns = throttle_interval_pick(o->cli_interval_ns, asked, o->nr_disks);
	ns = throttle_interval_pick(0, asked, o->nr_disks);
	for (i = 0; i < o->nr_disks && !by; i++)
		if (o->disks[i].interval_ns == ns)
			by = o->disks[i].policy;
	REPORT(o, TDAEMON_EV_INTERVAL, .interval = o->interval_ns, .was = was, .asked = ns,
	       .policy = by, .cli = o->cli_interval_ns != 0);
}

/* Every class's io.max can be read: a generation is taken whole or not at all. */
static int check_cgroups(const struct tdaemon *o, const struct tdaemon_disk *disks,
			 unsigned int nr)
{
	struct iomax_limits l;
	unsigned int i, j;
	int err;

	for (i = 0; i < nr; i++) {
		for (j = 0; j < disks[i].cfg.nr_classes; j++) {
			err = iomax_read(disks[i].cls[j].path, disks[i].maj, disks[i].min, &l);
			if (err) {
				REPORT(o, TDAEMON_EV_POLICY_CGROUP, .path = disks[i].cls[j].path,
				       .err = err);
				return err;
			}
		}
	}
	return 0;
}

static const struct tdaemon_disk *find_disk(const struct tdaemon_disk *disks, unsigned int nr,
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
 * leaves the old one in force (reported once). 1 when switched, 0 when not,
 * -errno when the switch failed half-way (the caller restores and exits).
 */
static int reload_policy(struct tdaemon *o, struct iomax_book *book, uint64_t gen)
{
	struct tdaemon_disk *next, *old;
	const struct tdaemon_disk *same;
	unsigned int nr = 0, old_nr = o->nr_disks, i, kept;
	uint64_t got = 0;
	int err;

	next = calloc(TDAEMON_MAX_DISKS, sizeof(*next));
	old = calloc(TDAEMON_MAX_DISKS, sizeof(*old));
	if (!next || !old) {
		free(next);
		free(old);
		return -ENOMEM;
	}
	err = tdaemon_policy_disks(o, next, &nr, &got);
	if (err == -ENOENT)
		err = 0;	/* removed: nothing to police until the next apply */
	if (!err)
		err = check_cgroups(o, next, nr);
	if (err) {
		REPORT(o, TDAEMON_EV_GEN_UNUSABLE, .gen = gen, .was = o->generation);
		o->failed_generation = gen;
		free(next);
		free(old);
		return 0;
	}
	for (i = 0; i < o->nr_disks; i++)
		throttle_disk_release(&o->disks[i].ctl);
	err = iomax_book_release(book, &kept);
	if (err)
		REPORT(o, TDAEMON_EV_GEN_RELEASE, .was = o->generation, .err = err);
	iomax_book_free(book);
	/* In place: the source keeps pointers into each tdisk. */
	memcpy(old, o->disks, sizeof(*old) * TDAEMON_MAX_DISKS);
	memcpy(o->disks, next, sizeof(*next) * TDAEMON_MAX_DISKS);
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
	REPORT(o, TDAEMON_EV_GEN_SWITCHED, .gen = gen, .was = o->generation, .n = nr,
	       .kept = kept != 0);
	o->generation = gen;
	o->failed_generation = UINT64_MAX;
	return 1;
}

/*
 * --cgroup mode: a cgroup that a class of the applied policy names on that
 * disk is published under the policy's class id, by which a ublk server's
 * class limiter (filter "throttle") finds the limits of its requests; the
 * others keep their position on the command line.
 */
void tdaemon_cgroup_class_ids(struct tdaemon *o)
{
	struct policy_image img;
	unsigned int i, j, id;
	struct tdaemon_disk *d;

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

int tdaemon_run(struct tdaemon *o, volatile sig_atomic_t *stop)
{
	struct iomax_book book;
	struct timespec next;
	double last;
	unsigned int i;
	int err, rerr;

	err = mkdir_parent(o->record_path);
	if (!err)
		err = mkdir_parent(o->state_path);
	if (err) {
		REPORT(o, TDAEMON_EV_MKDIR, .path = o->state_path, .err = err);
		return err;
	}
	if (!o->once) {
		err = tguardian_start(o->record_path, o->guardian_report);
		if (err) {
			REPORT(o, TDAEMON_EV_GUARDIAN, .err = err);
			return err;
		}
	}
	err = open_source(o);
	if (err)
		return err;
	/* A record means a throttle died without cleaning up: start clean. */
	err = tdaemon_cleanup_record(o, o->record_path);
	if (err)
		goto out_close;
	err = iomax_book_init(&book, o->record_path);
	if (err)
		goto out_close;
	for (i = 0; i < o->nr_disks && !err; i++)
		err = setup_disk(o, &o->disks[i], &book, NULL);
	if (err)
		goto out_restore;
	clock_gettime(CLOCK_MONOTONIC, &next);
	last = now_s();
	while (!*stop) {
		double t, dt;

		next.tv_sec += o->interval_ns / 1000000000ull;
		next.tv_nsec += o->interval_ns % 1000000000ull;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		while (!*stop &&
		       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (*stop)
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
					tdaemon_pick_interval(o);
					tstate_write(o, true);
					continue;
				}
			}
		}
		for (i = 0; i < o->nr_disks && !err; i++)
			err = step_disk(o, &o->disks[i], &book, dt);
		if (err)
			goto out_restore;
		rerr = tstate_write(o, true);
		if (rerr)
			REPORT(o, TDAEMON_EV_STATE_WRITE, .path = o->state_path, .err = rerr);
		if (o->once) {
			iomax_book_free(&book);
			meter_close(o->meter);
			return 0;
		}
	}
	if (*stop)
		REPORT(o, TDAEMON_EV_SIGNAL, .n = (unsigned int)*stop);
out_restore:
	for (i = 0; i < o->nr_disks; i++)
		throttle_disk_release(&o->disks[i].ctl);
	rerr = iomax_book_restore(&book);
	if (rerr)
		REPORT(o, TDAEMON_EV_RESTORE, .err = rerr);
	tstate_write(o, false);
	iomax_book_free(&book);
out_close:
	meter_close(o->meter);
	o->meter = NULL;
	return err ? err : rerr;
}
