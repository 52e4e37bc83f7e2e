/* SPDX-License-Identifier: GPL-2.0 */
/*
 * from_policy.h - the filter spec (filters/registry.h) of an applied
 * policy's chain (loader/policy_chain.h), for 'sluice serve'. The policy
 * side and the server meet here: the chain says which data services the
 * disk needs, the registry says which filters this build has.
 */
#ifndef SLUICE_FILTERS_FROM_POLICY_H
#define SLUICE_FILTERS_FROM_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "filters/registry.h"
#include "loader/policy_chain.h"

/*
 * Write the spec of @c into spec: its filter= lines in chain order, each
 * "type" or "type:k=v,k=v"; nofilter= lines need nothing. Keys and values
 * pass unchanged: a data service's are its table's YAML names and
 * spellings (loader/service.h), which 'policy check' keeps free of blanks,
 * ',' and '=', and which 'policy status' compares with the policy. -EOPNOTSUPP when
 * a filter is not in this build (*missing names it), -ENAMETOOLONG.
 */
int filter_spec_from_chain(const struct policy_chain_desc *c, char *spec, size_t len,
			   const char **missing);

/*
 * Put the throttle filter first in @spec when applied policy @policy
 * limits its classes (throttle: true or a static class limit), as read
 * from the pinned policy map; *added says whether it did. -ENAMETOOLONG
 * (spec unchanged) or -ENOMEM.
 */
int filter_spec_add_throttle(char *spec, size_t len, const char *policy, bool *added);

/* Which policy and filters a new disk gets, and why: filter_spec_choose(). */
struct filter_spec_choice {
	char policy[64];		/* the policy the disk is served with */
	char spec[FILTER_SPEC_MAX];	/* its filters */
	char bound[64];			/* the applied policy bound to the backing, or "" */
	bool is_bound;			/* the backing has a binding */
	bool from_binding;		/* spec is the bound policy's chain */
	bool throttle;			/* the class throttle is (or was to be) put first */
	bool find_failed;		/* reading the applied chains failed: the error is theirs */
	char missing[16];		/* -EOPNOTSUPP: the filter this build lacks */
};

/*
 * The chain of a new disk over @backing in @run_dir: the applied policy
 * bound to it when @name is NULL or names it, else built-in policy @name
 * (NULL: passthrough); *ch says which (a built-in chosen over a binding
 * leaves is_bound set and from_binding clear). Returns 0, -ENOENT (no such
 * policy for this backing), -EOPNOTSUPP (a filter not in this build,
 * ch->missing), -ENAMETOOLONG (the chain does not fit a spec; ch->throttle
 * when the class throttle made it too long), or policy_chain_find()'s
 * -errno with ch->find_failed.
 */
int filter_spec_choose(const char *run_dir, const char *backing, const char *name,
		       struct filter_spec_choice *ch);

#endif /* SLUICE_FILTERS_FROM_POLICY_H */
