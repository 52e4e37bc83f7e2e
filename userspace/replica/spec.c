// SPDX-License-Identifier: GPL-2.0
/*
 * spec.c - replica.* filter arguments into a sender's configuration.
 */
#include <errno.h>
#include <string.h>

#include "lib/units.h"
#include "replica/spec.h"

#define DEFAULT_TIMEOUT_NS	(5 * NSEC_PER_SEC)

static const char *opt(const struct filter_config *cfg, const char *key, char *buf, size_t len)
{
	return filter_config_get(cfg, key, buf, len) || !buf[0] ? NULL : buf;
}

int replica_spec_parse(const struct filter_config *cfg, struct replica_spec *sp)
{
	struct replica_sender_cfg *c = &sp->cfg;
	char buf[64];

	memset(sp, 0, sizeof(*sp));
	if (!opt(cfg, "replica.target", sp->target, sizeof(sp->target)))
		return 0;
	c->target = sp->target;
	c->creds.psk_file = opt(cfg, "replica.psk_file", sp->psk, sizeof(sp->psk));
	c->creds.cert = opt(cfg, "replica.tls_cert", sp->cert, sizeof(sp->cert));
	c->creds.key = opt(cfg, "replica.tls_key", sp->key, sizeof(sp->key));
	c->creds.ca = opt(cfg, "replica.tls_ca", sp->ca, sizeof(sp->ca));
	if (opt(cfg, "replica.mode", buf, sizeof(buf))) {
		if (!strcmp(buf, "sync"))
			c->sync = true;
		else if (strcmp(buf, "async"))
			return -EINVAL;
	}
	c->timeout_ns = DEFAULT_TIMEOUT_NS;
	if (opt(cfg, "replica.timeout", buf, sizeof(buf)) &&
	    (units_parse_abs(UNIT_DURATION, buf, &c->timeout_ns) || !c->timeout_ns))
		return -EINVAL;
	if (opt(cfg, "replica.when_down", buf, sizeof(buf))) {
		if (!strcmp(buf, "fail"))
			c->fail_when_down = true;
		else if (strcmp(buf, "async"))
			return -EINVAL;
	}
	if (opt(cfg, "replica.rpo", buf, sizeof(buf)) &&
	    (units_parse_abs(UNIT_DURATION, buf, &c->rpo_ns) || !c->rpo_ns))
		return -EINVAL;
	if (opt(cfg, "replica.failover", buf, sizeof(buf))) {
		if (!strcmp(buf, "auto"))
			c->auto_failover = true;
		else if (strcmp(buf, "manual"))
			return -EINVAL;
	}
	c->generation = 1;
	return 1;
}

int replica_stats(struct replica_sender *s, struct filter_stat *st, int max)
{
	struct replica_sender_stats rs;
	int n;

	replica_sender_stats(s, &rs);
	const struct filter_stat all[] = {
		{ "replica_state", rs.state },
		{ "replica_acked_seq", rs.acked },
		{ "replica_lag_records", rs.lag_records },
		{ "replica_lag_ms", rs.lag_ms },
		{ "replica_sent", rs.sent },
		{ "replica_reconnects", rs.reconnects },
		{ "replica_last_errno", rs.last_error },
		{ "replica_rpo_ms", rs.rpo_ms },
		{ "replica_rpo_exceeded", rs.rpo_exceeded },
		{ "replica_writes_failing", rs.writes_failing },
		{ "replica_resync_blocks", rs.resync_blocks },
		{ "replica_fenced", rs.fenced },
		{ "replica_lease_ms", rs.lease_ms },
	};

	for (n = 0; n < max && n < (int)(sizeof(all) / sizeof(all[0])); n++)
		st[n] = all[n];
	return n;
}
