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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/units.h"
#include "replica/receiver.h"
#include "replica/resync.h"

#define HELLO_TIMEOUT_MS	10000

int receiver_id_path(const char *journal, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.replica", journal);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int receiver_sync_path(const char *journal, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.sync", journal);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/* The identity file of @journal. 0, -ENOENT (none), -EBADMSG, -errno. */
static int read_id(const char *journal, uint8_t disk_out[FRAME_UUID_LEN], uint64_t *generation,
		   bool *promoted, uint64_t *split, uint64_t *lease_ms)
{
	char path[PATH_MAX], text[256], disk[2 * FRAME_UUID_LEN + 1];
	const char *p;
	unsigned int b;
	ssize_t n;
	int fd, err, i;

	err = receiver_id_path(journal, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	text[n] = '\0';
	if (sscanf(text, "disk=%32s generation=%" SCNu64, disk, generation) != 2 ||
	    strlen(disk) != 2 * FRAME_UUID_LEN)
		return -EBADMSG;
	for (i = 0; i < FRAME_UUID_LEN; i++) {
		if (sscanf(disk + 2 * i, "%2x", &b) != 1)
			return -EBADMSG;
		disk_out[i] = b;
	}
	/* promote adds the seq it found: the new lineage starts after it */
	p = strstr(text, "split=");
	*promoted = p && sscanf(p, "split=%" SCNu64, split) == 1;
	/* auto failover armed by the primary's hello, disarmed by its clean close */
	p = strstr(text, "failover_lease_ms=");
	if (!p || sscanf(p, "failover_lease_ms=%" SCNu64, lease_ms) != 1)
		*lease_ms = 0;
	return 0;
}

static int load_id(struct receiver *r)
{
	uint64_t lease_ms = 0;
	int err = read_id(r->cfg.journal, r->disk, &r->generation, &r->promoted, &r->split,
			  &lease_ms);

	r->lease_ns = r->promoted ? 0 : lease_ms * NSEC_PER_MSEC;
	if (err == -ENOENT)
		return 0;
	if (!err)
		r->have_id = true;
	return err;
}

int receiver_promoted(const char *journal, uint8_t disk[FRAME_UUID_LEN], uint64_t *generation,
		      uint64_t *split)
{
	uint64_t lease_ms;
	bool promoted;
	int err = read_id(journal, disk, generation, &promoted, split, &lease_ms);

	return err ? err : promoted ? 0 : -ENOENT;
}

static int save_id(struct receiver *r)
{
	char path[PATH_MAX], text[160], disk[2 * FRAME_UUID_LEN + 1];
	int n, err;

	err = receiver_id_path(r->cfg.journal, path, sizeof(path));
	if (err)
		return err;
	hex(r->disk, FRAME_UUID_LEN, disk);
	n = snprintf(text, sizeof(text), "disk=%s\ngeneration=%" PRIu64 "\n", disk,
		     r->generation);
	if (r->promoted)
		n += snprintf(text + n, sizeof(text) - n, "split=%" PRIu64 "\n", r->split);
	else if (r->lease_ns)
		n += snprintf(text + n, sizeof(text) - n, "failover_lease_ms=%" PRIu64 "\n",
			      (uint64_t)(r->lease_ns / NSEC_PER_MSEC));
	return write_file_atomic(path, text, n, 0600, FILE_ATOMIC_SYNC);
}

int receiver_open(struct receiver *r, const struct receiver_cfg *cfg)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->log.jfd = r->log.tfd = r->log.basefd = -1;
	/* a restarted receiver gives the primary a whole 2 * lease from now */
	r->heard_ns = clock_ns(CLOCK_MONOTONIC);
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

/*
 * Failback: is this side's journal ahead of the sender's split, in another
 * history? A sender of a newer generation than ours (or, with no identity
 * file, the disk's own journal: we were its primary) whose split is before
 * our last record. Then the records after the split are the split brain's
 * losing writes: their ranges into @set, saved before anything is
 * discarded. A saved set from a failback cut short is taken as it is.
 */
static int failback_set(struct receiver *r, struct link *l, const struct frame_hello *h,
			const char *rpath, struct resync_set *set, struct receiver_session *s,
			bool *full)
{
	uint64_t last = rlog_applied(&r->log);
	int err;

	err = resync_load(rpath, set);
	if (!err) {
		if (set->split != h->split || set->generation != h->generation)
			return refuse(l, -ESTALE, "an unfinished failback to another generation "
				      "is pending on this replica");
		goto found;
	}
	if (err != -ENOENT)
		return refuse(l, err, "the replica cannot read its pending resync");
	if ((r->have_id && h->generation <= r->generation) || last <= h->split)
		return 0;
	if (!r->have_id && memcmp(r->log.sb.uuid, h->disk, FRAME_UUID_LEN))
		return refuse(l, -EXDEV, "this replica's journal is another disk's");
	s->failback = true;
	s->split = h->split;
	s->discarded_last = last;
	err = resync_collect(r->log.jfd, h->split, last, r->log.sb.block_size, set);
	if (err == -ERANGE) {
		/* the writes made here after the split were folded: a full copy */
		s->failback = false;
		resync_free(set);
		*full = true;
		return 0;
	}
	if (err)
		return refuse(l, err, "the replica cannot read its journal");
	set->split = h->split;
	set->generation = h->generation;
	set->last = last;
	err = resync_save(rpath, set);
	if (err)
		return refuse(l, err, "the replica cannot save its resync set");
	return 0;
found:
	s->failback = true;
	s->split = set->split;
	s->discarded_last = set->last;
	return 0;
}

static int send_diverge(struct link *l, const struct resync_set *set)
{
	struct frame f = { .type = FRAME_DIVERGE };
	uint8_t *raw = malloc(FRAME_RANGES_MAX * FRAME_RANGE_LEN);
	uint32_t i = 0, k, n;
	int err = 0;

	if (!raw)
		return -ENOMEM;
	do {
		n = set->count - i < FRAME_RANGES_MAX ? set->count - i : FRAME_RANGES_MAX;
		for (k = 0; k < n; k++)
			frame_range_put(raw, k, set->r[i + k].offset, set->r[i + k].length);
		f.div.count = n;
		f.div.raw = raw;
		i += n;
		f.flags = i == set->count ? FRAME_F_LAST : 0;
		err = link_send(l, &f);
	} while (!err && i < set->count);
	free(raw);
	return err;
}

/* Does [off, off + len) lie inside one range of the (merged, sorted) set? */
static bool covered(const struct resync_set *set, uint64_t off, uint64_t len)
{
	uint32_t lo = 0, hi = set->count, mid;

	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (set->r[mid].offset <= off)
			lo = mid;
		else
			hi = mid;
	}
	return set->count && set->r[lo].offset <= off &&
	       off - set->r[lo].offset <= set->r[lo].length &&
	       len <= set->r[lo].length - (off - set->r[lo].offset);
}

