/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_resolve.h - from what a policy says to what the machine has:
 * disk selectors to major:minor, cgroup paths to kernfs ids and levels.
 * All functions return 0 or -errno:
 *	-ENOENT	nothing matches
 *	-ENOTBLK	the path is not a block device
 *	-EXDEV	a partition where a whole disk is needed
 *	-EEXIST	more than one disk matches (ambiguous serial or WWN)
 *	-ENOTDIR	not a directory of a cgroup hierarchy
 */
#ifndef SLUICE_POLICY_RESOLVE_H
#define SLUICE_POLICY_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/policy.h"

/* A block device node (also /dev/disk/by-id/... links) -> whole disk. */
int resolve_disk_path(const char *path, unsigned int *major, unsigned int *minor);

/* "MAJ:MIN" of a whole disk present in /sys/dev/block. -EINVAL if malformed. */
int resolve_devnum(const char *s, unsigned int *major, unsigned int *minor);

/* A disk whose sysfs serial (attr "serial") or WWN ("wwid") equals @value. */
int resolve_disk_attr(const char *attr, const char *value, unsigned int *major,
		      unsigned int *minor);

/*
 * A ublk disk sluice serves over @backing, from the server's state files in
 * @run_dir (lib/disk_state.h: its id, then MAJ:MIN from sysfs). -ENOENT if the backing
 * file does not exist; 0 with *running false if it exists but no server
 * serves it yet (the chain waits for 'sluice serve').
 */
int resolve_served(const char *run_dir, const char *backing, unsigned int *major,
		   unsigned int *minor, bool *running);

/*
 * A cgroup path: absolute (under a cgroup mount), or relative to the
 * hierarchy that tags block I/O on this host (blkio v1 when mounted, else
 * cgroup2). Fills dir, id, level and ver of @cg.
 */
int resolve_cgroup(const char *path, struct pol_cgroup *cg);

/* The directory relative cgroup paths resolve under, or NULL. */
const char *resolve_io_cgroup_root(enum pol_cg_ver *ver);

#endif /* SLUICE_POLICY_RESOLVE_H */
