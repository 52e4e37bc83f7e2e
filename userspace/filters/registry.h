/* SPDX-License-Identifier: GPL-2.0 */
/*
 * registry.h - the filters sluice knows by name, and the filter lists of
 * the built-in policies. A filter list ("spec") is the text a state file
 * keeps: filters separated by spaces, each "name" or "name:args", top of
 * the chain first. The empty spec is passthrough.
 */
#ifndef SLUICE_FILTER_REGISTRY_H
#define SLUICE_FILTER_REGISTRY_H

#include "filters/filter.h"

extern const struct filter_ops cache_filter_ops;
extern const struct filter_ops count_filter_ops;
extern const struct filter_ops crypt_filter_ops;
extern const struct filter_ops journal_filter_ops;
extern const struct filter_ops limiter_filter_ops;
extern const struct filter_ops tick_filter_ops;

/*
 * Bytes of a spec with its NUL: room for crypt, journal with a replica and
 * cache with long paths. The state file keeps it (STATE_FILTERS_MAX).
 */
#define FILTER_SPEC_MAX		4096

/* The filter called @name, or NULL. */
const struct filter_ops *filter_ops_lookup(const char *name);

/*
 * The filter spec of built-in policy @policy into spec; -ENOENT if there is
 * no such policy.
 */
int policy_builtin_spec(const char *policy, const char **spec);

/* Comma-separated names of the built-in policies, for error messages. */
const char *policy_builtin_names(void);

/*
 * Split a spec into at most max filters. names/args point into buf (a copy
 * of the spec the caller provides, modified in place). Returns the number of
 * filters, -E2BIG if more than max, -ENOENT if a name is unknown (its index
 * in *bad).
 */
int filter_spec_parse(char *buf, const struct filter_ops **ops, const char **args, int max,
		      int *bad);

#endif /* SLUICE_FILTER_REGISTRY_H */
