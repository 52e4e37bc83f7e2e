/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * classify.bpf.h - (disk, cgroup, op, size) -> class id, from the compiled
 * policy maps. Included by every BPF program that meters or throttles per
 * class; the policy maps it declares are pinned by name under
 * SLUICE_PIN_DIR so all programs and the loader share one copy.
 *
 * Until a policy is applied every request is SLUICE_CLASS_DEFAULT.
 */
#ifndef SLUICE_CLASSIFY_BPF_H
#define SLUICE_CLASSIFY_BPF_H

#include "sluice.h"

static __always_inline __u32 sluice_classify(__u32 dev, __u64 cgroup_id, __u32 op, __u32 bytes)
{
	return SLUICE_CLASS_DEFAULT;
}

#endif /* SLUICE_CLASSIFY_BPF_H */
