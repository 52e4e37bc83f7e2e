// SPDX-License-Identifier: GPL-2.0
/*
 * policy.c - an applied policy generation as the throttle's settings; see
 * policy.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader/policy_compile.h"
#include "throttle/policy.h"

/* Generations hold a few hundred entries at most: a scan is cheap. */
static const union sluice_policy_val *find(const struct policy_image *img, unsigned int kind,
					   uint64_t id)
{
	size_t i;

	for (i = 0; i < img->nr_ents; i++)
		if (img->ents[i].key.kind == kind && img->ents[i].key.id == id)
			return &img->ents[i].val;
	return NULL;
}

/* The smaller of two intervals, 0 meaning "none asked for". */
static uint64_t min_asked(uint64_t a, uint64_t b)
{
	if (!a || (b && b < a))
		return b;
	return a;
}

static void class_cfg(const struct sluice_class_limits *l, unsigned int nr_cgroups,
		      struct throttle_class_cfg *cc)
{
	memset(cc, 0, sizeof(*cc));
	/* io.max is per cgroup: the class's weight and floor are split among
	 * its cgroups, its static limits hold in each (as policy apply
	 * writes them). */
	cc->shares = l->shares / nr_cgroups ? l->shares / nr_cgroups : 1;
	cc->reserve_iops = l->reserve_iops / nr_cgroups;
	if ((l->pct_mask & SLUICE_LIM_PCT_RESERVE) && l->reserve_iops && !cc->reserve_iops)
		cc->reserve_iops = 1;
	cc->iops[THROTTLE_READ] = l->riops;
	cc->iops[THROTTLE_WRITE] = l->wiops;
	cc->bps[THROTTLE_READ] = l->rbps;
	cc->bps[THROTTLE_WRITE] = l->wbps;
	cc->pct_mask = l->pct_mask;
	cc->latency_target_ns = (uint64_t)l->latency_target_us * 1000;
}

/* Rule cgroup paths of class @cid in rules [first, first + nr), deduplicated. */
static unsigned int class_cgroups(const struct policy_image *img, unsigned int cid,
				  unsigned int first, unsigned int nr,
				  const char *paths[THROTTLE_MAX_CLASSES + 1])
{
	const union sluice_policy_val *r, *p;
	unsigned int i, j, n = 0;

	for (i = first; i < first + nr; i++) {
		r = find(img, SLUICE_PK_RULE, i);
		if (!r || r->rule.class_id != cid)
			continue;
		p = find(img, SLUICE_PK_RULE_CGROUP, i);
		if (!p || !p->path.path[0])
			continue;
		for (j = 0; j < n; j++)
			if (!strcmp(paths[j], p->path.path))
				break;
		if (j < n)
			continue;
		paths[n++] = p->path.path;
		if (n > THROTTLE_MAX_CLASSES)
			break;
	}
	return n;
}

static int add_disk(const struct policy_image *img, unsigned int dev,
		    const struct sluice_disk_policy *dp, struct throttle_policy_disk *td)
{
	const char *paths[THROTTLE_MAX_CLASSES + 1];
	const union sluice_policy_val *pi, *cl;
	unsigned int i, j, n, cid;

	pi = find(img, SLUICE_PK_POLICY, dp->policy_id);
	if (!pi)
		return -EINVAL;
	memset(td, 0, sizeof(*td));
	td->maj = SLUICE_MAJOR(dev);
	td->min = SLUICE_MINOR(dev);
	memcpy(td->policy, pi->policy.name, sizeof(td->policy));
	td->policy[sizeof(td->policy) - 1] = '\0';
	td->interval_ns = pi->policy.throttle_interval_ms * 1000000ULL;
	if (pi->policy.latency_target_ns) {
		td->cfg.mode = THROTTLE_MODE_LATENCY;
		td->cfg.threshold_ns = pi->policy.latency_target_ns;
	} else {
		td->cfg.mode = THROTTLE_MODE_PEAK;
		td->cfg.peak_pct = THROTTLE_POLICY_PEAK_PCT;
	}
	for (i = 0; i < pi->policy.nr_classes; i++) {
		cid = pi->policy.first_class + i;
		cl = find(img, SLUICE_PK_CLASS, cid);
		if (!cl)
			return -EINVAL;
		n = class_cgroups(img, cid, dp->first_rule, dp->nr_rules, paths);
		if (!n) {
			td->unpoliced++;
			continue;
		}
		if (td->cfg.nr_classes + n > THROTTLE_MAX_CLASSES)
			return -E2BIG;
		for (j = 0; j < n; j++) {
			struct throttle_policy_class *pc = &td->cls[td->cfg.nr_classes];

			pc->class_id = cid;
			memcpy(pc->name, cl->limits.name, sizeof(pc->name));
			pc->name[sizeof(pc->name) - 1] = '\0';
			strncpy(pc->cgroup, paths[j], sizeof(pc->cgroup) - 1);
			class_cfg(&cl->limits, n, &td->cfg.cls[td->cfg.nr_classes]);
			td->cfg.nr_classes++;
		}
	}
	return 0;
}

