// SPDX-License-Identifier: GPL-2.0
/*
 * meter.bpf.c - per disk, class and cgroup I/O counters, log-linear latency
 * histograms and per-disk busy time, from the block tracepoints; per-I/O
 * events through a ring buffer in trace mode only.
 *
 * Fields are read by direct (BTF-typed) loads, not bpf_probe_read_kernel():
 * tp_btf arguments are trusted pointers the verifier lets us walk, at the
 * cost of a load instead of a helper call.
 *
 * Request-based disks (blk-mq): the request carries its own timestamps,
 * start_time_ns (set at allocation when the disk keeps I/O statistics) and
 * io_start_time_ns (set at issue when the queue collects stats, e.g. for
 * writeback throttling); only when the kernel does not stamp the issue do we
 * keep it in a small LRU hash keyed by request.
 *
 * Bio-based disks (device-mapper, md) never allocate requests: they are
 * metered from block_bio_queue to block_bio_complete, with the start time in
 * a bounded LRU hash keyed by bio. The cgroup comes from bio->bi_blkg, which
 * the kernel keeps across plugging, kworkers and dm clones.
 *
 * Busy time (%util) and the in-flight count are read from the kernel's own
 * per-disk accounting by user space (see docs/metering.md): pairing issues
 * with completions here cannot be exact, because blk-mq re-dispatches a
 * request the driver bounced (BLK_STS_RESOURCE) without a requeue event, and
 * the flush state machine completes a request more than once.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "sluice.h"
#include "classify.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile bool partitions = false;	/* meter partitions, not whole disks */
const volatile bool trace_mode = false;	/* emit ring buffer events */
const volatile __u32 queue_stats_bit = 20;
const volatile bool kernel_stamps = true;	/* use the issue times the kernel takes */
const volatile struct sluice_trace_filter filter = {};

/*
 * Set by user space once every program is attached: issue times are only
 * recorded from then on. A kernel-stamped issue time is valid whenever it
 * was taken, and is not compared with armed_ns: under virtual TSCs the
 * clocks of two CPUs may disagree by more than the gap between arming and
 * the first I/O (seen on 6.1 under qemu TCG with tsc=reliable).
 */
__u64 armed_ns = 0;

/*
 * block_rq_issue and the bio programs are attached only where they are
 * needed (see loader/meter_watch.c): every tracepoint program attached costs
 * its call on every I/O, and most blk-mq queues stamp the issue themselves.
 * The first unstamped completion asks user space, through @notify, to attach
 * the issue program; issue_wanted keeps that to one message.
 */
__u32 issue_wanted = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} notify SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_meter_key);
	__type(value, struct sluice_meter_val);
} meter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_hist_key);
	__type(value, struct sluice_hist_val);
} hist SEC(".maps");

