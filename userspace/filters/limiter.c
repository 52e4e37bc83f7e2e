// SPDX-License-Identifier: GPL-2.0
/*
 * limiter.c - the class limiter: holds each policy class of a served disk to
 * its limits. Not to be confused with the throttle daemon ('sluice
 * throttle', userspace/throttle/), which computes some of those limits; in
 * chain specs and state files the filter is still named "throttle", the
 * name users and existing state files know (docs/filters.md).
 *
 * The class of a request comes from the ublk_class BPF program, which
 * recorded it by (disk, queue, tag) when the block layer issued it; this
 * filter reads it from the mapped array, charges the class's token buckets
 * (IOPS and bytes, per direction) and lets the request continue at once or
 * parks it on an absolute io_uring timeout until its release time, so the
 * queue keeps serving other requests meanwhile.
 *
 * Limits: the policy's static class limits (pinned policy map) merged with
 * the dynamic ones of 'sluice throttle' (its state file), the stricter
 * winning. Both are re-read at most once per interval, by requests as they
 * pass and, from start() on, by a thread of the filter's own, so an idle
 * disk drops a stopped throttle's limits too; the state file only when its
 * mtime moved, and dynamic limits are dropped as soon as the state is no
 * longer fresh.
 *
 * Args: policy=NAME (whose classes), state=PATH (default the throttle's
 * default state file), interval_ms=N (default 1000).
 *
 * Per-class counters are published in RUN_DIR/ublkN.classes.json at each
 * refresh, for tests and operators.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <liburing.h>

#include "filters/chain.h"
#include "filters/filter.h"
#include "filters/registry.h"
#include "filters/tbucket.h"
#include "filters/limiter.h"
#include "lib/clock.h"
#include "lib/disk_state.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "loader/policy_compile.h"
#include "loader/policy_maps.h"
#include "loader/ublk_class.h"
#include "throttle/state_read.h"

#define DEFAULT_INTERVAL_MS	1000

struct limiter_class {
	struct tbucket b[LIMIT_NR];	/* indexed by enum class_limit */
	struct class_limits in_force;
	uint64_t ios[2];			/* read, write */
	uint64_t delayed[2];
};

struct limiter {
	pthread_mutex_t lock;
	char policy[SLUICE_CLASS_NAME_LEN];
	char state_path[256];
	uint64_t interval_ns;
	uint64_t next_refresh;
	struct ublk_class_map map;
	int dev_id;				/* -1 until the disk exists */
	unsigned int major, minor;
	struct timespec state_mtime;
	struct tstate live;			/* header of the last state read (no disks) */
	bool have_live;
	uint64_t no_sqe;			/* released early: the ring was full */
	struct class_limits stat[SLUICE_MAX_CLASSES];
	struct class_limits dyn[SLUICE_MAX_CLASSES];
	char names[SLUICE_MAX_CLASSES][SLUICE_CLASS_NAME_LEN];
	struct limiter_class cls[SLUICE_MAX_CLASSES];
	pthread_t refresher;		/* from start() to stop() */
	pthread_cond_t wake_refresher;	/* CLOCK_MONOTONIC */
	bool refresher_running;
	bool stopping;			/* under lock */
};

/* Per request: the release time, which the kernel reads at submission. */
struct limiter_req {
	struct __kernel_timespec ts;
};

/* ------------------------------------------------------------ limits -- */

