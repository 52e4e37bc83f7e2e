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
