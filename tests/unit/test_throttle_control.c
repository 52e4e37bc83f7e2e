// SPDX-License-Identifier: GPL-2.0
/*
 * The throttle's control law against a simulated disk: a queue with
 * capacity C IOPS and service time s0 (M/M/1: latency = s0 / (1 - rho)),
 * fed by closed-loop workloads (fio at iodepth D: rate = D / latency), each
 * capped by the allowance the controller gives it. Every interval the disk
 * settles at the fixed point sum(min(A_i, R_i, D_i / lat)) = C (1 - s0/lat).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "lib/macro.h"
#include "bpf/sluice.h"
#include "throttle/control.h"

#define MS		1000000ull
#define C_IOPS		20000.0
#define S0_NS		200000.0

struct sim_class {
	double depth;		/* outstanding I/Os; 0 = idle */
	double rate_cap;	/* the application's own rate limit; 0 = none */
	bool write;
};

struct sim {
	double cap, s0;
	unsigned int n;
	struct sim_class c[THROTTLE_MAX_CLASSES];
	double x[THROTTLE_MAX_CLASSES];	/* result: IOPS per class */
	double lat;			/* result: ns */
	unsigned int noise;		/* LCG state; 0 = no noise */
	double noise_amp;		/* latency noise, +-fraction (0: 0.05) */
	double idle_penalty;		/* ns x capacity / throughput: a slow idle path */
	double throttle_cost;		/* capacity lost while any class is limited */
	/* The VM's blk-throttle releases a limited class's bios in batches:
	 * the disk's average latency grows by burst_ns times the fraction of
	 * its I/O that arrives so, whatever the window. */
	double burst_ns;
	/* The VM's blk-throttle at low rates: a limited class gets this
	 * fraction of its io.max (0: all of it). */
	double limit_gives;
};

static double allowed(const struct sim *sm, const struct throttle_disk *d, unsigned int i,
		      bool write)
{
	uint64_t v = d->allow[i].iops[write ? THROTTLE_WRITE : THROTTLE_READ];

	return v ? (double)v * (sm->limit_gives ? sm->limit_gives : 1.0) : INFINITY;
}

static double class_rate(const struct sim *sm, const struct throttle_disk *d, unsigned int i,
			 double lat)
{
	double r = sm->c[i].depth / (lat / 1e9);

	if (!sm->c[i].depth)
		return 0;
	if (sm->c[i].rate_cap)
		r = fmin(r, sm->c[i].rate_cap);
	return fmin(r, allowed(sm, d, i, sm->c[i].write));
}

/* Latency the batches add at queueing latency q; *sum gets the classes' total. */
static double batch_extra(const struct sim *sm, const struct throttle_disk *d, double q,
			  double *sum)
{
	double extra = 0, lim;
	unsigned int i, k;

	for (k = 0; k < 40; k++) {
		*sum = lim = 0;
		for (i = 0; i < sm->n; i++) {
			double r = class_rate(sm, d, i, q + extra);

			*sum += r;
			if (d->allow[i].dynamic)
				lim += r;
		}
		if (!sm->burst_ns)
			return 0;
		extra = 0.5 * extra + 0.5 * (*sum > 0 ? sm->burst_ns * lim / *sum : 0);
	}
	return extra;
}

/* One interval of 1 s: settle the disk, then report it as the meter would. */
static void sim_run(struct sim *sm, const struct throttle_disk *d, struct throttle_sample *s)
{
	double lo = sm->s0, hi = 1e12, lat = lo, cap = sm->cap, q = lo;
	unsigned int i, it;

	/* The VM's blk-throttle: a limited cgroup's bios, released from a
	 * timer and a kworker, cost the guest throughput of their own. */
	for (i = 0; i < sm->n; i++)
		if (d->allow[i].dynamic)
			cap = sm->cap * (1 - sm->throttle_cost);

	for (it = 0; it < 200; it++) {
		double sum;

		q = (lo + hi) / 2;
		lat = q + batch_extra(sm, d, q, &sum);
		if (sum > cap * (1 - sm->s0 / q))
			lo = q;
		else
			hi = q;
	}
	memset(s, 0, sizeof(*s));
	s->interval_s = 1.0;
	for (i = 0; i < sm->n; i++) {
		int dir = sm->c[i].write ? THROTTLE_WRITE : THROTTLE_READ;

		sm->x[i] = class_rate(sm, d, i, lat);
		s->cls[i].ios[dir] = (uint64_t)sm->x[i];
		s->cls[i].bytes[dir] = (uint64_t)sm->x[i] * 4096;
		s->ios += s->cls[i].ios[dir];
		s->bytes += s->cls[i].bytes[dir];
	}
	if (sm->noise) {
		sm->noise = sm->noise * 1103515245u + 12345u;
		lat *= 1.0 + (sm->noise_amp ? sm->noise_amp : 0.05) *
			       (((sm->noise >> 16) % 2001) / 1000.0 - 1.0);
	}
	lat += sm->idle_penalty * sm->cap / fmax(s->ios, 1.0);
	sm->lat = lat;
	/* One FIFO queue: every class sees the disk's latency. */
	for (i = 0; i < sm->n; i++)
		s->cls[i].lat_avg_ns = sm->x[i] > 0 ? (uint64_t)lat : 0;
	s->lat_avg_ns = (uint64_t)lat;
	s->lat_p99_ns = (uint64_t)(lat * 3);
}

static void sim_init(struct sim *sm, unsigned int n, double depth)
{
	unsigned int i;

	memset(sm, 0, sizeof(*sm));
	sm->cap = C_IOPS;
	sm->s0 = S0_NS;
	sm->n = n;
	for (i = 0; i < n; i++)
		sm->c[i].depth = depth;
}

static void cfg_init(struct throttle_disk_cfg *cfg, unsigned int n, uint64_t threshold_ns)
{
	unsigned int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = THROTTLE_MODE_LATENCY;
	cfg->threshold_ns = threshold_ns;
	cfg->nr_classes = n;
	for (i = 0; i < n && i < THROTTLE_MAX_CLASSES; i++)
		cfg->cls[i].shares = 100;
}

