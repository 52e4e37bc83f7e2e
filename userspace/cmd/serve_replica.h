/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve_replica.h - `sluice serve --journal J --replica HOST:PORT
 * [--replica-mode async|sync] (--replica-psk-file F | --replica-tls-cert C
 * --replica-tls-key K --replica-tls-ca CA) [--replica-timeout D]
 * [--replica-when-down async|fail] [--replica-rpo D] [--replica-failover manual|auto]`:
 * the journal filter's replica.* keys
 * (replica/spec.h), appended to the ad hoc journal's spec.
 */
#ifndef SLUICE_CMD_SERVE_REPLICA_H
#define SLUICE_CMD_SERVE_REPLICA_H

#include <getopt.h>
#include <limits.h>

#include "cmd/serve_journal.h"

struct serve_replica {
	const char *target, *mode, *timeout, *when_down, *rpo, *failover;
	const char *psk, *cert, *key, *ca;
	char abs[4][PATH_MAX];
};

#define SERVE_REPLICA_OPT	0x5200
#define SERVE_REPLICA_OPTIONS						\
	{ "replica", required_argument, NULL, SERVE_REPLICA_OPT },		\
	{ "replica-mode", required_argument, NULL, SERVE_REPLICA_OPT + 1 },	\
	{ "replica-psk-file", required_argument, NULL, SERVE_REPLICA_OPT + 2 },	\
	{ "replica-tls-cert", required_argument, NULL, SERVE_REPLICA_OPT + 3 },	\
	{ "replica-tls-key", required_argument, NULL, SERVE_REPLICA_OPT + 4 },	\
	{ "replica-tls-ca", required_argument, NULL, SERVE_REPLICA_OPT + 5 },	\
	{ "replica-timeout", required_argument, NULL, SERVE_REPLICA_OPT + 6 },	\
	{ "replica-when-down", required_argument, NULL, SERVE_REPLICA_OPT + 7 },	\
	{ "replica-rpo", required_argument, NULL, SERVE_REPLICA_OPT + 8 },	\
	{ "replica-failover", required_argument, NULL, SERVE_REPLICA_OPT + 9 }

#define SERVE_REPLICA_USAGE						\
	"  --replica HOST:PORT stream the journal to 'sluice replica' there\n"	\
	"  --replica-mode M    async (default) or sync (a write completes once the\n" \
	"                      replica has it durable)\n"			\
	"  --replica-psk-file F   the link's pre-shared key (hex), or\n"	\
	"  --replica-tls-cert C --replica-tls-key K --replica-tls-ca CA\n"	\
	"  --replica-timeout D sync: unreachable this long (default 5s), then\n" \
	"  --replica-when-down W  go on as async (default) or fail the writes\n" \
	"  --replica-rpo D     warn (top, exporter, log) while the replica lags more\n" \
	"  --replica-failover F  manual (default) or auto: the replica promotes\n" \
	"                      itself after 2x --replica-timeout without word from\n" \
	"                      this server, which fails writes (EIO) after 1x; e.g.\n" \
	"                      --replica-mode sync --replica-failover auto\n" \
	"                      --replica-timeout 5s\n"

/* A serve option in the replica's range: 1 taken, 0 not ours, -EINVAL said. */
int serve_replica_option(struct serve_replica *r, int opt, const char *arg);

/* Check the flags and append replica.* to the journal's spec. 0 or -errno, said. */
int serve_replica_finish(struct serve_replica *r, struct serve_journal *j);

#endif /* SLUICE_CMD_SERVE_REPLICA_H */