/* A BLOCK frame's data onto the image, or the peer told why not. */
static int put_block(struct receiver *r, struct link *l, const struct frame *f)
{
	ssize_t n = pwrite(r->log.tfd, f->blk.data, f->blk.length, (off_t)f->blk.offset);

	if (n != (ssize_t)f->blk.length)
		return refuse(l, n < 0 ? -errno : -EIO, "the replica cannot write its image");
	return 0;
}

/* The next frame; a peer's ERROR frame is kept in @s and is -ECONNABORTED. */
static int recv_frame(struct receiver *r, struct link *l, struct frame *f,
		      struct receiver_session *s)
{
	int err = link_recv(l, f);

	if (err)
		return err;
	r->heard_ns = clock_ns(CLOCK_MONOTONIC);
	if (f->type == FRAME_ERROR) {
		s->peer_err = f->error.err;
		snprintf(s->peer_msg, sizeof(s->peer_msg), "%s", f->error.msg);
		return -ECONNABORTED;
	}
	return 0;
}

/*
 * A PING in the middle of a full copy or a resync (auto failover keeps its
 * lease): ACK 0, as the journal is being replaced and says nothing yet.
 */
static int lease_ack(struct link *l)
{
	return link_send(l, &(struct frame){ .type = FRAME_ACK });
}

/* The sender's content of the set, onto the image, then made durable. */
static int take_blocks(struct receiver *r, struct link *l, const struct resync_set *set,
		       struct receiver_session *s)
{
	uint64_t want = resync_bytes(set), got = 0;
	struct frame f;
	int err;

