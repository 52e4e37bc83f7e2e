/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * core_fixes.bpf.h - every kernel difference the meter copes with, in one
 * place, each naming the kernel change behind it. Decided from BTF at load
 * time (CO-RE relocations) or by user space from BTF (rodata knobs), never
 * from version numbers.
 */
#ifndef SLUICE_CORE_FIXES_BPF_H
#define SLUICE_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

#include "sluice.h"

/*
 * bio->bi_blkg exists only with CONFIG_BLK_CGROUP; without it no cgroup is
 * known and everything is charged to cgroup 0.
 */
static __always_inline struct cgroup *bio_cgroup(struct bio *bio)
{
	struct blkcg_gq *blkg;

	if (!bio || !bpf_core_field_exists(bio->bi_blkg))
		return NULL;
	blkg = bio->bi_blkg;
	if (!blkg)
		return NULL;
	return blkg->blkcg->css.cgroup;
}

static __always_inline __u64 cgroup_id_of(struct cgroup *cgrp)
{
	return cgrp ? cgrp->kn->id : 0;
}

static __always_inline __u64 bio_cgroup_id(struct bio *bio)
{
	return cgroup_id_of(bio_cgroup(bio));
}

/*
 * request_queue->disk appeared in 5.15 (commit d152c682f03c "block: add an
 * explicit ->disk backpointer to the request_queue"); all supported kernels
 * (6.1+) have it, rq->part can be NULL for flushes and passthrough.
 */
static __always_inline struct gendisk *rq_disk(struct request *rq)
{
	return rq->q->disk;
}

/*
 * QUEUE_FLAG_STATS (the kernel stamps rq->io_start_time_ns at issue) is
 * "#define QUEUE_FLAG_STATS 20" in 6.1 and up to the 6.11 queue-limits
 * rework, and an enumerator of an anonymous enum after it (7 on 6.18). An
 * anonymous enum cannot be matched by CO-RE, so user space reads the
 * enumerator from vmlinux BTF and falls back to 20 (loader/meter.c), and
 * hands the bit over in rodata (queue_stats_bit).
 */

/*
 * Operation numbers (enum req_op, include/linux/blk_types.h) have been
 * stable since 5.x: READ 0, WRITE 1, FLUSH 2, DISCARD 3, SECURE_ERASE 5,
 * WRITE_ZEROES 9, DRV_IN 34, DRV_OUT 35. REQ_OP_MASK is 0xff.
 */
#define SLUICE_REQ_OP_MASK		0xffu
#define SLUICE_REQ_OP_READ		0u
#define SLUICE_REQ_OP_WRITE		1u
#define SLUICE_REQ_OP_FLUSH		2u
#define SLUICE_REQ_OP_DISCARD		3u
#define SLUICE_REQ_OP_SECURE_ERASE	5u
#define SLUICE_REQ_OP_WRITE_ZEROES	9u
#define SLUICE_REQ_OP_DRV_IN		34u

/* The request's operation as sluice counts it (SLUICE_OP_*). */
static __always_inline __u32 sluice_op_of(__u32 opf)
{
	switch (opf & SLUICE_REQ_OP_MASK) {
	case SLUICE_REQ_OP_READ:
		return SLUICE_OP_READ;
	case SLUICE_REQ_OP_WRITE:
		return SLUICE_OP_WRITE;
	case SLUICE_REQ_OP_FLUSH:
		return SLUICE_OP_FLUSH;
	case SLUICE_REQ_OP_DISCARD:
	case SLUICE_REQ_OP_SECURE_ERASE:
	case SLUICE_REQ_OP_WRITE_ZEROES:
		return SLUICE_OP_DISCARD;
	default:
		return SLUICE_OP_OTHER;
	}
}

/*
 * blk_status_t values (include/linux/blk_types.h) are stable #defines; 6.7
 * renamed 6 from NEXUS to RESV_CONFLICT without changing numbers.
 */
#define SLUICE_BLK_STS_NOTSUPP		1
#define SLUICE_BLK_STS_TIMEOUT		2
#define SLUICE_BLK_STS_NOSPC		3
#define SLUICE_BLK_STS_TRANSPORT	4
#define SLUICE_BLK_STS_MEDIUM		7
#define SLUICE_BLK_STS_IOERR		10
#define SLUICE_BLK_STS_AGAIN		12

/* Hide a value from clang's range reasoning (libbpf >= 1.2 ships one too). */
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

#endif /* SLUICE_CORE_FIXES_BPF_H */
