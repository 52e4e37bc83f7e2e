// SPDX-License-Identifier: GPL-2.0
/*
 * Replication end to end on loopback, in one process: a primary journal
 * (written with the replica's own appender, replica/rlog.h), the sender
 * thread shipping it over TLS with a PSK, the receiver applying it. The
 * images end equal; a second session resumes after the last applied seq
 * (the replica's journal has every seq once); a wrong key fails the
 * handshake with nothing applied; another disk's sender is refused; sync
 * verdicts hold a write until its ack. Failback: the promoted replica
 * serves, the old primary comes back as its replica with writes of its
 * own after the split; only those blocks and the new side's records move,
 * and both images end equal.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/clock.h"
#include "lib/crc32c.h"
#include "journal/restore.h"
#include "replica/receiver.h"
#include "replica/resync.h"
#include "replica/sender.h"
#include "tmpdir.h"

#define DISK	(256 * 1024)
#define JSIZE	(4u << 20)

struct rx {
	struct receiver r;
	struct link_ctx *ctx;
	int lfd, sessions, last_err, accept_err;
	uint64_t applied;		/* after the last session */
	struct receiver_session s;
	pthread_t t;
	int mute_ms;			/* greet, then hear nothing this long (a cut link) */
};

static char path_p[128], path_pj[128], path_r[128], path_rj[128], psk[128], psk2[128];
static char addr[64];

static void make_file(const char *p, size_t n)
{
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, n), 0);
	close(fd);
}

static void write_text(const char *p, const char *t)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(t, f);
	fclose(f);
}

static int setup(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	if (make_dir(state))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	snprintf(path_p, sizeof(path_p), "%s/primary.img", dir);
	snprintf(path_pj, sizeof(path_pj), "%s/primary.journal", dir);
	snprintf(path_r, sizeof(path_r), "%s/replica.img", dir);
	snprintf(path_rj, sizeof(path_rj), "%s/replica.journal", dir);
	snprintf(psk, sizeof(psk), "%s/psk", dir);
	snprintf(psk2, sizeof(psk2), "%s/psk2", dir);
	make_file(path_p, DISK);
	make_file(path_r, DISK);
	write_text(psk, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	write_text(psk2, "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	/* a free port: bind 0, read it back, let it go */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (void *)&sa, sizeof(sa)) || getsockname(fd, (void *)&sa, &len))
		return -1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

/* @n records on the primary: writes of 4 KiB patterned by seq, a zeroes, a flush. */
static void primary_write(struct rlog *p, unsigned int n)
{
	static uint8_t buf[4096];
	struct frame_record r;
	unsigned int i;

	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.seq = rlog_applied(p) + 1;
		r.time_ns = journal_now_ns();
		if (r.seq % 7 == 3) {
			r.type = JOURNAL_REC_ZEROES;
			r.offset = (r.seq * 8192) % DISK;
			r.range = 4096;
		} else if (r.seq % 7 == 5) {
			r.type = JOURNAL_REC_FLUSH;
		} else {
			memset(buf, (int)r.seq, sizeof(buf));
			buf[0] = r.seq >> 8;
			r.type = JOURNAL_REC_WRITE;
			r.offset = (r.seq * 12288) % (DISK - 4096);
			r.offset &= ~4095ull;
			r.range = r.length = sizeof(buf);
			r.data = buf;
			r.data_crc = crc32c(0, buf, sizeof(buf));
		}
		assert_int_equal(rlog_append(p, &r), 0);
	}
	assert_int_equal(rlog_sync(p), 0);
}

static void *rx_thread(void *arg)
{
	struct rx *x = arg;
	struct link *l;
	char peer[64];
	int i, err;

	for (i = 0; i < x->sessions; i++) {
		err = link_accept(x->ctx, x->lfd, peer, sizeof(peer), &l);
		if (err) {
			x->accept_err = err;
			continue;
		}
		if (x->mute_ms) {
			x->last_err = receiver_greet(&x->r, l, &x->s);
			usleep(x->mute_ms * 1000);
			link_close(l);
			continue;
		}
		x->last_err = receiver_session(&x->r, l, &x->s);
		x->applied = rlog_applied(&x->r.log);
		link_close(l);
	}
	return NULL;
}

static void rx_start_on(struct rx *x, int sessions, const char *target, const char *journal)
{
	struct receiver_cfg cfg = { .target = target, .journal = journal, .journal_size = JSIZE };
	struct link_creds c = { .psk_file = psk };

	memset(x, 0, sizeof(*x));
	assert_int_equal(receiver_open(&x->r, &cfg), 0);
	assert_int_equal(link_ctx_new(&c, true, &x->ctx), 0);
	x->lfd = link_listen(addr);
	assert_true(x->lfd >= 0);
	x->sessions = sessions;
	assert_int_equal(pthread_create(&x->t, NULL, rx_thread, x), 0);
}

static void rx_start(struct rx *x, int sessions)
{
	rx_start_on(x, sessions, path_r, path_rj);
}

static void rx_stop(struct rx *x)
{
	pthread_join(x->t, NULL);
	close(x->lfd);
	receiver_close(&x->r);
	link_ctx_free(x->ctx);
}

static struct replica_sender *tx_start(struct rlog *p, const char *key, bool sync,
				       uint8_t disk_xor)
{
	struct replica_sender_cfg cfg = {
		.target = addr, .creds = { .psk_file = key }, .sync = sync,
		.timeout_ns = 2000000000ull, .journal = path_pj,
		.disk_size = DISK, .block_size = 512, .generation = 1, .backing = path_p,
	};
	struct replica_sender *s;

	memcpy(cfg.disk, p->sb.uuid, FRAME_UUID_LEN);
	cfg.disk[0] ^= disk_xor;
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, rlog_applied(p)), 0);
	return s;
}

