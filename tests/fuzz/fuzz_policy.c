// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_policy - libFuzzer harness for everything that reads policy text:
 * the YAML parser, the checker (without touching the machine), the
 * compiler, the filter-chain files the compiler writes (each service
 * parameter must read back as checked), and the same input
 * read as a chain file (the ublk server reads those).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader/policy.h"
#include "loader/policy_chain.h"
#include "loader/policy_compile.h"
#include "lib/units.h"
#include "loader/service.h"

static void chain_roundtrip(const char *text)
{
	struct policy_chain_desc c;

	if (!policy_chain_parse(text, &c))
		policy_chain_free(&c);
}

/*
 * What check accepted must reach the server intact: every service parameter
 * reads back from the chain file as written, and fits one word of a filter
 * spec ("name:k=v,k=v", filters split by blanks).
 */
static void chain_matches(const struct pol_policy *p, const char *text)
{
	const struct pol_service *s;
	const struct chain_filter *f;
	struct policy_chain_desc c;
	const char *v, *want;
	size_t i, j, k;

	if (policy_chain_parse(text, &c))
		abort();
	for (i = 0; i < c.nr_filters; i++) {
		f = &c.filters[i];
		for (k = 0; k < NR_SERVICES && strcmp(services[k]->filter, f->type); k++)
			;
		if (k == NR_SERVICES || p->svc[k].state != POL_SVC_ON)
			abort();
		s = &p->svc[k];
		for (j = 0; j < f->nr_params; j++)
			if (svc_spec_unsafe(f->keys[j]) || svc_spec_unsafe(f->vals[j]))
				abort();
		for (j = 0; j < services[k]->nr_params; j++) {
			v = chain_param(f, services[k]->params[j].name);
			want = svc_str(s, (int)j);
			if (!v != !want || (v && strcmp(v, want)))
				abort();
		}
	}
	policy_chain_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct policy_opts opts = { .resolve = false };
	struct policy_diags d = {};
	struct policy_image img;
	struct policy_set set;
	struct policy_doc *doc;
	struct unit_val uv;
	char *text;
	size_t i;

	if (size > POLICY_MAX_BYTES)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	chain_roundtrip(text);
	for (i = 0; i <= UNIT_COUNT; i++)
		units_parse((enum unit_kind)i, text, &uv);

	doc = calloc(1, sizeof(*doc));
	if (doc && !policy_parse_buf("fuzz.yaml", (const char *)data, size, doc, &d)) {
		if (!policy_check_docs(doc, 1, &opts, &set, &d) && !d.n) {
			if (!policy_compile(&set, 1, &img)) {
				for (i = 0; i < img.nr_chains; i++)
					chain_matches(&set.policies[set.bindings[img.chains[i].binding].policy],
						      img.chains[i].text);
				policy_image_free(&img);
			}
		}
		policy_set_free(&set);
	} else {
		free(doc);
	}
	policy_diags_sort(&d);
	policy_diags_free(&d);
	free(text);
	return 0;
}
