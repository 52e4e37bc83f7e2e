// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader/policy_compile.h"

struct out {
	struct policy_image *img;
	int err;
};

union sluice_policy_val *policy_image_add(struct policy_image *img, unsigned int kind,
					 uint64_t id, int *err)
{
	struct policy_entry *e;
	size_t i;

	/* one cgroup can appear in several rules; its ancestry entry is written once */
	if (kind == SLUICE_PK_CGROUP)
		for (i = 0; i < img->nr_ents; i++)
			if (img->ents[i].key.kind == kind && img->ents[i].key.id == id)
				return &img->ents[i].val;
	if (img->nr_ents >= SLUICE_POLICY_MAX_ENTRIES) {
		*err = -E2BIG;
		return NULL;
	}
	/* capacity is the next power of two, so no separate field is needed */
	if (!(img->nr_ents & (img->nr_ents - 1))) {
		e = realloc(img->ents, (img->nr_ents ? img->nr_ents * 2 : 1) * sizeof(*e));
		if (!e) {
			*err = -ENOMEM;
			return NULL;
		}
		img->ents = e;
	}
	e = &img->ents[img->nr_ents++];
	memset(e, 0, sizeof(*e));
	e->key.kind = kind;
	e->key.id = id;
	return &e->val;
}

static union sluice_policy_val *add(struct out *o, unsigned int kind, uint64_t id)
{
	if (o->err)
		return NULL;
	return policy_image_add(o->img, kind, id, &o->err);
}

int policy_selector_str(const struct pol_binding *b, char *buf, size_t len)
{
	return snprintf(buf, len, "%s:%s", pol_sel_name(b->kind), b->value ? b->value : "");
}

/*
 * The ancestry of a cgroup is not in the set (only its own id and level),
 * so the entry records what is known: the cgroup at its level. The loader
 * fills the descendants (policy_maps_add_descendants) when it has the tree.
 */
static void add_cgroup(struct out *o, const struct pol_cgroup *cg)
{
	union sluice_policy_val *v = add(o, SLUICE_PK_CGROUP, cg->id);

	if (!v)
		return;
	v->cgroup.level = cg->level;
	v->cgroup.ids[cg->level & (SLUICE_CGROUP_LEVELS - 1)] = cg->id;
}

static void compile_policy(struct out *o, const struct pol_policy *p, unsigned int pid,
			   unsigned int *next_rule, unsigned int *next_class)
{
	union sluice_policy_val *v, *info;
	const struct pol_class *cl;
	struct pol_class dflt = { .name = "default", .shares = 1000 };
	size_t i, j, nc = p->nr_classes ? p->nr_classes : 1, info_idx;

	info = add(o, SLUICE_PK_POLICY, pid);
	if (!info)
		return;
	/* later adds may move the array: remember the entry by index */
	info_idx = o->img->nr_ents - 1;
	snprintf(info->policy.name, sizeof(info->policy.name), "%s", p->name);
	info->policy.latency_target_ns = p->latency_ns;
	info->policy.flags = (p->meter ? SLUICE_DISK_F_METER : 0) |
			     (p->throttle ? SLUICE_DISK_F_THROTTLE : 0);
	info->policy.throttle_interval_ms = (unsigned int)(p->throttle_interval_ns / 1000000);
	info->policy.first_class = *next_class;
	info->policy.nr_classes = (unsigned int)nc;
	info->policy.first_rule = *next_rule;
	for (i = 0; i < nc; i++) {
		unsigned int cid = (*next_class)++;

		cl = p->nr_classes ? &p->classes[i] : &dflt;
		v = add(o, SLUICE_PK_CLASS, cid);
		if (!v)
			return;
		snprintf(v->limits.name, sizeof(v->limits.name), "%s", cl->name);
		v->limits.policy_id = pid;
		v->limits.riops = cl->limits.riops;
		v->limits.wiops = cl->limits.wiops;
		v->limits.rbps = cl->limits.rbps;
		v->limits.wbps = cl->limits.wbps;
		v->limits.reserve_iops = cl->reserve;
		v->limits.pct_mask = cl->limits.pct_mask;
		v->limits.shares = cl->shares;
		v->limits.latency_target_us = (unsigned int)(cl->latency_ns / 1000);
		for (j = 0; j < (cl->nr_cgroups ? cl->nr_cgroups : 1); j++) {
			unsigned int rid = (*next_rule)++;
			const struct pol_cgroup *cg = cl->nr_cgroups ? &cl->cgroups[j] : NULL;

			v = add(o, SLUICE_PK_RULE, rid);
			if (!v)
				return;
			v->rule.class_id = cid;
			v->rule.policy_id = pid;
			v->rule.op_mask = cl->op_mask;
			v->rule.min_bytes = (unsigned int)cl->min_bytes;
			v->rule.max_bytes = (unsigned int)cl->max_bytes;
			if (!cg)
				continue;
			v->rule.cgroup_id = cg->id;
			v->rule.cgroup_level = cg->level;
			v = add(o, SLUICE_PK_RULE_CGROUP, rid);
			if (!v)
				return;
			snprintf(v->path.path, sizeof(v->path.path), "%s", cg->path);
			if (cg->id)
				add_cgroup(o, cg);
		}
	}
	info = &o->img->ents[info_idx].val;
	info->policy.nr_rules = *next_rule - info->policy.first_rule;
	if (p->description) {
		v = add(o, SLUICE_PK_POLICY_TEXT, pid);
		if (v)
			snprintf(v->path.path, sizeof(v->path.path), "%s", p->description);
	}
}

