// SPDX-License-Identifier: GPL-2.0
/*
 * sluice cache - a served disk's cache filter (docs/cache.md): its
 * counters, and a flush that waits for its dirty data to reach the
 * backing. Both read the counters the server publishes every second
 * (ublk/filter_stats.h); the server's write-back runs whenever it holds
 * dirty data, so flush only has to watch it go to zero.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "lib/disk_state.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/units.h"
#include "ublk/filter_stats.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice cache stats DEV|ID [--json]\n"
		"       sluice cache flush DEV|ID [--timeout D]\n"
		"\n"
		"The cache of a disk served with --cache (or a policy's services: cache:).\n"
		"stats shows its counters: read and write hits and misses, the hit ratio,\n"
		"dirty bytes, bytes written back, evictions, bypassed requests (long\n"
		"streams and the policy's bypass_classes; class: those of the classes).\n"
		"flush waits until no dirty data is left in the cache, showing progress\n"
		"once a second; the backing then holds everything written (stop writing\n"
		"to the disk first, or the flush chases new writes).\n"
		"\n"
		"Options:\n"
		"  --json        stats as JSON\n"
		"  --timeout D   give up the flush after D (default: none)\n"
		"  -h, --help    this text\n"
		"\n"
		"Examples:\n"
		"  sluice cache stats /dev/ublkb0\n"
		"  sluice cache flush 0 && sluice stop 0\n");
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
	unsigned int i;

	for (i = 0; i < f->n; i++)
		if (!strcmp(f->c[i].name, name))
			return f->c[i].value;
	return 0;
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cache_flush(uint32_t id, uint64_t timeout_ns)
{
	struct timespec tick = { 0, 200 * 1000000L };
	struct filter_stats_filter *f;
	struct filter_stats fs;
	uint64_t start = now_ns(), last = 0, dirty, t0 = 0;
	char a[32];
	int err;

	for (;;) {
		err = read_cache(id, &fs, &f);
		if (err)
			return 1;
		dirty = counter(f, "dirty_bytes");
		/* counters are a second old: zero must come from a snapshot after the start */
		if (!dirty && fs.time_ns > t0 && t0) {
			printf("/dev/ublkb%u: cache flushed, no dirty data left\n", id);
			return 0;
		}
		if (!t0) {
			struct timespec rt;

			clock_gettime(CLOCK_REALTIME, &rt);
			t0 = rt.tv_sec * 1000000000ull + rt.tv_nsec;
		}
		if (now_ns() - last >= 1000000000ull) {
			printf("/dev/ublkb%u: %s dirty\n", id,
			       units_fmt_bytes(dirty, a, sizeof(a)));
			fflush(stdout);
			last = now_ns();
		}
		if (timeout_ns && now_ns() - start > timeout_ns) {
			log_err("/dev/ublkb%u: %s still dirty after the timeout; are writes still "
				"coming? 'sluice cache stats %u' shows the write-back", id,
				units_fmt_bytes(dirty, a, sizeof(a)), id);
			return 1;
		}
		nanosleep(&tick, NULL);
	}
}

int cmd_cache(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	uint64_t timeout_ns = 0;
	bool json = false;
	const char *verb;
	uint32_t id;
	int c, err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 't':
			err = parse_duration_argument("--timeout", optarg, 1, 0, &timeout_ns);
			if (err)
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
	if (!strcmp(verb, "stats"))
		return cache_stats(id, json);
	if (!strcmp(verb, "flush"))
		return cache_flush(id, timeout_ns);
	log_err("cache %s: no such command; give stats or flush (attach and detach: serve "
		"the disk again with or without --cache, docs/cache.md)", verb);
	return 2;
}
