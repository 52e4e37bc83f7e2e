// SPDX-License-Identifier: GPL-2.0
/*
 * replica.c - `sluice replica`: the receiving end of replication. Listens
 * for one primary at a time over TLS (PSK or certificates), applies its
 * journal's records to the image in order, durably, through a journal of
 * its own, and acknowledges them. docs/cmd/replica.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmds.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/units.h"
#include "replica/receiver.h"

#define DEFAULT_JOURNAL_SIZE	(1ull << 30)

static volatile sig_atomic_t stopping;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice replica --listen ADDR:PORT --target IMAGE --journal PATH\n"
		"                      (--psk-file F | --tls-cert C --tls-key K --tls-ca CA)\n"
		"                      [--journal-size SIZE] [--on-promote CMD]\n"
		"       sluice replica promote --target IMAGE --journal PATH\n"
		"\n"
		"Receive a journaled disk's records from its primary ('sluice serve\n"
		"--journal J --replica HOST:PORT'), apply them to IMAGE in order and\n"
		"acknowledge each batch once it is durable. The replica keeps its own\n"
		"journal at PATH, so 'sluice journal restore PATH' works here as well.\n"
		"IMAGE must exist, the disk's size, holding what the primary's disk held\n"
		"when its journal began (an empty disk on both sides, or a copy).\n"
		"\n"
		"  --listen ADDR:PORT  where to listen (0.0.0.0:7070, [::1]:7070)\n"
		"  --target IMAGE      the replica's image (a file or block device)\n"
		"  --journal PATH      the replica's journal (created at the first hello)\n"
		"  --journal-size S    its size when created (default 1GiB)\n"
		"  --psk-file F        a pre-shared key, hex (openssl rand -hex 32 > F)\n"
		"  --tls-cert C        or this side's certificate, its key, and the CA\n"
		"  --tls-key K         both sides' certificates must be signed by\n"
		"  --tls-ca CA\n"
		"  --on-promote CMD    after an automatic failover, run CMD (sh -c) in\n"
		"                      place of this process (default: exit 0)\n"
		"  -h, --help          this help\n"
		"\n"
		"promote (failover, with the receiver stopped): IMAGE becomes the disk,\n"
		"every record of the replica's journal on it, and the replica's generation\n"
		"is raised: the old primary, if it comes back, is refused (split brain).\n"
		"Then serve IMAGE with that journal: 'sluice serve --backing IMAGE\n"
		"--journal PATH', and '--replica OLDHOST:PORT ...' to stream to the old\n"
		"primary once it runs 'sluice replica' on its own backing and journal.\n"
		"\n"
		"automatic failover: a primary served with '--replica-failover auto'\n"
		"(failover: auto) holds a lease of its --replica-timeout L, renewed by\n"
		"this replica's acks, and fails writes (EIO) once it has gone L without\n"
		"one. Told so in the primary's hello (and kept in PATH.replica), this\n"
		"receiver promotes itself when it has heard nothing from the primary for\n"
		"more than 2*L, as 'promote' does, then exits 0 or runs --on-promote. A\n"
		"primary stopped on purpose says so first: no failover then.\n"
		"\n"
		"failback: the old primary, as a replica, keeps its image and journal;\n"
		"its writes after the split (the seq promote printed) are discarded from\n"
		"its journal, their blocks resent from the new primary, then the new\n"
		"primary's records after the split: no full copy. The log says how many\n"
		"blocks moved. Writes after the split must still be in its journal.\n"
		"\n"
		"Examples:\n"
		"  openssl rand -hex 32 > /etc/sluice/pgdata.psk   # the same file on both hosts\n"
		"  truncate -s 64G /srv/replica/pgdata.img\n"
		"  sluice replica --listen 0.0.0.0:7070 --target /srv/replica/pgdata.img \\\n"
		"      --journal /srv/replica/pgdata.journal --psk-file /etc/sluice/pgdata.psk\n"
		"  # on the primary:\n"
		"  sluice serve --backing /srv/pgdata.img --journal /srv/pgdata.journal \\\n"
		"      --replica standby:7070 --replica-psk-file /etc/sluice/pgdata.psk\n"
		"  # automatic failover: the replica serves the image once promoted\n"
		"  sluice replica --listen 0.0.0.0:7070 --target /srv/replica/pgdata.img \\\n"
		"      --journal /srv/replica/pgdata.journal --psk-file /etc/sluice/pgdata.psk \\\n"
		"      --on-promote 'exec sluice serve --backing /srv/replica/pgdata.img \\\n"
		"          --journal /srv/replica/pgdata.journal'\n"
		"  sluice serve --backing /srv/pgdata.img --journal /srv/pgdata.journal \\\n"
		"      --replica standby:7070 --replica-psk-file /etc/sluice/pgdata.psk \\\n"
		"      --replica-mode sync --replica-failover auto --replica-timeout 5s\n"
		"  # failover by hand: on the replica, once the primary is gone\n"
		"  sluice replica promote --target /srv/replica/pgdata.img \\\n"
		"      --journal /srv/replica/pgdata.journal\n"
		"  sluice serve --backing /srv/replica/pgdata.img \\\n"
		"      --journal /srv/replica/pgdata.journal --replica oldprimary:7070 \\\n"
		"      --replica-psk-file /etc/sluice/pgdata.psk\n"
		"  # failback: on the old primary, its own image and journal\n"
		"  sluice replica --listen 0.0.0.0:7070 --target /srv/pgdata.img \\\n"
		"      --journal /srv/pgdata.journal --psk-file /etc/sluice/pgdata.psk\n");
}

static void on_signal(int sig)
{
	stopping = 1;
}

static void say_end(const char *peer, int err, const struct receiver_session *s)
{
	if (s->records)
		log_info("replica: %s: applied records %" PRIu64 "..%" PRIu64 " (%" PRIu64
			 ", %" PRIu64 " blocks of data), %" PRIu64 " acks", peer, s->first_seq,
			 s->last_seq, s->records, s->data_bytes / s->block_size, s->acks);
	switch (err) {
	case -EPIPE:
		log_info("replica: %s: the primary %s; applied through seq %" PRIu64, peer,
			 s->closed ? "stopped on purpose (no failover)" : "closed the link",
			 s->records ? s->last_seq : s->resumed_at);
		break;
	case -EXDEV:
		log_err("replica: %s: refused: the primary's disk is not the one this "
			"replica serves; nothing was applied; give that disk's replica its own "
			"--target and --journal", peer);
		break;
	case -ESTALE:
		log_err("replica: %s: refused: this replica was promoted (its generation is "
			"newer); split brain: the old primary must not write", peer);
		break;
	case -EDOM:
		log_err("replica: %s: refused: the primary's disk has another size than the "
			"replica's image; give an image of the disk's size", peer);
		break;
	case -ERANGE:
		log_err("replica: %s: record %" PRIu64 " arrived where %" PRIu64 " was expected; "
			"nothing of it was applied", peer, s->got, s->expected);
		break;
	case -EPROTO:
		log_err("replica: %s: the primary's failback resync or full copy did not match "
			"the blocks asked for; nothing is lost: it starts over at the next "
			"connection", peer);
		break;
	case -ECONNABORTED:
		log_err("replica: %s: the primary stopped: %s (%s)", peer, s->peer_msg,
			strerror(-s->peer_err));
		break;
	default:
		log_err("replica: %s: the session ended: %s", peer, strerror(-err));
	}
}

/*
 * Automatic failover: the primary was silent for more than twice its lease
 * (it fenced itself after one). Promote as 'promote' does. 0 promoted, 1
 * not (said; the receiver goes on, disarmed until the next hello).
 */