/* The classes of most tests: the first has twice the second's shares. */
static void shares_2_to_1(struct throttle_disk_cfg *cfg)
{
	cfg->cls[0].shares = 200;
	cfg->cls[1].shares = 100;
}

/* The same workloads with nobody controlling: the baseline, and its latency. */
static double uncontrolled(const struct sim *proto, double *lat)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm = *proto;
	double t = 0;
	unsigned int i;

	cfg_init(&cfg, sm.n, 1000 * 1000 * MS);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	sim_run(&sm, &d, &s);
	for (i = 0; i < sm.n; i++)
		t += sm.x[i];
	if (lat)
		*lat = sm.lat;
	return t;
}

static double uncontrolled_total(const struct sim *proto)
{
	return uncontrolled(proto, NULL);
}

/*
 * The VM's disk (docs/throttle.md, "What the VM showed"): two fio jobs at
 * iodepth 128, and a throttling path whose batches add ~10 ms to the disk's
 * latency whatever the window. Returns the uncontrolled total; *lat gets
 * the uncontrolled latency.
 */
static double vm_disk(struct sim *sm, double *lat)
{
	sim_init(sm, 2, 128);
	sm->burst_ns = 10 * MS;
	return uncontrolled(sm, lat);
}

/* SIOC's default: the threshold is the latency at 90% of the learned peak. */
static void peak_90(struct throttle_disk_cfg *cfg)
{
	cfg_init(cfg, 2, 0);
	cfg->mode = THROTTLE_MODE_PEAK;
	cfg->peak_pct = 90;
	shares_2_to_1(cfg);
}

static double total(const struct sim *sm)
{
	double t = 0;
	unsigned int i;

	for (i = 0; i < sm->n; i++)
		t += sm->x[i];
	return t;
}

struct run_result {
	int first_congested;		/* interval, -1 never */
	int first_below;		/* first interval after congestion below threshold */
	double min_w, max_w;		/* window over the last 20 intervals */
	double ratio;			/* x0 / x1, mean of the last 10 */
	double total;			/* mean total of the last 10 */
	double max_lat_tail;		/* highest latency over the last 10 */
};

static void run(struct sim *sm, struct throttle_disk *d, int steps, struct run_result *r)
{
	struct throttle_sample s;
	double sx0 = 0, sx1 = 0, st = 0;
	int t;

	memset(r, 0, sizeof(*r));
	r->first_congested = r->first_below = -1;
	r->min_w = INFINITY;
	for (t = 0; t < steps; t++) {
		sim_run(sm, d, &s);
		assert_int_equal(throttle_disk_step(d, &s), 0);
		/* SIM_TRACE=1: one line per interval, to see why a law test fails. */
		if (getenv("SIM_TRACE"))
			print_message("%3d %s%s lat %.2f ms thr %.2f w %.0f x %.0f %.0f: %s\n", t,
				      throttle_state_name(d->state), d->holding ? "/hold" : "",
				      sm->lat / 1e6, d->threshold_ns / 1e6, d->window, sm->x[0],
				      sm->x[1], d->reason);
		if (r->first_congested < 0 && throttle_disk_congested(d))
			r->first_congested = t;
		if (r->first_congested >= 0 && r->first_below < 0 && t > r->first_congested &&
		    sm->lat < d->threshold_ns)
			r->first_below = t;
		if (t >= steps - 20) {
			r->min_w = fmin(r->min_w, d->window);
			r->max_w = fmax(r->max_w, d->window);
		}
		if (t >= steps - 10) {
			sx0 += sm->x[0];
			sx1 += sm->x[1];
			st += total(sm);
			r->max_lat_tail = fmax(r->max_lat_tail, sm->lat);
		}
	}
	r->ratio = sx1 > 0 ? sx0 / sx1 : INFINITY;
	r->total = st / 10;
}

static void assert_within(double v, double want, double tol)
{
	if (fabs(v - want) > tol * want)
		fail_msg("%.3f is not within %.0f%% of %.3f", v, tol * 100, want);
}

/* Two fio-like workloads, shares 2:1, on a disk they drive to 3.4 ms. */
static void test_shares_2_to_1(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base;

	sim_init(&sm, 2, 32);
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 2 * MS);
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	assert_string_equal(throttle_mode_name(&d), "calm");
	run(&sm, &d, 60, &r);
	assert_int_equal(r.first_congested, 0);
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.first_below > 0 && r.first_below - r.first_congested <= 10);
	assert_true(r.max_lat_tail < 2 * MS);
	assert_true(r.total >= 0.9 * base);
	/* No oscillation: the window is still within 2% over 20 intervals. */
	assert_true(r.max_w <= 1.02 * r.min_w);
	/* Holding the shares left 2.6 ms: the window steers every class. */
	assert_string_equal(throttle_mode_name(&d), "steering");
}

/* Real latency is noisy: +-5% per interval must not make it ring. */
static void test_noise_bounded_variation(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base;

	sim_init(&sm, 2, 32);
	sm.noise = 42;
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 2 * MS);
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 80, &r);
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.9 * base);
	assert_true(r.max_w <= 1.15 * r.min_w);
	assert_true(throttle_disk_congested(&d));
}

/* A much steeper curve (iodepth 256 each: 25 ms uncontrolled, threshold
 * near saturation) still converges without ringing: the gain follows the
 * elasticity. */
static void test_steep_disk_converges(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;

	sim_init(&sm, 2, 256);
	cfg_init(&cfg, 2, 4 * MS);	/* rho 0.94 at the setpoint: elasticity ~ 16 */
	cfg.cls[0].shares = 300;
	cfg.cls[1].shares = 100;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 60, &r);
	assert_within(r.ratio, 3.0, 0.15);
	assert_true(r.first_below - r.first_congested <= 10);
	assert_true(r.max_lat_tail < 4 * MS);
	assert_true(r.max_w <= 1.02 * r.min_w);
}