	for (;;) {
		err = recv_frame(r, l, &f, s);
		if (err)
			return err;
		if (f.type == FRAME_PING) {
			err = lease_ack(l);
			if (err)
				return err;
			continue;
		}
		if (f.type != FRAME_BLOCK)
			return refuse(l, -EBADMSG, "expected a resync block");
		if (!covered(set, f.blk.offset, f.blk.length) ||
		    f.blk.offset + f.blk.length > r->log.sb.disk_size)
			return refuse(l, -EPROTO, "a resync block outside the set");
		err = put_block(r, l, &f);
		if (err)
			return err;
		got += f.blk.length;
		if (f.flags & FRAME_F_LAST)
			break;
	}
	if (got != want)
		return refuse(l, -EPROTO, "the resync did not cover the set");
	if (fsync(r->log.tfd))
		return -errno;
	s->resync_bytes = got;
	s->resync_ranges = set->count;
	return 0;
}

static int greet(struct receiver *r, struct link *l, struct receiver_session *s)
{
	struct frame f, me = { .type = FRAME_HELLO };
	const struct frame_hello *h = &f.hello;
	struct resync_set set = {};
	char rpath[PATH_MAX], spath[PATH_MAX];
	bool full = false;
	uint64_t lease;
	int err;

	link_set_timeout(l, HELLO_TIMEOUT_MS);
	err = link_recv(l, &f);
	if (err)
		return err;
	if (f.type == FRAME_ERROR)
		goto peer_error;
	if (f.type != FRAME_HELLO || h->role != 0)
		return refuse(l, -EBADMSG, "expected the sender's hello");
	r->heard_ns = clock_ns(CLOCK_MONOTONIC);
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
	s->block_size = r->log.sb.block_size;
	err = receiver_sync_path(r->cfg.journal, spath, sizeof(spath));
	if (!err)
		err = resync_path(r->cfg.journal, rpath, sizeof(rpath));
	if (err)
		goto out;
	/* nothing to resume from, or a copy cut short: a full copy */
	full = !access(spath, F_OK) || (!r->have_id && !rlog_applied(&r->log));
	if (!full)
		err = failback_set(r, l, h, rpath, &set, s, &full);
	/* before the identity moves on: a cut from here still copies next time */
	if (!err && full)
		err = write_file_atomic(spath, "full copy pending\n", 18, 0600, FILE_ATOMIC_SYNC);
	if (err)
		goto out;
	if (!r->have_id || h->generation != r->generation) {
		memcpy(r->disk, h->disk, FRAME_UUID_LEN);
		r->generation = h->generation;
		r->promoted = false;
		err = save_id(r);
		if (err) {
			err = refuse(l, err, "the replica cannot record the disk's identity");
			goto out;
		}
		r->have_id = true;
	}
	/* the primary's failover mode, kept so that a restarted receiver acts on it */
	lease = h->lease_ms * NSEC_PER_MSEC;
	if (lease != r->lease_ns) {
		r->lease_ns = lease;
		err = save_id(r);
		if (err) {
			err = refuse(l, err, "the replica cannot record the failover mode");
			goto out;
		}
	}
	if (s->failback) {
		/* the set is saved: the losing records can go */
		err = rlog_truncate(&r->log, set.split);
		if (!err && !set.count)
			err = resync_done(rpath);
		if (err) {
			err = refuse(l, err, "the replica cannot discard its records after the split");
			goto out;
		}
	}
	s->replayed = r->log.replayed;
	s->resumed_at = rlog_applied(&r->log);
	memcpy(me.hello.disk, r->disk, FRAME_UUID_LEN);
	me.hello.disk_size = r->log.sb.disk_size;
	me.hello.block_size = r->log.sb.block_size;
	me.hello.role = 1;
	me.hello.generation = r->generation;
	me.hello.applied = rlog_applied(&r->log);
	me.flags = full ? FRAME_F_FULL : set.count ? FRAME_F_RESYNC : 0;
	err = link_send(l, &me);
	if (!err && set.count) {
		err = send_diverge(l, &set);
		if (!err)
			err = take_blocks(r, l, &set, s);
		/* the blocks are durable: a cut from here on resumes as a plain stream */
		if (!err)
			err = resync_done(rpath);
	}
	/* auto: a primary silent for 2 * lease has fenced itself; we stop waiting */
	if (!err)
		err = link_set_timeout(l, (int)(2 * r->lease_ns / NSEC_PER_MSEC));
out:
	resync_free(&set);
	return err;
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

/* The whole image zeroed: the copy sends only the disk's data. */
static int zero_image(int fd, uint64_t size)
{
	static const uint8_t zero[1 << 16];
	uint64_t off, n;

	if (!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)size))
		return 0;
	for (off = 0; off < size; off += n) {
		n = size - off < sizeof(zero) ? size - off : sizeof(zero);
		if (pwrite(fd, zero, n, (off_t)off) != (ssize_t)n)
			return -EIO;
	}
	return 0;
}