uint64_t class_limit_merge(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

bool class_limits_dynamic(const struct tstate *st, unsigned int major, unsigned int minor,
			     int64_t now, struct class_limits *dyn)
{
	bool seen[SLUICE_MAX_CLASSES] = { false }, any = false;
	const struct tstate_disk *d;
	const struct tstate_class *c;
	size_t i;
	int j;

	memset(dyn, 0, SLUICE_MAX_CLASSES * sizeof(*dyn));
	if (!st || !tstate_fresh(st, now))
		return false;
	d = tstate_find(st, major, minor);
	for (i = 0; d && i < d->nr_cls; i++) {
		const uint64_t v[LIMIT_NR] = { d->cls[i].riops, d->cls[i].wiops,
						       d->cls[i].rbps, d->cls[i].wbps };

		c = &d->cls[i];
		/* io.max holds a cgroup the policy has no class for on this disk */
		if (!c->server || c->class_id >= SLUICE_MAX_CLASSES)
			continue;
		/*
		 * Everything the throttle wants in force, dynamic or not: a limit
		 * in percent of peak and a command-line one have no other way
		 * here. A class of N cgroups is N entries: the class gets their
		 * sum, unlimited when any of them is.
		 */
		for (j = 0; j < LIMIT_NR; j++) {
			uint64_t *x = &dyn[c->class_id].v[j];

			if (!seen[c->class_id])
				*x = v[j];
			else
				*x = *x && v[j] ? *x + v[j] : 0;
		}
		seen[c->class_id] = true;
	}
	for (i = 0; i < SLUICE_MAX_CLASSES && !any; i++)
		for (j = 0; j < LIMIT_NR; j++)
			any |= dyn[i].v[j] != 0;
	return any;
}

static const union sluice_policy_val *image_get(const struct policy_image *img, unsigned int kind,
						unsigned long long id)
{
	size_t i;

	for (i = 0; i < img->nr_ents; i++)
		if (img->ents[i].key.kind == kind && img->ents[i].key.id == id)
			return &img->ents[i].val;
	return NULL;
}

static const struct sluice_policy_info *image_policy(const struct policy_image *img,
						     const char *policy)
{
	size_t i;

	for (i = 0; i < img->nr_ents; i++)
		if (img->ents[i].key.kind == SLUICE_PK_POLICY &&
		    !strncmp(img->ents[i].val.policy.name, policy, SLUICE_CLASS_NAME_LEN))
			return &img->ents[i].val.policy;
	return NULL;
}

int class_limits_static(const struct policy_image *img, const char *policy,
			   struct class_limits *st, char (*names)[SLUICE_CLASS_NAME_LEN])
{
	const struct sluice_policy_info *p;
	const union sluice_policy_val *v;
	const struct sluice_class_limits *l;
	unsigned int id, end;

	memset(st, 0, SLUICE_MAX_CLASSES * sizeof(*st));
	if (names)
		memset(names, 0, SLUICE_MAX_CLASSES * sizeof(*names));
	p = image_policy(img, policy);
	if (!p)
		return -ENOENT;
	end = p->first_class + p->nr_classes;
	for (id = p->first_class; id < end && id < SLUICE_MAX_CLASSES; id++) {
		v = image_get(img, SLUICE_PK_CLASS, id);
		if (!v)
			continue;
		l = &v->limits;
		st[id].v[LIMIT_RIOPS] = l->pct_mask & SLUICE_LIM_PCT_RIOPS ? 0 : l->riops;
		st[id].v[LIMIT_WIOPS] = l->pct_mask & SLUICE_LIM_PCT_WIOPS ? 0 : l->wiops;
		st[id].v[LIMIT_RBPS] = l->pct_mask & SLUICE_LIM_PCT_RBPS ? 0 : l->rbps;
		st[id].v[LIMIT_WBPS] = l->pct_mask & SLUICE_LIM_PCT_WBPS ? 0 : l->wbps;
		if (names)
			snprintf(names[id], SLUICE_CLASS_NAME_LEN, "%s", l->name);
	}
	return 0;
}

bool limiter_policy_wants(const char *policy)
{
	struct class_limits *st;
	const struct sluice_policy_info *p;
	struct policy_image img;
	bool wants = false;
	int i, j;

	if (!policy || policy_maps_read(&img))
		return false;
	p = image_policy(&img, policy);
	st = calloc(SLUICE_MAX_CLASSES, sizeof(*st));
	if (p && st && !class_limits_static(&img, policy, st, NULL)) {
		wants = p->flags & SLUICE_DISK_F_THROTTLE;
		for (i = 0; i < SLUICE_MAX_CLASSES && !wants; i++)
			for (j = 0; j < LIMIT_NR; j++)
				wants |= st[i].v[j] != 0;
	}
	free(st);
	policy_image_free(&img);
	return wants;
}

/* ----------------------------------------------------------- refresh -- */

/* The disk's MAJ:MIN, once the server has created it. */
static bool resolve_disk(struct filter *f, struct limiter *t)
{
	char p[64];
	FILE *fp;
	int n;

	if (t->dev_id >= 0)
		return true;
	if (f->chain->dev_id < 0)
		return false;
	snprintf(p, sizeof(p), "/sys/block/ublkb%d/dev", f->chain->dev_id);
	fp = fopen(p, "r");
	if (!fp)
		return false;
	n = fscanf(fp, "%u:%u", &t->major, &t->minor);
	fclose(fp);
	if (n != 2)
		return false;
	t->dev_id = f->chain->dev_id;
	return true;
}

static void refresh_static(struct limiter *t)
{
	struct policy_image img;

	if (policy_maps_read(&img)) {
		/* no policy applied any more: nothing static holds */
		memset(t->stat, 0, sizeof(t->stat));
		return;
	}
	class_limits_static(&img, t->policy, t->stat, t->names);
	policy_image_free(&img);
}

static void refresh_dynamic(struct limiter *t)
{
	struct tstate st;
	struct stat sb;
	int64_t now = time(NULL);

	if (stat(t->state_path, &sb)) {
		t->have_live = false;
		memset(t->dyn, 0, sizeof(t->dyn));
		return;
	}
	if (t->have_live && sb.st_mtim.tv_sec == t->state_mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == t->state_mtime.tv_nsec) {
		/* unchanged file: only its freshness can have run out */
		if (!tstate_fresh(&t->live, now)) {
			t->have_live = false;
			memset(t->dyn, 0, sizeof(t->dyn));
		}
		return;
	}
	t->state_mtime = sb.st_mtim;
	if (tstate_load(t->state_path, &st)) {
		/* a half-written or foreign file: fail open until the next good one */
		t->have_live = false;
		memset(t->dyn, 0, sizeof(t->dyn));
		return;
	}
	t->have_live = class_limits_dynamic(&st, t->major, t->minor, now, t->dyn);
	t->live = (struct tstate){ .time = st.time, .pid = st.pid, .running = st.running,
				   .interval_s = st.interval_s };
	tstate_free(&st);
}

static void apply_limits(struct limiter *t, uint64_t now)
{
	struct limiter_class *c;
	int i, j;

	for (i = 0; i < SLUICE_MAX_CLASSES; i++) {
		c = &t->cls[i];
		for (j = 0; j < LIMIT_NR; j++) {
			c->in_force.v[j] = class_limit_merge(t->stat[i].v[j], t->dyn[i].v[j]);
			tbucket_set_rate(&c->b[j], c->in_force.v[j], now);
		}
	}
}

static bool class_shown(const struct limiter *t, int i)
{
	const struct limiter_class *c = &t->cls[i];
	int j;

	if (c->ios[0] || c->ios[1] || t->names[i][0])
		return true;
	for (j = 0; j < LIMIT_NR; j++)
		if (c->in_force.v[j])
			return true;
	return false;
}

/*
 * RUN_DIR/ublkN.classes.json, replaced whole (write_file_atomic). Not
 * synced: statistics rewritten every refresh for 'sluice top' under /run,
 * worth nothing after a reboot, and an fsync on the I/O path would cost
 * more than the file is worth.
 */
static void publish(struct limiter *t)
{
	static const char *const lim[] = { "riops", "wiops", "rbps", "wbps" };
	struct json_writer w;
	char path[512], *buf = NULL;
	size_t len = 0;
	FILE *fp;
	int i, j;

	snprintf(path, sizeof(path), "%s/ublk%d.classes.json", state_dir(), t->dev_id);
	fp = open_memstream(&buf, &len);
	if (!fp)
		return;
	json_init(&w, fp);
	json_obj_open(&w);
	json_kv_u64(&w, "dev_id", (uint64_t)t->dev_id);
	json_kv_str(&w, "policy", t->policy);
	json_kv_bool(&w, "dynamic", t->have_live);
	json_kv_u64(&w, "released_early", t->no_sqe);
	json_key(&w, "classes");
	json_arr_open(&w);
	for (i = 0; i < SLUICE_MAX_CLASSES; i++) {
		if (!class_shown(t, i))
			continue;
		json_obj_open(&w);
		json_kv_u64(&w, "class_id", (uint64_t)i);
		json_kv_str(&w, "name", t->names[i][0] ? t->names[i] : "default");
		json_kv_u64(&w, "reads", t->cls[i].ios[0]);
		json_kv_u64(&w, "writes", t->cls[i].ios[1]);
		json_kv_u64(&w, "delayed_reads", t->cls[i].delayed[0]);
		json_kv_u64(&w, "delayed_writes", t->cls[i].delayed[1]);
		for (j = 0; j < LIMIT_NR; j++)
			json_kv_u64(&w, lim[j], t->cls[i].in_force.v[j]);
		json_obj_close(&w);
	}
	json_arr_close(&w);
	json_obj_close(&w);
	if (json_end(&w) || fputc('\n', fp) == EOF) {
		fclose(fp);
		free(buf);
		return;
	}
	if (!fclose(fp))
		write_file_atomic(path, buf, len, 0644, 0);
	free(buf);
}

/* Called with the lock held. */
static void maybe_refresh(struct filter *f, struct limiter *t, uint64_t now)
{
	if (now < t->next_refresh || !resolve_disk(f, t))
		return;
	t->next_refresh = now + t->interval_ns;
	refresh_static(t);
	refresh_dynamic(t);
	apply_limits(t, now);
	publish(t);
}

/*
 * Requests refresh the limits as they pass, but an idle disk must not keep
 * what the throttle published last: a stopped throttle's limits would stay
 * in force (and in classes.json) until the next request. This thread
 * refreshes once an interval whatever the I/O.
 */
static void *limiter_refresh_thread(void *arg)
{
	struct filter *f = arg;
	struct limiter *t = f->priv;
	struct timespec until;
	uint64_t next;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		maybe_refresh(f, t, clock_ns(CLOCK_MONOTONIC));
		next = t->next_refresh > clock_ns(CLOCK_MONOTONIC) ? t->next_refresh : clock_ns(CLOCK_MONOTONIC) + t->interval_ns;
		until.tv_sec = (time_t)(next / 1000000000ull);
		until.tv_nsec = (long)(next % 1000000000ull);
		pthread_cond_timedwait(&t->wake_refresher, &t->lock, &until);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static int limiter_start(struct filter *f)
{
	struct limiter *t = f->priv;
	int err;

	t->stopping = false;
	err = pthread_create(&t->refresher, NULL, limiter_refresh_thread, f);
	if (err)
		return -err;
	pthread_setname_np(t->refresher, "sluice-limiter");
	t->refresher_running = true;
	return 0;
}

static void limiter_stop(struct filter *f)
{
	struct limiter *t = f->priv;

	if (!t->refresher_running)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->wake_refresher);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->refresher, NULL);
	t->refresher_running = false;
}