/*
 * Latency the volume does not cause: here it grows as throughput falls (a
 * slow path at low rates, as blk-throttle's dispatch plus an idle vCPU show
 * in a TCG guest), so no window meets the threshold. The law must stop
 * cutting, hold the disk at its peak and still enforce the shares.
 */
static void test_latency_not_caused_by_load(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base;

	sim_init(&sm, 2, 32);
	sm.idle_penalty = 2 * MS;	/* the best reachable latency is ~3.5 ms */
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 2 * MS);
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 60, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(d.steer_failed);
	/* Only the shares are enforced now: the larger class runs free. */
	assert_true(d.holding);
	assert_false(d.allow[0].dynamic);
	assert_true(d.allow[1].dynamic);
	assert_true(r.total >= 0.9 * base);
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.max_w <= 1.02 * r.min_w);
}

/* Alone on the disk, a workload gets everything the disk gives. */
static void test_single_workload_never_held(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	double base;
	int t;

	sim_init(&sm, 2, 64);
	sm.c[1].depth = 0;
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 1 * MS);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	for (t = 0; t < 30; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		assert_false(d.allow[0].dynamic);
		assert_true(sm.x[0] >= 0.999 * base);
	}
}

/* When the competitor leaves, the survivor gets the whole disk back. */
static void test_release_when_competitor_leaves(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm, alone;
	double base;

	sim_init(&sm, 2, 32);
	cfg_init(&cfg, 2, 2 * MS);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 30, &r);
	assert_true(throttle_disk_congested(&d));
	sm.c[1].depth = 0;
	alone = sm;
	base = uncontrolled_total(&alone);
	run(&sm, &d, 3, &r);
	assert_false(throttle_disk_congested(&d));
	assert_false(d.allow[0].dynamic);
	assert_false(d.allow[1].dynamic);
	assert_true(sm.x[0] >= 0.999 * base);
}

/* Load drops below what congests the disk: step by step, then no limit. */
static void test_relaxes_when_calm(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;

	sim_init(&sm, 2, 32);
	cfg_init(&cfg, 2, 2 * MS);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 30, &r);
	assert_true(throttle_disk_congested(&d));
	sm.c[0].depth = 2;
	sm.c[1].depth = 2;
	run(&sm, &d, 10, &r);
	assert_false(throttle_disk_congested(&d));
	assert_false(d.allow[0].dynamic);
	assert_false(d.allow[1].dynamic);
}

/* A class that does not use its share gives the surplus away. */
static void test_surplus_goes_to_others(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base;

	sim_init(&sm, 2, 64);
	sm.c[1].rate_cap = 2000;	/* wants 2000 although its share is 2/3 */
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 2 * MS);
	cfg.cls[0].shares = 100;
	cfg.cls[1].shares = 200;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 60, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(sm.x[1] >= 0.99 * 2000);
	assert_true(r.total >= 0.9 * base);
	assert_true(sm.x[0] >= 0.9 * base - 2000);
}

/* mClock reservation: a low-share class still gets its floor. */
static void test_reservation_holds(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;

	sim_init(&sm, 3, 32);
	cfg_init(&cfg, 3, 2 * MS);
	cfg.cls[0].shares = 1000;
	cfg.cls[1].shares = 100;
	cfg.cls[2].shares = 100;
	cfg.cls[2].reserve_iops = 6000;	/* shares alone would give it ~1500 */
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 60, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(sm.x[2] >= 0.97 * 6000);
	assert_true(sm.x[0] > 5 * sm.x[1]);
	assert_true(r.max_lat_tail < 2 * MS);
}

/* Static limits hold whether the disk is calm or congested. */
static void test_static_limits_hold(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	int t;

	sim_init(&sm, 2, 32);
	cfg_init(&cfg, 2, 2 * MS);
	cfg.cls[1].iops[THROTTLE_READ] = 3000;
	cfg.cls[1].bps[THROTTLE_READ] = 8 << 20;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	assert_int_equal(d.allow[1].iops[THROTTLE_READ], 3000);
	for (t = 0; t < 40; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		assert_true(sm.x[1] <= 3000);
		assert_true(d.allow[1].iops[THROTTLE_READ] <= 3000);
		assert_true(d.allow[1].bps[THROTTLE_READ] <= 8 << 20);
	}
	/* The statically held class is not "demanding": the other gets the rest. */
	assert_true(sm.x[0] >= 0.9 * (uncontrolled_total(&sm) - 3000));
	throttle_disk_release(&d);
	assert_int_equal(d.allow[1].iops[THROTTLE_READ], 3000);
	assert_int_equal(d.allow[1].bps[THROTTLE_READ], 8 << 20);
	assert_int_equal(d.allow[0].iops[THROTTLE_READ], 0);
}

/* SIOC's default: the threshold is where the disk gave 90% of its peak. */
static void test_peak_mode_learns_threshold(void **state)
{
	static const double depths[] = { 1, 2, 4, 8, 16, 32, 64, 96, 128 };
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct run_result r;
	struct sim sm;
	double base;
	size_t k;

	sim_init(&sm, 2, 0);
	peak_90(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	/* One workload ramping up its queue depth: never held, the curve learned. */
	for (k = 0; k < ARRAY_SIZE(depths); k++) {
		sm.c[0].depth = depths[k];
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		assert_false(throttle_disk_congested(&d));
	}
	assert_true(d.peak_iops > 0.9 * C_IOPS);
	assert_true(d.threshold_ns > S0_NS && d.threshold_ns < 10 * MS);
	sm.c[0].depth = 64;
	sm.c[1].depth = 64;
	base = uncontrolled_total(&sm);
	run(&sm, &d, 60, &r);
	assert_true(throttle_disk_congested(&d));
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.85 * d.peak_iops);
	assert_true(r.total >= 0.85 * base);
	assert_true(r.max_lat_tail < d.threshold_ns);
}

/* Peak mode keeps its promise on a disk where cutting does not buy latency:
 * the window stays at 90% of what the disk gave, the shares still hold. */
