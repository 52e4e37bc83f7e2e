/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spec.h - the journal filter's replica.* arguments (the policy's
 * journal: replica: mapping, or serve's --replica flags) into a sender's
 * configuration:
 *
 *   replica.target=HOST:PORT   (required for replication)
 *   replica.mode=async|sync    (default async)
 *   replica.failover=manual|auto (auto: lease-based, replica.timeout is the lease)
 *   replica.psk_file=F | replica.tls_cert=C,replica.tls_key=K,replica.tls_ca=CA
 *   replica.timeout=DURATION   (sync: unreachable this long, then ...; default 5s;
 *                               auto: no ack for this long and writes fail, EIO)
 *   replica.when_down=async|fail (... go on as async, or fail writes; default async)
 *   replica.rpo=DURATION       (the lag above which top, the exporter and the log warn)
 */
#ifndef SLUICE_REPLICA_SPEC_H
#define SLUICE_REPLICA_SPEC_H

#include <limits.h>

#include "filters/filter.h"
#include "replica/sender.h"

struct replica_spec {
	char target[256];
	char psk[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	struct replica_sender_cfg cfg;	/* strings point into the above */
};

/* 1 replication asked for (sp->cfg filled but the disk's identity), 0 not, -EINVAL. */
int replica_spec_parse(const struct filter_config *cfg, struct replica_spec *sp);

/* The sender's stats as filter stats ("replica_*"), appended by the journal's. */
int replica_stats(struct replica_sender *s, struct filter_stat *st, int max);

#endif /* SLUICE_REPLICA_SPEC_H */
