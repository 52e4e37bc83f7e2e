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

#endif /* SLUICE_FILTERS_FROM_POLICY_H */