static void test_peak_mode_floor(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct run_result r;
	struct sim sm;
	double base;
	int t;

	sim_init(&sm, 2, 32);
	sm.idle_penalty = 2 * MS;
	peak_90(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	/* One workload ramping up teaches the curve; then two, deeper. */
	for (t = 4; t <= 64; t *= 2) {
		sm.c[0].depth = t;
		sm.c[1].depth = 0;
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
	}
	sm.c[0].depth = 64;
	sm.c[1].depth = 64;
	base = uncontrolled_total(&sm);
	for (t = 0; t < 40; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		/* Steering, the window keeps the floor; holding, it follows
		 * what the disk gives and the largest class runs free, so the
		 * window no longer bounds the throughput (checked below). */
		if (throttle_disk_congested(&d) && !d.holding)
			assert_true(d.window >= 0.9 * fmin(d.peak_iops, d.onset_iops) - 1);
		if (throttle_disk_congested(&d) && d.holding)
			assert_true(!d.allow[0].dynamic || !d.allow[1].dynamic);
	}
	run(&sm, &d, 20, &r);
	assert_true(throttle_disk_congested(&d));
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.88 * base);
}

/*
 * A class's own latency target tightens the disk: with the disk's threshold
 * far above what the workloads cause, a 2 ms target on the high-share class
 * congests the disk and the law holds that class under its target, shares
 * still 2:1, throughput still >= 90% of uncontrolled.
 */
static void test_class_latency_target(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base;

	sim_init(&sm, 2, 32);
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 30 * MS);
	cfg.cls[0].shares = 200;
	cfg.cls[0].latency_target_ns = 2 * MS;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 60, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(r.first_congested >= 0 && r.first_congested <= 1);
	assert_int_equal(d.lagging, 0);
	assert_true(r.max_lat_tail < 2 * MS);
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.9 * base);

	/* The same workloads with the target above what they cause: calm. */
	cfg.cls[0].latency_target_ns = 20 * MS;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 20, &r);
	assert_int_equal(r.first_congested, -1);
	assert_true(d.pressure > 0 && d.pressure < 1);
}

/* A class doing (almost) nothing has no say, whatever its latency. */
static void test_idle_class_target_ignored(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;

	sim_init(&sm, 3, 32);
	sm.c[2].depth = 0.001;	/* a trickle: a few IOPS at most */
	cfg_init(&cfg, 3, 30 * MS);
	cfg.cls[2].latency_target_ns = 1 * MS;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 20, &r);
	assert_int_equal(r.first_congested, -1);
}

/*
 * Limits and reservations in percent of peak follow the learned peak: none
 * before a peak is known, then pct% of it, and a successor built from a new
 * policy generation inherits the peak and enforces them at once.
 */
static void test_percent_of_peak_limits(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d, next;
	struct throttle_sample s;
	struct sim sm;
	int t;

	sim_init(&sm, 2, 32);
	cfg_init(&cfg, 2, 1000 * MS);
	cfg.cls[1].iops[THROTTLE_READ] = 25;
	cfg.cls[1].bps[THROTTLE_READ] = 10;
	cfg.cls[1].reserve_iops = 5;
	cfg.cls[1].pct_mask = SLUICE_LIM_PCT_RIOPS | SLUICE_LIM_PCT_RBPS | SLUICE_LIM_PCT_RESERVE;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	assert_int_equal(d.allow[1].iops[THROTTLE_READ], 0);
	assert_int_equal(d.allow[1].bps[THROTTLE_READ], 0);
	for (t = 0; t < 10; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
	}
	assert_true(d.peak_iops > 0.9 * C_IOPS);
	assert_within(d.allow[1].iops[THROTTLE_READ], 0.25 * d.peak_iops, 0.01);
	assert_within(d.allow[1].bps[THROTTLE_READ], 0.10 * d.peak_bps, 0.01);
	assert_within(d.eff[1].reserve_iops, 0.05 * d.peak_iops, 0.01);
	/* Held there: the last interval ran under the resolved limit. */
	assert_true(sm.x[1] <= 1.01 * 0.25 * d.peak_iops);
	assert_false(d.allow[1].dynamic);

	assert_int_equal(throttle_disk_init(&next, &cfg), 0);
	assert_int_equal(next.allow[1].iops[THROTTLE_READ], 0);
	throttle_disk_inherit(&next, &d);
	assert_true(next.peak_iops == d.peak_iops);
	assert_int_equal(next.allow[1].iops[THROTTLE_READ], d.allow[1].iops[THROTTLE_READ]);
}

/*
 * What the VM showed (docs/throttle.md): latency that cutting does not buy,
 * peak mode, and a throttling path that costs the disk a quarter of its
 * throughput whenever a class is limited. Holding, only the shares are
 * enforced; the capped class must get its share of what the disk delivers,
 * not of a window it does not deliver, or the ratio falls short of 2:1.
 */
static void test_holding_divides_what_the_disk_gives(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct run_result r;
	struct sim sm;
	int t;

	sim_init(&sm, 2, 32);
	sm.idle_penalty = 2 * MS;
	sm.throttle_cost = 0.25;
	peak_90(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	for (t = 4; t <= 64; t *= 2) {
		sm.c[0].depth = t;
		sm.c[1].depth = 0;
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
	}
	sm.c[0].depth = 64;
	sm.c[1].depth = 64;
	run(&sm, &d, 60, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(d.holding);
	assert_within(r.ratio, 2.0, 0.15);
}

/*
 * A loaded TCG guest: the latency of an interval moves by up to +-40%
 * whatever the window. Noise must not talk the law into a gain so small
 * that the window, once cut, never recovers what the disk can give.
 */
static void test_heavy_noise_keeps_throughput(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base;

	sim_init(&sm, 2, 32);
	sm.noise = 7;
	sm.noise_amp = 0.4;
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 2 * MS);
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 80, &r);
	assert_true(throttle_disk_congested(&d));
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.85 * base);
}

/*
 * Peak mode on a disk saturated from the first interval: the only point of
 * the curve is the saturated one, so without a probe the threshold is the
 * saturated latency and the disk never looks congested. One probe interval
 * (the busiest class free, the other held to its share) teaches the knee;
 * then the law holds 2:1 under it.
 */
