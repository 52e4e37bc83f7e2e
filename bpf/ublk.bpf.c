// SPDX-License-Identifier: GPL-2.0
/*
 * ublk.bpf.c - per-disk stage latency of ublk requests: the driver's
 * request path (queue_rq, completion) plus the USDT probes of the sluice
 * server (req_fetched, backing_submit, backing_complete, commit).
 *
 * The driver's functions are static and renamed between releases, so user
 * space picks the queue_rq hook by BTF name (kprobe on ublk_queue_rq when
 * ublk_drv's BTF has it and no batched queueing, loader/ublk_stages.c) and
 * otherwise falls back to the generic block_rq_issue tracepoint on the ublk
 * disks; completion is always the
 * block_rq_complete tracepoint.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>

#include "sluice.h"

char LICENSE[] SEC("license") = "GPL";

/* Request timestamps, one slot per stage boundary. */
struct inflight {
	__u64 t[5];	/* queued, fetched, submitted, backing done, committed */
};

/* Whole-disk dev_t (major << 20 | minor) of each served disk -> its ublk id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_UBLK_MAX_DISKS);
	__type(key, __u32);
	__type(value, __u32);
} ublk_devs SEC(".maps");

/* (dev id, queue, tag) -> timestamps. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SLUICE_UBLK_MAX_DISKS * SLUICE_UBLK_STAGES);
	__type(key, struct sluice_ublk_stage_key);
	__type(value, struct sluice_ublk_stage_val);
} stages SEC(".maps");

static __always_inline __u64 req_key(__u32 dev_id, __u32 q, __u32 tag)
{
	return (__u64)dev_id << 32 | (__u64)(q & 0xffff) << 16 | (tag & 0xffff);
}

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 n = 0;

#pragma unroll
	for (int i = 32; i > 0; i >>= 1) {
		if (v >> i) {
			v >>= i;
			n += i;
		}
	}
	return n < SLUICE_UBLK_SLOTS ? n : SLUICE_UBLK_SLOTS - 1;
}

static __always_inline void account(__u32 dev_id, __u32 stage, __u64 from, __u64 to)
{
	struct sluice_ublk_stage_key key = { .dev_id = dev_id, .stage = stage };
	struct sluice_ublk_stage_val zero = {}, *v;
	__u64 d;
	__u32 slot;

	if (!from || !to || to < from)
		return;
	d = to - from;
	v = bpf_map_lookup_elem(&stages, &key);
	if (!v) {
		bpf_map_update_elem(&stages, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&stages, &key);
		if (!v)
			return;
	}
	v->count++;
	v->sum_ns += d;
	slot = log2_slot(d);
	if (slot < SLUICE_UBLK_SLOTS)
		v->slots[slot]++;
}

/* The ublk id of a request's disk, or -1 when it is not a served ublk disk. */
static __always_inline int rq_dev_id(struct request *rq)
{
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);
	__u32 devt, *id;

	if (!disk)
		return -1;
	devt = BPF_CORE_READ(disk, major) << 20 | BPF_CORE_READ(disk, first_minor);
	id = bpf_map_lookup_elem(&ublk_devs, &devt);
	return id ? (int)*id : -1;
}

static __always_inline void on_queued(struct request *rq)
{
	struct inflight in = {};
	__u32 q;
	int id;

	id = rq_dev_id(rq);
	if (id < 0)
		return;
	q = BPF_CORE_READ(rq, mq_hctx, queue_num);
	in.t[0] = bpf_ktime_get_ns();
	__u64 key = req_key(id, q, BPF_CORE_READ(rq, tag));

	bpf_map_update_elem(&inflight, &key, &in, BPF_ANY);
}

SEC("kprobe/ublk_queue_rq")
int BPF_KPROBE(ublk_queue_rq_entry, struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	on_queued(BPF_CORE_READ(bd, rq));
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(ublk_rq_issue, struct request *rq)
{
	on_queued(rq);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(ublk_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct inflight *in;
	__u64 key, now;
	__u32 q;
	int id;

	id = rq_dev_id(rq);
	if (id < 0)
		return 0;
	q = BPF_CORE_READ(rq, mq_hctx, queue_num);
	key = req_key(id, q, BPF_CORE_READ(rq, tag));
	in = bpf_map_lookup_elem(&inflight, &key);
	if (!in)
		return 0;
	now = bpf_ktime_get_ns();
	account(id, SLUICE_UBLK_TO_SERVER, in->t[0], in->t[1]);
	account(id, SLUICE_UBLK_DOWN, in->t[1], in->t[2]);
	account(id, SLUICE_UBLK_BACKING, in->t[2], in->t[3]);
	account(id, SLUICE_UBLK_UP, in->t[3] ? in->t[3] : in->t[1], in->t[4]);
	account(id, SLUICE_UBLK_TO_KERNEL, in->t[4], now);
	account(id, SLUICE_UBLK_TOTAL, in->t[0], now);
	bpf_map_delete_elem(&inflight, &key);
	return 0;
}

static __always_inline void mark(int dev, unsigned int q, unsigned int tag, int slot, bool first)
{
	__u64 key = req_key(dev, q, tag);
	struct inflight *in = bpf_map_lookup_elem(&inflight, &key);

	if (!in || slot < 1 || slot > 4)
		return;
	if (first && in->t[slot])
		return;
	in->t[slot] = bpf_ktime_get_ns();
}

SEC("usdt")
int BPF_USDT(usdt_req_fetched, int dev, unsigned int q, unsigned int tag)
{
	mark(dev, q, tag, 1, false);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_backing_submit, int dev, unsigned int q, unsigned int tag)
{
	mark(dev, q, tag, 2, true);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_backing_complete, int dev, unsigned int q, unsigned int tag)
{
	mark(dev, q, tag, 3, false);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_commit, int dev, unsigned int q, unsigned int tag)
{
	mark(dev, q, tag, 4, false);
	return 0;
}
