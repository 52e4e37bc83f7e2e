// SPDX-License-Identifier: GPL-2.0
/*
 * serve_cache.c - 'sluice serve --cache' as a filter spec (serve_cache.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/serve_cache.h"
#include "lib/macro.h"
#include "lib/log.h"
#include "lib/units.h"
#include "loader/service.h"

int serve_cache_option(int which, const char *arg, struct serve_cache *o)
{
	static const char *const modes[] = { "writethrough", "writeback", "writearound" };
	unsigned int idx;

	switch (which) {
	case SERVE_CACHE_OPT_DEVICE:
		o->device = arg;
		return 0;
	case SERVE_CACHE_OPT_MODE:
		if (parse_enum_argument("--cache-mode", arg, modes, ARRAY_SIZE(modes), &idx))
			return -EINVAL;
		o->mode = modes[idx];
		return 0;
	case SERVE_CACHE_OPT_SIZE:
		return parse_size_argument("--cache-size", arg, &o->size) ? -EINVAL : 0;
	case SERVE_CACHE_OPT_CUTOFF:
		/* 0 turns the cutoff off, as the policy key's 0 does */
		if (!strcmp(arg, "0"))
			o->cutoff = 0;
		else if (parse_size_argument("--sequential-cutoff", arg, &o->cutoff))
			return -EINVAL;
		o->cutoff_set = 1;
		return 0;
	}
	return -EINVAL;
}

int serve_cache_spec(const struct serve_cache *o, char *spec, size_t len)
{
	char path[PATH_MAX], size[32] = "", cutoff[48] = "";
	const char *why;
	size_t used = strlen(spec);
	int n;

	if (!o->device) {
		if (o->mode || o->size || o->cutoff_set) {
			log_err("--cache-mode, --cache-size and --sequential-cutoff go with "
				"--cache PATH");
			return -EINVAL;
		}
		return 0;
	}
	/* a file not made yet is made by the filter (it needs --cache-size) */
	if (!realpath(o->device, path))
		snprintf(path, sizeof(path), "%s", o->device);
	if (path[0] != '/') {
		log_err("--cache %s: give an absolute path", o->device);
		return -EINVAL;
	}
	why = svc_spec_unsafe(path);
	if (why) {
		log_err("--cache %s: a cache path with %s cannot be kept in the disk's state "
			"file; rename it or link to it", path, why);
		return -EINVAL;
	}
	if (o->size) {
		snprintf(size, sizeof(size), ",size=");
		units_format(UNIT_SIZE, o->size, size + 6, sizeof(size) - 6);
	}
	if (o->cutoff_set) {
		snprintf(cutoff, sizeof(cutoff), ",sequential_cutoff=");
		if (o->cutoff)
			units_format(UNIT_SIZE, o->cutoff, cutoff + 19, sizeof(cutoff) - 19);
		else
			snprintf(cutoff + 19, sizeof(cutoff) - 19, "0");
	}
	n = snprintf(spec + used, len - used, "%scache:device=%s,mode=%s%s%s", used ? " " : "",
		     path, o->mode ? o->mode : "writethrough", size, cutoff);
	if (n < 0 || (size_t)n >= len - used) {
		spec[used] = '\0';
		log_err("--cache %s: the path is too long for the disk's state file", path);
		return -ENAMETOOLONG;
	}
	return 0;
}

bool serve_cache_say(const char *spec, int err)
{
	const char *p = strstr(spec, "cache:device=");
	char path[PATH_MAX];
	size_t n;

	if (!p)
		return false;
	p += strlen("cache:device=");
	n = strcspn(p, ", ");
	snprintf(path, sizeof(path), "%.*s", (int)n, p);
	switch (err) {
	case -EEXIST:
		log_err("cache %s: holds the cache of another backing (or of this one at another "
			"size); give another cache device, or zero its first 4 KiB to start it "
			"empty (its dirty data is then lost)", path);
		return true;
	case -ENOSPC:
		log_err("cache %s: too small for 16 cache blocks after its metadata; give a "
			"larger device or --cache-size", path);
		return true;
	case -ENOENT:
		log_err("cache %s: no such file; give --cache-size to make one", path);
		return true;
	case -EINVAL:
		log_err("cache %s: not a file or block device, a block size outside "
			"32KiB..256KiB, or a block size other than the one it was made with",
			path);
		return true;
	case -EBADMSG:
	case -EPROTO:
		log_err("cache %s: its superblock is damaged or of another version; zero its "
			"first 4 KiB to start it empty", path);
		return true;
	}
	return false;
}
