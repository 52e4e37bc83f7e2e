// SPDX-License-Identifier: GPL-2.0
/*
 * meter.c - lifecycle and readers of the meter skeleton; see meter.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "lib/clock.h"
#include "loader/features.h"
#include "loader/meter.h"
#include "loader/meter_watch.h"
#include "loader/policy_maps.h"
#include "meter.skel.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON	38
#endif
#ifndef CAP_BPF
#define CAP_BPF		39
#endif

/* See core_fixes.bpf.h: the #define value before the queue flags became an enum. */
#define QUEUE_FLAG_STATS_DEFINE	20

struct meter {
	struct meter_bpf *skel;
	struct ring_buffer *rb;
	struct meter_watch *watch;
	meter_event_fn fn;
	void *fn_ctx;
	int stats_fd;
	int ncpus;
};

uint64_t meter_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);	/* bpf_ktime_get_ns()'s clock */
}

/* The QUEUE_FLAG_STATS enumerator if this kernel's BTF has one. */
static unsigned int queue_stats_bit(void)
{
	const struct btf *btf = feat_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_enum *e;
	__u32 id, n, i;

	if (!btf)
		return QUEUE_FLAG_STATS_DEFINE;
	n = btf__type_cnt(btf);
	for (id = 1; id < n; id++) {
		t = btf__type_by_id(btf, id);
		if (!btf_is_enum(t))
			continue;
		e = btf_enum(t);
		for (i = 0; i < btf_vlen(t); i++, e++) {
			if (!strcmp(btf__name_by_offset(btf, e->name_off), "QUEUE_FLAG_STATS"))
				return e->val;
		}
	}
	return QUEUE_FLAG_STATS_DEFINE;
}

static bool has_privileges(void)
{
	if (feat_has_cap(CAP_SYS_ADMIN))
		return true;
	return feat_has_cap(CAP_BPF) && feat_has_cap(CAP_PERFMON);
}

static int configure(struct meter *m, const struct meter_opts *opts)
{
	struct meter_bpf *s = m->skel;
	bool bio_tp;

	s->rodata->partitions = opts->partitions;
	s->rodata->trace_mode = opts->trace;
	s->rodata->queue_stats_bit = queue_stats_bit();
	/* diagnostic (docs/metering.md): time every issue with our own program */
	s->rodata->kernel_stamps = !getenv("SLUICE_METER_OWN_ISSUE_TIMES");
	memcpy((void *)&s->rodata->filter, &opts->filter, sizeof(opts->filter));

	/* Without trace mode the ring buffer is never written: keep it one page. */
	if (!opts->trace)
		bpf_map__set_max_entries(s->maps.events, getpagesize());

	bio_tp = feat_tp_btf_exists("block_bio_queue") && feat_tp_btf_exists("block_bio_complete");
	bpf_program__set_autoload(s->progs.bio_queue, bio_tp);
	bpf_program__set_autoload(s->progs.bio_complete, bio_tp);
	/* attached by meter_watch when a disk needs them */
	bpf_program__set_autoattach(s->progs.rq_issue, false);
	bpf_program__set_autoattach(s->progs.bio_queue, false);
	bpf_program__set_autoattach(s->progs.bio_complete, false);
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct meter *m = ctx;

	if (size < sizeof(struct sluice_event) || !m->fn)
		return 0;
	return m->fn(m->fn_ctx, data);
}

int meter_open(struct meter **out, const struct meter_opts *opts)
{
	static const struct meter_opts defaults;
	struct meter *m;
	int err;

	if (!opts)
		opts = &defaults;
	if (!has_privileges())
		return -EPERM;
	if (!feat_has_vmlinux_btf() || !feat_tp_btf_exists("block_rq_issue") ||
	    !feat_tp_btf_exists("block_rq_complete"))
		return -ENOENT;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->stats_fd = -1;
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus <= 0) {
		err = m->ncpus ?: -EINVAL;
		goto out_free;
	}

	m->skel = meter_bpf__open();
	if (!m->skel) {
		err = -errno ?: -EINVAL;
		goto out_free;
	}
	err = configure(m, opts);
	if (err)
		goto out_destroy;
	/*
	 * Classify with the pinned policy (created empty if none is applied
	 * yet, so a later apply reaches this meter). Without bpffs the meter
	 * keeps its private, empty policy map: everything is class default.
	 */
	policy_maps_reuse(m->skel->obj);
	err = meter_bpf__load(m->skel);
	if (err)
		goto out_destroy;
	err = meter_bpf__attach(m->skel);
	if (err)
		goto out_destroy;
	err = meter_watch_start(&m->watch, m->skel, opts->trace);
	if (err)
		goto out_destroy;
	m->skel->bss->armed_ns = meter_now_ns();

	if (opts->trace) {
		m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.events), on_event, m, NULL);
		if (!m->rb) {
			err = -errno ?: -ENOMEM;
			goto out_destroy;
		}
	}
	/* Optional: a kernel without BPF stats still meters. */
	if (opts->self_stats)
		m->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	*out = m;
	return 0;

