// SPDX-License-Identifier: GPL-2.0
/*
 * receiver.c - one replication session on the replica: hello both ways
 * (the sender's disk and generation checked, our last applied seq told,
 * so the sender resumes right after it), then records applied in order
 * and acknowledged when the sender asks, after the journal is synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "replica/receiver.h"

#define HELLO_TIMEOUT_MS	10000

int receiver_id_path(const char *journal, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.replica", journal);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static int load_id(struct receiver *r)
{
	char path[PATH_MAX], text[256], disk[2 * FRAME_UUID_LEN + 1];
	unsigned int b;
	ssize_t n;
	int fd, err, i;

	err = receiver_id_path(r->cfg.journal, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, text, sizeof(text) - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	text[n] = '\0';
	if (sscanf(text, "disk=%32s generation=%" SCNu64, disk, &r->generation) != 2 ||
	    strlen(disk) != 2 * FRAME_UUID_LEN)
		return -EBADMSG;
	for (i = 0; i < FRAME_UUID_LEN; i++) {
		if (sscanf(disk + 2 * i, "%2x", &b) != 1)
			return -EBADMSG;
		r->disk[i] = b;
	}
	r->have_id = true;
	return 0;
}

static int save_id(struct receiver *r)
{
	char path[PATH_MAX], text[128], disk[2 * FRAME_UUID_LEN + 1];
	int n, err;

	err = receiver_id_path(r->cfg.journal, path, sizeof(path));
	if (err)
		return err;
	hex(r->disk, FRAME_UUID_LEN, disk);
	n = snprintf(text, sizeof(text), "disk=%s\ngeneration=%" PRIu64 "\n", disk,
		     r->generation);
	return write_file_atomic(path, text, n, 0600, FILE_ATOMIC_SYNC);
}

int receiver_open(struct receiver *r, const struct receiver_cfg *cfg)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->log.jfd = r->log.tfd = r->log.basefd = -1;
	err = load_id(r);
	if (err)
		return err;
	err = rlog_open(&r->log, cfg->journal, cfg->target, cfg->journal_size, 0, 0);
	if (err == -ENOENT && !access(cfg->target, W_OK)) {
		/* no journal yet: made at the first sender's hello, with its geometry */
		rlog_close(&r->log);
		return 0;
	}
	if (err) {
		rlog_close(&r->log);
		return err;
	}
	r->log_open = true;
	return 0;
}

static int refuse(struct link *l, int err, const char *msg)
{
	struct frame f = { .type = FRAME_ERROR };

	f.error.err = err;
	snprintf(f.error.msg, sizeof(f.error.msg), "%s", msg);
	link_send(l, &f);
	return err;
}

static int greet(struct receiver *r, struct link *l, struct receiver_session *s);

int receiver_greet(struct receiver *r, struct link *l, struct receiver_session *s)
{
	memset(s, 0, sizeof(*s));
	return greet(r, l, s);
}