static void test_peak_mode_probes_saturated_disk(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base, lat;

	sim_init(&sm, 2, 64);
	base = uncontrolled(&sm, &lat);
	peak_90(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 60, &r);
	assert_true(d.last_probe > 0);
	assert_true(d.knee_known);
	/* Below the saturated latency: the disk can be congested (the
	 * curve's buckets are 19% wide, the threshold is a bucket's top). */
	assert_true(d.threshold_ns < 0.9 * lat);
	assert_true(throttle_disk_congested(&d));
	assert_true(r.first_congested >= 0 && r.first_congested <= 10);
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.85 * base);
	assert_true(r.max_lat_tail < d.threshold_ns);
}

/* An interval of @sm with I/O during @frac of it only (a workload starting
 * or stopping): fewer I/Os, each as slow; none at all reads as the meter's
 * idle interval, latency 0. */
static void sim_part(struct sim *sm, const struct throttle_disk *d, double frac,
		     struct throttle_sample *s)
{
	unsigned int i;

	sim_run(sm, d, s);
	s->ios = s->bytes = 0;
	for (i = 0; i < sm->n; i++) {
		s->cls[i].ios[THROTTLE_READ] = (uint64_t)(s->cls[i].ios[THROTTLE_READ] * frac);
		s->cls[i].bytes[THROTTLE_READ] = s->cls[i].ios[THROTTLE_READ] * 4096;
		s->ios += s->cls[i].ios[THROTTLE_READ];
		s->bytes += s->cls[i].bytes[THROTTLE_READ];
		if (!s->cls[i].ios[THROTTLE_READ])
			s->cls[i].lat_avg_ns = 0;
	}
	if (!s->ios)
		s->lat_avg_ns = s->lat_p99_ns = 0;
}

/*
 * Issue 19: peak mode started on an idle disk. After idle intervals the
 * median of the last three was 0, 90% of it 0, the curve's lowest bucket
 * qualified (a ~1 us threshold), and the first busy interval, half ramped
 * up, was taken as congested. A daemon started on an idle disk must learn
 * as one started under load: nothing held while idle or ramping, and from
 * the first whole interval on the same threshold and state as a twin that
 * started with the load.
 */
static void test_peak_mode_idle_start(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d, twin;
	struct throttle_sample s;
	struct sim sm, tsm;
	double base, lat;
	int t;

	sim_init(&sm, 2, 0);
	peak_90(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	assert_int_equal(throttle_disk_init(&twin, &cfg), 0);
	for (t = 0; t < 5; t++) {
		sim_part(&sm, &d, 0, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		assert_false(throttle_disk_congested(&d));
		assert_int_equal(d.threshold_ns, 0);
	}
	sm.c[0].depth = sm.c[1].depth = 64;
	tsm = sm;
	base = uncontrolled(&sm, &lat);
	/* The load starts half-way through an interval. */
	sim_part(&sm, &d, 0.5, &s);
	assert_int_equal(throttle_disk_step(&d, &s), 0);
	assert_false(throttle_disk_congested(&d));
	assert_false(d.allow[0].dynamic || d.allow[1].dynamic);
	assert_true(d.threshold_ns == 0 || d.threshold_ns > S0_NS);
	/* The twin's first interval is a whole one: it cannot tell. */
	sim_run(&tsm, &twin, &s);
	assert_int_equal(throttle_disk_step(&twin, &s), 0);
	for (t = 0; t < 40; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		sim_run(&tsm, &twin, &s);
		assert_int_equal(throttle_disk_step(&twin, &s), 0);
		assert_int_equal(d.threshold_ns, twin.threshold_ns);
		assert_int_equal(d.state, twin.state);
		assert_int_equal(d.allow[0].iops[THROTTLE_READ], twin.allow[0].iops[THROTTLE_READ]);
		assert_int_equal(d.allow[1].iops[THROTTLE_READ], twin.allow[1].iops[THROTTLE_READ]);
		/* Nothing held until the disk has been seen busy for a whole
		 * interval and the threshold learned from it. */
		if (t == 0)
			assert_false(throttle_disk_congested(&d));
	}
	/* The knee learned, not a bucket near 0, and the shares held under it. */
	assert_true(d.knee_known);
	assert_true(d.threshold_ns > S0_NS && d.threshold_ns < 0.9 * lat);
	assert_true(d.peak_iops >= 0.9 * base);
	assert_true(throttle_disk_congested(&d));
	assert_within(sm.x[0] / sm.x[1], 2.0, 0.15);
}

/*
 * The same probe on the VM's disk, whose throttling path adds its batches'
 * latency whatever the window: a probe holding every class just under what
 * it does showed that path's latency, not a shorter queue's, and the knee
 * stayed unknown (the VM congested only when noise crossed the saturated
 * threshold, 18 intervals in). Held as the shares would hold it, the probe
 * finds the knee at once.
 */
static void test_peak_mode_probe_throttling_path(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base;

	vm_disk(&sm, NULL);
	/* The low-share class a little busier, as noise made it in a CI
	 * boot: the probe freed it, capped the other by 5%, and learned
	 * nothing. The class to free is the one holding frees. */
	sm.c[1].depth = 136;
	base = uncontrolled_total(&sm);
	peak_90(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 40, &r);
	assert_true(d.knee_known);
	assert_true(r.first_congested >= 0 && r.first_congested <= 10);
	assert_true(throttle_disk_congested(&d));
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.9 * base);
	assert_true(r.max_lat_tail < d.threshold_ns);
}

/*
 * The VM's disk (docs/throttle.md, "What the VM showed"): two fio jobs at
 * iodepth 128, and a throttling path whose batches add ~10 ms to the disk's
 * latency whatever the window, so capping both classes cannot bring the
 * latency down and costs throughput. With a threshold the disk can meet by
 * the shares alone (85% of the uncontrolled latency: the high-share class
 * alone at two thirds of the disk queues 3/4 of it), holding the shares
 * with the greedy class free meets it, at 2:1, keeping the throughput.
 */
static void test_throttling_path_latency(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base, lat;

	base = vm_disk(&sm, &lat);
	cfg_init(&cfg, 2, (uint64_t)(0.85 * lat));
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 40, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(d.holding);
	assert_string_equal(throttle_mode_name(&d), "holding");
	assert_false(d.allow[0].dynamic);
	assert_true(r.first_below >= 0 && r.first_below <= r.first_congested + 10);
	assert_true(r.max_lat_tail < d.threshold_ns);
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.9 * base);
}

