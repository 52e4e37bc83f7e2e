/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy.h - the throttle's configuration from an applied policy
 * generation (the SLUICE_PK_* entries of loader/policy_maps.h, read with
 * policy_maps_read()). Pure: no kernel, no filesystem, no logging.
 *
 * Every disk whose binding carries SLUICE_DISK_F_THROTTLE is policed. Its
 * threshold is the policy's latency_target, or SIOC's default "90% of peak"
 * when the policy sets none. Each class of its policy with at least one
 * cgroup rule is policed through those cgroups: a class with N cgroups is
 * N throttle classes (io.max is per cgroup), each with 1/N of the class's
 * shares and reservation and the class's static limits, as 'policy apply'
 * writes them to each cgroup. A class without a cgroup (a catch-all) has
 * no io.max to steer: its I/O counts as the disk's unclassified I/O.
 *
 * The daemon has one control interval for all its disks: an explicit
 * --interval, else the smallest throttle_interval a policed disk's policy
 * sets (the disk that needs the quickest reaction gets it; the others are
 * only sampled more often), else THROTTLE_DEF_INTERVAL_NS.
 */
#ifndef SLUICE_THROTTLE_POLICY_H
#define SLUICE_THROTTLE_POLICY_H

#include <stdint.h>

#include "bpf/sluice.h"
#include "throttle/control.h"

struct policy_image;

#define THROTTLE_POLICY_MAX_DISKS	8
#define THROTTLE_POLICY_PEAK_PCT	90	/* SIOC's default threshold */
#define THROTTLE_DEF_INTERVAL_NS	1000000000ULL

struct throttle_policy_class {
	unsigned int class_id;			/* the policy's class id */
	char name[SLUICE_CLASS_NAME_LEN];
	char cgroup[SLUICE_POLICY_PATH_LEN];	/* as written in the policy */
};

struct throttle_policy_disk {
	unsigned int maj, min;
	char policy[SLUICE_CLASS_NAME_LEN];
	struct throttle_disk_cfg cfg;		/* threshold and cls[] */
	struct throttle_policy_class cls[THROTTLE_MAX_CLASSES];
	unsigned int unpoliced;			/* classes without a cgroup */
	uint64_t interval_ns;			/* its policy's throttle_interval, 0 = none */
};

struct throttle_policy {
	uint64_t generation;
	uint64_t interval_ns;			/* the smallest of the disks', 0 = none */
	unsigned int nr_disks;
	struct throttle_policy_disk disks[THROTTLE_POLICY_MAX_DISKS];
};

/*
 * Translate @img (entries sorted or not) into @tp. 0 (possibly with no
 * disk), -ENOENT when @img has no META entry, -E2BIG when a disk would
 * need more than THROTTLE_MAX_CLASSES cgroups or there are more than
 * THROTTLE_POLICY_MAX_DISKS policed disks, -EINVAL on a generation whose
 * entries do not refer to each other.
 */
int throttle_policy_from_image(const struct policy_image *img, struct throttle_policy *tp);

/*
 * The control interval: @cli_ns when --interval was given (non-zero), else
 * the smallest non-zero of @asked_ns[0..@n), else THROTTLE_DEF_INTERVAL_NS.
 */
uint64_t throttle_interval_pick(uint64_t cli_ns, const uint64_t *asked_ns, unsigned int n);

/*
 * The policy class of cgroup directory @dir on disk MAJ:MIN in @img, for
 * 'sluice throttle --cgroup': the class of the first of the disk's rules
 * naming that cgroup (a relative rule path taken under @root, NULL for as
 * written; trailing '/' ignored). -ENOENT when the disk has no policy or
 * none of its rules names @dir.
 */
int throttle_policy_class_of(const struct policy_image *img, unsigned int maj, unsigned int min,
			     const char *root, const char *dir, unsigned int *class_id);

#endif /* SLUICE_THROTTLE_POLICY_H */
