// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "filters/from_policy.h"
#include "filters/registry.h"
#include "filters/limiter.h"

static int append(char *spec, size_t len, size_t *used, const char *fmt, const char *a,
		  const char *b)
{
	int n = snprintf(spec + *used, len - *used, fmt, a, b);

	if (n < 0 || (size_t)n >= len - *used)
		return -ENAMETOOLONG;
	*used += (size_t)n;
	return 0;
}

int filter_spec_from_chain(const struct policy_chain_desc *c, char *spec, size_t len,
			   const char **missing)
{
	const struct chain_filter *f;
	size_t used = 0, i, j;
	int err = 0;

	*missing = NULL;
	if (!len)
		return -ENAMETOOLONG;
	spec[0] = '\0';
	/* check every filter first: a refused chain must not half-build */
	for (i = 0; i < c->nr_filters; i++) {
		if (!filter_ops_lookup(c->filters[i].type)) {
			*missing = c->filters[i].type;
			return -EOPNOTSUPP;
		}
	}
	for (i = 0; i < c->nr_filters && !err; i++) {
		f = &c->filters[i];
		err = append(spec, len, &used, "%s%s", used ? " " : "", f->type);
		for (j = 0; j < f->nr_params && !err; j++) {
			err = append(spec, len, &used, "%s%s", j ? "," : ":", "");
			if (!err)
				err = append(spec, len, &used, "%s=%s", f->keys[j], f->vals[j]);
		}
		/* class names (bypass_classes) mean something only with their policy's */
		if (!err && c->policy && chain_param(f, "bypass_classes"))
			err = append(spec, len, &used, ",policy=%s%s", c->policy, "");
	}
	if (err)
		spec[0] = '\0';
	return err;
}

int filter_spec_add_throttle(char *spec, size_t len, const char *policy, bool *added)
{
	char *old;
	int n;

	*added = false;
	if (!limiter_policy_wants(policy))
		return 0;
	old = strdup(spec);
	if (!old)
		return -ENOMEM;
	/* first: a request waits for its class's turn before any filter works on it */
	n = snprintf(spec, len, "throttle:policy=%s%s%s", policy, old[0] ? " " : "", old);
	if (n < 0 || (size_t)n >= len) {
		snprintf(spec, len, "%s", old);
		free(old);
		return -ENAMETOOLONG;
	}
	free(old);
	*added = true;
	return 0;
}

/* The applied policy's chain as the disk's filters; nothing is created yet. */
static int choose_bound(const struct policy_chain_desc *c, struct filter_spec_choice *ch)
{
	const char *missing;
	bool added;
	int err;

	err = filter_spec_from_chain(c, ch->spec, sizeof(ch->spec), &missing);
	if (err == -EOPNOTSUPP)
		snprintf(ch->missing, sizeof(ch->missing), "%s", missing);
	if (err)
		return err;
	ch->throttle = limiter_policy_wants(c->policy);
	err = filter_spec_add_throttle(ch->spec, sizeof(ch->spec), c->policy, &added);
	if (err)
		return err;
	ch->from_binding = true;
	snprintf(ch->policy, sizeof(ch->policy), "%s", c->policy);
	return 0;
}

int filter_spec_choose(const char *run_dir, const char *backing, const char *name,
		       struct filter_spec_choice *ch)
{
	struct policy_chain_desc c;
	const char *spec;
	int err;

	memset(ch, 0, sizeof(*ch));
	err = policy_chain_find(run_dir, backing, &c);
	if (err && err != -ENOENT) {
		ch->find_failed = true;
		return err;
	}
	ch->is_bound = !err;
	if (ch->is_bound)
		snprintf(ch->bound, sizeof(ch->bound), "%s", c.policy ? c.policy : "");
	if (ch->is_bound && (!name || !strcmp(name, ch->bound))) {
		err = choose_bound(&c, ch);
		policy_chain_free(&c);
		return err;
	}
	if (ch->is_bound)
		policy_chain_free(&c);
	if (!name)
		name = "passthrough";
	if (policy_builtin_spec(name, &spec))
		return -ENOENT;
	snprintf(ch->policy, sizeof(ch->policy), "%s", name);
	snprintf(ch->spec, sizeof(ch->spec), "%s", spec);
	return 0;
}
