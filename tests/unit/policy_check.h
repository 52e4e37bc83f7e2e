/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_check.h - check a policy YAML text in memory and assert its
 * diagnostics word for word, for the unit tests of the policy schema.
 * Include it after <cmocka.h>.
 */
#ifndef SLUICE_TESTS_POLICY_CHECK_H
#define SLUICE_TESTS_POLICY_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/policy.h"

static const struct policy_opts no_resolve = { .resolve = false };

/* Check one YAML text; returns the check's result, diagnostics in @d. */
static int check(const char *yaml, struct policy_set *set, struct policy_diags *d)
{
	struct policy_doc *doc = calloc(1, sizeof(*doc));
	int err;

	assert_non_null(doc);
	memset(d, 0, sizeof(*d));
	err = policy_parse_buf("t.yaml", yaml, strlen(yaml), doc, d);
	if (err) {
		free(doc);
		memset(set, 0, sizeof(*set));
		return err;
	}
	err = policy_check_docs(doc, 1, &no_resolve, set, d);
	policy_diags_sort(d);
	/* the parser's own diagnostics (duplicate keys) count as errors too */
	return err ? err : d->n ? -EINVAL : 0;
}

/* "line:col: msg" of diagnostic @i. */
static void assert_diag(const struct policy_diags *d, size_t i, const char *want)
{
	char got[512];

	assert_true(i < d->n);
	snprintf(got, sizeof(got), "%u:%u: %s", d->v[i].line, d->v[i].col, d->v[i].msg);
	assert_string_equal(got, want);
}

#endif /* SLUICE_TESTS_POLICY_CHECK_H */