/* Wait up to 10 s for the sender to reach @seq or @state. */
static void tx_wait(struct replica_sender *s, uint64_t seq, uint64_t state)
{
	struct replica_sender_stats st;
	int i;

	for (i = 0; i < 1000; i++) {
		replica_sender_stats(s, &st);
		if ((seq && st.acked >= seq) || (!seq && st.state == state))
			return;
		usleep(10000);
	}
	fail_msg("sender: acked %lu state %lu err %lu, wanted seq %lu state %lu",
		 (unsigned long)st.acked, (unsigned long)st.state, (unsigned long)st.last_error, (unsigned long)seq,
		 (unsigned long)state);
}

static void assert_same_files(const char *a, const char *b)
{
	static uint8_t x[DISK], y[DISK];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);

	assert_int_equal(pread(fa, x, DISK, 0), DISK);
	assert_int_equal(pread(fb, y, DISK, 0), DISK);
	assert_memory_equal(x, y, DISK);
	close(fa);
	close(fb);
}

static void test_stream_and_resume(void **state)
{
	struct replica_sender *s;
	struct journal_scan scan;
	struct journal_sb sb;
	struct rlog p;
	struct rx x;
	int fd;

	assert_int_equal(rlog_open(&p, path_pj, path_p, JSIZE, DISK, 512), 0);
	primary_write(&p, 40);
	rx_start(&x, 2);
	s = tx_start(&p, psk, false, 0);
	tx_wait(s, 40, 0);
	replica_sender_free(s);		/* the link drops: session 1 ends */
	/* more records while the link is down, then a new session */
	primary_write(&p, 300);
	s = tx_start(&p, psk, false, 0);
	tx_wait(s, 340, 0);
	replica_sender_free(s);
	rx_stop(&x);
	assert_int_equal(x.s.resumed_at, 40);
	assert_int_equal(x.s.first_seq, 41);
	assert_int_equal(x.s.last_seq, 340);
	assert_int_equal(x.last_err, -EPIPE);
	rlog_close(&p);
	assert_same_files(path_p, path_r);
	/* the replica's journal: seq 1..340, each once, chained */
	fd = open(path_rj, O_RDONLY);
	assert_int_equal(journal_scan(fd, &sb, &scan), 0);
	close(fd);
	assert_int_equal(scan.first_seq, 1);
	assert_int_equal(scan.last_seq, 340);
	assert_int_equal(scan.records, 340);
	assert_int_equal(scan.end, JOURNAL_END_CLEAN);
}

static void test_wrong_key_and_other_disk(void **state)
{
	struct replica_sender *s;
	struct rlog p;
	struct rx x;
	uint64_t before;

	assert_int_equal(rlog_open(&p, path_pj, path_p, JSIZE, DISK, 512), 0);
	primary_write(&p, 5);
	rx_start(&x, 2);
	before = rlog_applied(&x.r.log);
	s = tx_start(&p, psk2, false, 0);
	/* the first connection fails its handshake; the sender keeps trying */
	while (!x.accept_err)
		usleep(10000);
	assert_int_equal(x.accept_err, -EACCES);
	replica_sender_free(s);
	assert_int_equal(rlog_applied(&x.r.log), before);
	/* another disk: refused, and the sender gives up */
	s = tx_start(&p, psk, false, 0x5a);
	tx_wait(s, 0, REPLICA_FAILED);
	replica_sender_free(s);
	rx_stop(&x);
	assert_int_equal(x.last_err, -EXDEV);
	assert_int_equal(x.s.records, 0);
	assert_int_equal(x.applied, before);
	rlog_close(&p);
}

static void test_sync_verdict(void **state)
{
	struct replica_sender *s;
	struct rlog p;
	struct rx x;

	assert_int_equal(rlog_open(&p, path_pj, path_p, JSIZE, DISK, 512), 0);
	s = tx_start(&p, psk, true, 0);
	/* not connected yet (no receiver): held, until the 2 s timeout */
	assert_int_equal(replica_sender_verdict(s, rlog_applied(&p) + 1), 0);
	tx_wait(s, 0, REPLICA_DEGRADED);
	assert_int_equal(replica_sender_verdict(s, rlog_applied(&p) + 1), 1);
	rx_start(&x, 1);
	tx_wait(s, 0, REPLICA_STREAMING);
	primary_write(&p, 3);
	replica_sender_written(s, rlog_applied(&p));
	tx_wait(s, rlog_applied(&p), 0);
	assert_int_equal(replica_sender_verdict(s, rlog_applied(&p)), 1);
	replica_sender_free(s);
	rx_stop(&x);
	rlog_close(&p);
	assert_same_files(path_p, path_r);
}

static void test_promote(void **state)
{
	struct receiver_cfg cfg = { .target = path_r, .journal = path_rj, .journal_size = JSIZE };
	struct replica_sender_stats st;
	struct replica_sender *s;
	uint64_t gen = 0, seq = 0, before;
	struct rlog p;
	struct rx x;

	rx_start(&x, 1);
	before = rlog_applied(&x.r.log);
	/* the receiver holds the journal: no promote under it */
	assert_int_equal(receiver_promote(&cfg, &gen, &seq), -EBUSY);
	assert_int_equal(rlog_open(&p, path_pj, path_p, JSIZE, DISK, 512), 0);
	s = tx_start(&p, psk, false, 0);
	tx_wait(s, rlog_applied(&p), 0);
	replica_sender_free(s);
	rx_stop(&x);
	assert_int_equal(receiver_promote(&cfg, &gen, &seq), 0);
	assert_int_equal(gen, 2);
	assert_int_equal(seq, rlog_applied(&p));
	assert_true(seq >= before);
	/* the old primary (generation 1) is refused: split brain */
	rx_start(&x, 1);
	s = tx_start(&p, psk, false, 0);
	tx_wait(s, 0, REPLICA_FAILED);
	replica_sender_stats(s, &st);
	assert_int_equal(st.last_error, ESTALE);
	replica_sender_free(s);
	rx_stop(&x);
	assert_int_equal(x.last_err, -ESTALE);
	rlog_close(&p);
}

