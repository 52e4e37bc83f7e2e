// SPDX-License-Identifier: GPL-2.0
/*
 * classify_probe.bpf.c - counts issued requests per (disk, class) through
 * sluice_classify(), so classification can be tested and checked for
 * completeness on its own. Its counters and the policy map are pinned under
 * SLUICE_PIN_DIR; a policy apply swaps the policy under it without a reload.
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
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct sluice_probe_key);
	__type(value, __u64);
} probe_counts SEC(".maps");

static __always_inline struct cgroup *rq_cgroup(struct request *rq)
{
	struct bio *bio = BPF_CORE_READ(rq, bio);

	if (!bio || !bpf_core_field_exists(bio->bi_blkg) || !BPF_CORE_READ(bio, bi_blkg))
		return NULL;
	return BPF_CORE_READ(bio, bi_blkg, blkcg, css.cgroup);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(classify_probe_issue, struct request *rq)
{
	struct sluice_probe_key key = {};
	struct cgroup *cgrp;
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);
	__u64 zero = 0, *cnt;
	__u32 op;

	if (!disk)
		return 0;
	key.dev = ((__u32)BPF_CORE_READ(disk, major) << 20) | (__u32)BPF_CORE_READ(disk, first_minor);
	op = sluice_op_of(BPF_CORE_READ(rq, cmd_flags));
	cgrp = rq_cgroup(rq);
	key.class_id = sluice_classify_cgroup(key.dev, cgrp, cgrp ? BPF_CORE_READ(cgrp, kn, id) : 0,
					      op, BPF_CORE_READ(rq, __data_len));
	cnt = bpf_map_lookup_elem(&probe_counts, &key);
	if (!cnt) {
		/* another CPU may insert the key first: look it up again either way */
		bpf_map_update_elem(&probe_counts, &key, &zero, BPF_NOEXIST);
		cnt = bpf_map_lookup_elem(&probe_counts, &key);
		if (!cnt)
			return 0;
	}
	*cnt += 1;
	return 0;
}