out_destroy:
	meter_watch_stop(m->watch);
	meter_bpf__destroy(m->skel);
out_free:
	free(m);
	return err;
}

void meter_close(struct meter *m)
{
	if (!m)
		return;
	ring_buffer__free(m->rb);
	meter_watch_stop(m->watch);
	meter_bpf__destroy(m->skel);
	if (m->stats_fd >= 0)
		close(m->stats_fd);
	free(m);
}

/* Walk a per-CPU hash, summing each value's u64 words over CPUs. */
static int read_percpu(int fd, size_t key_size, size_t val_size, int ncpus,
		       void **out, size_t *n, size_t rec_size)
{
	size_t words = val_size / sizeof(uint64_t), cap = 0, cnt = 0, w;
	uint64_t *percpu, *sum;
	char key[64], next[64];
	char *recs = NULL, *tmp;
	void *prev = NULL;
	int err = 0, cpu;

	if (key_size > sizeof(key))
		return -EINVAL;
	percpu = calloc(ncpus, val_size);
	if (!percpu)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, percpu))
			continue;	/* deleted meanwhile */
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(recs, cap * rec_size);
			if (!tmp) {
				err = -ENOMEM;
				goto out_free;
			}
			recs = tmp;
		}
		memcpy(recs + cnt * rec_size, key, key_size);
		sum = (uint64_t *)(recs + cnt * rec_size + key_size);
		memset(sum, 0, val_size);
		for (cpu = 0; cpu < ncpus; cpu++)
			for (w = 0; w < words; w++)
				sum[w] += percpu[cpu * words + w];
		cnt++;
	}
	*out = recs;
	*n = cnt;
	recs = NULL;
out_free:
	free(recs);
	free(percpu);
	return err;
}

/* The block layer's own busy time and in-flight count for @dev. */
static int read_sysfs_stat(unsigned int dev, struct meter_disk *d)
{
	unsigned long long f[11];
	char path[64];
	FILE *fp;
	int n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat", SLUICE_MAJOR(dev),
		 SLUICE_MINOR(dev));
	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	n = fscanf(fp, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1],
		   &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10]);
	fclose(fp);
	if (n != 11)
		return -EINVAL;
	d->inflight = (long long)f[8];
	d->busy_ns = f[9] * 1000000ull;
	return 0;
}

/*
 * Every block device, not only those with metered I/O yet, so that a disk's
 * first active interval has a baseline.
 */
static int read_disks(struct meter *m, struct meter_snapshot *snap)
{
	struct meter_disk *tmp, d;
	unsigned int ma, mi;
	struct dirent *de;
	size_t cap = 0;
	DIR *dir;
	int err = 0;

	dir = opendir("/sys/dev/block");
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (sscanf(de->d_name, "%u:%u", &ma, &mi) != 2)
			continue;
		memset(&d, 0, sizeof(d));
		d.dev = SLUICE_MKDEV(ma, mi);
		if (read_sysfs_stat(d.dev, &d))
			continue;
		if (snap->nr_disks == cap) {
			cap = cap ? cap * 2 : 32;
			tmp = realloc(snap->disks, cap * sizeof(*tmp));
			if (!tmp) {
				err = -ENOMEM;
				break;
			}
			snap->disks = tmp;
		}
		snap->disks[snap->nr_disks++] = d;
	}
	closedir(dir);
	return err;
}

int meter_snapshot(struct meter *m, struct meter_snapshot *snap)
{
	void *recs = NULL;
	size_t n = 0;
	int err;

	memset(snap, 0, sizeof(*snap));
	/* a program that should have been attached and was not: say so */
	err = meter_watch_rescan(m->watch) ?: meter_watch_error(m->watch);
	if (err)
		return err;
	snap->ts_ns = meter_now_ns();
	err = read_percpu(bpf_map__fd(m->skel->maps.meter), sizeof(struct sluice_meter_key),
			  sizeof(struct sluice_meter_val), m->ncpus, &recs, &n,
			  sizeof(struct meter_stream));
	if (err)
		return err;
	snap->streams = recs;
	snap->nr_streams = n;
	err = read_disks(m, snap);
	if (err)
		meter_snapshot_free(snap);
	return err;
}

void meter_snapshot_free(struct meter_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->streams);
	free(snap->disks);
	snap->streams = NULL;
	snap->disks = NULL;
	snap->nr_streams = snap->nr_disks = 0;
}

