/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ublk_stages.h - load bpf/ublk.bpf.c: the ublk driver's request path
 * (kprobe on ublk_queue_rq when ublk_drv's BTF names it, else the
 * block_rq_issue tracepoint; block_rq_complete) and the sluice server's USDT
 * probes, and read per-disk stage latencies.
 */
#ifndef SLUICE_UBLK_STAGES_H
#define SLUICE_UBLK_STAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice.h"

struct ublk_stages;

/*
 * Open, load and attach. @server is the sluice binary whose USDT probes to
 * attach (every process running it). Returns 0 or -errno.
 */
int ublk_stages_open(struct ublk_stages **out, const char *server);
void ublk_stages_close(struct ublk_stages *s);
/* Whether the driver hook is the kprobe (true) or the tracepoint fallback. */
bool ublk_stages_uses_kprobe(const struct ublk_stages *s);

/*
 * Tell the programs which disks are ublk disks: every /sys/block/ublkbN.
 * Call again when disks come and go. Returns how many, or -errno.
 */
int ublk_stages_refresh(struct ublk_stages *s);

/* The name of @stage in 'sluice stages' and its JSON ("to_server"); "?" if unknown. */
const char *ublk_stage_name(enum sluice_ublk_stage stage);

/* Stage totals of disk @dev_id so far, summed over CPUs. 0 or -ENOENT. */
int ublk_stages_read(struct ublk_stages *s, uint32_t dev_id,
		     struct sluice_ublk_stage_val out[SLUICE_UBLK_STAGES]);

#endif /* SLUICE_UBLK_STAGES_H */
