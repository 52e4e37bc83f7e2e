/* SPDX-License-Identifier: GPL-2.0 */
/*
 * control.h - the throttle's control law, a pure library: no I/O, no clock,
 * no logging. One struct throttle_disk per policed disk; every interval the
 * daemon hands it a struct throttle_sample (what the disk and each class did)
 * and reads back each class's allowance. docs/throttle.md explains the law
 * (PARDA's latency-driven window with a gain scheduled on the disk's
 * measured latency elasticity) and why it converges without oscillation.
 */
#ifndef SLUICE_THROTTLE_CONTROL_H
#define SLUICE_THROTTLE_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_MAX_CLASSES	16
#define THROTTLE_CURVE_BUCKETS	96	/* quarter octaves from 1 us: up to ~16 s */

enum throttle_dir { THROTTLE_READ = 0, THROTTLE_WRITE = 1, THROTTLE_NR_DIRS = 2 };

enum throttle_state { THROTTLE_CALM = 0, THROTTLE_CONGESTED = 1 };

enum throttle_mode {
	THROTTLE_MODE_LATENCY = 0,	/* congested above a fixed latency */
	THROTTLE_MODE_PEAK = 1,		/* above the latency where the disk gave pct% of its peak */
};

/* Policy for one class on one disk. Zero limits mean "none". */
struct throttle_class_cfg {
	unsigned int shares;		/* relative weight; 0 is read as 1 */
	uint64_t reserve_iops;		/* floor honoured before shares (mClock) */
	uint64_t iops[THROTTLE_NR_DIRS];	/* static riops, wiops */
	uint64_t bps[THROTTLE_NR_DIRS];	/* static rbps, wbps */
	/* SLUICE_LIM_PCT_* bits (bpf/sluice.h): that limit or the reservation
	 * is a percentage of the disk's learned peak (IOPS, or bytes/s for
	 * rbps/wbps), unlimited until a peak is known. */
	unsigned int pct_mask;
	/* The class's own latency target, 0 = none: above it, the class's
	 * latency counts as congestion of the disk. */
	uint64_t latency_target_ns;
};

struct throttle_disk_cfg {
	enum throttle_mode mode;
	uint64_t threshold_ns;		/* THROTTLE_MODE_LATENCY */
	unsigned int peak_pct;		/* THROTTLE_MODE_PEAK, 1..100 */
	bool use_p99;			/* compare p99 rather than the average */
	double gamma;			/* upper bound of the gain, 0 < gamma <= 1 (0: 0.5) */
	double setpoint;		/* aim at this fraction of the threshold (0: 0.9) */
	uint64_t min_active_iops;	/* a class doing less is idle (0: 20) */
	unsigned int release_after;	/* calm intervals with slack before release (0: 3) */
	unsigned int nr_classes;
	struct throttle_class_cfg cls[THROTTLE_MAX_CLASSES];
};

/* What one class completed on the disk during the interval. */
struct throttle_class_sample {
	uint64_t ios[THROTTLE_NR_DIRS];
	uint64_t bytes[THROTTLE_NR_DIRS];
	uint64_t lat_avg_ns;		/* the class's own latency, 0 if unknown */
};

/* One interval of one disk. Totals include I/O of no class. */
struct throttle_sample {
	double interval_s;		/* > 0 */
	uint64_t lat_avg_ns;		/* device latency over this interval's I/Os */
	uint64_t lat_p99_ns;		/* 0 if unknown */
	uint64_t ios;
	uint64_t bytes;
	struct throttle_class_sample cls[THROTTLE_MAX_CLASSES];
};

/* A class's allowance. Zero fields mean unlimited. */
struct throttle_allow {
	bool dynamic;			/* the controller limits this class now */
	uint64_t total_iops;		/* dynamic allowance before the r/w split */
	uint64_t iops[THROTTLE_NR_DIRS];	/* dynamic merged with static: the stricter */
	uint64_t bps[THROTTLE_NR_DIRS];
};

/* Held intervals the steering decision looks back over. */
#define THROTTLE_HOLD_WINDOW	8

