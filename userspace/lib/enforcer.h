/* SPDX-License-Identifier: GPL-2.0 */
/*
 * enforcer.h - who holds the per-class limits of a disk: the kernel (cgroup
 * io.max, written by 'policy apply' and 'sluice throttle') or, for a ublk
 * disk that a running 'sluice serve' serves with the throttle filter in its
 * chain, that server (filters/throttle.c). One enforcer per disk: the
 * writers of io.max ask here and leave a server's disk to the server.
 *
 * Asked at each 'policy apply' (serve's re-apply included, which runs once
 * the server's state file names its chain) and each time 'sluice throttle'
 * sets a disk up; a server that stops takes its disk, and the kernel's
 * io.max lines for it, with it.
 */
#ifndef SLUICE_LIB_ENFORCER_H
#define SLUICE_LIB_ENFORCER_H

#include <stdbool.h>
#include <stdint.h>

#define ENFORCER_ARG_MAX	256

struct served_throttle {
	uint32_t id;				/* /dev/ublkb<id> */
	char policy[64];			/* the filter's policy= ("" when none) */
	char state[ENFORCER_ARG_MAX];		/* its state=, "" for the filter's default */
};

/*
 * Whether filter spec @filters (lib/disk_state.h, filters/registry.h) has
 * the throttle filter; its arguments into @t (may be NULL). Pure.
 */
bool enforcer_spec_throttle(const char *filters, struct served_throttle *t);

/*
 * The server holding the class limits of disk MAJ:MIN, into @t: 0 when a
 * sluice server in @run_dir serves it with the throttle filter (live, or
 * killed with the disk waiting for 'serve --recover'), -ENOENT when the
 * kernel holds them (not a ublk disk, no state file, the server gone for
 * good, or no throttle filter in its chain), other -errno on a state file
 * that cannot be read.
 */
int enforcer_find(const char *run_dir, unsigned int major, unsigned int minor,
		  struct served_throttle *t);

#endif /* SLUICE_LIB_ENFORCER_H */