static int failover(struct receiver *r, const struct receiver_cfg *cfg)
{
	uint64_t silent = clock_ns(CLOCK_MONOTONIC) - r->heard_ns, lease = r->lease_ns, gen, seq;
	int err;

	receiver_close(r);
	err = receiver_promote(cfg, &gen, &seq);
	if (!err) {
		log_info("replica: failover: no word from the primary for %.1fs (more than "
			 "twice its lease of %.1fs; it has fenced its writes); promoted %s at "
			 "seq %" PRIu64 ", generation %" PRIu64, silent / 1e9, lease / 1e9,
			 cfg->target, seq, gen);
		return 0;
	}
	log_err("replica: failover: no word from the primary for %.1fs, but promoting %s "
		"failed: %s%s; still a replica, promote by hand once that is resolved",
		silent / 1e9, cfg->target, strerror(-err),
		err == -EAGAIN ? " (a full copy or failback resync is unfinished)" : "");
	err = receiver_open(r, cfg);
	if (err) {
		log_err("replica: reopening %s: %s", cfg->journal, strerror(-err));
		return -1;
	}
	r->lease_ns = 0;
	return 1;
}

/* 0: stopped, or promoted (*promoted); 1: failed. */
static int serve_links(struct receiver *r, struct link_ctx *ctx, int lfd, bool *promoted)
{
	struct receiver_cfg cfg = r->cfg;
	struct receiver_session s;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	struct link *l;
	char peer[160], why[256];
	uint64_t armed;
	int err;

	while (!stopping) {
		if (receiver_failover_due(r, clock_ns(CLOCK_MONOTONIC))) {
			err = failover(r, &cfg);
			if (err <= 0) {
				*promoted = !err;
				return err ? 1 : 0;
			}
		}
		/* awake often enough to see the lease run out with no one connected */
		err = poll(&pfd, 1, 100);
		if (err <= 0)
			continue;
		err = link_accept(ctx, lfd, peer, sizeof(peer), &l);
		if (err == -EINTR)
			continue;
		if (err == -EACCES) {
			log_err("replica: %s: refused: the TLS handshake failed (%s); the peer "
				"has another pre-shared key or a certificate the CA did not "
				"sign; nothing of it was applied", peer,
				link_error(why, sizeof(why))[0] ? why : "no detail");
			continue;
		}
		if (err) {
			log_err("replica: accepting a connection: %s", strerror(-err));
			continue;
		}
		log_info("replica: %s: connected", peer);
		armed = r->lease_ns;
		err = receiver_greet(r, l, &s);
		if (!err && r->lease_ns != armed)
			log_info("replica: %s: automatic failover %s", peer, r->lease_ns ?
				 "armed by the primary: promoting after twice its lease without "
				 "word from it" : "off (the primary's failover is manual)");
		if (!err && s.failback)
			log_info("replica: %s: failback: discarded records %" PRIu64 "..%" PRIu64
				 " (this side's writes after the split at seq %" PRIu64 ", the split "
				 "brain's losing side); resynchronised %" PRIu64 " blocks of %" PRIu32
				 " bytes in %" PRIu64 " ranges from the new primary", peer,
				 s.split + 1, s.discarded_last, s.split,
				 s.resync_bytes / s.block_size, s.block_size, s.resync_ranges);
		if (!err) {
			log_info("replica: %s: resumed after seq %" PRIu64, peer, s.resumed_at);
			err = receiver_stream(r, l, &s);
		}
		if (s.full)
			log_info("replica: %s: full copy: %" PRIu64 " blocks of %" PRIu32 " bytes "
				 "from the primary's disk (its data; holes are zero here); the "
				 "journal begins anew after seq %" PRIu64, peer, s.full_blocks,
				 s.block_size, s.full_seq);
		say_end(peer, err, &s);
		link_close(l);
	}
	return 0;
}

