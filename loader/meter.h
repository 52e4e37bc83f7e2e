/* SPDX-License-Identifier: GPL-2.0 */
/*
 * meter.h - the one way user space drives bpf/meter.bpf.c: open, configure,
 * load and attach in one call, then read snapshots, histograms, trace events
 * and the programs' own cost. Used by top, trace, hist, stat, the exporter
 * and the throttle controller. Every function returns 0 or -errno; nothing
 * here prints (libbpf's own messages go wherever log_setup_libbpf() sends
 * them).
 *
 * Counters are cumulative since attach; readers take deltas between two
 * snapshots. Several meters can run side by side: each owns its programs
 * and maps and detaches them in meter_close().
 */
#ifndef SLUICE_LOADER_METER_H
#define SLUICE_LOADER_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

struct meter;

struct meter_opts {
	bool partitions;		/* meter partitions separately (default: roll up) */
	bool trace;			/* send filtered per-I/O events to the ring buffer */
	struct sluice_trace_filter filter;	/* trace filter, 0 fields = any */
	bool self_stats;		/* enable the kernel's BPF run-time statistics */
};

/* One stream (disk, class, cgroup), summed over CPUs. */
struct meter_stream {
	struct sluice_meter_key key;
	struct sluice_meter_val val;
};

/*
 * One disk's busy accounting, from the block layer's own counters (iostat's
 * io_ticks and in_flight; ms resolution). Zero for a disk that keeps no I/O
 * statistics (queue/iostats = 0) or went away.
 */
struct meter_disk {
	unsigned int dev;
	long long inflight;		/* requests in flight now */
	uint64_t busy_ns;		/* time with I/O in flight since boot */
};

/* One stream and direction's histograms, summed over CPUs. */
struct meter_hist {
	struct sluice_hist_key key;
	struct sluice_hist_val val;
};

struct meter_snapshot {
	uint64_t ts_ns;			/* CLOCK_MONOTONIC when read */
	struct meter_stream *streams;
	size_t nr_streams;
	struct meter_disk *disks;
	size_t nr_disks;
};

/* The BPF programs' own cost, from the kernel's statistics. */
struct meter_self {
	uint64_t run_ns;		/* total run time of all meter programs */
	uint64_t run_cnt;		/* total invocations */
	bool enabled;			/* statistics were available */
};

/*
 * Open, configure, load and attach. Errors: -EPERM (needs CAP_BPF and
 * CAP_PERFMON, or root), -ENOENT (no vmlinux BTF or no block tracepoints;
 * see `sluice doctor`), other -errno from libbpf.
 */
int meter_open(struct meter **out, const struct meter_opts *opts);

/* Detach and free; accepts NULL. */
void meter_close(struct meter *m);

/* Fill @snap with the current counters; free with meter_snapshot_free(). */
int meter_snapshot(struct meter *m, struct meter_snapshot *snap);
void meter_snapshot_free(struct meter_snapshot *snap);

/* Find a stream by key in a snapshot, or NULL. */
const struct meter_stream *meter_snapshot_find(const struct meter_snapshot *snap,
						const struct sluice_meter_key *key);
const struct meter_disk *meter_snapshot_disk(const struct meter_snapshot *snap, unsigned int dev);
/* True if some stream in @snap is on @dev (the disk had metered I/O). */
bool meter_snapshot_has_dev(const struct meter_snapshot *snap, unsigned int dev);

/* All histograms; *out is malloc'ed (free()), *n its length. */
int meter_read_hists(struct meter *m, struct meter_hist **out, size_t *n);

/*
 * Trace mode: call @fn for each event for up to @timeout_ms (0 = do not
 * wait). Returns the number of events consumed or -errno (-EINTR when a
 * signal interrupted the wait). @fn returning non-zero stops consumption.
 */
typedef int (*meter_event_fn)(void *ctx, const struct sluice_event *e);
int meter_trace_poll(struct meter *m, int timeout_ms, meter_event_fn fn, void *ctx);

/* Events the kernel could not queue because the ring buffer was full. */
uint64_t meter_trace_lost(struct meter *m);

/*
 * Latency samples that could be neither added to a histogram nor deferred
 * (kernel memory exhausted; see docs/metering.md). Counts stay exact.
 */
uint64_t meter_samples_lost(struct meter *m);

/* Sum of the meter programs' run time and count (needs opts.self_stats). */
int meter_read_self(struct meter *m, struct meter_self *self);

/* CLOCK_MONOTONIC in ns, the clock of every timestamp above. */
uint64_t meter_now_ns(void);

#endif /* SLUICE_LOADER_METER_H */