/* -------------------------------------------------------- data path -- */

static int limiter_down(struct filter *f, struct filter_req *req)
{
	struct limiter *t = f->priv;
	struct limiter_req *tr = filter_req_priv(f, req);
	struct tbucket *b[2];
	uint64_t units[2] = { 1, req->len }, now = clock_ns(CLOCK_MONOTONIC), release;
	struct io_uring_sqe *sqe;
	unsigned int id, dir = req->op == FILTER_OP_WRITE;
	struct limiter_class *c;

	pthread_mutex_lock(&t->lock);
	maybe_refresh(f, t, now);
	id = t->dev_id < 0 ? SLUICE_CLASS_DEFAULT :
	     ublk_class_get(&t->map, (unsigned int)t->dev_id, req->queue, req->tag);
	c = &t->cls[id];
	b[0] = &c->b[dir ? LIMIT_WIOPS : LIMIT_RIOPS];
	b[1] = &c->b[dir ? LIMIT_WBPS : LIMIT_RBPS];
	release = tbucket_reserve(b, units, 2, now);
	c->ios[dir]++;
	if (release > now)
		c->delayed[dir]++;
	pthread_mutex_unlock(&t->lock);
	if (release <= now)
		return FILTER_CONTINUE;

	tr->ts.tv_sec = (long long)(release / 1000000000ull);
	tr->ts.tv_nsec = (long long)(release % 1000000000ull);
	sqe = filter_get_sqe(f, req, 0);
	if (!sqe) {
		io_uring_submit(req->ring);
		sqe = filter_get_sqe(f, req, 0);
	}
	if (!sqe) {
		/* never stall the queue for a limit: let it through and count it */
		pthread_mutex_lock(&t->lock);
		t->no_sqe++;
		pthread_mutex_unlock(&t->lock);
		return FILTER_CONTINUE;
	}
	/* absolute CLOCK_MONOTONIC: a late submission does not stretch the delay */
	io_uring_prep_timeout(sqe, &tr->ts, 0, IORING_TIMEOUT_ABS);
	return FILTER_PENDING;
}