static int promote(const struct receiver_cfg *cfg, bool link_flags)
{
	uint64_t gen, seq;
	int err;

	if (link_flags || !cfg->target || !cfg->journal) {
		log_err("replica promote: give only --target IMAGE and --journal PATH");
		return 2;
	}
	err = receiver_promote(cfg, &gen, &seq);
	if (err == -EBUSY) {
		log_err("replica promote: %s is in use by a running 'sluice replica'; stop it "
			"first", cfg->journal);
		return 1;
	}
	if (err == -EAGAIN) {
		char sp[PATH_MAX];

		if (!receiver_sync_path(cfg->journal, sp, sizeof(sp)) && !access(sp, F_OK))
			log_err("replica promote: %s: a full copy from the primary is unfinished "
				"(%s), so %s is not a whole disk; let the receiver finish the "
				"copy first", cfg->journal, sp, cfg->target);
		else
			log_err("replica promote: %s: a failback resync is unfinished (%s.resync), "
				"so %s holds neither history; let the receiver finish it first",
				cfg->journal, cfg->journal, cfg->target);
		return 1;
	}
	if (err == -ENOENT) {
		log_err("replica promote: %s has received nothing yet (no journal or no "
			"%s.replica); nothing to promote", cfg->journal, cfg->journal);
		return 1;
	}
	if (err) {
		log_err("replica promote: %s with %s: %s", cfg->target, cfg->journal,
			strerror(-err));
		return 1;
	}
	printf("%s: promoted at seq %" PRIu64 ", generation %" PRIu64 "; serve it with "
	       "'sluice serve --backing %s --journal %s' (add --replica OLDHOST:PORT for "
	       "failback); the old primary is refused from now on as a primary, and "
	       "resynchronised as a replica\n",
	       cfg->target, seq, gen, cfg->target, cfg->journal);
	return 0;
}

enum {
	OPT_LISTEN = 256, OPT_TARGET, OPT_JOURNAL, OPT_JSIZE, OPT_PSK, OPT_CERT, OPT_KEY, OPT_CA,
	OPT_ON_PROMOTE,
};

