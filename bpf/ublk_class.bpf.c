// SPDX-License-Identifier: GPL-2.0
/*
 * ublk_class.bpf.c - the policy class of every request issued to a ublk
 * disk, recorded by (ublk dev id, hw queue, tag) for the server.
 *
 * A ublk server sees only (queue, tag, op, sector, length): every cgroup's
 * requests look alike once they reach it. The block layer still knows the
 * bio's cgroup when it issues the request, and block_rq_issue fires in
 * blk_mq_start_request(), which ublk_queue_rq() calls before it hands the
 * tag to the server. So the class is in the map before the server fetches
 * the request; the io_uring completion that delivers the tag orders the
 * store before the server's load.
 *
 * One program serves every ublk disk (pinned under SLUICE_PIN_DIR with its
 * map; loader/ublk_class.c): one run per issued request whatever the number
 * of servers. It shares the pinned policy map with the meter, so an apply
 * reclassifies from the next request on.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "sluice.h"
#include "classify.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_UCLASS_DEVS * SLUICE_UCLASS_QUEUES);
	__type(key, __u32);
	__type(value, struct sluice_uclass_slots);
} ublk_class SEC(".maps");

/*
 * N of "ublkbN", or -1. ublk disks take their numbers from the ext devt
 * range (major 259), shared with NVMe partitions and others, so the name
 * the driver gives them (ublk_ctrl_start_dev: "ublkb%d") is what marks them.
 */
static __always_inline int ublk_dev_id(struct gendisk *disk)
{
	char name[16] = {};
	int i, id = 0;

	if (bpf_core_read_str(name, sizeof(name), &disk->disk_name) < 7)
		return -1;
	if (name[0] != 'u' || name[1] != 'b' || name[2] != 'l' || name[3] != 'k' ||
	    name[4] != 'b')
		return -1;
	for (i = 5; i < 12; i++) {
		char c = name[i];

		if (!c)
			break;
		if (c < '0' || c > '9')
			return -1;
		id = id * 10 + (c - '0');
	}
	return i == 5 || name[i] ? -1 : id;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(ublk_class_issue, struct request *rq)
{
	struct gendisk *disk = rq_disk(rq);
	struct sluice_uclass_slots *slots;
	struct blk_mq_hw_ctx *hctx;
	struct cgroup *cgrp;
	__u32 dev, queue, idx;
	int id, tag;

	if (!disk)
		return 0;
	id = ublk_dev_id(disk);
	if (id < 0 || id >= SLUICE_UCLASS_DEVS)
		return 0;
	hctx = rq->mq_hctx;
	if (!hctx)
		return 0;
	queue = hctx->queue_num;
	tag = rq->tag;
	if (queue >= SLUICE_UCLASS_QUEUES || tag < 0 || tag >= SLUICE_UCLASS_DEPTH)
		return 0;
	idx = (__u32)id * SLUICE_UCLASS_QUEUES + queue;
	slots = bpf_map_lookup_elem(&ublk_class, &idx);
	if (!slots)
		return 0;
	dev = SLUICE_MKDEV(disk->major, disk->first_minor);
	cgrp = bio_cgroup(rq->bio);
	slots->class_id[tag & (SLUICE_UCLASS_DEPTH - 1)] =
		(__u8)sluice_classify_cgroup(dev, cgrp, cgroup_id_of(cgrp),
					     sluice_op_of(rq->cmd_flags), rq->__data_len);
	return 0;
}
