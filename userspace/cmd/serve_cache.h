/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve_cache.h - the cache filter of 'sluice serve --cache PATH ...':
 * the serve options turned into the "cache:k=v,..." word of a filter spec,
 * with the same keys as a policy's services: cache: (loader/service/cache.c).
 */
#ifndef SLUICE_CMD_SERVE_CACHE_H
#define SLUICE_CMD_SERVE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serve_cache {
	const char *device;		/* --cache; NULL: no cache */
	const char *mode;		/* --cache-mode; NULL: writethrough */
	uint64_t size;			/* --cache-size; 0: the whole device */
	uint64_t cutoff;		/* --sequential-cutoff; 0: the default */
	int cutoff_set;			/* given (0 turns it off) */
};

/* The cache flags of 'serve' and 'cache attach', in this order from @base. */
enum { SERVE_CACHE_OPT_DEVICE, SERVE_CACHE_OPT_MODE, SERVE_CACHE_OPT_SIZE,
       SERVE_CACHE_OPT_CUTOFF };
#define SERVE_CACHE_OPTIONS(base)						\
	{ "cache", required_argument, NULL, (base) + SERVE_CACHE_OPT_DEVICE },	\
	{ "cache-mode", required_argument, NULL, (base) + SERVE_CACHE_OPT_MODE },	\
	{ "cache-size", required_argument, NULL, (base) + SERVE_CACHE_OPT_SIZE },	\
	{ "sequential-cutoff", required_argument, NULL, (base) + SERVE_CACHE_OPT_CUTOFF }

/* Flag @which (SERVE_CACHE_OPT_*) with @arg into @o: 0, or -EINVAL after saying why. */
int serve_cache_option(int which, const char *arg, struct serve_cache *o);

/*
 * Append " cache:device=...,mode=..." to @spec (NUL-terminated, @len
 * bytes). Logs one message and returns -EINVAL (a path the spec cannot
 * carry, a mode without --cache) or -ENAMETOOLONG.
 */
int serve_cache_spec(const struct serve_cache *o, char *spec, size_t len);

/*
 * The message for a cache filter that failed to set up with @err, when
 * @spec (the disk's filters) has one; false when it is not the cache's.
 */
bool serve_cache_say(const char *spec, int err);

#endif /* SLUICE_CMD_SERVE_CACHE_H */