struct throttle_disk {
	struct throttle_disk_cfg cfg;
	enum throttle_state state;
	double window;			/* total IOPS allowed to the classes while congested */
	double window_applied;		/* the window in force during the last sample */
	double elasticity;		/* d ln(latency) / d ln(window), measured */
	double last_lat_ns;		/* latency of the last sample (the one compared) */
	double last_iops, last_bps;
	double peak_iops, peak_bps;	/* highest throughput seen (learned) */
	double onset_iops;		/* what the disk gave when congestion began */
	double onset_lat_ns;		/* and at what latency */
	double recent_iops[3];		/* the last three intervals' total IOPS */
	double recent_classified[3];	/* and the classes' IOPS */
	/* Intervals in a row with I/O. Peak mode learns only from the second
	 * on: the first after an idle stretch (or the daemon's first) may have
	 * had traffic for part of it only, and idle ones show no rate. */
	unsigned int busy_steps;
	double curve[THROTTLE_CURVE_BUCKETS];	/* highest IOPS seen per latency bucket */
	uint64_t threshold_ns;		/* in force: configured or derived from the peak */
	/* Peak mode: the curve shows the disk near its peak below the
	 * threshold's latency, so the threshold is the knee and not merely
	 * the latency of a disk saturated since the first interval. */
	bool knee_known;
	unsigned int last_probe;	/* step of the last probe, 0 = none */
	unsigned int active;		/* classes with demand in the last sample */
	bool stall_seen;		/* congested, the last interval had every class slow */
	unsigned int slack_streak;
	unsigned int futile;		/* cuts in a row after which latency rose */
	/* Holding: only the shares are enforced (the largest class runs free,
	 * the others are capped at their share of what the disk gives); the
	 * window does not steer. Every congestion episode starts so; steering
	 * starts when the latency stays above the threshold anyway. */
	bool holding;
	bool steer_failed;		/* steering did not buy latency this episode */
	unsigned int hold_steps;	/* intervals held since holding began */
	/* The latencies of the last HOLD_WINDOW held intervals (a ring), to
	 * tell a held latency above the threshold from noise around it. */
	double hold_lat[THROTTLE_HOLD_WINDOW];
	unsigned int hold_lat_n;	/* entries filled, <= THROTTLE_HOLD_WINDOW */
	/* The lowest mean of HOLD_TRIES held intervals in a row among the
	 * episode's first ones, once they are all in: against the onset's
	 * (unheld) latency, what holding buys on this mix. */
	double hold_ref_lat_ns;
	double hold_ref_min_ns;		/* the lowest such mean so far */
	unsigned int cuts;		/* cuts of the window measured while steering */
	double cut_elasticity;		/* d ln(latency) / d ln(window) over those cuts */
	double ref_window, ref_lat_ns;	/* where the last cut measurement started */
	bool disk_bound;		/* congested and the classes used < 90% of the window */
	unsigned int floor_streak;	/* intervals held at the peak-mode floor */
	unsigned int steps;
	bool changed;			/* the last step changed an allowance or the state */
	const char *reason;		/* why, for the log; static string */
	double class_iops[THROTTLE_MAX_CLASSES];	/* last sample, per class */
	/* The last three intervals' IOPS per class (a ring, like recent_iops;
	 * all three seeded by the first): the greedy class is chosen on their
	 * median, not on one interval's figures. */
	double recent_class[3][THROTTLE_MAX_CLASSES];
	bool recent_class_seeded;
	/* What a limited class got of its allowance, smoothed, measured when
	 * it used most of it: the allowance is divided by it, so the class
	 * gets its share where io.max delivers a little less than it says. */
	double deliver[THROTTLE_MAX_CLASSES];
	/* Static limits and reservations in force: percentages of peak
	 * resolved against the learned peak. */
	struct throttle_class_cfg eff[THROTTLE_MAX_CLASSES];
	int lagging;			/* class whose target set the pressure, or -1 */
	double pressure;		/* latency / threshold the law saw (class targets included) */
	struct throttle_allow allow[THROTTLE_MAX_CLASSES];
};

/* Fills defaults into a copy of cfg; -EINVAL on a bad threshold or class count. */
int throttle_disk_init(struct throttle_disk *d, const struct throttle_disk_cfg *cfg);

/* One control step; -EINVAL on a malformed sample (interval <= 0). */
int throttle_disk_step(struct throttle_disk *d, const struct throttle_sample *s);

/*
 * Keeps what @old learned about the same disk (peak, latency curve, recent
 * throughput) when its settings are replaced, e.g. by a new policy
 * generation: the peak-mode threshold and percent-of-peak limits then hold
 * from the first interval rather than after a new learning period.
 */
void throttle_disk_inherit(struct throttle_disk *d, const struct throttle_disk *old);

/* Drops every dynamic limit (static ones stay in allow[]); used on exit. */
void throttle_disk_release(struct throttle_disk *d);

static inline bool throttle_disk_congested(const struct throttle_disk *d)
{
	return d->state == THROTTLE_CONGESTED;
}

const char *throttle_state_name(enum throttle_state s);

/* "calm", "holding" (only the shares are enforced: the busiest class runs
 * free) or "steering" (the window caps every class). */
const char *throttle_mode_name(const struct throttle_disk *d);

#endif /* SLUICE_THROTTLE_CONTROL_H */