/*
 * The same disk with thresholds nothing reaches at 2:1 (two thirds and three
 * quarters of the uncontrolled latency; holding the shares gives ~76%): the
 * law tries the window, finds that cutting buys nothing, and holds the
 * shares. It must not spiral down (the VM gave 5.9:1 at 65% of the
 * throughput when the window kept shrinking) nor creep down step by step
 * with the latency flat (the VM: 18000 to 12000 IOPS in 20 intervals, each
 * step a few percent, the latency 9-10 ms throughout).
 */
static void unreachable_threshold(double frac)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base, lat;

	base = vm_disk(&sm, &lat);
	cfg_init(&cfg, 2, (uint64_t)(frac * lat));
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 40, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(d.steer_failed);
	assert_true(d.holding);
	assert_within(r.ratio, 2.0, 0.15);
	assert_true(r.total >= 0.9 * base);
	assert_true(r.max_w <= 1.02 * r.min_w);
}

static void test_unreachable_threshold_keeps_shares(void **state)
{
	unreachable_threshold(2.0 / 3.0);
	unreachable_threshold(0.75);
}

/*
 * What the VM showed with a threshold just under the latency of holding:
 * steering every class lowers the latency a little at once, then it stays
 * flat, slightly above the target, whatever the window. The law's steps
 * are then 1-3% each, too small for any one to tell a cut from noise; the
 * window crept from 18000 to 12000 IOPS over 20 intervals. Cuts are
 * judged over 10% moves, so the law sees that they buy nothing and holds.
 */
static void test_creeping_window_stops(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	double onset = 0, min_w = INFINITY, max_w = 0;
	unsigned int i;
	int t;

	cfg_init(&cfg, 2, 9800000);
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	for (t = 0; t < 60; t++) {
		bool holding = !d.allow[0].dynamic || !d.allow[1].dynamic;
		double sum = 0;

		memset(&s, 0, sizeof(s));
		s.interval_s = 1.0;
		for (i = 0; i < 2; i++) {
			double x = d.allow[i].dynamic ? (double)d.allow[i].iops[THROTTLE_READ] : 10000;

			s.cls[i].ios[THROTTLE_READ] = (uint64_t)x;
			s.cls[i].bytes[THROTTLE_READ] = (uint64_t)x * 4096;
			sum += x;
		}
		s.ios = (uint64_t)sum;
		s.bytes = s.ios * 4096;
		s.lat_avg_ns = holding || !onset ? 10000000 :
			       (uint64_t)(9100000 * pow(onset / fmax(sum, 1), 0.05));
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		if (getenv("SIM_TRACE"))
			print_message("%3d lat %.2f w %.0f x %.0f: %s\n", t, s.lat_avg_ns / 1e6,
				      d.window, sum, d.reason);
		if (!onset && throttle_disk_congested(&d))
			onset = d.onset_iops;
		if (throttle_disk_congested(&d) && !d.holding) {
			min_w = fmin(min_w, d.window);
			max_w = fmax(max_w, d.window);
		}
	}
	assert_true(throttle_disk_congested(&d));
	assert_true(d.steer_failed);
	assert_true(d.holding);
	/* Steering gave up within 20% of where it started. */
	assert_true(max_w > 0 && min_w >= 0.8 * max_w);
}

/*
 * What the VM's CI showed: holding the shares gave 9.4-11.1 ms around a mean
 * of 10.3 against a 10.85 ms threshold; two intervals in a row over it
 * started steering, which capped both classes and cost 15% of the
 * throughput for 1 ms. Noise around a held latency under the threshold
 * must not start steering: the disk holds the shares throughout.
 */
static void test_noise_at_threshold_keeps_holding(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	double base, lat, sum_lat = 0;
	unsigned int steered = 0, n = 0;
	int t;

	base = vm_disk(&sm, &lat);
	sm.noise = 11;
	sm.noise_amp = 0.1;
	/* Holding gives ~76% of the uncontrolled latency here: the
	 * threshold puts it at ~95% of it, as in the VM. */
	cfg_init(&cfg, 2, (uint64_t)(0.8 * lat));
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	for (t = 0; t < 120; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		if (getenv("SIM_TRACE"))
			print_message("%3d %s lat %.2f ms thr %.2f x %.0f %.0f: %s\n", t,
				      d.holding ? "hold" : "steer", sm.lat / 1e6,
				      d.threshold_ns / 1e6, sm.x[0], sm.x[1], d.reason);
		if (throttle_disk_congested(&d) && !d.holding)
			steered++;
		if (t >= 10) {
			assert_true(throttle_disk_congested(&d));
			assert_true(total(&sm) >= 0.9 * base);
			assert_within(sm.x[0] / sm.x[1], 2.0, 0.15);
			sum_lat += sm.lat;
			n++;
		}
	}
	assert_int_equal(steered, 0);
	assert_true(sum_lat / n < d.threshold_ns);
}

/*
 * Holding the shares lowers the latency: capped classes wait outside the
 * device. With shares 4:1 and equal iodepths, the high-share class alone
 * and the other capped at a fifth queue about 5/8 of the uncontrolled
 * latency (Little's law), so a held latency well under the threshold does
 * not say that the disk is calm. Released on it, the disk was congested
 * again the next interval, and one interval in four ran unheld. A disk
 * that got faster is still released.
 */
