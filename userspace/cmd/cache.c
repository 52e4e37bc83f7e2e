// SPDX-License-Identifier: GPL-2.0
/*
 * sluice cache - a served disk's cache filter (docs/cache.md): its
 * counters, and a flush that waits for its dirty data to reach the
 * backing. Both read the counters the server publishes every second
 * (ublk/filter_stats.h); the server's write-back runs whenever it holds
 * dirty data, so flush holds the cache (ublk/control.h: no new dirty data)
 * and watches it go to zero. attach and detach: cache_attach.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/args.h"
#include "cmd/cache_attach.h"
#include "cmd/cmds.h"
#include "lib/clock.h"
#include "lib/disk_state.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/units.h"
#include "ublk/control.h"
#include "ublk/filter_stats.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice cache stats DEV|ID [--json]\n"
		"       sluice cache flush DEV|ID [--timeout D]\n"
		"       sluice cache attach DEV|ID --cache PATH [--cache-mode MODE]\n"
		"                           [--cache-size SIZE] [--sequential-cutoff SIZE]\n"
		"       sluice cache detach DEV|ID [--timeout D]\n"
		"\n"
		"The cache of a disk served with --cache (or a policy's services: cache:).\n"
		"stats shows its counters: read and write hits and misses, the hit ratio,\n"
		"dirty bytes, bytes written back, evictions, bypassed requests (long\n"
		"streams and the policy's bypass_classes; class: those of the classes).\n"
		"flush holds the cache (writes go through to the backing, no new dirty\n"
		"data) until no dirty data is left, showing progress once a second, so\n"
		"it ends even while the disk is written; the backing then holds\n"
		"everything written.\n"
		"attach puts a cold cache in front of a served disk, detach flushes it\n"
		"and takes it away; the disk stays live and mounted, and is not\n"
		"reformatted: its server hands it to a new one with the new filters\n"
		"(the next plain 'serve' or policy decides again).\n"
		"\n"
		"Options:\n"
		"  --json                   stats as JSON\n"
		"  --timeout D              give up the flush after D (default: none)\n"
		"  --cache PATH             attach: the cache device or file\n"
		"  --cache-mode MODE        attach: writethrough (default), writeback or\n"
		"                           writearound\n"
		"  --cache-size SIZE        attach: use SIZE of it (a file is made)\n"
		"  --sequential-cutoff SIZE attach: longer streams bypass (default 4MiB)\n"
		"  -h, --help               this text\n"
		"\n"
		"Examples:\n"
		"  sluice cache stats /dev/ublkb0\n"
		"  sluice cache flush 0 && sluice stop 0\n"
		"  sluice cache attach 0 --cache /dev/nvme0n1p2 --cache-mode writeback\n"
		"  sluice cache attach 0 --cache /var/cache/d0.cache --cache-size 4G\n"
		"  sluice cache detach /dev/ublkb0\n");
}

/* The cache filter's counters of disk @id; logs why not. */
static int read_cache(uint32_t id, struct filter_stats *fs, struct filter_stats_filter **out)
{
	unsigned int i;
	int err;

	err = filter_stats_read(state_dir(), id, fs);
	if (err == -ENOENT || err == -ESRCH) {
		log_err("/dev/ublkb%u: not served (no live server); list disks with 'sluice disks'",
			id);
		return err;
	}
	if (err) {
		log_err("%s/ublk%u.stats: %s", state_dir(), id, strerror(-err));
		return err;
	}
	for (i = 0; i < fs->n; i++) {
		if (!strcmp(fs->f[i].name, "cache")) {
			*out = &fs->f[i];
			return 0;
		}
	}
	log_err("/dev/ublkb%u: has no cache; serve it with --cache PATH", id);
	return -ENOENT;
}

static uint64_t counter(const struct filter_stats_filter *f, const char *name)
{
	const struct filter_stats_counter *c = filter_stats_counter(f, name);

	return c ? c->value : 0;
}

static double ratio(uint64_t hits, uint64_t misses)
{
	return hits + misses ? (double)hits / (hits + misses) : 0;
}

static int cache_stats(uint32_t id, bool json)
{
	struct filter_stats_filter *f;
	struct filter_stats fs;
	struct json_writer w;
	char a[32], b[32];
	unsigned int i;
	int err;

	err = read_cache(id, &fs, &f);
	if (err)
		return 1;
	if (json) {
		json_init(&w, stdout);
		json_obj_open(&w);
		json_kv_u64(&w, "id", id);
		json_kv_double(&w, "read_hit_ratio",
			       ratio(counter(f, "read_hits"), counter(f, "read_misses")));
		json_kv_double(&w, "write_hit_ratio",
			       ratio(counter(f, "write_hits"), counter(f, "write_misses")));
		for (i = 0; i < f->n; i++)
			json_kv_u64(&w, f->c[i].name, f->c[i].value);
		json_obj_close(&w);
		return json_end(&w) ? 1 : 0;
	}
	printf("/dev/ublkb%u cache: %s blocks of %s\n", id,
	       units_fmt_count(counter(f, "blocks"), a, sizeof(a)),
	       units_fmt_bytes(counter(f, "block_size"), b, sizeof(b)));
	printf("  reads:  %5.1f%% hits (%" PRIu64 " hits, %" PRIu64 " misses)\n",
	       100 * ratio(counter(f, "read_hits"), counter(f, "read_misses")),
	       counter(f, "read_hits"), counter(f, "read_misses"));
	printf("  writes: %5.1f%% hits (%" PRIu64 " hits, %" PRIu64 " misses)\n",
	       100 * ratio(counter(f, "write_hits"), counter(f, "write_misses")),
	       counter(f, "write_hits"), counter(f, "write_misses"));
	printf("  dirty %s, written back %s\n",
	       units_fmt_bytes(counter(f, "dirty_bytes"), a, sizeof(a)),
	       units_fmt_bytes(counter(f, "written_back_bytes"), b, sizeof(b)));
	printf("  evictions %" PRIu64 ", bypassed %" PRIu64 " (class %" PRIu64 "), fills %"
	       PRIu64 ", errors %" PRIu64 "\n", counter(f, "evictions"), counter(f, "bypassed"),
	       counter(f, "bypassed_class"),
	       counter(f, "fills"), counter(f, "errors"));
	return 0;
}