/* Issue time of requests the kernel does not stamp itself. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} issue_ts SEC(".maps");

struct bio_start {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 dev;
	__u32 bytes;
	__u32 op;
	__u32 pid;
	__u64 sector;
	char comm[SLUICE_COMM_LEN];
};

/* Bio-based disks: start of every bio in flight (and, in trace mode, its task). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct bio_start);
} bio_start SEC(".maps");

struct bio_task {
	__u32 pid;
	char comm[SLUICE_COMM_LEN];
};

/* Trace mode only: who queued a bio that a blk-mq request will carry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct bio_task);
} bio_task SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Ring buffer reservations that failed: events lost, reported by readers. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static const struct sluice_meter_val zero_meter;
static const struct sluice_hist_val zero_hist;

static __always_inline __u32 dir_of(__u32 op)
{
	if (op == SLUICE_OP_READ)
		return SLUICE_DIR_READ;
	if (op == SLUICE_OP_WRITE)
		return SLUICE_DIR_WRITE;
	return SLUICE_DIR_OTHER;
}

static __always_inline __u32 err_of(__u8 status)
{
	switch (status) {
	case SLUICE_BLK_STS_IOERR:
		return SLUICE_ERR_IOERR;
	case SLUICE_BLK_STS_TIMEOUT:
		return SLUICE_ERR_TIMEOUT;
	case SLUICE_BLK_STS_NOSPC:
		return SLUICE_ERR_NOSPC;
	case SLUICE_BLK_STS_NOTSUPP:
		return SLUICE_ERR_NOTSUPP;
	case SLUICE_BLK_STS_MEDIUM:
		return SLUICE_ERR_MEDIUM;
	case SLUICE_BLK_STS_TRANSPORT:
		return SLUICE_ERR_TRANSPORT;
	case SLUICE_BLK_STS_AGAIN:
		return SLUICE_ERR_AGAIN;
	default:
		return SLUICE_ERR_OTHER;
	}
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, s;

	s = (v > 0xffffffffULL) << 5; v >>= s; r |= s;
	s = (v > 0xffff) << 4; v >>= s; r |= s;
	s = (v > 0xff) << 3; v >>= s; r |= s;
	s = (v > 0xf) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	r |= (v >> 1);
	return r;
}

/* Log-linear bucket: the formula is sluice.h's, shared with user space. */
static __always_inline __u32 hist_index(__u64 v)
{
	return sluice_hist_index(v, log2_u64(v));
}

static __always_inline __u32 disk_dev(struct gendisk *disk)
{
	if (!disk)
		return 0;
	return SLUICE_MKDEV((__u32)disk->major, (__u32)disk->first_minor);
}

static __always_inline __u32 rq_dev(struct request *rq)
{
	struct block_device *part;

	if (partitions) {
		part = rq->part;
		if (part)
			return part->bd_dev;
	}
	return disk_dev(rq_disk(rq));
}

struct io_done {
	__u64 cgroup_id;
	__u64 queue_ns;
	__u64 device_ns;
	__u64 sector;
	__u32 dev;
	__u32 op;
	__u32 bytes;		/* bytes completed now */
	__u32 status;
	bool final;		/* the request is complete */
	bool timed;		/* queue_ns/device_ns are known */
};

/*
 * Histogram samples whose entry could not be created. Histogram values are
 * large per-CPU areas (12 KiB a CPU) that a non-preallocated hash allocates
 * in atomic context; the percpu allocator cannot grow there and fails such
 * allocations after boot (seen on 6.1: up to 14 reads in a row of a new
 * stream) until a background worker populates a chunk. The samples wait
 * here, per CPU and per stream, in preallocated histograms, and the next
 * completion on this CPU that can create the entry moves them over;
 * readers add them meanwhile.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_HIST_PENDING);
	__type(key, __u32);
	__type(value, struct sluice_hist_pending);
} hist_pending SEC(".maps");

/* Samples that could be neither added nor deferred (reported as lost). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hist_lost SEC(".maps");

static __noinline bool hist_add(struct sluice_hist_key *hkey, __u32 *idx)
{
	struct sluice_hist_val *h;
	__u32 lat, i;

	h = bpf_map_lookup_elem(&hist, hkey);
	if (!h) {
		bpf_map_update_elem(&hist, hkey, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hist, hkey);
		if (!h)
			return false;
	}
	for (lat = 0; lat < SLUICE_LAT_MAX; lat++) {
		/*
		 * barrier_var: without it clang bounds-checks a copy of the
		 * index and indexes with the original, which the 6.1 verifier
		 * rejects ("unbounded memory access"); newer verifiers track
		 * the copy.
		 */
		i = idx[lat];
		barrier_var(i);
		if (i < SLUICE_HIST_BUCKETS)
			h->buckets[lat][i]++;
	}
	return true;
}

static __always_inline bool same_stream(const struct sluice_hist_key *a,
					const struct sluice_hist_key *b)
{
	return a->dev == b->dev && a->class_id == b->class_id &&
	       a->cgroup_id == b->cgroup_id && a->dir == b->dir;
}