static int greet(struct receiver *r, struct link *l, struct receiver_session *s)
{
	struct frame f, me = { .type = FRAME_HELLO };
	const struct frame_hello *h = &f.hello;
	int err;

	link_set_timeout(l, HELLO_TIMEOUT_MS);
	err = link_recv(l, &f);
	if (err)
		return err;
	if (f.type == FRAME_ERROR)
		goto peer_error;
	if (f.type != FRAME_HELLO || h->role != 0)
		return refuse(l, -EBADMSG, "expected the sender's hello");
	memcpy(s->peer_disk, h->disk, FRAME_UUID_LEN);
	if (r->have_id && memcmp(h->disk, r->disk, FRAME_UUID_LEN))
		return refuse(l, -EXDEV, "this replica serves another disk");
	if (r->have_id && h->generation < r->generation)
		return refuse(l, -ESTALE, "this replica was promoted: it is a primary now");
	if (r->log_open && (h->disk_size != r->log.sb.disk_size ||
			    h->block_size != r->log.sb.block_size))
		return refuse(l, -EDOM, "the disk's size differs from this replica's");
	if (!r->log_open) {
		err = rlog_open(&r->log, r->cfg.journal, r->cfg.target, r->cfg.journal_size,
				h->disk_size, h->block_size);
		if (err)
			return refuse(l, err, "the replica cannot open its image or journal");
		r->log_open = true;
	}
	if (!r->have_id || h->generation != r->generation) {
		memcpy(r->disk, h->disk, FRAME_UUID_LEN);
		r->generation = h->generation;
		err = save_id(r);
		if (err)
			return refuse(l, err, "the replica cannot record the disk's identity");
		r->have_id = true;
	}
	s->replayed = r->log.replayed;
	s->resumed_at = rlog_applied(&r->log);
	memcpy(me.hello.disk, r->disk, FRAME_UUID_LEN);
	me.hello.disk_size = r->log.sb.disk_size;
	me.hello.block_size = r->log.sb.block_size;
	me.hello.role = 1;
	me.hello.generation = r->generation;
	me.hello.applied = rlog_applied(&r->log);
	err = link_send(l, &me);
	if (err)
		return err;
	return link_set_timeout(l, 0);
peer_error:
	s->peer_err = f.error.err;
	snprintf(s->peer_msg, sizeof(s->peer_msg), "%s", f.error.msg);
	return -ECONNABORTED;
}

static int ack(struct receiver *r, struct link *l, struct receiver_session *s)
{
	struct frame f = { .type = FRAME_ACK };
	int err = rlog_sync(&r->log);

	if (err)
		return err;
	f.ack = rlog_applied(&r->log);
	s->acks++;
	return link_send(l, &f);
}

int receiver_session(struct receiver *r, struct link *l, struct receiver_session *s)
{
	int err = receiver_greet(r, l, s);

	return err ? err : receiver_stream(r, l, s);
}

int receiver_stream(struct receiver *r, struct link *l, struct receiver_session *s)
{
	struct frame f;
	int err;

	for (;;) {
		err = link_recv(l, &f);
		if (err)
			break;
		if (f.type == FRAME_ERROR) {
			s->peer_err = f.error.err;
			snprintf(s->peer_msg, sizeof(s->peer_msg), "%s", f.error.msg);
			err = -ECONNABORTED;
			break;
		}
		if (f.type != FRAME_RECORD) {
			err = refuse(l, -EBADMSG, "expected a record");
			break;
		}
		if (f.rec.seq != rlog_applied(&r->log) + 1) {
			s->expected = rlog_applied(&r->log) + 1;
			s->got = f.rec.seq;
			err = refuse(l, -ERANGE, "a record out of sequence");
			break;
		}
		err = rlog_append(&r->log, &f.rec);
		if (err) {
			refuse(l, err, "the replica cannot apply the record");
			break;
		}
		if (!s->records++)
			s->first_seq = f.rec.seq;
		s->last_seq = f.rec.seq;
		if (f.flags & FRAME_F_ACK_REQ) {
			err = ack(r, l, s);
			if (err)
				break;
		}
	}
	/* what was applied is durable whatever ended the session */
	if (r->log_open) {
		int e = rlog_sync(&r->log);

		if (e && err == -EPIPE)
			err = e;
	}
	return err;
}

void receiver_close(struct receiver *r)
{
	if (!r)
		return;
	if (r->log_open)
		rlog_close(&r->log);
	r->log_open = false;
}

int receiver_promote(const struct receiver_cfg *cfg, uint64_t *generation, uint64_t *seq)
{
	struct receiver r;
	int err;

	err = receiver_open(&r, cfg);
	if (!err && (!r.have_id || !r.log_open))
		err = -ENOENT;
	if (err)
		goto out;
	r.generation++;
	err = save_id(&r);
	*generation = r.generation;
	*seq = rlog_applied(&r.log);
out:
	receiver_close(&r);
	return err;
}
