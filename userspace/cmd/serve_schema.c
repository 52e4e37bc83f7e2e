// SPDX-License-Identifier: GPL-2.0
/*
 * serve_schema.c - serve's service flags checked against the policy schema.
 * A duration is read in the policy's grammar, a unit always (the text goes on
 * to the filter's spec as it is), not args.h's, where a bare number is seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/serve_schema.h"
#include "lib/log.h"
#include "lib/units.h"

int serve_schema_duration(const struct service_ops *ops, const char *param, const char *flag,
			  const char *arg, const char *example)
{
	int i = service_param_index(ops, param);
	char lo[32], hi[32];
	uint64_t v;

	if (i < 0)
		return -EINVAL;
	if (!units_parse_abs(UNIT_DURATION, arg, &v) && v >= ops->params[i].min &&
	    v <= ops->params[i].max)
		return 0;
	units_format(UNIT_DURATION, ops->params[i].min, lo, sizeof(lo));
	units_format(UNIT_DURATION, ops->params[i].max, hi, sizeof(hi));
	log_err("%s '%s': give a duration from %s to %s, e.g. %s", flag, arg, lo, hi, example);
	return -EINVAL;
}

int serve_schema_enum(const struct service_ops *ops, const char *param, const char *flag,
		      const char *arg)
{
	int i = service_param_index(ops, param);
	unsigned int idx;
	size_t n = 0;

	if (i < 0 || !ops->params[i].vals)
		return -EINVAL;
	while (ops->params[i].vals[n])
		n++;
	return parse_enum_argument(flag, arg, ops->params[i].vals, n, &idx);
}
