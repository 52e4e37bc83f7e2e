// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
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

	if (c->nr_filters >= POLICY_CHAIN_MAX_FILTERS)
		return -EINVAL;
	f = &c->filters[c->nr_filters];
	tok = strtok_r(spec, " ", &save);
	if (!tok || strlen(tok) >= sizeof(f->type))
		return -EINVAL;
	snprintf(f->type, sizeof(f->type), "%s", tok);
	c->nr_filters++;
	while ((tok = strtok_r(NULL, " ", &save))) {
		eq = strchr(tok, '=');
		if (!eq || f->nr_params >= POLICY_CHAIN_MAX_PARAMS)
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
		else if (!strcmp(line, "nofilter") && c->nr_nofilters < POLICY_CHAIN_MAX_FILTERS)
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

typedef int (*chain_visit_fn)(const char *path, void *arg);

/* Call @fn on every *.chain file of the applied generation, until it returns non-zero. */
static int chain_walk(const char *run_dir, chain_visit_fn fn, void *arg)
{
	char dir[PATH_MAX + 32], p[PATH_MAX + 300];
	struct dirent *de;
	size_t n;
	DIR *d;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s/policy/current/chains", run_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!ret && (de = readdir(d))) {
		n = strlen(de->d_name);
		if (n < 7 || strcmp(de->d_name + n - 6, ".chain"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		ret = fn(p, arg);
	}
	closedir(d);
	return ret;
}

struct find_arg {
	const char *want;
	struct policy_chain_desc *c;
};

/* The backing= line of a chain file that does not parse as a whole, or "". */
static void chain_file_backing(const char *path, char *out, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	out[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (strncmp(line, "backing=", 8))
			continue;
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		snprintf(out, len, "%s", line + 8);
		break;
	}
	free(line);
	fclose(f);
}

static bool same_backing(const char *backing, const char *want)
{
	char have[PATH_MAX];

	return backing && backing[0] && realpath(backing, have) && !strcmp(have, want);
}

static int find_one(const char *path, void *arg)
{
	struct find_arg *a = arg;
	char backing[PATH_MAX];
	bool match;
	int err;

	err = policy_chain_load(path, a->c);
	if (err) {
		/*
		 * A chain this sluice cannot read (too many filters or
		 * parameters, a newer format) that names this backing must
		 * stop the server: serving it without its filters would, for
		 * an encryption policy, write plaintext.
		 */
		chain_file_backing(path, backing, sizeof(backing));
		return same_backing(backing, a->want) ? -EBADMSG : 0;
	}
	match = same_backing(a->c->backing, a->want);
	if (match)
		return 1;
	policy_chain_free(a->c);
	return 0;
}

int policy_chain_find(const char *run_dir, const char *backing, struct policy_chain_desc *c)
{
	char want[PATH_MAX];
	struct find_arg a = { want, c };
	int ret;

	memset(c, 0, sizeof(*c));
	/* a backing that is not there is bound to nothing; its opener says why */
	if (!realpath(backing, want))
		return -ENOENT;
	ret = chain_walk(run_dir, find_one, &a);
	if (ret < 0)
		return ret;
	return ret ? 0 : -ENOENT;
}

struct names_arg {
	char *buf;
	size_t len;
	int err;
};

static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

static int name_one(const char *path, void *arg)
{
	struct names_arg *a = arg;
	struct policy_chain_desc c;
	size_t used = strlen(a->buf);

	if (policy_chain_load(path, &c))
		return 0;
	if (c.policy && !listed(a->buf, c.policy)) {
		if (used + strlen(c.policy) + 3 > a->len)
			a->err = -ENAMETOOLONG;
		else
			snprintf(a->buf + used, a->len - used, "%s%s", used ? ", " : "", c.policy);
	}
	policy_chain_free(&c);
	return 0;
}

int policy_chain_names(const char *run_dir, char *buf, size_t len)
{
	struct names_arg a = { buf, len, 0 };
	int ret;

	if (!len)
		return -ENAMETOOLONG;
	buf[0] = '\0';
	ret = chain_walk(run_dir, name_one, &a);
	return ret < 0 ? ret : a.err;
}