/* One record on @l: a write of @len bytes of @byte at @off (or zeroes). */
static void write_at(struct rlog *l, uint64_t off, uint32_t len, int byte)
{
	static uint8_t buf[65536];
	struct frame_record r = {
		.seq = rlog_applied(l) + 1, .time_ns = journal_now_ns(), .offset = off,
		.range = len,
	};

	if (byte < 0) {
		r.type = JOURNAL_REC_ZEROES;
	} else {
		memset(buf, byte, len);
		r.type = JOURNAL_REC_WRITE;
		r.length = len;
		r.data = buf;
		r.data_crc = crc32c(0, buf, len);
	}
	assert_int_equal(rlog_append(l, &r), 0);
	assert_int_equal(rlog_sync(l), 0);
}

static void test_resync_merge(void **state)
{
	struct resync_set s = {};
	char p[160];

	/* unsorted, overlapping, touching, unaligned */
	assert_int_equal(resync_add(&s, 8192, 4096), 0);
	assert_int_equal(resync_add(&s, 0, 100), 0);
	assert_int_equal(resync_add(&s, 10000, 5000), 0);
	assert_int_equal(resync_add(&s, 512, 512), 0);
	assert_int_equal(resync_add(&s, 65536, 512), 0);
	assert_int_equal(resync_add(&s, 1024, 0), 0);		/* nothing */
	resync_merge(&s, 512);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.r[0].offset, 0);
	assert_int_equal(s.r[0].length, 1024);
	assert_int_equal(s.r[1].offset, 8192);
	assert_int_equal(s.r[1].length, 15360 - 8192);
	assert_int_equal(s.r[2].offset, 65536);
	assert_int_equal(resync_bytes(&s), 1024 + 7168 + 512);
	/* kept across a cut: saved and loaded the same */
	s.split = 17;
	s.generation = 3;
	s.last = 21;
	snprintf(p, sizeof(p), "%s/set.resync", dir);
	assert_int_equal(resync_save(p, &s), 0);
	resync_free(&s);
	assert_int_equal(resync_load(p, &s), 0);
	assert_int_equal(s.split, 17);
	assert_int_equal(s.generation, 3);
	assert_int_equal(s.last, 21);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.r[1].offset, 8192);
	assert_int_equal(resync_done(p), 0);
	assert_int_equal(resync_load(p, &s), -ENOENT);
	resync_free(&s);
}

/* Records folded into the base: the set after them cannot be known. */
static void test_resync_folded(void **state)
{
	struct resync_set s = {};
	char img[160], jp[160];
	struct rlog l;
	int i;

	snprintf(img, sizeof(img), "%s/fold.img", dir);
	snprintf(jp, sizeof(jp), "%s/fold.journal", dir);
	make_file(img, DISK);
	assert_int_equal(rlog_open(&l, jp, img, JSIZE, DISK, 512), 0);
	for (i = 0; i < 1200; i++)
		write_at(&l, (i * 4096) % DISK, 4096, i);
	assert_true(l.sb.tail_seq > 2);
	assert_int_equal(resync_collect(l.jfd, 1, rlog_applied(&l), 512, &s), -ERANGE);
	/* from the tail on it is known: the 64 blocks of the disk */
	assert_int_equal(resync_collect(l.jfd, l.sb.tail_seq - 1, rlog_applied(&l), 512, &s), 0);
	assert_int_equal(resync_bytes(&s), DISK);
	resync_free(&s);
	/* and the log cannot be cut back into its base */
	assert_int_equal(rlog_truncate(&l, 1), -ERANGE);
	rlog_close(&l);
}

/*
 * After test_promote: the replica (path_r) is the primary now, generation
 * 2, split at the old primary's last shipped record. The old primary
 * (path_p) wrote on alone; the new one writes too; then the old one comes
 * back as the replica.
 */