static void limiter_io_done(struct filter *f, struct filter_req *req, uint32_t cookie, int res)
{
	/* -ETIME is the timeout firing; anything else (cancelled) releases it too */
	filter_resume(req, FILTER_CONTINUE);
}

/* The server stops and the drain limit passed: release time no longer matters. */
static void limiter_cancel(struct filter *f, struct filter_req *req)
{
	filter_cancel_sqe(f, req, 0);
}

/* ---------------------------------------------------------- lifecycle -- */

static int limiter_init(struct filter *f, const struct filter_config *cfg)
{
	pthread_condattr_t attr;
	char buf[32];
	struct limiter *t;
	bool loaded;
	int err;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake_refresher, &attr);
	pthread_condattr_destroy(&attr);
	t->dev_id = -1;
	t->interval_ns = DEFAULT_INTERVAL_MS * 1000000ull;
	snprintf(t->state_path, sizeof(t->state_path), "%s", TSTATE_DEFAULT_PATH);
	err = filter_config_get(cfg, "policy", t->policy, sizeof(t->policy));
	if (err == -ENOENT)
		err = 0;
	if (!err) {
		err = filter_config_get(cfg, "state", t->state_path, sizeof(t->state_path));
		if (err == -ENOENT)
			err = 0;
	}
	if (!err && !filter_config_get(cfg, "interval_ms", buf, sizeof(buf))) {
		char *end;
		unsigned long ms = strtoul(buf, &end, 10);

		if (*end || !ms || ms > 60000)
			err = -EINVAL;
		t->interval_ns = ms * 1000000ull;
	}
	if (err)
		goto out_free;
	err = ublk_class_ensure(&loaded);
	if (!err)
		err = ublk_class_map_open(&t->map);
	if (err)
		goto out_free;
	f->priv = t;
	return 0;

