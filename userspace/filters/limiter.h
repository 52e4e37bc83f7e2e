/* SPDX-License-Identifier: GPL-2.0 */
/*
 * limiter.h - per-class limits inside the ublk server (filters/limiter.c).
 * The kernel's io.max cannot tell the classes of a served disk apart below
 * the server, so the filter holds each class to the stricter of its policy's
 * static limits and the dynamic limits 'sluice throttle' publishes for the
 * disk, with a token bucket per class and direction (filters/tbucket.h).
 */
#ifndef SLUICE_FILTER_LIMITER_H
#define SLUICE_FILTER_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "bpf/sluice.h"

struct tstate;
struct policy_image;

enum class_limit {
	LIMIT_RIOPS,
	LIMIT_WIOPS,
	LIMIT_RBPS,
	LIMIT_WBPS,
	LIMIT_NR,
};

/* One class's limits; 0 = unlimited. */
struct class_limits {
	uint64_t v[LIMIT_NR];
};

/* The stricter of two limits, 0 being unlimited. */
uint64_t class_limit_merge(uint64_t a, uint64_t b);

/*
 * The limits 'sluice throttle' wants in force on disk MAJ:MIN in @st, into
 * dyn[class_id] (zeroed first; SLUICE_MAX_CLASSES entries): every class
 * entry it leaves to the server (enforced_by not "kernel"), dynamic or not;
 * the entries of one class (one per cgroup) add up, any unlimited one
 * making the class unlimited. A state that is not fresh at @now
 * (tstate_fresh: the throttle stopped, died or stalled) gives none: the
 * server fails open as io.max does. Returns whether any limit was set.
 */
bool class_limits_dynamic(const struct tstate *st, unsigned int major, unsigned int minor,
			     int64_t now, struct class_limits *dyn);

/*
 * The static limits of policy @policy's classes in @img into st[class_id]
 * (zeroed first) and their names into names (may be NULL). Limits given as
 * a percentage of peak are the throttle's to turn into numbers: left out.
 * -ENOENT when the policy is not in the image.
 */
int class_limits_static(const struct policy_image *img, const char *policy,
			   struct class_limits *st, char (*names)[SLUICE_CLASS_NAME_LEN]);

/*
 * Whether a served disk under applied policy @policy needs the class limiter
 * (filter "throttle" in its chain): the policy says throttle: true or a class
 * has a static limit.
 */
bool limiter_policy_wants(const char *policy);

#endif /* SLUICE_FILTER_LIMITER_H */
