// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/policy_chain.h"

void policy_chain_free(struct policy_chain_desc *c)
{
	size_t i, j;

	if (!c)
		return;
	for (i = 0; i < c->nr_filters; i++) {
		for (j = 0; j < c->filters[i].nr_params; j++) {
			free(c->filters[i].keys[j]);
			free(c->filters[i].vals[j]);
		}
	}
	free(c->policy);
	free(c->selector);
	free(c->backing);
	memset(c, 0, sizeof(*c));
}

const char *chain_param(const struct chain_filter *f, const char *key)
{
	size_t i;

	for (i = 0; i < f->nr_params; i++)
		if (!strcmp(f->keys[i], key))
			return f->vals[i];
	return NULL;
}

static int parse_filter(char *spec, struct policy_chain_desc *c)
{
	struct chain_filter *f;
	char *tok, *save, *eq;

	if (c->nr_filters >= CHAIN_MAX_FILTERS)
		return -EINVAL;
	f = &c->filters[c->nr_filters];
	tok = strtok_r(spec, " ", &save);
	if (!tok || strlen(tok) >= sizeof(f->type))
		return -EINVAL;
	snprintf(f->type, sizeof(f->type), "%s", tok);
	c->nr_filters++;
	while ((tok = strtok_r(NULL, " ", &save))) {
		eq = strchr(tok, '=');
		if (!eq || f->nr_params >= CHAIN_MAX_PARAMS)
			return -EINVAL;
		*eq = '\0';
		f->keys[f->nr_params] = strdup(tok);
		f->vals[f->nr_params] = strdup(eq + 1);
		f->nr_params++;
		if (!f->keys[f->nr_params - 1] || !f->vals[f->nr_params - 1])
			return -ENOMEM;
	}
	return 0;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

int policy_chain_parse(const char *text, struct policy_chain_desc *c)
{
	char *copy, *line, *save, *eq;
	int err = 0;

	memset(c, 0, sizeof(*c));
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line && !err; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || !line[0])
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			err = -EINVAL;
			break;
		}
		*eq++ = '\0';
		if (!strcmp(line, "generation"))
			c->generation = strtoull(eq, NULL, 10);
		else if (!strcmp(line, "policy"))
			err = set_str(&c->policy, eq);
		else if (!strcmp(line, "selector"))
			err = set_str(&c->selector, eq);
		else if (!strcmp(line, "backing"))
			err = set_str(&c->backing, eq);
		else if (!strcmp(line, "dev"))
			err = sscanf(eq, "%u:%u", &c->major, &c->minor) == 2 ? 0 : -EINVAL;
		else if (!strcmp(line, "filter"))
			err = parse_filter(eq, c);
		else if (!strcmp(line, "nofilter") && c->nr_nofilters < CHAIN_MAX_FILTERS)
			snprintf(c->nofilters[c->nr_nofilters++], sizeof(c->nofilters[0]), "%s", eq);
		/* unknown keys are from a newer sluice: ignore them */
	}
	free(copy);
	if (err)
		policy_chain_free(c);
	return err;
}

int policy_chain_load(const char *path, struct policy_chain_desc *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re");
	int err;

	if (!f)
		return -errno;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		err = ferror(f) ? -EIO : -EINVAL;
		fclose(f);
		free(buf);
		return err;
	}
	fclose(f);
	err = policy_chain_parse(buf, c);
	free(buf);
	return err;
}