/* A full copy (receiver.h): from SYNC(@seq) to SYNC(LAST), then ACK(@seq). */
static int take_copy(struct receiver *r, struct link *l, struct receiver_session *s,
		     uint64_t seq)
{
	uint32_t bs = r->log.sb.block_size;
	char spath[PATH_MAX];
	uint64_t got = 0;
	struct frame f;
	int err;

	err = receiver_sync_path(r->cfg.journal, spath, sizeof(spath));
	if (!err)
		err = write_file_atomic(spath, "full copy pending\n", 18, 0600, FILE_ATOMIC_SYNC);
	if (err)
		return refuse(l, err, "the replica cannot mark its image incomplete");
	/* cut from here on, no journal is left to replay old records onto the copy */
	if (ftruncate(r->log.jfd, 0) || fsync(r->log.jfd))
		return refuse(l, -errno, "the replica cannot empty its journal");
	err = zero_image(r->log.tfd, r->log.sb.disk_size);
	if (err)
		return refuse(l, err, "the replica cannot zero its image");
	for (;;) {
		err = recv_frame(r, l, &f, s);
		if (err)
			return err;
		if (f.type == FRAME_SYNC && (f.flags & FRAME_F_LAST))
			break;
		if (f.type == FRAME_PING) {
			err = lease_ack(l);
			if (err)
				return err;
			continue;
		}
		if (f.type != FRAME_BLOCK)
			return refuse(l, -EBADMSG, "expected a block of the full copy");
		if (f.blk.offset % bs || f.blk.length % bs ||
		    f.blk.offset + f.blk.length > r->log.sb.disk_size)
			return refuse(l, -EPROTO, "a block of the full copy outside the disk");
		err = put_block(r, l, &f);
		if (err)
			return err;
		got += f.blk.length;
	}
	if (f.sync.seq != seq || f.sync.blocks != got / bs)
		return refuse(l, -EPROTO, "the full copy's end does not match what came");
	if (fsync(r->log.tfd))
		return refuse(l, -errno, "the replica cannot sync its image");
	err = rlog_restart(&r->log, r->cfg.journal, r->cfg.target, seq);
	if (!err)
		err = resync_done(spath);
	if (err)
		return refuse(l, err, "the replica cannot begin its journal after the copy");
	s->full = true;
	s->full_seq = seq;
	s->full_blocks = got / bs;
	s->resumed_at = seq;
	return ack(r, l, s);
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
		err = recv_frame(r, l, &f, s);
		if (err)
			break;
		if (f.type == FRAME_SYNC && !(f.flags & FRAME_F_LAST) && !s->records &&
		    !s->full) {
			err = take_copy(r, l, s, f.sync.seq);
			if (err)
				break;
			continue;
		}
		if (f.type == FRAME_PING) {
			err = ack(r, l, s);
			if (err)
				break;
			continue;
		}
		if (f.type == FRAME_CLOSE) {
			/* stopped on purpose: no failover; disarmed for good, until a hello */
			if (r->lease_ns) {
				r->lease_ns = 0;
				err = save_id(r);
			}
			s->closed = true;
			if (!err)
				err = -EPIPE;
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
		if (f.rec.type != JOURNAL_REC_FLUSH)
			s->data_bytes += f.rec.range;
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

bool receiver_failover_due(const struct receiver *r, uint64_t now)
{
	/* strictly after 2 * lease: the primary fenced at 1 * lease after the same frame */
	return r->lease_ns && !r->promoted && now > r->heard_ns &&
	       now - r->heard_ns > 2 * r->lease_ns;
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
	char rpath[PATH_MAX], spath[PATH_MAX];
	struct receiver r;
	int err;

	err = receiver_open(&r, cfg);
	if (!err)
		err = resync_path(cfg->journal, rpath, sizeof(rpath));
	if (!err)
		err = receiver_sync_path(cfg->journal, spath, sizeof(spath));
	/* a failback or a full copy cut short: the image is no disk until it ends */
	if (!err && (!access(rpath, F_OK) || !access(spath, F_OK)))
		err = -EAGAIN;
	if (!err && (!r.have_id || !r.log_open))
		err = -ENOENT;
	if (err)
		goto out;
	r.generation++;
	r.promoted = true;
	r.split = rlog_applied(&r.log);
	err = save_id(&r);
	*generation = r.generation;
	*seq = rlog_applied(&r.log);
out:
	receiver_close(&r);
	return err;
}