static void test_failback(void **state)
{
	struct replica_sender_cfg cfg = {
		.target = addr, .creds = { .psk_file = psk }, .journal = path_rj,
		.disk_size = DISK, .block_size = 512, .backing = path_r,
	};
	struct replica_sender_stats st;
	struct replica_sender *s;
	struct journal_scan scan;
	struct journal_sb sb;
	uint64_t split, gen;
	struct rlog p, n;
	struct rx x;
	int fd;

	assert_int_equal(receiver_promoted(path_rj, cfg.disk, &gen, &split), 0);
	assert_int_equal(gen, 2);
	/* the old primary's losing writes: blocks 8..15, 40 (twice), zeroes at 100..103 */
	assert_int_equal(rlog_open(&p, path_pj, path_p, JSIZE, DISK, 512), 0);
	assert_int_equal(rlog_applied(&p), split);
	write_at(&p, 8 * 512, 8 * 512, 0xa1);
	write_at(&p, 40 * 512, 512, 0xa2);
	write_at(&p, 40 * 512, 512, 0xa3);
	write_at(&p, 100 * 512, 4 * 512, -1);
	rlog_close(&p);
	/*
	 * The new primary's writes after the split, overlapping the old side's
	 * blocks 12..15, and of the old records' sizes: in the old primary's
	 * journal they land where its first two were, right before its third.
	 */
	assert_int_equal(rlog_open(&n, path_rj, path_r, JSIZE, 0, 0), 0);
	assert_int_equal(rlog_applied(&n), split);
	write_at(&n, 12 * 512, 8 * 512, 0xb1);
	write_at(&n, 200 * 512, 512, 0xb2);
	cfg.generation = gen;
	cfg.split = split;
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, rlog_applied(&n)), 0);
	/* the old primary as the replica: its own image and journal */
	rx_start_on(&x, 1, path_p, path_pj);
	tx_wait(s, split + 2, 0);
	replica_sender_stats(s, &st);
	replica_sender_free(s);
	rx_stop(&x);
	rlog_close(&n);
	assert_int_equal(x.last_err, -EPIPE);
	assert_true(x.s.failback);
	assert_int_equal(x.s.split, split);
	assert_int_equal(x.s.discarded_last, split + 4);
	/* only the old side's distinct blocks: 8 + 1 + 4, in 3 ranges */
	assert_int_equal(x.s.resync_bytes, 13 * 512);
	assert_int_equal(x.s.resync_ranges, 3);
	assert_int_equal(st.resync_blocks, 13);
	/* then the new side's records after the split, each once */
	assert_int_equal(x.s.first_seq, split + 1);
	assert_int_equal(x.s.last_seq, split + 2);
	assert_int_equal(x.s.data_bytes, 9 * 512);
	assert_same_files(path_p, path_r);
	/* the old side's journal holds the new lineage only, its old records wiped */
	fd = open(path_pj, O_RDONLY);
	assert_int_equal(journal_scan(fd, &sb, &scan), 0);
	close(fd);
	assert_int_equal(scan.last_seq, split + 2);
	assert_int_equal(scan.end, JOURNAL_END_CLEAN);
	/* it is the new primary's replica now: nothing pending, the generation taken */
	assert_int_equal(receiver_promoted(path_pj, cfg.disk, &gen, &split), -ENOENT);
	{
		char rp[160];

		snprintf(rp, sizeof(rp), "%s.resync", path_pj);
		assert_int_equal(access(rp, F_OK), -1);
	}
	/* a sender of the disk's old generation: refused */
	rx_start_on(&x, 1, path_p, path_pj);
	cfg.generation = 1;
	cfg.split = 0;
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, scan.last_seq), 0);
	tx_wait(s, 0, REPLICA_FAILED);
	replica_sender_free(s);
	rx_stop(&x);
	assert_int_equal(x.last_err, -ESTALE);
}

/*
 * A failback cut short, the other way round: after test_failback the old
 * primary (path_p) is the replica of generation 2. It is promoted
 * (generation 3) and serves; the generation-2 primary (path_r) wrote on
 * alone and comes back as the replica. A sender that leaves after the
 * DIVERGE list cuts the resync: the set stays saved, promote is refused,
 * and the next session starts over and ends with equal images.
 */
static void test_failback_cut(void **state)
{
	struct receiver_cfg rc = { .target = path_r, .journal = path_rj, .journal_size = JSIZE };
	struct replica_sender_cfg cfg = {
		.target = addr, .creds = { .psk_file = psk }, .journal = path_pj,
		.disk_size = DISK, .block_size = 512, .backing = path_p,
	};
	struct link_creds c = { .psk_file = psk };
	struct frame f = { .type = FRAME_HELLO };
	uint64_t gen, split, seq;
	struct replica_sender *s;
	struct link_ctx *ctx;
	struct journal_scan scan;
	struct journal_sb sb;
	struct rlog a, b;
	struct link *l;
	struct rx x;
	char rp[160];
	int fd;

	assert_int_equal(receiver_promote(&(struct receiver_cfg){ .target = path_p,
			 .journal = path_pj, .journal_size = JSIZE }, &gen, &seq), 0);
	assert_int_equal(gen, 3);
	assert_int_equal(receiver_promoted(path_pj, cfg.disk, &gen, &split), 0);
	assert_int_equal(split, seq);
	/* the generation-2 side's losing writes, and the new primary's */
	assert_int_equal(rlog_open(&b, path_rj, path_r, JSIZE, 0, 0), 0);
	assert_int_equal(rlog_applied(&b), split);
	write_at(&b, 64 * 512, 2 * 512, 0xc1);
	write_at(&b, 300 * 512, 512, 0xc2);
	rlog_close(&b);
	assert_int_equal(rlog_open(&a, path_pj, path_p, JSIZE, 0, 0), 0);
	write_at(&a, 65 * 512, 512, 0xd1);
	/* a sender that leaves once it has the list */
	rx_start(&x, 1);
	assert_int_equal(link_ctx_new(&c, false, &ctx), 0);
	assert_int_equal(link_connect(ctx, addr, 2000, &l), 0);
	memcpy(f.hello.disk, cfg.disk, FRAME_UUID_LEN);
	f.hello.disk_size = DISK;
	f.hello.block_size = 512;
	f.hello.generation = 3;
	f.hello.applied = rlog_applied(&a);
	f.hello.split = split;
	assert_int_equal(link_send(l, &f), 0);
	assert_int_equal(link_recv(l, &f), 0);
	assert_int_equal(f.type, FRAME_HELLO);
	assert_true(f.flags & FRAME_F_RESYNC);
	assert_int_equal(f.hello.applied, split);
	assert_int_equal(link_recv(l, &f), 0);
	assert_int_equal(f.type, FRAME_DIVERGE);
	assert_int_equal(f.flags, FRAME_F_LAST);
	assert_int_equal(f.div.count, 2);
	link_close(l);
	link_ctx_free(ctx);
	rx_stop(&x);
	assert_int_equal(x.last_err, -EPIPE);
	snprintf(rp, sizeof(rp), "%s.resync", path_rj);
	assert_int_equal(access(rp, F_OK), 0);
	/* its image is neither history now: no promote */
	assert_int_equal(receiver_promote(&rc, &gen, &seq), -EAGAIN);
	/* the next session starts over from the saved set */
	cfg.generation = 3;
	cfg.split = split;
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, rlog_applied(&a)), 0);
	rx_start(&x, 1);
	tx_wait(s, rlog_applied(&a), 0);
	replica_sender_free(s);
	rx_stop(&x);
	assert_true(x.s.failback);
	assert_int_equal(x.s.resync_bytes, 3 * 512);
	assert_int_equal(x.s.first_seq, split + 1);
	assert_int_equal(x.s.last_seq, rlog_applied(&a));
	assert_int_equal(access(rp, F_OK), -1);
	assert_same_files(path_p, path_r);
	fd = open(path_rj, O_RDONLY);
	assert_int_equal(journal_scan(fd, &sb, &scan), 0);
	close(fd);
	assert_int_equal(scan.last_seq, rlog_applied(&a));
	assert_int_equal(scan.end, JOURNAL_END_CLEAN);
	rlog_close(&a);
}

