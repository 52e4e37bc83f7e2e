/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_apply.h - make a checked policy set the one in force, all or
 * nothing, and undo it. State outside the kernel lives in
 * RUN_DIR/policy/gen.N/ (chains/, sources/, limits) with the symlink
 * RUN_DIR/policy/current naming the generation in force.
 */
#ifndef SLUICE_POLICY_APPLY_H
#define SLUICE_POLICY_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/policy.h"

#define POLICY_RUN_DIR	"/run/sluice"

enum policy_stage {
	PS_NONE,
	PS_COMPILE,	/* building the generation (too many entries, no memory) */
	PS_BPFFS,	/* mounting bpffs or creating SLUICE_PIN_DIR */
	PS_MAPS,	/* creating or filling the new generation's map */
	PS_STATE,	/* writing RUN_DIR/policy */
	PS_LIMITS,	/* writing cgroup limit files */
	PS_SWAP,	/* swapping the generation in */
	PS_PROGS,	/* loading and attaching the programs */
};

struct policy_apply_result {
	enum policy_stage stage;	/* where it failed */
	char what[512];			/* the object it failed on */
	uint64_t generation;		/* the generation now in force */
	size_t nr_limits;		/* cgroup limit files written */
	size_t nr_limits_served;	/* left to the ublk server serving the disk */
	int progs_loaded;		/* programs loaded by this apply */
};

/*
 * Compile @set, build the new generation, write its state and cgroup
 * limits, then swap it in with one map update. Any failure before the swap
 * undoes what was done, so the previous policy stays in force.
 */
int policy_apply(const struct policy_set *set, char *const *files, size_t nr_files,
		 const char *run_dir, struct policy_apply_result *res);

/*
 * Unpin everything sluice pinned for policies (the policy map, the probe's
 * link and counters), clear the cgroup limits it wrote and remove
 * RUN_DIR/policy. Programs detach when their last pin goes.
 */
int policy_remove(const char *run_dir, struct policy_apply_result *res);

/*
 * Apply the policy in force again from its applied copies, so that a binding
 * that resolves only now (a disk just served with `sluice serve`) enters the
 * maps. -ENOENT when no policy is applied, -EINVAL when the copies no longer
 * check (a cgroup or key file gone); the policy in force is then unchanged.
 */
int policy_reapply(const char *run_dir, struct policy_apply_result *res);

struct policy_cg_limit;

/*
 * Whether @l (from compiling @set) is held by the ublk server serving its
 * disk: a live 'sluice serve' in @run_dir with the throttle filter of the
 * binding's policy (lib/enforcer.h). Apply then leaves io.max alone for it
 * and clears what an earlier generation wrote there; 'policy status' does
 * not look for it in io.max.
 */
bool policy_limit_held_by_server(const char *run_dir, const struct policy_set *set,
				 const struct policy_cg_limit *l);

/* RUN_DIR/policy/current resolved: the directory of the generation in force. */
int policy_state_dir(const char *run_dir, char *buf, size_t len);

/* Paths of the applied source copies in the state dir; free with free() each, then the array. */
int policy_state_sources(const char *run_dir, char ***files, size_t *nr);

#endif /* SLUICE_POLICY_APPLY_H */