static __noinline int hist_defer(struct sluice_hist_key *hkey, __u32 *idx)
{
	struct sluice_hist_pending *p;
	__u32 s, lat, i, zero = 0;
	__u64 *n;

	/* Unrolled: a counter whose address the lookup takes lives on the
	 * stack, and the verifier cannot tell its iterations apart. */
#pragma unroll
	for (s = 0; s < SLUICE_HIST_PENDING; s++) {
		__u32 slot = s;

		p = bpf_map_lookup_elem(&hist_pending, &slot);
		if (!p || (p->valid && !same_stream(&p->key, hkey)))
			continue;
		if (!p->valid) {
			p->key = *hkey;
			p->valid = 1;
		}
		for (lat = 0; lat < SLUICE_LAT_MAX; lat++) {
			i = idx[lat];
			barrier_var(i);
			if (i < SLUICE_HIST_BUCKETS)
				p->h.buckets[lat][i]++;
		}
		return 0;
	}
	n = bpf_map_lookup_elem(&hist_lost, &zero);
	if (n)
		(*n)++;
	return 0;
}

struct flush_ctx {
	struct sluice_hist_pending *p;
	struct sluice_hist_val *h;
};

/* Bucket n of the three histograms taken as one flat array. */
static int flush_bucket(__u32 n, struct flush_ctx *c)
{
	__u64 *src = &c->p->h.buckets[0][0], *dst = &c->h->buckets[0][0], v;

	barrier_var(n);
	if (n >= SLUICE_LAT_MAX * SLUICE_HIST_BUCKETS)
		return 1;
	v = src[n];
	if (v) {
		dst[n] += v;
		src[n] = 0;
	}
	return 0;
}

/*
 * Moves a pending stream into its entry once the entry can be created.
 * bpf_loop (5.17+): an open-coded loop over the 1584 buckets is more than
 * the verifier walks.
 */
static __noinline int hist_flush_one(__u32 s)
{
	struct flush_ctx c;

	c.p = bpf_map_lookup_elem(&hist_pending, &s);
	if (!c.p || !c.p->valid)
		return 0;
	c.h = bpf_map_lookup_elem(&hist, &c.p->key);
	if (!c.h) {
		bpf_map_update_elem(&hist, &c.p->key, &zero_hist, BPF_NOEXIST);
		c.h = bpf_map_lookup_elem(&hist, &c.p->key);
		if (!c.h)
			return 0;
	}
	bpf_loop(SLUICE_LAT_MAX * SLUICE_HIST_BUCKETS, flush_bucket, &c, 0);
	c.p->valid = 0;
	return 0;
}

static __always_inline void hist_flush_pending(void)
{
	__u32 s;

#pragma unroll
	for (s = 0; s < SLUICE_HIST_PENDING; s++)
		hist_flush_one(s);
}

static __always_inline void account(struct io_done *io, __u32 class_id)
{
	struct sluice_meter_key key = {
		.dev = io->dev, .class_id = class_id, .cgroup_id = io->cgroup_id,
	};
	struct sluice_hist_key hkey = {
		.dev = io->dev, .class_id = class_id, .cgroup_id = io->cgroup_id,
	};
	struct sluice_meter_val *v;
	__u32 op = io->op < SLUICE_OP_MAX ? io->op : SLUICE_OP_OTHER;
	__u64 total = io->queue_ns + io->device_ns;
	__u32 idx[SLUICE_LAT_MAX];
	__u32 i;

	v = bpf_map_lookup_elem(&meter, &key);
	if (!v) {
		bpf_map_update_elem(&meter, &key, &zero_meter, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&meter, &key);
		if (!v)
			return;
	}
	v->bytes[op] += io->bytes;
	if (io->status) {
		i = err_of(io->status);
		barrier_var(i);
		if (i < SLUICE_ERR_MAX)
			v->errors[i]++;
	}
	if (!io->final)
		return;
	v->ios[op]++;
	if (!io->timed)
		return;
	v->timed[op]++;
	v->lat_ns[op] += total;
	v->queue_ns[op] += io->queue_ns;
	v->device_ns[op] += io->device_ns;

	hkey.dir = dir_of(op);
	idx[SLUICE_LAT_QUEUE] = hist_index(io->queue_ns);
	idx[SLUICE_LAT_DEVICE] = hist_index(io->device_ns);
	idx[SLUICE_LAT_TOTAL] = hist_index(total);
	hist_flush_pending();
	if (!hist_add(&hkey, idx))
		hist_defer(&hkey, idx);
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);

	if (n)
		(*n)++;
}

