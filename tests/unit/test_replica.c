// SPDX-License-Identifier: GPL-2.0
/*
 * Replication end to end on loopback, in one process: a primary journal
 * (written with the replica's own appender, replica/rlog.h), the sender
 * thread shipping it over TLS with a PSK, the receiver applying it. The
 * images end equal; a second session resumes after the last applied seq
 * (the replica's journal has every seq once); a wrong key fails the
 * handshake with nothing applied; another disk's sender is refused; sync
 * verdicts hold a write until its ack.
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

#include "lib/crc32c.h"
#include "replica/receiver.h"
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
		x->last_err = receiver_session(&x->r, l, &x->s);
		x->applied = rlog_applied(&x->r.log);
		link_close(l);
	}
	return NULL;
}

static void rx_start(struct rx *x, int sessions)
{
	struct receiver_cfg cfg = { .target = path_r, .journal = path_rj, .journal_size = JSIZE };
	struct link_creds c = { .psk_file = psk };

	memset(x, 0, sizeof(*x));
	assert_int_equal(receiver_open(&x->r, &cfg), 0);
	assert_int_equal(link_ctx_new(&c, true, &x->ctx), 0);
	x->lfd = link_listen(addr);
	assert_true(x->lfd >= 0);
	x->sessions = sessions;
	assert_int_equal(pthread_create(&x->t, NULL, rx_thread, x), 0);
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
		.disk_size = DISK, .block_size = 512, .generation = 1,
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_and_resume),
		cmocka_unit_test(test_wrong_key_and_other_disk),
		cmocka_unit_test(test_sync_verdict),
		cmocka_unit_test(test_promote),
	};

	return cmocka_run_group_tests(tests, setup, remove_dir);
}
