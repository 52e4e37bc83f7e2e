/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * classify.bpf.h - (disk, cgroup, op, size) -> class id, from the compiled
 * policy. Included by every BPF program that meters or throttles per class.
 *
 * The policy is one hash map per generation (keys in bpf/sluice.h,
 * SLUICE_PK_*) in the single slot of the outer map policy_gen. User space
 * creates and pins policy_gen under SLUICE_PIN_DIR and hands it to every
 * skeleton before load (policy_maps_reuse() in loader/policy_maps.h), so all
 * programs read the same policy and an apply swaps it for all at once.
 *
 * cgroup_id is the kernfs id of the cgroup the bio is charged to (its
 * blkcg's cgroup: a blkio v1 cgroup on hybrid hosts, cgroup2 elsewhere).
 * A rule on cgroup C matches C and its descendants: the descendants'
 * ancestor ids are in SLUICE_PK_CGROUP entries written at apply time.
 *
 * Until a policy is applied every request is SLUICE_CLASS_DEFAULT.
 */
#ifndef SLUICE_CLASSIFY_BPF_H
#define SLUICE_CLASSIFY_BPF_H

#include "sluice.h"

/*
 * The inner map's shape; each apply creates a fresh map of exactly this
 * type. Sizes rather than __type(): clang emits only a forward declaration
 * for a struct reached solely through a member pointer of a nested map
 * definition, and libbpf cannot size a forward declaration.
 */
struct sluice_policy_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_POLICY_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct sluice_policy_key));
	__uint(value_size, sizeof(union sluice_policy_val));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sluice_policy_inner);
} policy_gen SEC(".maps");

/* Ancestry of a cgroup unknown to the applied maps, built per CPU on demand. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_cgroup_anc);
} classify_scratch SEC(".maps");

/*
 * Fill @anc from @cgrp itself: a cgroup created after the apply has no
 * SLUICE_PK_CGROUP entry. cgroup->ancestors[] replaced ancestor_ids[] in 6.0
 * (commit 7f203bc89eb6 "cgroup: Replace cgroup->ancestor_ids[] with
 * ->ancestors[]"); every supported kernel has it. Called once per request,
 * before the rule loop: inside it, per rule, it made 6.1's verifier give up
 * (E2BIG).
 */
static __always_inline int sluice_cgroup_ancestry(struct cgroup *cgrp,
						  struct sluice_cgroup_anc *anc)
{
	struct cgroup *a;
	int level = -1, i;

	if (!bpf_core_field_exists(cgrp->ancestors))
		return -1;
	if (bpf_core_read(&level, sizeof(level), &cgrp->level) || level < 0)
		return -1;
	anc->level = level;
	/* unrolled: 6.1's CFG check refuses the back-edge clang makes here */
#pragma unroll
	for (i = 0; i < SLUICE_CGROUP_LEVELS; i++) {
		anc->ids[i] = 0;
		if (i > level)
			continue;
		a = NULL;
		if (!bpf_core_read(&a, sizeof(a), &cgrp->ancestors[i]) && a)
			anc->ids[i] = BPF_CORE_READ(a, kn, id);
	}
	return 0;
}

static __always_inline bool sluice_rule_match(const struct sluice_class_rule *r,
					      const struct sluice_cgroup_anc *anc,
					      __u64 cgroup_id, __u32 op, __u32 bytes)
{
	__u32 lvl;

	if (r->op_mask && !(r->op_mask & (1u << (op & 31))))
		return false;
	if (bytes < r->min_bytes || (r->max_bytes && bytes > r->max_bytes))
		return false;
	if (!r->cgroup_id || r->cgroup_id == cgroup_id)
		return true;
	if (!anc)
		return false;
	lvl = r->cgroup_level;
	if (lvl >= SLUICE_CGROUP_LEVELS || lvl > anc->level)
		return false;
	return anc->ids[lvl & (SLUICE_CGROUP_LEVELS - 1)] == r->cgroup_id;
}

struct sluice_rule_walk {
	void *gen;				/* the policy generation's map */
	const struct sluice_cgroup_anc *anc;	/* NULL: only exact cgroup rules */
	__u64 cgroup_id;
	__u32 first, op, bytes, class_id;
};

/* Rule @i of the disk's list: 1 ends the walk (a match, or the list's end). */
static int sluice_rule_step(__u32 i, struct sluice_rule_walk *w)
{
	struct sluice_policy_key key = { .kind = SLUICE_PK_RULE, .id = w->first + i };
	union sluice_policy_val *v;

	v = bpf_map_lookup_elem(w->gen, &key);
	if (!v)
		return 1;
	if (!sluice_rule_match(&v->rule, w->anc, w->cgroup_id, w->op, w->bytes))
		return 0;
	w->class_id = v->rule.class_id;
	return 1;
}

/*
 * (disk, cgroup, op, size) -> class id. @cgrp, the request's cgroup, may be
 * NULL; with it, a cgroup created after the apply (no ancestry entry) still
 * matches the rules of its ancestors.
 *
 * The rules are walked with bpf_loop (5.17+): as an open-coded loop of
 * SLUICE_MAX_RULES iterations the verifier walked every iteration of it in
 * every program that classifies (326k instructions verified for
 * rq_complete, 0.5 s of CPU at each load on the host and 6-14 s in the TCG
 * test VM on 6.12 and 7.3); the callback is verified once.
 */
static __always_inline __u32 sluice_classify_cgroup(__u32 dev, struct cgroup *cgrp,
						    __u64 cgroup_id, __u32 op, __u32 bytes)
{
	struct sluice_policy_key key = {};
	struct sluice_rule_walk w = {
		.cgroup_id = cgroup_id, .op = op, .bytes = bytes,
		.class_id = SLUICE_CLASS_DEFAULT,
	};
	struct sluice_cgroup_anc *scratch;
	union sluice_policy_val *v;
	__u32 zero = 0, n;

	/* one lookup of the slot: every table below comes from the same generation */
	w.gen = bpf_map_lookup_elem(&policy_gen, &zero);
	if (!w.gen)
		return SLUICE_CLASS_DEFAULT;
	key.kind = SLUICE_PK_DISK;
	key.id = dev;
	v = bpf_map_lookup_elem(w.gen, &key);
	if (!v)
		return SLUICE_CLASS_DEFAULT;
	w.first = v->disk.first_rule;
	n = v->disk.nr_rules;
	if (cgroup_id) {
		key.kind = SLUICE_PK_CGROUP;
		key.id = cgroup_id;
		v = bpf_map_lookup_elem(w.gen, &key);
		if (v) {
			w.anc = &v->cgroup;
		} else if (cgrp) {
			scratch = bpf_map_lookup_elem(&classify_scratch, &zero);
			if (scratch && !sluice_cgroup_ancestry(cgrp, scratch))
				w.anc = scratch;
		}
	}
	bpf_loop(n < SLUICE_MAX_RULES ? n : SLUICE_MAX_RULES, sluice_rule_step, &w, 0);
	return w.class_id;
}

static __always_inline __u32 sluice_classify(__u32 dev, __u64 cgroup_id, __u32 op, __u32 bytes)
{
	return sluice_classify_cgroup(dev, NULL, cgroup_id, op, bytes);
}

#endif /* SLUICE_CLASSIFY_BPF_H */