static int chain_text(const struct policy_set *set, const struct pol_binding *b,
		      uint64_t generation, char **text)
{
	const struct pol_policy *p = &set->policies[b->policy];
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	fprintf(f, "# sluice filter chain, written by 'sluice policy apply'; do not edit\n");
	fprintf(f, "version=1\ngeneration=%" PRIu64 "\npolicy=%s\n", generation, p->name);
	fprintf(f, "selector=%s:%s\n", pol_sel_name(b->kind), b->value);
	if (b->kind == SEL_SERVED)
		fprintf(f, "backing=%s\n", b->value);
	if (b->resolved && b->major)
		fprintf(f, "dev=%u:%u\n", b->major, b->minor);
	/* services[] is chain order, application side first: crypt -> journal -> cache */
	for (i = 0; i < NR_SERVICES; i++)
		service_chain_write(f, services[i], &p->svc[i]);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*text = buf;
	return 0;
}

static int add_limits(struct policy_image *img, const struct policy_set *set, unsigned int bi)
{
	const struct pol_binding *b = &set->bindings[bi];
	const struct pol_policy *p = &set->policies[b->policy];
	const struct pol_class *cl;
	struct policy_cg_limit *l;
	size_t i, j;
	unsigned int pm;

	if (!b->resolved || !b->major)
		return 0;
	for (i = 0; i < p->nr_classes; i++) {
		cl = &p->classes[i];
		pm = cl->limits.pct_mask;
		for (j = 0; j < cl->nr_cgroups; j++) {
			if (!cl->cgroups[j].dir || cl->cgroups[j].ver == POL_CG_NONE)
				continue;
			if ((!cl->limits.riops || pm & SLUICE_LIM_PCT_RIOPS) &&
			    (!cl->limits.wiops || pm & SLUICE_LIM_PCT_WIOPS) &&
			    (!cl->limits.rbps || pm & SLUICE_LIM_PCT_RBPS) &&
			    (!cl->limits.wbps || pm & SLUICE_LIM_PCT_WBPS))
				continue;
			l = realloc(img->limits, (img->nr_limits + 1) * sizeof(*l));
			if (!l)
				return -ENOMEM;
			img->limits = l;
			l = &img->limits[img->nr_limits];
			memset(l, 0, sizeof(*l));
			l->dir = strdup(cl->cgroups[j].dir);
			l->class_name = strdup(cl->name);
			if (!l->dir || !l->class_name) {
				free(l->dir);
				free(l->class_name);
				return -ENOMEM;
			}
			img->nr_limits++;
			l->ver = cl->cgroups[j].ver;
			l->major = b->major;
			l->minor = b->minor;
			l->binding = bi;
			/* a share of peak is the throttle's business, not a static limit */
			l->riops = pm & SLUICE_LIM_PCT_RIOPS ? 0 : cl->limits.riops;
			l->wiops = pm & SLUICE_LIM_PCT_WIOPS ? 0 : cl->limits.wiops;
			l->rbps = pm & SLUICE_LIM_PCT_RBPS ? 0 : cl->limits.rbps;
			l->wbps = pm & SLUICE_LIM_PCT_WBPS ? 0 : cl->limits.wbps;
		}
	}
	return 0;
}

