/* SPDX-License-Identifier: GPL-2.0 */
/*
 * meter_watch.h - attach the meter's optional programs when they are needed.
 *
 * Each tracepoint program attached costs a call on every I/O of every disk,
 * so the meter attaches block_rq_complete alone and adds:
 *  - block_rq_issue when a completion shows a queue that does not stamp
 *    issue times itself (the BPF side sends SLUICE_NOTIFY_WANT_ISSUE);
 *  - block_bio_queue/complete when a bio-based disk (device-mapper, md,
 *    zram, brd, NVMe multipath heads: no `mq` directory in sysfs) with a
 *    capacity exists: found at start, from the kernel's uevents as disks are
 *    added or resized, and by meter_watch_rescan() at each snapshot where
 *    uevents are not delivered. I/O a new bio-based disk takes in the
 *    moment before the thread attaches is not metered.
 * A thread waits on the uevent socket and the notify ring buffer; nothing
 * polls on a timer.
 */
#ifndef SLUICE_LOADER_METER_WATCH_H
#define SLUICE_LOADER_METER_WATCH_H

#include <stdbool.h>

struct meter_bpf;
struct meter_watch;

/*
 * Attach what the disks present need now and start the thread. @all attaches
 * every program at once (trace mode wants the issuing task of every bio).
 */
int meter_watch_start(struct meter_watch **out, struct meter_bpf *skel, bool all);

/* Attach the bio programs if a bio-based disk appeared; 0 or -errno. */
int meter_watch_rescan(struct meter_watch *w);

/* The first error an on-demand attach met, or 0 (sticky). */
int meter_watch_error(struct meter_watch *w);

/* Stop the thread and detach what it attached; accepts NULL. */
void meter_watch_stop(struct meter_watch *w);

#endif /* SLUICE_LOADER_METER_WATCH_H */