static void test_held_latency_is_not_calm(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	double base, lat, x0 = 0, x1 = 0;
	unsigned int calm = 0;
	int t;

	sim_init(&sm, 2, 32);
	base = uncontrolled(&sm, &lat);
	cfg_init(&cfg, 2, (uint64_t)(0.95 * lat));
	cfg.cls[0].shares = 400;
	cfg.cls[1].shares = 100;
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	for (t = 0; t < 60; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		if (getenv("SIM_TRACE"))
			print_message("%3d %s lat %.2f ms thr %.2f x %.0f %.0f: %s\n", t,
				      throttle_mode_name(&d), sm.lat / 1e6,
				      d.threshold_ns / 1e6, sm.x[0], sm.x[1], d.reason);
		if (t < 10)
			continue;
		calm += !throttle_disk_congested(&d);
		x0 += sm.x[0];
		x1 += sm.x[1];
		assert_true(total(&sm) >= 0.9 * base);
	}
	assert_int_equal(calm, 0);
	assert_within(x0 / x1, 4.0, 0.15);
	/* The disk gets faster (a TCG guest whose host got quiet): unheld,
	 * it would now be under the target, and the caps go. */
	sm.cap *= 2;
	for (t = 0; t < 10; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
	}
	assert_false(throttle_disk_congested(&d));
	assert_true(sm.lat < d.threshold_ns);
}

/*
 * The VM's disk at 250 IOPS: blk-throttle gave the capped class 91% of its
 * riops of ~80, and the free class the rest, so 2:1 came out 2.25:1. The
 * law divides each allowance by what io.max was seen to deliver.
 */
static void test_limit_delivers_less(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct run_result r;
	struct sim sm;
	double base, lat;

	sim_init(&sm, 2, 64);
	sm.limit_gives = 0.88;
	base = uncontrolled(&sm, &lat);
	cfg_init(&cfg, 2, (uint64_t)(0.875 * lat));
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	run(&sm, &d, 40, &r);
	assert_true(throttle_disk_congested(&d));
	assert_true(d.holding);
	assert_within(r.ratio, 2.0, 0.05);
	assert_true(r.total >= 0.9 * base);
	assert_true(r.max_lat_tail < d.threshold_ns);
}

/*
 * Issue 19, tests/vm/throttle_conserve.bats on 50 ms x 8 slots: a disk
 * whose latency is the device's own whatever the queue (no scheduler: the
 * requests waiting for a tag are not counted), a threshold under it, and
 * blk-throttle giving a capped class ~80% of its riops. Steering cut the
 * low-share class to ~25 IOPS, it got 19, under min_active_iops and under
 * 90% of its allowance: "one workload", released, congested again the
 * next interval, steering tried again: a cycle of six intervals, two of
 * them steered and one at half the disk (86% of the throughput, 1.37:1).
 * A class the law holds back still competes; the law must find steering
 * futile once and hold the shares.
 */
static void test_capped_class_stays_active(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	double base, st = 0, sx0 = 0, sx1 = 0;
	int t;

	sim_init(&sm, 2, 32);
	sm.cap = 160;
	sm.s0 = 50 * MS;
	sm.limit_gives = 0.78;
	base = uncontrolled_total(&sm);
	cfg_init(&cfg, 2, 25 * MS);
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	for (t = 0; t < 40; t++) {
		/* The latency is the device's: the queue waits for tags. */
		sim_run(&sm, &d, &s);
		s.lat_avg_ns = (uint64_t)sm.s0;
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		if (getenv("SIM_TRACE"))
			print_message("%3d %s%s w %.0f x %.0f %.0f: %s\n", t,
				      throttle_state_name(d.state), d.holding ? "/hold" : "",
				      d.window, sm.x[0], sm.x[1], d.reason);
		if (t > 0)
			assert_true(throttle_disk_congested(&d));
		if (t >= 30) {
			st += total(&sm);
			sx0 += sm.x[0];
			sx1 += sm.x[1];
		}
	}
	assert_true(d.holding);
	assert_true(st / 10 >= 0.95 * base);
	assert_within(sx0 / sx1, 2.0, 0.15);
	/* In the VM, the interval after steering ended: blk-throttle still
	 * releasing what it queued under the cut, the class allowed 43 did
	 * 11. It has not left. */
	assert_true(d.allow[1].dynamic && d.allow[1].total_iops > 30);
	s.ios -= s.cls[1].ios[THROTTLE_READ] - 11;
	s.cls[1].ios[THROTTLE_READ] = 11;
	assert_int_equal(throttle_disk_step(&d, &s), 0);
	assert_true(throttle_disk_congested(&d));
}

/*
 * A disk whose latency is its queue's (mq-deadline 256 in the VM, 160
 * IOPS): holding the shares at 2:1 lowers it to ~3/4, but the queue the
 * unheld disk built drains over the first held intervals (463 and 469 ms
 * against 422 at the onset). Taking what holding buys from the first
 * three held intervals, holding seemed to buy nothing, the held latency
 * passed for calm and the shares were released while the disk was
 * congested (the share ratio gone for intervals).
 */
static void mq_disk(struct sim *sm, struct throttle_disk *d, double *base)
{
	struct throttle_disk_cfg cfg;
	double lat;

	sim_init(sm, 2, 32);
	sm->cap = 160;
	sm->s0 = 6.25 * MS;
	*base = uncontrolled(sm, &lat);
	cfg_init(&cfg, 2, (uint64_t)(0.875 * lat));
	shares_2_to_1(&cfg);
	assert_int_equal(throttle_disk_init(d, &cfg), 0);
}

static void test_drain_is_not_calm(void **state)
{
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	double base, st = 0, sx0 = 0, sx1 = 0;
	int t, onset = -1;

	mq_disk(&sm, &d, &base);
	for (t = 0; t < 40; t++) {
		sim_run(&sm, &d, &s);
		/* The two intervals after the onset: the queue still drains. */
		if (onset >= 0 && t <= onset + 2) {
			s.lat_avg_ns = (uint64_t)(1.15 * d.onset_lat_ns);
			sm.lat = (double)s.lat_avg_ns;
		}
		assert_int_equal(throttle_disk_step(&d, &s), 0);
		if (getenv("SIM_TRACE"))
			print_message("%3d %s lat %.1f ms thr %.1f x %.0f %.0f: %s\n", t,
				      throttle_mode_name(&d), sm.lat / 1e6,
				      d.threshold_ns / 1e6, sm.x[0], sm.x[1], d.reason);
		if (onset < 0 && throttle_disk_congested(&d))
			onset = t;
		if (onset >= 0)
			assert_true(throttle_disk_congested(&d));
		if (t >= 20) {
			assert_true(d.holding);
			st += total(&sm);
			sx0 += sm.x[0];
			sx1 += sm.x[1];
		}
	}
	assert_int_equal(onset, 0);
	assert_true(st / 20 >= 0.95 * base);
	assert_within(sx0 / sx1, 2.0, 0.15);
}

