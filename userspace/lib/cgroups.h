/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cgroups.h - cgroup ids as the meter sees them (the kernfs id of the
 * cgroup a bio is charged to) to and from paths. The bio's blkcg lives in
 * the hierarchy that has the io controller: cgroup2 on v2-only systems
 * (/sys/fs/cgroup), the v1 blkio hierarchy on hybrid hosts that keep blkio
 * on v1 (/sys/fs/cgroup/blkio). On 64-bit kernels the kernfs id is the
 * inode number of the cgroup's directory.
 */
#ifndef SLUICE_LIB_CGROUPS_H
#define SLUICE_LIB_CGROUPS_H

#include <stddef.h>
#include <stdint.h>

/* Mount point of the hierarchy that holds blkcg (io) cgroups, or NULL. */
const char *cgroup_io_root(void);

/* Path of cgroup @id relative to the io root ("/" for the root), or -ENOENT. */
int cgroup_path(uint64_t id, char *buf, size_t len);

/*
 * Resolve a user's cgroup: a number (an id), an absolute path under a
 * cgroup mount, or a path relative to the io root ("/test" or "test").
 * -ENOENT if no such cgroup, -EXDEV if the path is in a hierarchy the
 * block layer does not charge (e.g. the v2 tree on a hybrid host).
 */
int cgroup_resolve(const char *spec, uint64_t *id);

#endif /* SLUICE_LIB_CGROUPS_H */
