/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_cglimits.h - static per-cgroup, per-disk limits in the kernel's
 * own files: io.max on cgroup v2, blkio.throttle.*_device on v1. Values in
 * the order riops, wiops, rbps, wbps; 0 means unlimited.
 */
#ifndef SLUICE_POLICY_CGLIMITS_H
#define SLUICE_POLICY_CGLIMITS_H

#include <stdint.h>

enum { CGL_RIOPS, CGL_WIOPS, CGL_RBPS, CGL_WBPS, CGL_MAX };

/* @ver is enum pol_cg_ver (POL_CG_V1 or POL_CG_V2). */
int cglimit_read(const char *dir, int ver, unsigned int major, unsigned int minor,
		 uint64_t v[CGL_MAX]);
int cglimit_write(const char *dir, int ver, unsigned int major, unsigned int minor,
		  const uint64_t v[CGL_MAX]);

#endif /* SLUICE_POLICY_CGLIMITS_H */