static __always_inline void emit(struct io_done *io, __u32 class_id, __u64 now,
				 __u32 pid, const char *comm)
{
	struct sluice_event *e;

	if (filter.dev && filter.dev != io->dev)
		return;
	if (filter.op_mask && !(filter.op_mask & SLUICE_OPMASK(io->op)))
		return;
	if (filter.cgroup_id && filter.cgroup_id != io->cgroup_id)
		return;
	if (filter.min_lat_ns && io->queue_ns + io->device_ns < filter.min_lat_ns)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return;
	}
	e->ts_ns = now;
	e->cgroup_id = io->cgroup_id;
	e->sector = io->sector;
	e->queue_ns = io->queue_ns;
	e->device_ns = io->device_ns;
	e->dev = io->dev;
	e->bytes = io->bytes;
	e->pid = pid;
	e->class_id = class_id;
	e->op = io->op;
	e->status = io->status;
	if (comm)
		bpf_probe_read_kernel(e->comm, sizeof(e->comm), comm);
	else
		e->comm[0] = '\0';
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void want_issue_program(void)
{
	__u32 *msg;

	issue_wanted = 1;
	msg = bpf_ringbuf_reserve(&notify, sizeof(*msg), 0);
	if (!msg)
		return;	/* a message is already waiting: enough */
	*msg = SLUICE_NOTIFY_WANT_ISSUE;
	bpf_ringbuf_submit(msg, BPF_RB_FORCE_WAKEUP);
}

static __always_inline bool is_passthrough(__u32 op_flags)
{
	return (op_flags & SLUICE_REQ_OP_MASK) >= SLUICE_REQ_OP_DRV_IN;
}

