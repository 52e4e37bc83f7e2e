/* SPDX-License-Identifier: GPL-2.0 */
/*
 * service.h - the data services a policy puts on a served disk
 * (encryption, journal, cache), each described once: one file per service
 * in loader/service/ ending with one const struct service_ops, the way
 * kublk gives each target one struct ublk_tgt_ops.
 *
 * A service's parameter table is its schema. The same names are the YAML
 * keys under services: KEY:, the keys of the chain file's filter= line,
 * the arguments of the filter spec the ublk server keeps, and what
 * 'policy show' prints; values are written in their YAML spelling
 * (retention=24h, size=2GiB). policy_check() checks every parameter from
 * the table and then calls the service's own check(); policy_compile()
 * writes the table's values (service_chain_write()); 'policy show' and
 * 'policy status' read chains back through the table. Adding a key is one
 * entry in one file.
 */
#ifndef SLUICE_SERVICE_H
#define SLUICE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loader/policy_parse.h"
#include "lib/units.h"

struct policy_opts;

enum pol_svc_state {
	POL_SVC_UNSET,		/* not mentioned */
	POL_SVC_ON,
	POL_SVC_OFF,		/* explicitly "false": deliberately without */
};

enum svc_kind {
	SVC_ENUM,		/* one of vals[] */
	SVC_PATH,		/* an absolute path a filter spec can carry */
	SVC_HOSTPORT,		/* host:port, port 1..65535 */
	SVC_SIZE,		/* units.h UNIT_SIZE, min..max bytes */
	SVC_DURATION,		/* units.h UNIT_DURATION, min..max ns */
	SVC_COUNT,		/* a whole number, min..max */
	SVC_GROUP,		/* a nested mapping (one level); its parameters are "GROUP.key" */
	SVC_TEXT,		/* a word a filter spec can carry (a key description) */
	SVC_CLASSES,		/* a class of the policy or a list of them, kept "a+b" */
};

/* A value the schema refuses by name, and why (shown to the user). */
struct svc_refusal {
	const char *value;
	const char *why;
};

struct svc_param {
	const char *name;		/* YAML key; "group.key" inside a SVC_GROUP */
	enum svc_kind kind;
	bool required;			/* within its mapping */
	const char *dflt;		/* YAML text used when not written; NULL: none */
	uint64_t min, max;		/* SIZE, DURATION, COUNT */
	bool pow2;			/* SIZE, COUNT: a power of two */
	const char *const *vals;	/* ENUM: NULL-terminated */
	const struct svc_refusal *refused;	/* ENUM: NULL-terminated, or NULL */
};

/* SIZE, DURATION and COUNT are quantities in units.h's grammar. */
static inline bool svc_is_quantity(enum svc_kind k)
{
	return k == SVC_SIZE || k == SVC_DURATION || k == SVC_COUNT;
}

/* The units.h kind of a quantity (UNIT_COUNT for the others). */
enum unit_kind svc_unit_kind(enum svc_kind k);

#define SVC_MAX_PARAMS	16

struct svc_value {
	char *text;			/* YAML spelling; NULL: not set */
	uint64_t num;			/* SIZE, DURATION, COUNT */
	const struct pnode *at;		/* its node in the policy; NULL: not written */
};

/* One service of one policy, as checked. */
struct pol_service {
	enum pol_svc_state state;
	const struct pnode *at;		/* the service's mapping (or its false) */
	struct svc_value v[SVC_MAX_PARAMS];	/* indexed like the ops' params */
};

/* What a service's check() reports to. */
struct svc_check {
	const struct policy_opts *opts;
	struct policy_diags *d;
	int nomem;			/* -ENOMEM once an allocation failed */
};

struct service_ops {
	const char *key;		/* Required: YAML key under services:, "encrypt" */
	const char *filter;		/* Required: filter name in chains and specs, "crypt" */
	const struct svc_param *params;	/* Required: at most SVC_MAX_PARAMS */
	size_t nr_params;
	/*
	 * Optional: rules between parameters, defaults that depend on other
	 * parameters (svc_set_num()), and, with opts->resolve, checks against
	 * this machine. Called once every parameter passed its own check
	 * (wrong ones are unset). Reports with policy_diag_at().
	 */
	void (*check)(struct svc_check *sc, struct pol_service *s);
};

extern const struct service_ops crypt_service_ops;
extern const struct service_ops journal_service_ops;
extern const struct service_ops cache_service_ops;

/* Every service, in chain order from the application side: crypt, journal, cache. */
#define NR_SERVICES	3
extern const struct service_ops *const services[NR_SERVICES];

/* The service whose filter is @name ("crypt"), or NULL; its index in services[], or -1. */
const struct service_ops *service_by_filter(const char *name);
int service_index(const char *filter);

/* The index of parameter @name in @ops, or -1. */
int service_param_index(const struct service_ops *ops, const char *name);

/*
 * @p's key in the mapping @group ("replica"; "" for the service's own
 * mapping), or NULL when @p is not in that mapping.
 */
const char *svc_param_key(const struct svc_param *p, const char *group);

/* The parameter's text (NULL if not set) and its node (NULL if not written). */
static inline const char *svc_str(const struct pol_service *s, int i)
{
	return s->v[i].text;
}

static inline const struct pnode *svc_at(const struct pol_service *s, int i)
{
	return s->v[i].at;
}

/* Set parameter @i to @num in its kind's YAML spelling (a default). 0 or -ENOMEM. */
int svc_set_num(const struct service_ops *ops, struct pol_service *s, int i, uint64_t num);

/* Set parameter @i to a copy of @text. 0 or -ENOMEM. */
int svc_set_str(struct pol_service *s, int i, const char *text, const struct pnode *at);

void pol_service_free(struct pol_service *s);

/*
 * The chain-file line of @s: "filter=NAME k=v ...\n" when on,
 * "nofilter=NAME\n" when off, nothing when unset.
 */
void service_chain_write(FILE *f, const struct service_ops *ops, const struct pol_service *s);

/*
 * Does a running filter of this service, with @args ("k=v,k=v", from a
 * served disk's filter spec), differ from @s? The first difference goes to
 * @why: "runs retention=12h, policy says retention=24h".
 */
bool service_args_differ(const struct service_ops *ops, const struct pol_service *s,
			 const char *args, char *why, size_t len);

/*
 * Why @s cannot be one word of a filter spec ("name:k=v,k=v", filters
 * separated by blanks) or of a chain-file line, or NULL when it can.
 */
const char *svc_spec_unsafe(const char *s);

#endif /* SLUICE_SERVICE_H */
