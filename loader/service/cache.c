// SPDX-License-Identifier: GPL-2.0
/*
 * cache.c - the cache service (a fast device in front of the disk):
 * services: cache: in a policy, the 'cache' filter on the disk.
 */
#include <errno.h>
#include <string.h>

#include "lib/macro.h"
#include "loader/policy.h"
#include "loader/policy_resolve.h"
#include "loader/service.h"

enum {
	CACHE_DEVICE,
	CACHE_MODE,
	CACHE_SIZE,
	CACHE_BLOCK_SIZE,
	CACHE_SEQUENTIAL_CUTOFF,
	CACHE_WRITEBACK_INTERVAL,
	CACHE_BYPASS_CLASSES,
};

static const char *const modes[] = { "writethrough", "writeback", "writearound", NULL };

static const struct svc_param cache_params[] = {
	[CACHE_DEVICE] = { "device", SVC_PATH, .required = true },
	[CACHE_MODE] = { "mode", SVC_ENUM, .dflt = "writethrough", .vals = modes },
	/* no default: the whole device */
	[CACHE_SIZE] = { "size", SVC_SIZE, .min = 16ULL << 20, .max = 1ULL << 50 },
	/* the cache filter's own range: 64 bits of 4 KiB sub-blocks at most */
	[CACHE_BLOCK_SIZE] = { "block_size", SVC_SIZE, .dflt = "64KiB", .min = 32 << 10,
			       .max = 256 << 10, .pow2 = true },
	/* a stream longer than this bypasses the cache (bcache's sequential_cutoff) */
	[CACHE_SEQUENTIAL_CUTOFF] = { "sequential_cutoff", SVC_SIZE, .dflt = "4MiB",
				      .min = 4096, .max = 1ULL << 40 },
	[CACHE_WRITEBACK_INTERVAL] = { "writeback_interval", SVC_DURATION, .dflt = "20ms",
				       .min = 1000000, .max = 3600ULL * 1000000000 },
	/* classes of the policy (by the BPF classifier) the cache never admits */
	[CACHE_BYPASS_CLASSES] = { "bypass_classes", SVC_CLASSES },
};

static void cache_check(struct svc_check *sc, struct pol_service *s)
{
	const char *dev = svc_str(s, CACHE_DEVICE);
	unsigned int ma, mi;
	int err;

	if (!sc->opts->resolve || !dev)
		return;
	err = resolve_disk_path(dev, &ma, &mi);
	/* a file is a cache too (tests, small hosts), or made at serve with size: */
	if (err == -ENOTBLK || (err == -ENOENT && svc_str(s, CACHE_SIZE)))
		return;
	if (err && err != -EXDEV)
		policy_diag_at(sc->d, svc_at(s, CACHE_DEVICE), "cache device '%s' matches nothing: %s",
			       dev, err == -ENOTBLK ? "not a block device" : strerror(-err));
}

const struct service_ops cache_service_ops = {
	.key = "cache",
	.filter = "cache",
	.params = cache_params,
	.nr_params = ARRAY_SIZE(cache_params),
	.check = cache_check,
};
