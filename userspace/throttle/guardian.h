/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guardian.h - the process that takes back a killed throttle's dynamic
 * io.max limits. io.max outlives the process that wrote it: a throttle
 * killed by SIGKILL (or the OOM killer) would leave its dynamic limits in
 * force until the next start or a --cleanup. The guardian, forked before
 * anything is loaded or written, waits for its parent's death
 * (PR_SET_PDEATHSIG) and then puts back the base limits the record lists,
 * as --cleanup does. After a clean exit the record is gone and it has
 * nothing to do.
 */
#ifndef SLUICE_THROTTLE_GUARDIAN_H
#define SLUICE_THROTTLE_GUARDIAN_H

#include <sys/types.h>

/*
 * Called in the guardian after its parent died and the record was undone:
 * @err 0 (@n cgroup/disk pairs restored), -ENOENT (no record: a clean
 * exit) or the -errno that left limits behind. The guardian exits after.
 */
typedef void tguardian_report_fn(pid_t parent, const char *record, int err, unsigned int n);

/* Fork the guardian of the calling process for @record. 0 or -errno. */
int tguardian_start(const char *record, tguardian_report_fn *report);

#endif /* SLUICE_THROTTLE_GUARDIAN_H */
