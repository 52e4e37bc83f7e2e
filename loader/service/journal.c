// SPDX-License-Identifier: GPL-2.0
/*
 * journal.c - the journal service (continuous data protection, optionally
 * streamed to a replica): services: journal: in a policy, the 'journal'
 * filter on the disk.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "loader/policy.h"
#include "loader/service.h"

enum {
	JOURNAL_PATH,
	JOURNAL_SIZE,
	JOURNAL_RETENTION,
	JOURNAL_COMMIT,
	JOURNAL_REPLICA,
	JOURNAL_REPLICA_TARGET,
	JOURNAL_REPLICA_MODE,
	JOURNAL_REPLICA_FAILOVER,
	JOURNAL_REPLICA_PSK_FILE,
	JOURNAL_REPLICA_TLS_CERT,
	JOURNAL_REPLICA_TLS_KEY,
	JOURNAL_REPLICA_TLS_CA,
	JOURNAL_REPLICA_TIMEOUT,
	JOURNAL_REPLICA_WHEN_DOWN,
	JOURNAL_REPLICA_RPO,
};

static const char *const commit_modes[] = { "sync", "async", NULL };
static const char *const failovers[] = { "manual", "auto", NULL };
static const char *const when_down[] = { "async", "fail", NULL };

static const struct svc_param journal_params[] = {
	[JOURNAL_PATH] = { "path", SVC_PATH, .required = true },
	[JOURNAL_SIZE] = { "size", SVC_SIZE, .dflt = "1GiB", .min = 64ULL << 20,
			   .max = 16ULL << 40 },
	[JOURNAL_RETENTION] = { "retention", SVC_DURATION, .dflt = "24h", .min = 1000000000ULL,
				.max = 366ULL * 24 * 3600 * 1000000000 },
	[JOURNAL_COMMIT] = { "commit", SVC_ENUM, .dflt = "sync", .vals = commit_modes },
	[JOURNAL_REPLICA] = { "replica", SVC_GROUP },
	[JOURNAL_REPLICA_TARGET] = { "replica.target", SVC_HOSTPORT, .required = true },
	[JOURNAL_REPLICA_MODE] = { "replica.mode", SVC_ENUM, .dflt = "async",
				   .vals = commit_modes },
	[JOURNAL_REPLICA_FAILOVER] = { "replica.failover", SVC_ENUM, .dflt = "manual",
				       .vals = failovers },
	/* the link's credentials and sync's fallback (replica/spec.h); no defaults */
	[JOURNAL_REPLICA_PSK_FILE] = { "replica.psk_file", SVC_PATH },
	[JOURNAL_REPLICA_TLS_CERT] = { "replica.tls_cert", SVC_PATH },
	[JOURNAL_REPLICA_TLS_KEY] = { "replica.tls_key", SVC_PATH },
	[JOURNAL_REPLICA_TLS_CA] = { "replica.tls_ca", SVC_PATH },
	[JOURNAL_REPLICA_TIMEOUT] = { "replica.timeout", SVC_DURATION, .min = 100000000ULL,
				      .max = 3600ULL * 1000000000 },
	[JOURNAL_REPLICA_WHEN_DOWN] = { "replica.when_down", SVC_ENUM, .vals = when_down },
	/* the lag above it is shown as such (replica_rpo_exceeded) in top, the exporter and the log */
	[JOURNAL_REPLICA_RPO] = { "replica.rpo", SVC_DURATION, .min = 1000000000ULL,
				  .max = 24ULL * 3600 * 1000000000 },
};

/*
 * The link is TLS 1.3 with a pre-shared key or with certificates both ways
 * (docs/replica.md): a replica without either would be refused when the
 * disk starts, so say it here, where the policy is written.
 */
static void replica_check(struct svc_check *sc, struct pol_service *s)
{
	bool psk = svc_str(s, JOURNAL_REPLICA_PSK_FILE);
	int tls = !!svc_str(s, JOURNAL_REPLICA_TLS_CERT) + !!svc_str(s, JOURNAL_REPLICA_TLS_KEY) +
		  !!svc_str(s, JOURNAL_REPLICA_TLS_CA);
	const struct pnode *at = svc_at(s, JOURNAL_REPLICA_TARGET);

	if (!svc_str(s, JOURNAL_REPLICA_TARGET))
		return;
	if (psk && tls)
		policy_diag_at(sc->d, svc_at(s, JOURNAL_REPLICA_PSK_FILE),
			       "'replica' has both psk_file and tls_*: the link uses one; "
			       "keep psk_file or tls_cert + tls_key + tls_ca");
	else if (tls && tls < 3)
		policy_diag_at(sc->d, at, "'replica' needs all three of tls_cert, tls_key "
			       "and tls_ca (this one has %d)", tls);
	else if (!psk && !tls)
		policy_diag_at(sc->d, at, "'replica' has no credentials for its link: add "
			       "psk_file (a pre-shared key) or tls_cert + tls_key + tls_ca; "
			       "nothing is sent in the clear");
	/* the replica may promote itself without a write acknowledged as async */
	if (svc_at(s, JOURNAL_REPLICA_WHEN_DOWN) &&
	    !strcmp(svc_str(s, JOURNAL_REPLICA_WHEN_DOWN) ?: "", "async") &&
	    !strcmp(svc_str(s, JOURNAL_REPLICA_FAILOVER) ?: "", "auto"))
		policy_diag_at(sc->d, svc_at(s, JOURNAL_REPLICA_WHEN_DOWN),
			       "'replica' has failover: auto and when_down: async: a write the "
			       "replica lacks must not be acknowledged when it may promote "
			       "itself; leave out when_down (auto fails such writes)");
}

static void journal_check(struct svc_check *sc, struct pol_service *s)
{
	const char *path = svc_str(s, JOURNAL_PATH);
	char *dir, *slash;

	replica_check(sc, s);
	if (!sc->opts->resolve || !path)
		return;
	dir = strdup(path);
	if (!dir) {
		sc->nomem = -ENOMEM;
		return;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (access(dir, W_OK))
		policy_diag_at(sc->d, svc_at(s, JOURNAL_PATH),
			       "journal directory '%s' is not writable: %s", dir, strerror(errno));
	free(dir);
}

const struct service_ops journal_service_ops = {
	.key = "journal",
	.filter = "journal",
	.params = journal_params,
	.nr_params = ARRAY_SIZE(journal_params),
	.check = journal_check,
};