/*
 * Hold the cache through the server (ublk/control.h): "hold" is a lease the
 * flush renews, "keep" lasts until "release" (detach).
 */
static int hold(uint32_t id, const char *word)
{
	return ublk_control_send(state_dir(), id, "cache", word, 5000);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int cache_flush_wait(uint32_t id, uint64_t timeout_ns, bool keep_hold)
{
	/* Ctrl-C still releases the hold: write-back must not stay write-through */
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec tick = { 0, 200 * 1000000L };
	struct filter_stats_filter *f;
	struct filter_stats fs;
	uint64_t start = clock_ns(CLOCK_MONOTONIC), last = 0, dirty, t0 = 0;
	int rc = 1, err;
	bool held;
	char a[32];

	if (read_cache(id, &fs, &f))
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = hold(id, keep_hold ? "keep" : "hold");
	held = !err;
	if (err == -ETIMEDOUT && !keep_hold) {
		log_warn("/dev/ublkb%u: its server does not take 'hold' (a sluice from before "
			 "it?): flushing while writes may add dirty data; stop writing first",
			 id);
	} else if (err == -ETIMEDOUT) {
		log_err("/dev/ublkb%u: its server did not answer within 5 s (a sluice from "
			"before 'cache hold'? restart it first: SIGUSR2 and 'serve --recover')",
			id);
		return 1;
	} else if (err) {
		log_err("/dev/ublkb%u: holding its cache: %s", id, strerror(-err));
		return 1;
	}
	for (;;) {
		if (read_cache(id, &fs, &f))
			goto out;
		dirty = counter(f, "dirty_bytes");
		/* counters are a second old: zero must come from a snapshot after the hold */
		if (!dirty && fs.time_ns > t0 && t0) {
			printf("/dev/ublkb%u: cache flushed, no dirty data left\n", id);
			rc = 0;
			goto out;
		}
		if (!t0) {
			struct timespec rt;

			clock_gettime(CLOCK_REALTIME, &rt);
			t0 = rt.tv_sec * 1000000000ull + rt.tv_nsec;
		}
		if (clock_ns(CLOCK_MONOTONIC) - last >= 1000000000ull) {
			printf("/dev/ublkb%u: %s dirty\n", id,
			       units_fmt_bytes(dirty, a, sizeof(a)));
			fflush(stdout);
			last = clock_ns(CLOCK_MONOTONIC);
			/* renew the lease (10 s): it lapses only when this process is gone */
			if (held && !keep_hold && hold(id, "hold"))
				log_warn("/dev/ublkb%u: renewing the hold failed; writes may "
					 "add dirty data again", id);
		}
		if (interrupted) {
			log_err("/dev/ublkb%u: flush interrupted with %s dirty", id,
				units_fmt_bytes(dirty, a, sizeof(a)));
			goto out;
		}
		if (timeout_ns && clock_ns(CLOCK_MONOTONIC) - start > timeout_ns) {
			log_err("/dev/ublkb%u: %s still dirty after the timeout; 'sluice cache "
				"stats %u' shows the write-back (errors: the cache device fails)",
				id, units_fmt_bytes(dirty, a, sizeof(a)), id);
			goto out;
		}
		nanosleep(&tick, NULL);
	}
out:
	if (held && (rc || !keep_hold))
		hold(id, "release");
	return rc;
}

enum { OPT_JSON = 256, OPT_TIMEOUT, OPT_CACHE };

int cmd_cache(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		SERVE_CACHE_OPTIONS(OPT_CACHE),
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct serve_cache co = {};
	uint64_t timeout_ns = 0;
	bool json = false;
	const char *verb;
	uint32_t id;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_TIMEOUT:
			if (parse_duration_argument("--timeout", optarg, 1, 0, &timeout_ns))
				return 2;
			break;
		case OPT_CACHE ... OPT_CACHE + SERVE_CACHE_OPT_CUTOFF:
			if (serve_cache_option(c - OPT_CACHE, optarg, &co))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	verb = argv[optind];
	if (parse_disk_argument(argv[optind + 1], &id))
		return 2;
	if (strcmp(verb, "attach") && (co.device || co.mode || co.size || co.cutoff_set)) {
		log_err("--cache, --cache-mode, --cache-size and --sequential-cutoff go with "
			"'cache attach'");
		return 2;
	}
	if (!strcmp(verb, "stats"))
		return cache_stats(id, json);
	if (!strcmp(verb, "flush"))
		return cache_flush_wait(id, timeout_ns, false);
	if (!strcmp(verb, "attach")) {
		if (!co.device) {
			log_err("cache attach: give the cache with --cache PATH");
			return 2;
		}
		return cache_attach(id, &co);
	}
	if (!strcmp(verb, "detach"))
		return cache_detach(id, timeout_ns);
	log_err("cache %s: no such command; give stats, flush, attach or detach", verb);
	return 2;
}
