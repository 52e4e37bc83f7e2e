/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_compile.h - a checked policy set -> one generation: the entries of
 * the policy map (bpf/sluice.h, SLUICE_PK_*) and, per binding, the text of
 * the filter-chain description the ublk server reads (docs/policy.md,
 * "Filter chains"). Pure: touches neither the kernel nor the filesystem.
 */
#ifndef SLUICE_POLICY_COMPILE_H
#define SLUICE_POLICY_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/sluice.h"
#include "loader/policy.h"

struct policy_entry {
	struct sluice_policy_key key;
	union sluice_policy_val val;
};

/* Static cgroup limits the kernel enforces (io.max or blkio.throttle.*). */
struct policy_cg_limit {
	char *dir;			/* cgroup directory */
	int ver;			/* enum pol_cg_ver */
	unsigned int major, minor;	/* the disk */
	uint64_t riops, wiops, rbps, wbps;	/* 0 = unlimited */
	char *class_name;
	unsigned int binding;		/* index of the binding it comes from */
};

struct policy_chain {
	unsigned int binding;		/* index into the set's bindings */
	char *text;			/* the .chain file contents */
};

struct policy_image {
	struct policy_entry *ents;
	size_t nr_ents;
	struct policy_chain *chains;
	size_t nr_chains;
	struct policy_cg_limit *limits;
	size_t nr_limits;
};

/* Build the generation numbered @generation. 0 or -ENOMEM/-E2BIG. */
int policy_compile(const struct policy_set *set, uint64_t generation, struct policy_image *img);

void policy_image_free(struct policy_image *img);

/*
 * Add an entry (zeroed value) to @img; a SLUICE_PK_CGROUP entry already
 * present is returned instead. NULL with *err set on -E2BIG or -ENOMEM.
 */
union sluice_policy_val *policy_image_add(struct policy_image *img, unsigned int kind,
					 uint64_t id, int *err);

/*
 * Record the ancestry of every rule cgroup and of all its current
 * descendants (SLUICE_PK_CGROUP), so the classifier matches a subtree from
 * a cgroup id alone. Reads the cgroup filesystem; cgroups created later
 * are matched exactly only until the next apply (status reports them).
 */
int policy_image_add_cgroup_tree(struct policy_image *img, const struct policy_set *set);

/* "kind:value" as stored in struct sluice_binding.selector. */
int policy_selector_str(const struct pol_binding *b, char *buf, size_t len);

#endif /* SLUICE_POLICY_COMPILE_H */