int policy_compile(const struct policy_set *set, uint64_t generation, struct policy_image *img)
{
	struct out o = { .img = img };
	unsigned int next_rule = 0, next_class = 1, *first_rule = NULL, *nr_rules = NULL;
	union sluice_policy_val *v, *meta;
	const struct pol_binding *b;
	size_t i;
	int err;

	memset(img, 0, sizeof(*img));
	meta = add(&o, SLUICE_PK_META, 0);
	if (!meta)
		return o.err;
	meta->meta.generation = generation;
	meta->meta.applied_at = (unsigned long long)time(NULL);
	first_rule = calloc(set->nr_policies + 1, sizeof(*first_rule));
	nr_rules = calloc(set->nr_policies + 1, sizeof(*nr_rules));
	if (!first_rule || !nr_rules) {
		err = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < set->nr_policies; i++) {
		first_rule[i] = next_rule;
		compile_policy(&o, &set->policies[i], (unsigned int)i + 1, &next_rule, &next_class);
		nr_rules[i] = next_rule - first_rule[i];
	}
	img->chains = calloc(set->nr_bindings + 1, sizeof(*img->chains));
	if (!img->chains) {
		err = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < set->nr_bindings; i++) {
		b = &set->bindings[i];
		if (b->policy < 0)
			continue;
		v = add(&o, SLUICE_PK_BINDING, i);
		if (!v)
			break;
		v->binding.dev = b->resolved ? pol_kdev(b->major, b->minor) : 0;
		v->binding.policy_id = (unsigned int)b->policy + 1;
		policy_selector_str(b, v->binding.selector, sizeof(v->binding.selector));
		if (b->resolved && b->major) {
			v = add(&o, SLUICE_PK_DISK, pol_kdev(b->major, b->minor));
			if (!v)
				break;
			v->disk.policy_id = (unsigned int)b->policy + 1;
			v->disk.first_rule = first_rule[b->policy];
			v->disk.nr_rules = nr_rules[b->policy];
			v->disk.flags = (set->policies[b->policy].meter ? SLUICE_DISK_F_METER : 0) |
					(set->policies[b->policy].throttle ? SLUICE_DISK_F_THROTTLE : 0);
		}
		img->chains[img->nr_chains].binding = (unsigned int)i;
		err = chain_text(set, b, generation, &img->chains[img->nr_chains].text);
		if (err)
			goto out_free;
		img->nr_chains++;
		err = add_limits(img, set, (unsigned int)i);
		if (err)
			goto out_free;
	}
	err = o.err;
	if (err)
		goto out_free;
	meta = &img->ents[0].val;
	meta->meta.nr_policies = (unsigned int)set->nr_policies;
	meta->meta.nr_bindings = (unsigned int)set->nr_bindings;
	meta->meta.nr_rules = next_rule;
	meta->meta.nr_classes = next_class - 1;
	free(first_rule);
	free(nr_rules);
	return 0;

out_free:
	free(first_rule);
	free(nr_rules);
	policy_image_free(img);
	return err;
}

void policy_image_free(struct policy_image *img)
{
	size_t i;

	if (!img)
		return;
	for (i = 0; i < img->nr_chains; i++)
		free(img->chains[i].text);
	for (i = 0; i < img->nr_limits; i++) {
		free(img->limits[i].dir);
		free(img->limits[i].class_name);
	}
	free(img->chains);
	free(img->limits);
	free(img->ents);
	memset(img, 0, sizeof(*img));
}
