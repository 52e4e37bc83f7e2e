/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading the state file `sluice throttle` publishes (docs/throttle.md,
 * "State file") for sluice top and the exporter.
 */
#ifndef SLUICE_THROTTLE_STATE_READ_H
#define SLUICE_THROTTLE_STATE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSTATE_DEFAULT_PATH "/run/sluice/throttle.json"

struct tstate_class {
	char name[64];
	unsigned int class_id;
	char cgroup[256];
	uint64_t shares;
	bool dynamic;
	uint64_t allow_iops;		/* 0 = unlimited */
	uint64_t riops, wiops, rbps, wbps;
	bool server;			/* enforced_by is not "kernel": a ublk server may hold it */
};

struct tstate_disk {
	char name[64];
	unsigned int major, minor;
	bool congested;
	bool steering;			/* "mode": "steering": the window caps every class */
	uint64_t latency_ns, threshold_ns;
	char threshold_mode[16];	/* "latency" or "peak" */
	uint64_t peak_iops;
	bool server;			/* "enforced_by": "server": a ublk server holds it */
	struct tstate_class *cls;
	size_t nr_cls;
};

struct tstate {
	int64_t time;			/* seconds since the epoch */
	int pid;
	bool running;
	double interval_s;
	struct tstate_disk *disks;
	size_t nr_disks;
};

/*
 * Parse the state text into @st (zeroed first). -EINVAL when the text is
 * not JSON or lacks a field; -ENOMEM. @st holds nothing on failure.
 */
int tstate_parse(const char *text, size_t len, struct tstate *st);

/* Read and parse @path: -ENOENT (and other read errors) or as tstate_parse. */
int tstate_load(const char *path, struct tstate *st);

/*
 * Whether a parsed state describes a live throttle at @now: running, its
 * pid alive, and written within 3 intervals. A stale state is treated as
 * absent, as the ublk server does (fail-open).
 */
bool tstate_fresh(const struct tstate *st, int64_t now);

/* tstate_load() followed by tstate_fresh(); -ESTALE when stale. */
int tstate_load_fresh(const char *path, struct tstate *st);

/* The disk with this MAJ:MIN, or NULL. */
const struct tstate_disk *tstate_find(const struct tstate *st, unsigned int major,
				      unsigned int minor);

void tstate_free(struct tstate *st);

#endif