/* Bytes of @path's data (SEEK_DATA/SEEK_HOLE), in 512-byte blocks: what a full copy moves. */
static uint64_t data_blocks(const char *path)
{
	int fd = open(path, O_RDONLY);
	uint64_t n = 0;
	off_t d, h = 0;

	assert_true(fd >= 0);
	while ((d = lseek(fd, h, SEEK_DATA)) >= 0) {
		h = lseek(fd, d, SEEK_HOLE);
		n += ((uint64_t)h - (uint64_t)d / 512 * 512 + 511) / 512;
	}
	close(fd);
	return n;
}

/*
 * A full copy: the primary had data before its journal began, and its
 * journal has folded records into its base; a fresh replica gets the
 * backing's data, then the records after the checkpoint. A copy cut after
 * one block leaves the image marked incomplete (promote refused); the next
 * session copies again and ends equal, its journal beginning at S0 + 1.
 */
static void test_full_copy(void **state)
{
	char img[160], jp[160], rimg[160], rjp[160], mark[200], rbase[200], out[160];
	struct receiver_cfg rc = { .target = rimg, .journal = rjp, .journal_size = JSIZE };
	struct replica_sender_cfg cfg = {
		.target = addr, .creds = { .psk_file = psk }, .journal = jp,
		.disk_size = DISK, .block_size = 512, .generation = 1, .backing = img,
	};
	struct link_creds c = { .psk_file = psk };
	struct frame f = { .type = FRAME_HELLO };
	static uint8_t blk[4096];
	struct journal_restore_info info;
	struct journal_point pt = {};
	struct replica_sender_stats st;
	struct replica_sender *s;
	struct journal_scan scan;
	struct journal_sb sb;
	uint64_t gen, seq, s0, blocks;
	struct link_ctx *ctx;
	struct link *l;
	struct rlog p;
	struct rx x;
	int fd, bfd, ofd, i;

	snprintf(img, sizeof(img), "%s/full.img", dir);
	snprintf(jp, sizeof(jp), "%s/full.journal", dir);
	snprintf(rimg, sizeof(rimg), "%s/full-r.img", dir);
	snprintf(rjp, sizeof(rjp), "%s/full-r.journal", dir);
	snprintf(mark, sizeof(mark), "%s.sync", rjp);
	snprintf(rbase, sizeof(rbase), "%s.base", rjp);
	snprintf(out, sizeof(out), "%s/full-out.img", dir);
	make_file(img, DISK);
	make_file(rimg, DISK);
	/* data on the disk before its journal began, past what the records touch */
	fd = open(img, O_RDWR);
	memset(blk, 0x5a, sizeof(blk));
	assert_int_equal(pwrite(fd, blk, sizeof(blk), DISK - 2 * 4096), sizeof(blk));
	close(fd);
	/* records over the first half only: the rest is a hole, not copied */
	assert_int_equal(rlog_open(&p, jp, img, JSIZE, DISK, 512), 0);
	for (i = 0; i < 1200; i++)
		write_at(&p, (i * 4096) % (DISK / 2), 4096, i);
	assert_true(p.sb.base_seq > 0);
	memcpy(cfg.disk, p.sb.uuid, FRAME_UUID_LEN);
	blocks = data_blocks(img);
	assert_true(blocks >= (DISK / 2 + 4096) / 512);

	/* a sender that leaves after one block of the copy */
	rx_start_on(&x, 1, rimg, rjp);
	assert_int_equal(link_ctx_new(&c, false, &ctx), 0);
	assert_int_equal(link_connect(ctx, addr, 2000, &l), 0);
	memcpy(f.hello.disk, cfg.disk, FRAME_UUID_LEN);
	f.hello.disk_size = DISK;
	f.hello.block_size = 512;
	f.hello.generation = 1;
	f.hello.applied = rlog_applied(&p);
	assert_int_equal(link_send(l, &f), 0);
	assert_int_equal(link_recv(l, &f), 0);
	assert_int_equal(f.type, FRAME_HELLO);
	assert_true(f.flags & FRAME_F_FULL);
	memset(&f, 0, sizeof(f));
	f.type = FRAME_SYNC;
	f.sync.seq = 5;
	assert_int_equal(link_send(l, &f), 0);
	memset(&f, 0, sizeof(f));
	f.type = FRAME_BLOCK;
	f.blk.length = sizeof(blk);
	f.blk.data = blk;
	f.blk.data_crc = crc32c(0, blk, sizeof(blk));
	assert_int_equal(link_send(l, &f), 0);
	link_close(l);
	link_ctx_free(ctx);
	rx_stop(&x);
	assert_int_equal(x.last_err, -EPIPE);
	assert_int_equal(access(mark, F_OK), 0);
	assert_int_equal(receiver_promote(&rc, &gen, &seq), -EAGAIN);

	/* the next session copies again, then streams */
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, rlog_applied(&p)), 0);
	rx_start_on(&x, 1, rimg, rjp);
	tx_wait(s, rlog_applied(&p), 0);
	/* a write after the copy, streamed */
	write_at(&p, DISK - 4096, 4096, 0x77);
	replica_sender_written(s, rlog_applied(&p));
	tx_wait(s, rlog_applied(&p), 0);
	replica_sender_stats(s, &st);
	replica_sender_free(s);
	rx_stop(&x);
	assert_int_equal(x.last_err, -EPIPE);
	assert_true(x.s.full);
	s0 = x.s.full_seq;
	assert_true(s0 >= p.sb.tail_seq - 1 && s0 < rlog_applied(&p));
	assert_int_equal(x.s.full_blocks, blocks);
	assert_int_equal(st.resync_blocks, blocks);
	assert_int_equal(x.s.first_seq, s0 + 1);
	assert_int_equal(x.s.last_seq, rlog_applied(&p));
	assert_int_equal(access(mark, F_OK), -1);
	assert_same_files(img, rimg);
	/* the replica's journal: S0 + 1 on, chained, its base the copy */
	fd = open(rjp, O_RDONLY);
	assert_int_equal(journal_scan(fd, &sb, &scan), 0);
	assert_int_equal(sb.base_seq, s0);
	assert_int_equal(scan.first_seq, s0 + 1);
	assert_int_equal(scan.last_seq, rlog_applied(&p));
	assert_int_equal(scan.end, JOURNAL_END_CLEAN);
	/* restorable from S0 on (here: the last point), refused before with the window */
	bfd = open(rbase, O_RDONLY);
	ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(bfd >= 0 && ofd >= 0);
	pt.seq = rlog_applied(&p);
	assert_int_equal(journal_restore(fd, bfd, ofd, &pt, &info, NULL, NULL), 0);
	assert_same_files(img, out);
	pt.seq = s0 - 1;
	assert_int_equal(journal_resolve(fd, &pt, &info), -ERANGE);
	assert_int_equal(info.base_seq, s0);
	close(ofd);
	close(bfd);
	close(fd);
	/* the primary folds past the replica's last record: the sender copies again */
	seq = rlog_applied(&p);
	for (i = 0; i < 1200; i++)
		write_at(&p, (i * 4096) % (DISK / 2), 4096, i + 7);
	assert_true(p.sb.tail_seq > seq + 1);
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, rlog_applied(&p)), 0);
	rx_start_on(&x, 1, rimg, rjp);
	tx_wait(s, rlog_applied(&p), 0);
	replica_sender_free(s);
	rx_stop(&x);
	assert_true(x.s.full);
	assert_true(x.s.full_seq >= p.sb.tail_seq - 1);
	assert_same_files(img, rimg);
	/* the copy done, promote may go */
	assert_int_equal(receiver_promote(&rc, &gen, &seq), 0);
	assert_int_equal(seq, rlog_applied(&p));
	rlog_close(&p);
}