out_free:
	pthread_cond_destroy(&t->wake_refresher);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return err;
}

static int limiter_stats(struct filter *f, struct filter_stat *st, int max)
{
	struct limiter *t = f->priv;
	uint64_t ios = 0, delayed = 0;
	int i, n = 0;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < SLUICE_MAX_CLASSES; i++) {
		ios += t->cls[i].ios[0] + t->cls[i].ios[1];
		delayed += t->cls[i].delayed[0] + t->cls[i].delayed[1];
	}
	pthread_mutex_unlock(&t->lock);
	if (n < max)
		st[n++] = (struct filter_stat){ "ios", ios };
	if (n < max)
		st[n++] = (struct filter_stat){ "delayed", delayed };
	return n;
}

static void limiter_teardown(struct filter *f)
{
	struct limiter *t = f->priv;
	char path[512];

	if (!t)
		return;
	if (t->dev_id >= 0) {
		snprintf(path, sizeof(path), "%s/ublk%d.classes.json", state_dir(), t->dev_id);
		remove(path);
	}
	ublk_class_map_close(&t->map);
	pthread_cond_destroy(&t->wake_refresher);
	pthread_mutex_destroy(&t->lock);
	free(t);
	f->priv = NULL;
}

const struct filter_ops limiter_filter_ops = {
	.name = "throttle",	/* the user-visible name: chain specs and state files keep it */
	.data_blind = true,
	.req_priv_size = sizeof(struct limiter_req),
	.init = limiter_init,
	.start = limiter_start,
	.stop = limiter_stop,
	.read = limiter_down,
	.write = limiter_down,
	.io_done = limiter_io_done,
	.cancel = limiter_cancel,
	.stats = limiter_stats,
	.teardown = limiter_teardown,
};