/* --on-promote: CMD takes this process's place, told what was promoted. */
static int run_on_promote(const char *cmd, const struct receiver_cfg *cfg)
{
	setenv("SLUICE_PROMOTED_IMAGE", cfg->target, 1);
	setenv("SLUICE_PROMOTED_JOURNAL", cfg->journal, 1);
	log_info("replica: failover: running %s", cmd);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	log_err("replica: --on-promote: running /bin/sh: %s", strerror(errno));
	return 1;
}

int cmd_replica(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "journal", required_argument, NULL, OPT_JOURNAL },
		{ "journal-size", required_argument, NULL, OPT_JSIZE },
		{ "psk-file", required_argument, NULL, OPT_PSK },
		{ "tls-cert", required_argument, NULL, OPT_CERT },
		{ "tls-key", required_argument, NULL, OPT_KEY },
		{ "tls-ca", required_argument, NULL, OPT_CA },
		{ "on-promote", required_argument, NULL, OPT_ON_PROMOTE },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct receiver_cfg cfg = { .journal_size = DEFAULT_JOURNAL_SIZE };
	struct sigaction sa = { .sa_handler = on_signal };
	struct link_creds creds = {};
	struct link_ctx *ctx = NULL;
	struct receiver r = {};
	const char *listen_at = NULL, *on_promote = NULL;
	bool promoted = false;
	char why[256];
	int c, err, lfd = -1, ret = 1;

	optind = 1;
	/* "promote" may come first or after the options */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			listen_at = optarg;
			break;
		case OPT_TARGET:
			cfg.target = optarg;
			break;
		case OPT_JOURNAL:
			cfg.journal = optarg;
			break;
		case OPT_JSIZE:
			if (parse_size_argument("--journal-size", optarg, &cfg.journal_size))
				return 2;
			break;
		case OPT_PSK:
			creds.psk_file = optarg;
			break;
		case OPT_CERT:
			creds.cert = optarg;
			break;
		case OPT_KEY:
			creds.key = optarg;
			break;
		case OPT_CA:
			creds.ca = optarg;
			break;
		case OPT_ON_PROMOTE:
			on_promote = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "promote") && optind + 1 == argc)
		return promote(&cfg, listen_at || creds.psk_file || creds.cert);
	if (optind < argc) {
		args_unexpected("replica", argv[optind]);
		return 2;
	}
	if (!listen_at || !cfg.target || !cfg.journal) {
		log_err("replica: give --listen ADDR:PORT, --target IMAGE and --journal PATH");
		return 2;
	}
	if (!creds.psk_file == !(creds.cert || creds.key || creds.ca) ||
	    ((creds.cert || creds.key || creds.ca) && !(creds.cert && creds.key && creds.ca))) {
		log_err("replica: give --psk-file F, or all of --tls-cert, --tls-key and --tls-ca");
		return 2;
	}
	/* a peer gone mid-write is an error return, not a signal */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	err = link_ctx_new(&creds, true, &ctx);
	if (err == -EINVAL) {
		log_err("replica: --psk-file %s: give a file holding a hex key of 16 to 48 bytes "
			"(openssl rand -hex 32)", creds.psk_file);
		return 1;
	}
	if (err) {
		log_err("replica: the credentials (%s): %s %s; give readable PEM files",
			creds.psk_file ? creds.psk_file : creds.cert, strerror(-err),
			link_error(why, sizeof(why)));
		return 1;
	}
	err = receiver_open(&r, &cfg);
	if (err) {
		if (err == -EXDEV || err == -EDOM)
			log_err("replica: journal %s belongs to another image than %s; give that "
				"image, or a new --journal", cfg.journal, cfg.target);
		else
			log_err("replica: opening %s and its journal %s: %s; give an existing "
				"image of the disk's size and a writable journal path", cfg.target,
				cfg.journal, strerror(-err));
		goto out;
	}
	if (r.log_open && r.log.replayed)
		log_info("replica: replayed %" PRIu64 " records onto %s", r.log.replayed,
			 cfg.target);
	lfd = link_listen(listen_at);
	if (lfd < 0) {
		log_err("replica: listening on %s: %s; give a free ADDR:PORT", listen_at,
			strerror(-lfd));
		goto out;
	}
	log_info("replica: listening on %s for %s (applied through seq %" PRIu64 ")", listen_at,
		 cfg.target, r.log_open ? rlog_applied(&r.log) : 0);
	if (r.lease_ns)
		log_info("replica: automatic failover armed: promoting after %.1fs without word "
			 "from the primary", 2 * r.lease_ns / 1e9);
	ret = serve_links(&r, ctx, lfd, &promoted);
out:
	if (lfd >= 0)
		close(lfd);
	receiver_close(&r);
	link_ctx_free(ctx);
	if (promoted && on_promote)
		return run_on_promote(on_promote, &cfg);
	return ret;
}
