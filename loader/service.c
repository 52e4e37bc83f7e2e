// SPDX-License-Identifier: GPL-2.0
/*
 * service.c - what every data service shares: the list of services, the
 * values of a checked one, and its chain-file line. Each service's own
 * table and rules live in loader/service/NAME.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "loader/service.h"

const struct service_ops *const services[NR_SERVICES] = {
	&crypt_service_ops,
	&journal_service_ops,
	&cache_service_ops,
};

int service_index(const char *filter)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(services); i++)
		if (!strcmp(services[i]->filter, filter))
			return (int)i;
	return -1;
}

const struct service_ops *service_by_filter(const char *name)
{
	int i = service_index(name);

	return i < 0 ? NULL : services[i];
}

int service_param_index(const struct service_ops *ops, const char *name)
{
	size_t i;

	for (i = 0; i < ops->nr_params; i++)
		if (!strcmp(ops->params[i].name, name))
			return (int)i;
	return -1;
}

const char *svc_param_key(const struct svc_param *p, const char *group)
{
	size_t n = strlen(group);
	const char *dot = strchr(p->name, '.');

	if (!n)
		return dot ? NULL : p->name;
	if (!dot || (size_t)(dot - p->name) != n || strncmp(p->name, group, n))
		return NULL;
	return dot + 1;
}

int svc_set_str(struct pol_service *s, int i, const char *text, const struct pnode *at)
{
	char *t = strdup(text);

	if (!t)
		return -ENOMEM;
	free(s->v[i].text);
	s->v[i].text = t;
	s->v[i].at = at;
	return 0;
}

enum unit_kind svc_unit_kind(enum svc_kind k)
{
	switch (k) {
	case SVC_SIZE:
		return UNIT_SIZE;
	case SVC_DURATION:
		return UNIT_DURATION;
	default:
		return UNIT_COUNT;
	}
}

int svc_set_num(const struct service_ops *ops, struct pol_service *s, int i, uint64_t num)
{
	char buf[48];
	const struct pnode *at = s->v[i].at;
	int err;

	units_format(svc_unit_kind(ops->params[i].kind), num, buf, sizeof(buf));
	err = svc_set_str(s, i, buf, at);
	if (!err)
		s->v[i].num = num;
	return err;
}

void pol_service_free(struct pol_service *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < SVC_MAX_PARAMS; i++)
		free(s->v[i].text);
	memset(s, 0, sizeof(*s));
}

void service_chain_write(FILE *f, const struct service_ops *ops, const struct pol_service *s)
{
	size_t i;

	if (s->state == POL_SVC_OFF) {
		fprintf(f, "nofilter=%s\n", ops->filter);
		return;
	}
	if (s->state != POL_SVC_ON)
		return;
	fprintf(f, "filter=%s", ops->filter);
	for (i = 0; i < ops->nr_params; i++)
		if (s->v[i].text)
			fprintf(f, " %s=%s", ops->params[i].name, s->v[i].text);
	fputc('\n', f);
}

const char *svc_spec_unsafe(const char *s)
{
	for (; *s; s++) {
		if (*s == ' ')
			return "a blank";
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return "a control character";
		if (*s == ',')
			return "a ','";
		if (*s == '=')
			return "an '='";
	}
	return NULL;
}

/* Does @s set a parameter that names classes (the filter then gets policy=)? */
static bool has_classes(const struct service_ops *ops, const struct pol_service *s)
{
	size_t i;

	for (i = 0; i < ops->nr_params; i++)
		if (ops->params[i].kind == SVC_CLASSES && s->v[i].text)
			return true;
	return false;
}

bool service_args_differ(const struct service_ops *ops, const struct pol_service *s,
			 const char *args, char *why, size_t len)
{
	bool seen[SVC_MAX_PARAMS] = { false };
	char *copy = strdup(args), *tok, *save = NULL, *eq;
	const char *want;
	bool differ = false;
	size_t i;
	int k;

	if (!copy) {
		snprintf(why, len, "out of memory");
		return true;
	}
	for (tok = strtok_r(copy, ",", &save); tok && !differ; tok = strtok_r(NULL, ",", &save)) {
		eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		k = service_param_index(ops, tok);
		want = k >= 0 ? s->v[k].text : NULL;
		/* the chain names the disk's policy beside class names: not a setting */
		if (k < 0 && !strcmp(tok, "policy") && has_classes(ops, s))
			continue;
		if (!want) {
			snprintf(why, len, "runs %s=%s, which the policy does not set", tok,
				 eq ? eq : "");
			differ = true;
		} else if (!eq || strcmp(eq, want)) {
			snprintf(why, len, "runs %s=%s, policy says %s=%s", tok, eq ? eq : "", tok,
				 want);
			differ = true;
		} else {
			seen[k] = true;
		}
	}
	for (i = 0; i < ops->nr_params && !differ; i++) {
		if (s->v[i].text && !seen[i]) {
			snprintf(why, len, "runs without %s, policy says %s=%s", ops->params[i].name,
				 ops->params[i].name, s->v[i].text);
			differ = true;
		}
	}
	free(copy);
	return differ;
}