const struct meter_stream *meter_snapshot_find(const struct meter_snapshot *snap,
						const struct sluice_meter_key *key)
{
	size_t i;

	for (i = 0; i < snap->nr_streams; i++)
		if (!memcmp(&snap->streams[i].key, key, sizeof(*key)))
			return &snap->streams[i];
	return NULL;
}

const struct meter_disk *meter_snapshot_disk(const struct meter_snapshot *snap, unsigned int dev)
{
	size_t i;

	for (i = 0; i < snap->nr_disks; i++)
		if (snap->disks[i].dev == dev)
			return &snap->disks[i];
	return NULL;
}

bool meter_snapshot_has_dev(const struct meter_snapshot *snap, unsigned int dev)
{
	size_t i;

	for (i = 0; i < snap->nr_streams; i++)
		if (snap->streams[i].key.dev == dev)
			return true;
	return false;
}

/*
 * Add the samples waiting in the per-CPU pending histograms (see
 * meter.bpf.c) to @h. Read after the histograms: samples moved over in
 * between are missed once by this read, never counted twice.
 */
static int add_pending(struct meter *m, struct meter_hist **h, size_t *n)
{
	struct sluice_hist_pending *p;
	struct meter_hist *tmp;
	__u32 slot;
	int cpu, lat, err = 0;
	unsigned int b;
	size_t i;

	p = calloc(m->ncpus, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (slot = 0; slot < SLUICE_HIST_PENDING; slot++) {
		if (bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.hist_pending), &slot, p)) {
			err = -errno;
			goto out_free;
		}
		for (cpu = 0; cpu < m->ncpus; cpu++) {
			if (!p[cpu].valid)
				continue;
			for (i = 0; i < *n; i++)
				if (!memcmp(&(*h)[i].key, &p[cpu].key, sizeof(p[cpu].key)))
					break;
			if (i == *n) {
				tmp = realloc(*h, (*n + 1) * sizeof(**h));
				if (!tmp) {
					err = -ENOMEM;
					goto out_free;
				}
				*h = tmp;
				memset(&tmp[i], 0, sizeof(tmp[i]));
				tmp[i].key = p[cpu].key;
				(*n)++;
			}
			for (lat = 0; lat < SLUICE_LAT_MAX; lat++)
				for (b = 0; b < SLUICE_HIST_BUCKETS; b++)
					(*h)[i].val.buckets[lat][b] += p[cpu].h.buckets[lat][b];
		}
	}
out_free:
	free(p);
	return err;
}

int meter_read_hists(struct meter *m, struct meter_hist **out, size_t *n)
{
	struct meter_hist *recs = NULL;
	size_t nr = 0;
	int err;

	err = read_percpu(bpf_map__fd(m->skel->maps.hist), sizeof(struct sluice_hist_key),
			  sizeof(struct sluice_hist_val), m->ncpus, (void **)&recs, &nr,
			  sizeof(struct meter_hist));
	if (!err)
		err = add_pending(m, &recs, &nr);
	if (err) {
		free(recs);
		return err;
	}
	*out = recs;
	*n = nr;
	return 0;
}

int meter_trace_poll(struct meter *m, int timeout_ms, meter_event_fn fn, void *ctx)
{
	int ret;

	if (!m->rb)
		return -EINVAL;
	m->fn = fn;
	m->fn_ctx = ctx;
	ret = ring_buffer__poll(m->rb, timeout_ms);
	return ret < 0 ? (ret == -EINTR ? -EINTR : ret) : ret;
}

/* Sum of a one-slot per-CPU u64 counter map. */
static uint64_t percpu_counter(struct meter *m, struct bpf_map *map)
{
	int fd = bpf_map__fd(map);
	uint64_t *v, sum = 0;
	__u32 zero = 0;
	int cpu;

	v = calloc(m->ncpus, sizeof(*v));
	if (!v)
		return 0;
	if (!bpf_map_lookup_elem(fd, &zero, v))
		for (cpu = 0; cpu < m->ncpus; cpu++)
			sum += v[cpu];
	free(v);
	return sum;
}

uint64_t meter_trace_lost(struct meter *m)
{
	return percpu_counter(m, m->skel->maps.lost);
}

uint64_t meter_samples_lost(struct meter *m)
{
	return percpu_counter(m, m->skel->maps.hist_lost);
}

int meter_read_self(struct meter *m, struct meter_self *self)
{
	struct bpf_program *prog;
	struct bpf_prog_info info;
	__u32 len;
	int fd;

	memset(self, 0, sizeof(*self));
	self->enabled = m->stats_fd >= 0;
	bpf_object__for_each_program(prog, m->skel->obj) {
		fd = bpf_program__fd(prog);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			return -errno;
		self->run_ns += info.run_time_ns;
		self->run_cnt += info.run_cnt;
	}
	return 0;
}