/* The next frame on @l, its type @type. */
static void expect_frame(struct link *l, struct frame *f, int type)
{
	assert_int_equal(link_recv(l, f), 0);
	assert_int_equal(f->type, type);
}

/*
 * Auto failover keeps its lease through a full copy: a receiver answers a
 * PING between two BLOCKs with ACK 0 and goes on with the copy; a sender
 * whose copy outlasts the lease (a slow replica) puts PINGs between its
 * blocks, and their answers lift the fence before the copy ends.
 */
static void test_copy_keeps_lease(void **state)
{
	const uint64_t lease = 1000000000ull;	/* room for a loaded host and ASan */
	const uint64_t big = 32u << 20;		/* more than the sockets hold */
	char img[160], jp[160], rimg[160], rjp[160];
	struct replica_sender_cfg cfg = {
		.target = addr, .creds = { .psk_file = psk }, .timeout_ns = lease,
		.auto_failover = true, .journal = jp, .disk_size = big, .block_size = 512,
		.generation = 1, .backing = img,
	};
	struct link_creds c = { .psk_file = psk };
	struct replica_sender_stats st;
	static uint8_t blk[4096];
	struct replica_sender *s;
	struct link_ctx *ctx;
	int fd, i, lfd, pings = 0, lifted = 0;
	uint64_t off, s0 = 0;
	char peer[64];
	struct frame f;
	struct link *l;
	struct rlog p;
	struct rx x;

	snprintf(img, sizeof(img), "%s/lease.img", dir);
	snprintf(jp, sizeof(jp), "%s/lease.journal", dir);
	snprintf(rimg, sizeof(rimg), "%s/lease-r.img", dir);
	snprintf(rjp, sizeof(rjp), "%s/lease-r.journal", dir);
	make_file(img, DISK);
	make_file(rimg, DISK);
	assert_int_equal(rlog_open(&p, jp, img, JSIZE, DISK, 512), 0);
	primary_write(&p, 3);

	/* the receiver's side: a PING in the copy, ACK 0, the copy goes on */
	rx_start_on(&x, 1, rimg, rjp);
	assert_int_equal(link_ctx_new(&c, false, &ctx), 0);
	assert_int_equal(link_connect(ctx, addr, 2000, &l), 0);
	memset(&f, 0, sizeof(f));
	f.type = FRAME_HELLO;
	memcpy(f.hello.disk, p.sb.uuid, FRAME_UUID_LEN);
	f.hello.disk_size = DISK;
	f.hello.block_size = 512;
	f.hello.generation = 1;
	f.hello.applied = rlog_applied(&p);
	assert_int_equal(link_send(l, &f), 0);
	expect_frame(l, &f, FRAME_HELLO);
	assert_true(f.flags & FRAME_F_FULL);
	memset(blk, 0xc3, sizeof(blk));
	for (i = 0; i < 4; i++) {
		memset(&f, 0, sizeof(f));
		f.type = i == 0 ? FRAME_SYNC : i == 2 ? FRAME_PING : FRAME_BLOCK;
		f.sync.seq = 3;
		if (f.type == FRAME_BLOCK) {
			f.blk.offset = i * sizeof(blk);
			f.blk.length = sizeof(blk);
			f.blk.data = blk;
			f.blk.data_crc = crc32c(0, blk, sizeof(blk));
		}
		assert_int_equal(link_send(l, &f), 0);
		if (i == 2) {
			expect_frame(l, &f, FRAME_ACK);
			assert_int_equal(f.ack, 0);
		}
	}
	memset(&f, 0, sizeof(f));
	f.type = FRAME_SYNC;
	f.flags = FRAME_F_LAST;
	f.sync.seq = 3;
	f.sync.blocks = 2 * sizeof(blk) / 512;
	assert_int_equal(link_send(l, &f), 0);
	expect_frame(l, &f, FRAME_ACK);
	assert_int_equal(f.ack, 3);
	link_close(l);
	link_ctx_free(ctx);
	rx_stop(&x);
	assert_true(x.s.full);
	assert_int_equal(x.s.full_blocks, 2 * sizeof(blk) / 512);
	rlog_close(&p);

	/* the sender's side: a disk larger than the sockets hold, a slow replica */
	make_file(img, big);
	fd = open(img, O_RDWR);
	for (off = 0; off < big; off += sizeof(blk)) {
		memset(blk, (int)(off >> 12), sizeof(blk));
		assert_int_equal(pwrite(fd, blk, sizeof(blk), off), sizeof(blk));
	}
	close(fd);
	assert_int_equal(unlink(jp), 0);
	assert_int_equal(rlog_open(&p, jp, img, JSIZE, big, 512), 0);
	memcpy(cfg.disk, p.sb.uuid, FRAME_UUID_LEN);
	assert_int_equal(link_ctx_new(&c, true, &ctx), 0);
	lfd = link_listen(addr);
	assert_true(lfd >= 0);
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, rlog_applied(&p)), 0);
	assert_int_equal(link_accept(ctx, lfd, peer, sizeof(peer), &l), 0);
	expect_frame(l, &f, FRAME_HELLO);
	memset(&f, 0, sizeof(f));
	f.type = FRAME_HELLO;
	f.flags = FRAME_F_FULL;
	f.hello.role = 1;
	memcpy(f.hello.disk, cfg.disk, FRAME_UUID_LEN);
	f.hello.disk_size = big;
	f.hello.block_size = 512;
	f.hello.generation = 1;
	assert_int_equal(link_send(l, &f), 0);
	expect_frame(l, &f, FRAME_SYNC);
	s0 = f.sync.seq;
	for (;;) {
		assert_int_equal(link_recv(l, &f), 0);
		if (f.type == FRAME_SYNC)
			break;
		if (f.type == FRAME_BLOCK) {
			usleep(40000);	/* a replica writing 25 MiB/s */
			continue;
		}
		assert_int_equal(f.type, FRAME_PING);
		pings++;
		memset(&f, 0, sizeof(f));
		f.type = FRAME_ACK;
		assert_int_equal(link_send(l, &f), 0);
		/* taken by the sender at once: fenced no more, mid-copy */
		for (i = 0; i < 100 && !lifted; i++) {
			replica_sender_stats(s, &st);
			lifted = !st.fenced;
			usleep(1000);
		}
	}
	assert_true(f.flags & FRAME_F_LAST);
	assert_true(pings > 0);
	assert_true(lifted);
	memset(&f, 0, sizeof(f));
	f.type = FRAME_ACK;
	f.ack = s0;
	assert_int_equal(link_send(l, &f), 0);
	replica_sender_free(s);
	link_close(l);
	close(lfd);
	link_ctx_free(ctx);
	rlog_close(&p);
}

