/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy_chain.h - the per-disk filter-chain description that 'sluice
 * policy apply' writes for the ublk server, and its reader. One file per
 * binding, RUN_DIR/policy/current/chains/bNNN.chain, lines "key=value":
 *
 *	version=1
 *	generation=N
 *	policy=NAME
 *	selector=KIND:VALUE
 *	backing=PATH			(served disks)
 *	dev=MAJ:MIN			(when the disk exists)
 *	filter=TYPE k=v k=v ...		(in chain order, application side first)
 *	nofilter=TYPE			(deliberately without: must not be attached)
 *
 * A server serving BACKING reads every chain file and uses the one whose
 * backing= is BACKING (compare realpath()s).
 */
#ifndef SLUICE_POLICY_CHAIN_H
#define SLUICE_POLICY_CHAIN_H

#include <stddef.h>

#define POLICY_CHAIN_MAX_FILTERS	4
/* crypt has 8 today and journal 7; room for the services to grow */
#define POLICY_CHAIN_MAX_PARAMS	16

struct chain_filter {
	char type[16];		/* crypt, journal, cache */
	size_t nr_params;
	char *keys[POLICY_CHAIN_MAX_PARAMS];
	char *vals[POLICY_CHAIN_MAX_PARAMS];
};

struct policy_chain_desc {
	unsigned long long generation;
	char *policy;
	char *selector;
	char *backing;		/* NULL unless served */
	unsigned int major, minor;	/* 0:0 if unknown */
	struct chain_filter filters[POLICY_CHAIN_MAX_FILTERS];
	size_t nr_filters;
	char nofilters[POLICY_CHAIN_MAX_FILTERS][16];
	size_t nr_nofilters;
};

/* Parse chain text; -EINVAL on a malformed line, -ENOMEM. */
int policy_chain_parse(const char *text, struct policy_chain_desc *c);
int policy_chain_load(const char *path, struct policy_chain_desc *c);
void policy_chain_free(struct policy_chain_desc *c);

/*
 * The chain of the applied policy bound to served: {backing: @backing}, from
 * RUN_DIR/policy/current/chains (realpaths compared). -ENOENT when no
 * applied chain names it (or nothing is applied), -EBADMSG when the chain
 * that names it cannot be read whole, else 0 or -errno.
 */
int policy_chain_find(const char *run_dir, const char *backing, struct policy_chain_desc *c);

/*
 * The names of the applied policies with a binding, comma-separated and each
 * once, into buf ("" when nothing is applied). 0 or -ENAMETOOLONG.
 */
int policy_chain_names(const char *run_dir, char *buf, size_t len);

/* A filter's parameter, or NULL. */
const char *chain_param(const struct chain_filter *f, const char *key);

#endif /* SLUICE_POLICY_CHAIN_H */