int throttle_policy_from_image(const struct policy_image *img, struct throttle_policy *tp)
{
	const union sluice_policy_val *meta;
	size_t i;
	int err;

	memset(tp, 0, sizeof(*tp));
	meta = find(img, SLUICE_PK_META, 0);
	if (!meta)
		return -ENOENT;
	tp->generation = meta->meta.generation;
	for (i = 0; i < img->nr_ents; i++) {
		const struct policy_entry *e = &img->ents[i];

		if (e->key.kind != SLUICE_PK_DISK || !(e->val.disk.flags & SLUICE_DISK_F_THROTTLE))
			continue;
		if (tp->nr_disks >= THROTTLE_POLICY_MAX_DISKS)
			return -E2BIG;
		err = add_disk(img, (unsigned int)e->key.id, &e->val.disk,
			       &tp->disks[tp->nr_disks]);
		if (err)
			return err;
		tp->interval_ns = min_asked(tp->interval_ns, tp->disks[tp->nr_disks].interval_ns);
		tp->nr_disks++;
	}
	return 0;
}

uint64_t throttle_interval_pick(uint64_t cli_ns, const uint64_t *asked_ns, unsigned int n)
{
	uint64_t ns = 0;
	unsigned int i;

	if (cli_ns)
		return cli_ns;
	for (i = 0; i < n; i++)
		ns = min_asked(ns, asked_ns[i]);
	return ns ? ns : THROTTLE_DEF_INTERVAL_NS;
}

/* @path with no trailing '/', under @root when relative, into buf. */
static void abs_dir(const char *root, const char *path, char *buf, size_t len)
{
	size_t n;

	if (path[0] == '/' || !root)
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s/%s", root, path);
	n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
}

int throttle_policy_class_of(const struct policy_image *img, unsigned int maj, unsigned int min,
			     const char *root, const char *dir, unsigned int *class_id)
{
	char want[SLUICE_POLICY_PATH_LEN + 256], have[SLUICE_POLICY_PATH_LEN + 256];
	const union sluice_policy_val *dp, *r, *p;
	unsigned int i;

	dp = find(img, SLUICE_PK_DISK, SLUICE_MKDEV(maj, min));
	if (!dp || !dp->disk.policy_id)
		return -ENOENT;
	abs_dir(NULL, dir, want, sizeof(want));
	/* rule order: the class the classifier gives that cgroup's own I/O */
	for (i = dp->disk.first_rule; i < dp->disk.first_rule + dp->disk.nr_rules; i++) {
		r = find(img, SLUICE_PK_RULE, i);
		p = find(img, SLUICE_PK_RULE_CGROUP, i);
		if (!r || !p || !p->path.path[0])
			continue;
		abs_dir(root, p->path.path, have, sizeof(have));
		if (!strcmp(have, want)) {
			*class_id = r->rule.class_id;
			return 0;
		}
	}
	return -ENOENT;
}