/* The receiver's decision: strictly after twice the lease, armed, not promoted. */
static void test_failover_due(void **state)
{
	struct receiver r = { .lease_ns = 300000000ull, .heard_ns = 5000000000ull };

	assert_false(receiver_failover_due(&r, r.heard_ns + 300000000ull));
	assert_false(receiver_failover_due(&r, r.heard_ns + 600000000ull));
	assert_true(receiver_failover_due(&r, r.heard_ns + 600000001ull));
	assert_false(receiver_failover_due(&r, r.heard_ns - 1));
	r.promoted = true;
	assert_false(receiver_failover_due(&r, r.heard_ns + 5000000000ull));
	r.promoted = false;
	r.lease_ns = 0;		/* manual, or disarmed by a clean close */
	assert_false(receiver_failover_due(&r, r.heard_ns + 5000000000ull));
}

static char auto_p[160], auto_pj[160], auto_r[160], auto_rj[160];

static struct replica_sender *tx_auto(struct rlog *p, uint64_t lease_ns)
{
	struct replica_sender_cfg cfg = {
		.target = addr, .creds = { .psk_file = psk }, .timeout_ns = lease_ns,
		.auto_failover = true, .journal = auto_pj, .disk_size = DISK, .block_size = 512,
		.generation = 1, .backing = auto_p,
	};
	struct replica_sender *s;

