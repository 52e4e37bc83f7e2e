/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve_schema.h - serve's ad hoc flags for a service checked by the policy
 * schema's own table (loader/service/), so a flag and its policy key accept
 * the same values.
 */
#ifndef SLUICE_CMD_SERVE_SCHEMA_H
#define SLUICE_CMD_SERVE_SCHEMA_H

#include "loader/service.h"

/*
 * @arg for @flag as the schema's duration @param of @ops: within its
 * bounds. 0, or -EINVAL after one message (@example: a value to suggest).
 */
int serve_schema_duration(const struct service_ops *ops, const char *param, const char *flag,
			  const char *arg, const char *example);

/* @arg for @flag as the schema's enum @param of @ops: parse_enum_argument() on its values. */
int serve_schema_enum(const struct service_ops *ops, const char *param, const char *flag,
		      const char *arg);

#endif
