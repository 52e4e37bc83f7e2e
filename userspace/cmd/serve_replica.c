// SPDX-License-Identifier: GPL-2.0
/*
 * serve_replica.c - serve's --replica flags into the journal filter's
 * replica.* arguments, and the credentials checked before the disk is
 * made (a bad key file is said here, not as a failed filter).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/serve_replica.h"
#include "cmd/serve_schema.h"
#include "lib/log.h"
#include "lib/units.h"
#include "replica/link.h"

int serve_replica_option(struct serve_replica *r, int opt, const char *arg)
{
	switch (opt - SERVE_REPLICA_OPT) {
	case 0:
		if (!strchr(arg, ':')) {
			log_err("--replica '%s': give HOST:PORT, e.g. standby:7070", arg);
			return -EINVAL;
		}
		r->target = arg;
		return 1;
	case 1:
		if (serve_schema_enum(&journal_service_ops, "replica.mode", "--replica-mode", arg))
			return -EINVAL;
		r->mode = arg;
		return 1;
	case 2:
		r->psk = arg;
		return 1;
	case 3:
		r->cert = arg;
		return 1;
	case 4:
		r->key = arg;
		return 1;
	case 5:
		r->ca = arg;
		return 1;
	case 6:
		if (serve_schema_duration(&journal_service_ops, "replica.timeout",
					  "--replica-timeout", arg, "5s"))
			return -EINVAL;
		r->timeout = arg;
		return 1;
	case 7:
		if (serve_schema_enum(&journal_service_ops, "replica.when_down",
				      "--replica-when-down", arg))
			return -EINVAL;
		r->when_down = arg;
		return 1;
	case 8:
		if (serve_schema_duration(&journal_service_ops, "replica.rpo", "--replica-rpo",
					  arg, "5s"))
			return -EINVAL;
		r->rpo = arg;
		return 1;
	case 9:
		if (serve_schema_enum(&journal_service_ops, "replica.failover",
				      "--replica-failover", arg))
			return -EINVAL;
		r->failover = arg;
		return 1;
	}
	return 0;
}

static int add(struct serve_journal *j, const char *key, const char *val)
{
	size_t used = strlen(j->spec);
	int n;

	if (!val)
		return 0;
	if (strpbrk(val, ", ")) {
		log_err("--replica: '%s': a comma or a blank cannot be passed to the journal", val);
		return -EINVAL;
	}
	n = snprintf(j->spec + used, sizeof(j->spec) - used, ",replica.%s=%s", key, val);
	if (n < 0 || (size_t)n >= sizeof(j->spec) - used) {
		log_err("--replica: the paths are too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The state file keeps the spec: --recover may run from another directory. */
static const char *absolute(const char *path, char *buf)
{
	if (!path)
		return NULL;
	return realpath(path, buf) ? buf : path;
}

int serve_replica_finish(struct serve_replica *r, struct serve_journal *j)
{
	struct link_creds c;
	struct link_ctx *ctx;
	char why[256];
	int err;

	if (!r->target) {
		if (r->mode || r->psk || r->cert || r->key || r->ca || r->timeout || r->when_down ||
		    r->rpo || r->failover) {
			log_err("the --replica-* flags go with --replica HOST:PORT");
			return -EINVAL;
		}
		return 0;
	}
	if (!j->spec[0]) {
		log_err("--replica ships the journal's records: give --journal PATH too");
		return -EINVAL;
	}
	if (r->failover && !strcmp(r->failover, "auto") && r->when_down &&
	    !strcmp(r->when_down, "async")) {
		log_err("--replica-failover auto: a write the replica lacks cannot be "
			"acknowledged, the replica may promote without it; leave out "
			"--replica-when-down async");
		return -EINVAL;
	}
	c = (struct link_creds){ absolute(r->psk, r->abs[0]), absolute(r->cert, r->abs[1]),
				 absolute(r->key, r->abs[2]), absolute(r->ca, r->abs[3]) };
	err = link_ctx_new(&c, false, &ctx);
	if (err == -EINVAL && !c.psk_file == !(c.cert || c.key || c.ca)) {
		log_err("--replica: give the link's credentials: --replica-psk-file F, or "
			"--replica-tls-cert, --replica-tls-key and --replica-tls-ca");
		return err;
	}
	if (err == -EINVAL && c.psk_file) {
		log_err("--replica-psk-file %s: give a file holding a hex key of 16 to 48 "
			"bytes (openssl rand -hex 32)", c.psk_file);
		return err;
	}
	if (err) {
		log_err("--replica: the credentials: %s %s; give all three of cert, key and CA, "
			"readable PEM files", strerror(-err), link_error(why, sizeof(why)));
		return err;
	}
	link_ctx_free(ctx);
	return add(j, "target", r->target) ?: add(j, "mode", r->mode) ?:
	       add(j, "psk_file", c.psk_file) ?: add(j, "tls_cert", c.cert) ?:
	       add(j, "tls_key", c.key) ?: add(j, "tls_ca", c.ca) ?:
	       add(j, "timeout", r->timeout) ?: add(j, "when_down", r->when_down) ?:
	       add(j, "rpo", r->rpo) ?: add(j, "failover", r->failover);
}