	memcpy(cfg.disk, p->sb.uuid, FRAME_UUID_LEN);
	assert_int_equal(replica_sender_new(&cfg, &s), 0);
	assert_int_equal(replica_sender_start(s, rlog_applied(p)), 0);
	return s;
}

static void read_text(const char *p, char *buf, size_t len)
{
	int fd = open(p, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, len - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

/*
 * Auto failover, the sender's lease (1 s) and the receiver's arming: fenced
 * before the replica first answers; idle but kept alive by pings (the
 * receiver never silent for 2 leases, the lease never out); a clean stop
 * disarms the receiver, durably; a replica that stops answering fences
 * the primary after the lease: writes EIO, and the stats say so.
 */
static void test_auto_failover(void **state)
{
	const uint64_t lease = 1000000000ull;	/* room for a loaded host and ASan */
	struct replica_sender_stats st;
	struct replica_sender *s;
	char idp[192], text[256];
	struct receiver r;
	struct rlog p;
	struct rx x;
	int i;

	/* files of its own: the tests before leave a promoted replica behind */
	snprintf(auto_p, sizeof(auto_p), "%s/auto-primary.img", dir);
	snprintf(auto_pj, sizeof(auto_pj), "%s/auto-primary.journal", dir);
	snprintf(auto_r, sizeof(auto_r), "%s/auto-replica.img", dir);
	snprintf(auto_rj, sizeof(auto_rj), "%s/auto-replica.journal", dir);
	snprintf(idp, sizeof(idp), "%s.replica", auto_rj);
	make_file(auto_p, DISK);
	make_file(auto_r, DISK);
	assert_int_equal(rlog_open(&p, auto_pj, auto_p, JSIZE, DISK, 512), 0);
	primary_write(&p, 10);
	s = tx_auto(&p, lease);
	/* no answer yet: the replica may have promoted while we were away */
	assert_int_equal(replica_sender_verdict(s, 11), -EIO);
	replica_sender_stats(s, &st);
	assert_int_equal(st.fenced, 1);
	assert_int_equal(st.lease_ms, 1000);
	rx_start_on(&x, 2, auto_r, auto_rj);
	tx_wait(s, 10, 0);
	assert_int_equal(replica_sender_verdict(s, 11), 1);
	read_text(idp, text, sizeof(text));
	assert_non_null(strstr(text, "failover_lease_ms=1000\n"));
	/* idle for 3 leases: pings keep both sides' clocks fresh */
	for (i = 0; i < 30; i++) {
		usleep(100000);
		assert_false(receiver_failover_due(&x.r, clock_ns(CLOCK_MONOTONIC)));
		replica_sender_stats(s, &st);
		assert_int_equal(st.fenced, 0);
	}
	/* more records after the pings: the stream goes on */
	primary_write(&p, 5);
	replica_sender_written(s, rlog_applied(&p));
	tx_wait(s, 15, 0);
	replica_sender_free(s);		/* stopped on purpose: CLOSE */
	for (i = 0; i < 200 && !x.s.closed; i++)
		usleep(10000);
	assert_true(x.s.closed);
	assert_int_equal(x.r.lease_ns, 0);
	read_text(idp, text, sizeof(text));
	assert_null(strstr(text, "failover_lease_ms="));
	usleep(2 * lease / 1000 + 100000);
	assert_false(receiver_failover_due(&x.r, clock_ns(CLOCK_MONOTONIC)));

	/* a replica that greets, then hears nothing (cut): the primary fences at the lease */
	x.mute_ms = 2500;
	s = tx_auto(&p, lease);
	for (i = 0; i < 200; i++) {
		replica_sender_stats(s, &st);
		if (st.state == REPLICA_STREAMING && !st.fenced)
			break;
		usleep(5000);
	}
	assert_int_equal(st.fenced, 0);
	/* the hello armed it, durably: a restarted receiver keeps it */
	read_text(idp, text, sizeof(text));
	assert_non_null(strstr(text, "failover_lease_ms=1000\n"));
	usleep(lease / 1000 + 200000);
	replica_sender_stats(s, &st);
	assert_int_equal(st.fenced, 1);
	assert_int_equal(replica_sender_verdict(s, 16), -EIO);
	replica_sender_free(s);
	rx_stop(&x);
	rlog_close(&p);
	assert_int_equal(receiver_open(&r, &(struct receiver_cfg){ .target = auto_r,
			 .journal = auto_rj, .journal_size = JSIZE }), 0);
	assert_int_equal(r.lease_ns, lease);
	assert_false(receiver_failover_due(&r, clock_ns(CLOCK_MONOTONIC)));
	assert_true(receiver_failover_due(&r, r.heard_ns + 2 * lease + 1));
	receiver_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_and_resume),
		cmocka_unit_test(test_wrong_key_and_other_disk),
		cmocka_unit_test(test_sync_verdict),
		cmocka_unit_test(test_promote),
		cmocka_unit_test(test_failback),
		cmocka_unit_test(test_failback_cut),
		cmocka_unit_test(test_resync_merge),
		cmocka_unit_test(test_resync_folded),
		cmocka_unit_test(test_full_copy),
		cmocka_unit_test(test_copy_keeps_lease),
		cmocka_unit_test(test_failover_due),
		cmocka_unit_test(test_auto_failover),
	};

	return cmocka_run_group_tests(tests, setup, remove_dir);
}