/*
 * Holding frees the class that would use the most of what it is given.
 * In one interval the guest stalled in, the free class did 26 IOPS and the
 * capped one 44: chosen on that interval alone, the shares were swapped
 * for an interval.
 */
static void test_greedy_class_not_one_interval(void **state)
{
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	double base;
	int t;

	mq_disk(&sm, &d, &base);
	for (t = 0; t < 20; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
	}
	assert_true(d.holding);
	assert_false(d.allow[0].dynamic);
	assert_true(d.allow[1].dynamic);
	s.cls[0].ios[THROTTLE_READ] = 26;
	s.cls[1].ios[THROTTLE_READ] = 44;
	s.ios = 70;
	s.lat_avg_ns = 2 * d.onset_lat_ns;	/* the stall's */
	assert_int_equal(throttle_disk_step(&d, &s), 0);
	assert_true(d.holding);
	assert_false(d.allow[0].dynamic);
	assert_true(d.allow[1].dynamic);
}

/*
 * One interval in which every class was slow (the guest or the device
 * stalling: 23 and 34 IOPS between intervals of 150 in the VM) is not a
 * workload gone: it ended the episode, and the next interval began
 * another. Two in a row are.
 */
static void test_stall_keeps_episode(void **state)
{
	struct throttle_disk d;
	struct throttle_sample s;
	struct sim sm;
	double base;
	int t;

	mq_disk(&sm, &d, &base);
	for (t = 0; t < 20; t++) {
		sim_run(&sm, &d, &s);
		assert_int_equal(throttle_disk_step(&d, &s), 0);
	}
	assert_true(d.holding);
	s.cls[0].ios[THROTTLE_READ] = 15;
	s.cls[1].ios[THROTTLE_READ] = 8;
	s.ios = 23;
	s.lat_avg_ns = 2 * d.onset_lat_ns;
	assert_int_equal(throttle_disk_step(&d, &s), 0);
	assert_true(throttle_disk_congested(&d));
	assert_true(d.holding);
	assert_false(d.allow[0].dynamic);
	assert_true(d.allow[1].dynamic);
	/* Back to normal: the episode goes on. */
	sim_run(&sm, &d, &s);
	assert_int_equal(throttle_disk_step(&d, &s), 0);
	assert_true(throttle_disk_congested(&d));
	/* Both workloads stopped: released on the second interval. */
	memset(&s, 0, sizeof(s));
	s.interval_s = 1.0;
	assert_int_equal(throttle_disk_step(&d, &s), 0);
	assert_int_equal(throttle_disk_step(&d, &s), 0);
	assert_false(throttle_disk_congested(&d));
}

static void test_bad_config_rejected(void **state)
{
	struct throttle_disk_cfg cfg;
	struct throttle_disk d;
	struct throttle_sample s = { 0 };

	cfg_init(&cfg, 2, 0);
	assert_int_equal(throttle_disk_init(&d, &cfg), -EINVAL);
	cfg_init(&cfg, THROTTLE_MAX_CLASSES + 1, MS);
	assert_int_equal(throttle_disk_init(&d, &cfg), -EINVAL);
	cfg_init(&cfg, 2, 0);
	cfg.mode = THROTTLE_MODE_PEAK;
	cfg.peak_pct = 101;
	assert_int_equal(throttle_disk_init(&d, &cfg), -EINVAL);
	cfg_init(&cfg, 2, MS);
	assert_int_equal(throttle_disk_init(&d, &cfg), 0);
	assert_int_equal(throttle_disk_step(&d, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_2_to_1),
		cmocka_unit_test(test_noise_bounded_variation),
		cmocka_unit_test(test_steep_disk_converges),
		cmocka_unit_test(test_latency_not_caused_by_load),
		cmocka_unit_test(test_single_workload_never_held),
		cmocka_unit_test(test_release_when_competitor_leaves),
		cmocka_unit_test(test_relaxes_when_calm),
		cmocka_unit_test(test_surplus_goes_to_others),
		cmocka_unit_test(test_reservation_holds),
		cmocka_unit_test(test_static_limits_hold),
		cmocka_unit_test(test_peak_mode_learns_threshold),
		cmocka_unit_test(test_peak_mode_floor),
		cmocka_unit_test(test_class_latency_target),
		cmocka_unit_test(test_idle_class_target_ignored),
		cmocka_unit_test(test_percent_of_peak_limits),
		cmocka_unit_test(test_holding_divides_what_the_disk_gives),
		cmocka_unit_test(test_heavy_noise_keeps_throughput),
		cmocka_unit_test(test_peak_mode_probes_saturated_disk),
		cmocka_unit_test(test_peak_mode_probe_throttling_path),
		cmocka_unit_test(test_peak_mode_idle_start),
		cmocka_unit_test(test_throttling_path_latency),
		cmocka_unit_test(test_unreachable_threshold_keeps_shares),
		cmocka_unit_test(test_creeping_window_stops),
		cmocka_unit_test(test_noise_at_threshold_keeps_holding),
		cmocka_unit_test(test_held_latency_is_not_calm),
		cmocka_unit_test(test_limit_delivers_less),
		cmocka_unit_test(test_capped_class_stays_active),
		cmocka_unit_test(test_drain_is_not_calm),
		cmocka_unit_test(test_greedy_class_not_one_interval),
		cmocka_unit_test(test_stall_keeps_episode),
		cmocka_unit_test(test_bad_config_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