static __always_inline bool queue_stamps_issue(struct request *rq)
{
	unsigned long flags = rq->q->queue_flags;
	__u32 bit = queue_stats_bit;

	if (bit >= 64)
		return false;
	/* Passthrough requests are never stamped (blk_mq_start_request()). */
	if (is_passthrough(rq->cmd_flags))
		return false;
	return flags & (1UL << bit);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(rq_issue, struct request *rq)
{
	__u64 now, key = (__u64)rq;

	if (!armed_ns || (kernel_stamps && queue_stamps_issue(rq)))
		return 0;
	/* A re-issued request (requeue, BLK_STS_RESOURCE) just gets a new time. */
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&issue_ts, &key, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 key = (__u64)rq;
	struct io_done io = {};
	struct bio_task *task = NULL;
	struct cgroup *cgrp;
	struct bio *bio;
	__u64 issue, start, *p;
	__u32 class_id, op_flags, data_len;

	op_flags = rq->cmd_flags;
	io.dev = rq_dev(rq);
	io.op = sluice_op_of(op_flags);
	io.bytes = nr_bytes;
	io.status = error;
	io.sector = rq->__sector;
	data_len = rq->__data_len;
	io.final = nr_bytes >= data_len;
	bio = rq->bio;
	cgrp = bio_cgroup(bio);
	io.cgroup_id = cgroup_id_of(cgrp);

	issue = kernel_stamps ? rq->io_start_time_ns : 0;
	if (!issue) {
		p = bpf_map_lookup_elem(&issue_ts, &key);
		if (p) {
			issue = *p;
			if (io.final)
				bpf_map_delete_elem(&issue_ts, &key);
		} else if (!issue_wanted && !is_passthrough(op_flags)) {
			/* a queue that does not stamp: its next requests need rq_issue */
			want_issue_program();
		}
	}
	start = rq->start_time_ns;
	/*
	 * No issue time: the request was issued before we were armed, or our
	 * issue program could not record it (a nested run is skipped by the
	 * kernel's recursion guard, a hash update can fail with -EBUSY when a
	 * completion interrupts it on the same CPU). Its latency from start is
	 * still exact; only the queue/device split is lost, so count it all
	 * as device time rather than drop the sample.
	 */
	if (!issue)
		issue = start;
	if (issue && armed_ns) {
		if (!start || start > issue)
			start = issue;
		io.queue_ns = issue - start;
		io.device_ns = now > issue ? now - issue : 0;
		io.timed = true;
	}

	class_id = sluice_classify_cgroup(io.dev, cgrp, io.cgroup_id, io.op, data_len);
	account(&io, class_id);

	if (trace_mode && io.final) {
		key = (__u64)bio;
		if (bio)
			task = bpf_map_lookup_elem(&bio_task, &key);
		emit(&io, class_id, now, task ? task->pid : 0, task ? task->comm : NULL);
		if (task)
			bpf_map_delete_elem(&bio_task, &key);
	}
	return 0;
}

static __always_inline bool bio_based(struct gendisk *disk)
{
	return disk && !disk->queue->mq_ops;
}

SEC("tp_btf/block_bio_queue")
int BPF_PROG(bio_queue, struct bio *bio)
{
	struct gendisk *disk = bio->bi_bdev->bd_disk;
	struct bio_start s = {};
	struct bio_task t = {};
	__u64 key = (__u64)bio;

	if (!armed_ns)
		return 0;
	if (!bio_based(disk)) {
		if (!trace_mode)
			return 0;
		t.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(t.comm, sizeof(t.comm));
		bpf_map_update_elem(&bio_task, &key, &t, BPF_ANY);
		return 0;
	}
	s.ts_ns = bpf_ktime_get_ns();
	s.dev = partitions ? bio->bi_bdev->bd_dev : disk_dev(disk);
	s.op = sluice_op_of(bio->bi_opf);
	s.bytes = bio->bi_iter.bi_size;
	s.sector = bio->bi_iter.bi_sector;
	s.cgroup_id = bio_cgroup_id(bio);
	if (trace_mode) {
		s.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(s.comm, sizeof(s.comm));
	}
	bpf_map_update_elem(&bio_start, &key, &s, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_bio_complete")
int BPF_PROG(bio_complete, struct request_queue *q, struct bio *bio)
{
	__u64 key = (__u64)bio;
	struct io_done io = {};
	struct bio_start *s;
	__u64 now;
	__u32 class_id;

	/* blk-mq disks are metered per request: skip the lookup. */
	if (!q || q->mq_ops)
		return 0;
	s = bpf_map_lookup_elem(&bio_start, &key);
	if (!s)
		return 0;
	now = bpf_ktime_get_ns();
	io.dev = s->dev;
	io.op = s->op;
	io.bytes = s->bytes;
	io.sector = s->sector;
	io.cgroup_id = s->cgroup_id;
	io.status = bio->bi_status;
	io.final = true;
	io.timed = true;
	io.device_ns = now > s->ts_ns ? now - s->ts_ns : 0;
	/* the bio still holds its blkg: the cgroup's ancestry for the rules */
	class_id = sluice_classify_cgroup(io.dev, bio_cgroup(bio), io.cgroup_id, io.op, io.bytes);
	account(&io, class_id);
	if (trace_mode)
		emit(&io, class_id, now, s->pid, s->comm);
	bpf_map_delete_elem(&bio_start, &key);
	return 0;
}
