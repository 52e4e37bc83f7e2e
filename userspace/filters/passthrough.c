// SPDX-License-Identifier: GPL-2.0
/*
 * passthrough.c - the filter registry and the built-in policies.
 * Passthrough is the empty chain: requests go straight to the backing.
 * Applied policies bring their own filter lists (filters/from_policy.c);
 * these built-in names work with or without one.
 */
#include <errno.h>
#include <string.h>

#include "lib/macro.h"
#include "filters/registry.h"

static const struct filter_ops *const known_filters[] = {
	&cache_filter_ops,
	&count_filter_ops,
	&crypt_filter_ops,
	&journal_filter_ops,
	&limiter_filter_ops,
	&tick_filter_ops,
};

static const struct {
	const char *name;
	const char *spec;
} builtin_policies[] = {
	{ "passthrough",	"" },
	{ "count",		"count" },
	{ "tick",		"tick" },
};


const struct filter_ops *filter_ops_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known_filters); i++)
		if (!strcmp(known_filters[i]->name, name))
			return known_filters[i];
	return NULL;
}

int policy_builtin_spec(const char *policy, const char **spec)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(builtin_policies); i++) {
		if (!strcmp(builtin_policies[i].name, policy)) {
			*spec = builtin_policies[i].spec;
			return 0;
		}
	}
	return -ENOENT;
}

const char *policy_builtin_names(void)
{
	return "passthrough, count, tick";
}

int filter_spec_parse(char *buf, const struct filter_ops **ops, const char **args, int max,
		      int *bad)
{
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(tok, ':');

		if (n >= max)
			return -E2BIG;
		if (colon)
			*colon = '\0';
		ops[n] = filter_ops_lookup(tok);
		if (!ops[n]) {
			*bad = n;
			return -ENOENT;
		}
		args[n] = colon ? colon + 1 : "";
		n++;
	}
	return n;
}
