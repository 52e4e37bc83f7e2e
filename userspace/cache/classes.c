// SPDX-License-Identifier: GPL-2.0
/*
 * classes.c - request classes the cache never admits (bypass_classes=):
 * the policy's class names turned into class ids once at start, and each
 * request's class read from the ublk_class BPF program's array, as the
 * class limiter reads it (filters/limiter.c, docs/filters.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "filters/chain.h"
#include "filters/limiter.h"
#include "loader/policy_compile.h"
#include "loader/policy_maps.h"

/* Set the bit of every class of @policy named in @names ("a+b"); -ENOENT for a stranger. */
static int mark_names(struct cache *c, const char *policy, char *names)
{
	char (*cls)[SLUICE_CLASS_NAME_LEN] = NULL;
	struct class_limits *st = NULL;
	struct policy_image img;
	char *name, *save;
	unsigned int id;
	int err;

	err = policy_maps_read(&img);
	if (err)
		return err;
	err = -ENOMEM;
	st = calloc(SLUICE_MAX_CLASSES, sizeof(*st));
	cls = calloc(SLUICE_MAX_CLASSES, sizeof(*cls));
	if (!st || !cls)
		goto out;
	err = class_limits_static(&img, policy, st, cls);
	if (err)
		goto out;
	for (name = strtok_r(names, "+", &save); name; name = strtok_r(NULL, "+", &save)) {
		for (id = 0; id < SLUICE_MAX_CLASSES; id++)
			if (cls[id][0] && !strcmp(cls[id], name))
				break;
		if (id == SLUICE_MAX_CLASSES) {
			/* the policy was applied again without it */
			err = -ENOENT;
			goto out;
		}
		c->bypass[id / 64] |= 1ull << (id % 64);
	}
	err = 0;
out:
	free(cls);
	free(st);
	policy_image_free(&img);
	return err;
}

int cache_classes_init(struct cache *c, const char *policy, char *names)
{
	bool loaded;
	int err;

	if (!names[0])
		return 0;
	if (!policy[0])
		return -EINVAL;
	err = mark_names(c, policy, names);
	if (err)
		return err;
	err = ublk_class_ensure(&loaded);
	if (err)
		return err;
	err = ublk_class_map_open(&c->classes);
	if (err)
		return err;
	c->have_bypass = true;
	return 0;
}

void cache_classes_fini(struct cache *c)
{
	ublk_class_map_close(&c->classes);
}

bool cache_class_bypassed(struct filter *f, const struct filter_req *req)
{
	struct cache *c = f->priv;
	unsigned int id;

	if (!c->have_bypass || f->chain->dev_id < 0)
		return false;
	id = ublk_class_get(&c->classes, (unsigned int)f->chain->dev_id, req->queue, req->tag);
	return id < SLUICE_MAX_CLASSES && (c->bypass[id / 64] >> (id % 64) & 1);
}
