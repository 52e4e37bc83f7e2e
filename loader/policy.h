/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy.h - a checked policy set: the typed model that policy_check()
 * builds from parsed files and policy_compile() turns into map entries and
 * filter-chain descriptions. All strings are owned by the set; every object
 * keeps the node it came from so later stages can report positions.
 */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/policy_parse.h"
#include "loader/service.h"

enum pol_cg_ver {
	POL_CG_NONE,	/* not resolved */
	POL_CG_V1,	/* legacy blkio hierarchy: blkio.throttle.* files */
	POL_CG_V2,	/* unified hierarchy: io.max */
};

struct pol_cgroup {
	char *path;			/* as written */
	char *dir;			/* resolved directory, NULL if not resolved */
	uint64_t id;			/* kernfs id (st_ino of the directory) */
	unsigned int level;		/* 0 = hierarchy root */
	enum pol_cg_ver ver;		/* which limit files the directory has */
	const struct pnode *at;
};

/* Limits: 0 = unlimited; a bit in pct_mask (SLUICE_LIM_PCT_*) makes it "% of peak". */
struct pol_limits {
	uint64_t riops, wiops, rbps, wbps;
	unsigned int pct_mask;
};

struct pol_class {
	char *name;
	const struct pnode *at;
	struct pol_cgroup *cgroups;
	size_t nr_cgroups;
	unsigned int op_mask;		/* 0 = any */
	uint64_t min_bytes, max_bytes;	/* max 0 = no bound */
	unsigned int shares;
	uint64_t reserve;		/* iops, or % of peak with SLUICE_LIM_PCT_RESERVE */
	uint64_t latency_ns;
	struct pol_limits limits;
};

struct pol_policy {
	char *name;
	char *description;	/* NULL = none; < SLUICE_POLICY_PATH_LEN bytes */
	const struct pnode *at;
	uint64_t latency_ns;
	bool meter;
	bool throttle;
	uint64_t throttle_interval_ns;	/* 0 = the throttle's default */
	struct pol_class *classes;
	size_t nr_classes;
	struct pol_service svc[NR_SERVICES];	/* indexed like services[] */
};

enum pol_sel_kind {
	SEL_PATH,
	SEL_BY_ID,
	SEL_DEVNUM,
	SEL_SERIAL,
	SEL_WWN,
	SEL_SERVED,
};

struct pol_binding {
	enum pol_sel_kind kind;
	char *value;		/* selector value as written (backing path for served) */
	const struct pnode *at;
	const struct pnode *policy_at;
	char *policy_name;
	int policy;		/* index into set->policies, -1 if unknown */
	bool resolved;
	unsigned int major, minor;	/* when resolved (0:0 for a served disk not yet up) */
};

struct policy_set {
	struct policy_doc *docs;
	size_t nr_docs;
	struct pol_policy *policies;
	size_t nr_policies;
	struct pol_binding *bindings;
	size_t nr_bindings;
};

struct policy_opts {
	bool resolve;		/* look at the machine: disks, cgroups, key files */
	const char *run_dir;	/* default /run/sluice (ublk state files) */
};

/*
 * Check every file and build the set. All errors are appended to @diags;
 * returns 0 when there are none, -EINVAL when there are, -ENOMEM.
 * The set is usable (for show-like output) only on 0.
 */
int policy_check_files(char *const *files, size_t nr, const struct policy_opts *opts,
		       struct policy_set *set, struct policy_diags *diags);

/* Same for in-memory documents (tests, fuzzing); takes ownership of @docs. */
int policy_check_docs(struct policy_doc *docs, size_t nr, const struct policy_opts *opts,
		      struct policy_set *set, struct policy_diags *diags);

void policy_set_free(struct policy_set *set);

/* Selector kind names as written in files: "path", "by_id", ... */
const char *pol_sel_name(enum pol_sel_kind kind);

/* "7:0" -> kernel dev_t encoding used in BPF maps (major << 20 | minor). */
static inline unsigned int pol_kdev(unsigned int major, unsigned int minor)
{
	return (major << 20) | minor;
}

/* Levenshtein distance, capped at 255; exposed for tests. */
unsigned int policy_edit_distance(const char *a, const char *b);

#endif /* SLUICE_POLICY_H */
