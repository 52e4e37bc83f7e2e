// SPDX-License-Identifier: GPL-2.0
/*
 * journal.c - `sluice journal list|verify|restore`: inspect a disk's
 * journal and rebuild the disk as it was at any point of its window.
 */
#define _XOPEN_SOURCE_EXTRA
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "journal/restore.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/units.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice journal list JOURNAL [--json]\n"
		"       sluice journal verify JOURNAL\n"
		"       sluice journal restore JOURNAL (--at TIME | --seq N) [--base IMAGE]\n"
		"                              --to OUT\n"
		"\n"
		"A journaled disk (serve --journal, or a policy's services: journal:) keeps\n"
		"every write as a record; JOURNAL.base is the disk as it was before the\n"
		"oldest record kept, so any moment since can be rebuilt.\n"
		"\n"
		"  list      time range, records, bytes, checkpoint, flush points and the\n"
		"            oldest restorable moment\n"
		"  verify    check every record; says where a torn or corrupt one lies\n"
		"            (exit 1 when a corrupt record has good ones after it)\n"
		"  restore   the disk exactly as it was at a point into OUT (a new file or\n"
		"            a block device), from the base plus every record up to and\n"
		"            including the last one at or before the point\n"
		"\n"
		"Options:\n"
		"  --at TIME     RFC 3339 (2026-12-06T07:51:31.5Z, +01:00 offsets) or Unix\n"
		"                seconds (1796543491.5)\n"
		"  --seq N       the record with sequence number N (a flush point from\n"
		"                'list --json')\n"
		"  --base IMAGE  the disk as it was when journaling began, instead of\n"
		"                JOURNAL.base (only while nothing was folded into that)\n"
		"  --to OUT      where the restored disk goes; an existing file is refused\n"
		"  --json        list as JSON\n"
		"  -h, --help    this text\n"
		"\n"
		"Examples:\n"
		"  sluice journal list /var/lib/db.journal\n"
		"  sluice journal verify /var/lib/db.journal\n"
		"  sluice journal restore /var/lib/db.journal --at 2026-12-06T07:30:00Z \\\n"
		"      --to /var/lib/db-0730.img\n"
		"  sluice journal restore /var/lib/db.journal --seq 1234 --to /tmp/db.img\n");
}

/* ---------------------------------------------------------------- time -- */

static int parse_time(const char *s, uint64_t *ns)
{
	struct tm tm = {};
	const char *p;
	char *end;
	double frac = 0;
	long off = 0;
	time_t t;

	if (!*s)
		return -EINVAL;
	/* Unix seconds, maybe with a fraction */
	errno = 0;
	frac = strtod(s, &end);
	if (!*end && !errno && frac >= 0 && strspn(s, "0123456789.") == strlen(s)) {
		*ns = (uint64_t)(frac * 1e9);
		return 0;
	}
	frac = 0;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		frac = strtod(p, &end);
		p = end;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int h, m;

		if (strlen(p) != 6 || sscanf(p + 1, "%2d:%2d", &h, &m) != 2 || h > 23 || m > 59)
			return -EINVAL;
		off = (h * 3600L + m * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;	/* RFC 3339 needs the offset */
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1 || t - off < 0)
		return -EINVAL;
	*ns = (uint64_t)(t - off) * NSEC_PER_SEC + (uint64_t)(frac * 1e9);
	return 0;
}

static const char *fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = ns / NSEC_PER_SEC;
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06" PRIu64 "Z", (uint64_t)(ns % NSEC_PER_SEC / 1000));
	return buf;
}

/* ------------------------------------------------------------- helpers -- */

static int open_journal(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		log_err("journal %s: %s; give the path the disk was served with --journal",
			path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* The one sentence for a journal that cannot be read at all. */
static void say_sb_error(const char *path, const struct journal_sb *sb, int err)
{
	if (err == -EPROTONOSUPPORT)
		log_err("journal %s: version %u, this sluice reads version %d; use the sluice "
			"that wrote it", path, sb->version, JOURNAL_VERSION);
	else if (err == -ENODATA || err == -EBADMSG)
		log_err("journal %s: not a sluice journal, or both copies of its superblock "
			"are corrupt", path);
	else
		log_err("journal %s: %s", path, strerror(-err));
}

static const char *end_name(enum journal_end e)
{
	return e == JOURNAL_END_CLEAN ? "clean" : e == JOURNAL_END_TORN ? "torn" : "corrupt";
}

/* ---------------------------------------------------------------- list -- */

static void list_json(const char *path, const struct journal_sb *sb,
		      const struct journal_scan *s, int fd)
{
	struct journal_reader r;
	struct json_writer w;
	char uuid[33], t[40];
	int i;

	for (i = 0; i < JOURNAL_UUID_LEN; i++)
		snprintf(uuid + 2 * i, 3, "%02x", sb->uuid[i]);
	json_init(&w, stdout);
	json_obj_open(&w);
	json_kv_str(&w, "journal", path);
	json_kv_u64(&w, "version", sb->version);
	json_kv_str(&w, "uuid", uuid);
	json_kv_str(&w, "backing", sb->backing);
	json_kv_u64(&w, "disk_size", sb->disk_size);
	json_kv_u64(&w, "block_size", sb->block_size);
	json_kv_u64(&w, "journal_size", sb->journal_size);
	json_kv_u64(&w, "records", s->records);
	json_kv_u64(&w, "writes", s->writes);
	json_kv_u64(&w, "zeroes", s->zeroes);
	json_kv_u64(&w, "flushes", s->flushes);
	json_kv_u64(&w, "data_bytes", s->data_bytes);
	json_kv_u64(&w, "first_seq", s->first_seq);
	json_kv_u64(&w, "last_seq", s->records ? s->last_seq : sb->base_seq);
	json_kv_str(&w, "first_time", s->records ? fmt_time(s->first_time_ns, t, sizeof(t)) : "");
	json_kv_str(&w, "last_time", s->records ? fmt_time(s->last_time_ns, t, sizeof(t)) : "");
	json_kv_u64(&w, "base_seq", sb->base_seq);
	json_kv_str(&w, "oldest_restorable", fmt_time(sb->base_time_ns, t, sizeof(t)));
	json_kv_u64(&w, "oldest_restorable_ns", sb->base_time_ns);
	json_kv_u64(&w, "checkpoint_seq", sb->ckpt_seq);
	json_kv_str(&w, "end", end_name(s->end));
	json_kv_u64(&w, "end_offset", s->end_off);
	json_key(&w, "flush_seqs");
	json_arr_open(&w);
	if (!journal_reader_init(&r, fd))
		while (journal_reader_next(&r) > 0)
			if (r.rec.type == JOURNAL_REC_FLUSH)
				json_u64(&w, r.rec.seq);
	journal_reader_fini(&r);
	json_arr_close(&w);
	json_obj_close(&w);
	json_end(&w);
	putchar('\n');
}

static void list_text(const char *path, const struct journal_sb *sb,
		      const struct journal_scan *s)
{
	char a[40], b[40], sz[16], dsz[16], data[16];

	printf("journal      %s (version %u, %s)\n", path, sb->version,
	       units_fmt_bytes(sb->journal_size, sz, sizeof(sz)));
	printf("disk         %s, %s, %u-byte blocks\n", sb->backing,
	       units_fmt_bytes(sb->disk_size, dsz, sizeof(dsz)), sb->block_size);
	printf("records      %" PRIu64 " (%" PRIu64 " writes, %" PRIu64 " zeroes, %" PRIu64
	       " flushes), %s of data\n", s->records, s->writes, s->zeroes, s->flushes,
	       units_fmt_bytes(s->data_bytes, data, sizeof(data)));
	if (s->records)
		printf("range        seq %" PRIu64 "..%" PRIu64 ", %s .. %s\n", s->first_seq,
		       s->last_seq, fmt_time(s->first_time_ns, a, sizeof(a)),
		       fmt_time(s->last_time_ns, b, sizeof(b)));
	printf("restorable   from %s (seq %" PRIu64 ", the base)\n",
	       fmt_time(sb->base_time_ns, a, sizeof(a)), sb->base_seq);
	printf("checkpoint   seq %" PRIu64 " is on the backing\n", sb->ckpt_seq);
	if (s->end != JOURNAL_END_CLEAN)
		printf("end          %s record at byte %" PRIu64 " (seq %" PRIu64 "): %s\n",
		       end_name(s->end), s->end_off, s->end_seq, s->why);
}

static int journal_list(const char *path, bool json)
{
	struct journal_scan s;
	struct journal_sb sb;
	int fd, err;

	err = open_journal(path, &fd);
	if (err)
		return 1;
	err = journal_scan(fd, &sb, &s);
	if (err) {
		say_sb_error(path, &sb, err);
		close(fd);
		return 1;
	}
	if (json)
		list_json(path, &sb, &s, fd);
	else
		list_text(path, &sb, &s);
	close(fd);
	return 0;
}

/* -------------------------------------------------------------- verify -- */

static int journal_verify(const char *path)
{
	struct journal_scan s;
	struct journal_sb sb;
	int fd, err;

	err = open_journal(path, &fd);
	if (err)
		return 1;
	err = journal_scan(fd, &sb, &s);
	close(fd);
	if (err) {
		say_sb_error(path, &sb, err);
		return 1;
	}
	if (s.end == JOURNAL_END_CORRUPT) {
		log_err("journal %s: record seq %" PRIu64 " at byte %" PRIu64 " is corrupt (%s) "
			"and later records follow; restore up to --seq %" PRIu64 " only", path,
			s.end_seq, s.end_off, s.why, s.end_seq - 1);
		return 1;
	}
	printf("%s: %" PRIu64 " records good", path, s.records);
	if (s.records)
		printf(", seq %" PRIu64 "..%" PRIu64, s.first_seq, s.last_seq);
	if (s.end == JOURNAL_END_TORN)
		printf("; torn tail at byte %" PRIu64 " (seq %" PRIu64 ": %s), discarded at the "
		       "next serve", s.end_off, s.end_seq, s.why);
	printf("\n");
	return 0;
}

/* ------------------------------------------------------------- restore -- */

struct restore_opts {
	const char *journal, *base, *to;
	struct journal_point point;
	bool have_point;
};

static void progress(void *arg, uint64_t done, uint64_t total)
{
	fprintf(stderr, "\rrestoring: %" PRIu64 "/%" PRIu64 " records", done, total);
	if (done == total)
		fputc('\n', stderr);
}

static void say_range(const struct restore_opts *o, const struct journal_restore_info *in)
{
	char a[40], b[40];

	log_err("journal %s: %s is outside the restorable window, seq %" PRIu64 "..%" PRIu64
		" (%s .. %s); nothing was written", o->journal,
		o->point.by_time ? "the time" : "the seq", in->base_seq, in->last_seq,
		fmt_time(in->base_time_ns, a, sizeof(a)), fmt_time(in->last_time_ns, b, sizeof(b)));
}

static int open_out(const char *to, int *fd)
{
	struct stat st;

	if (!stat(to, &st) && !S_ISBLK(st.st_mode)) {
		log_err("%s exists; restore into a new file (or a block device), nothing was "
			"overwritten", to);
		return -EEXIST;
	}
	*fd = open(to, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0) {
		log_err("%s: %s; give a writable --to", to, strerror(errno));
		return -errno;
	}
	return 0;
}

static int journal_restore_cmd(const struct restore_opts *o)
{
	struct journal_restore_info info;
	char base[PATH_MAX], t[40];
	int jfd, bfd = -1, ofd = -1, err, ret = 1;
	struct journal_sb sb;
	uint64_t disk_size;
	struct stat st;

	if (open_journal(o->journal, &jfd))
		return 1;
	err = journal_resolve(jfd, &o->point, &info);
	if (err == -ERANGE) {
		say_range(o, &info);
		goto out;
	}
	if (err == -EBADMSG && info.scan.end == JOURNAL_END_CORRUPT) {
		log_err("journal %s: the point lies after corrupt record seq %" PRIu64
			" at byte %" PRIu64 " (%s); restore up to --seq %" PRIu64 " only; nothing "
			"was written", o->journal, info.scan.end_seq, info.scan.end_off,
			info.scan.why, info.scan.end_seq - 1);
		goto out;
	}
	if (err) {
		journal_sb_read(jfd, &sb);
		say_sb_error(o->journal, &sb, err);
		goto out;
	}
	journal_sb_read(jfd, &sb);
	disk_size = sb.disk_size;
	if (o->base && info.base_seq) {
		log_err("journal %s: records up to seq %" PRIu64 " were folded into its own base "
			"(%s.base); restore without --base", o->journal, info.base_seq, o->journal);
		goto out;
	}
	if (!o->base && journal_base_path(o->journal, base, sizeof(base)))
		goto out;
	bfd = open(o->base ? o->base : base, O_RDONLY | O_CLOEXEC);
	if (bfd < 0) {
		log_err("base image %s: %s; give the disk's content when journaling began with "
			"--base", o->base ? o->base : base, strerror(errno));
		goto out;
	}
	if (!fstat(bfd, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size != disk_size) {
		log_err("base image %s: %lld bytes, the journal's disk has %" PRIu64 "; give "
			"this disk's base", o->base ? o->base : base, (long long)st.st_size,
			disk_size);
		goto out;
	}
	if (open_out(o->to, &ofd))
		goto out;
	err = journal_restore(jfd, bfd, ofd, &o->point, &info,
			      isatty(STDERR_FILENO) ? progress : NULL, NULL);
	if (err) {
		log_err("restoring %s into %s: %s", o->journal, o->to, strerror(-err));
		goto out;
	}
	printf("%s: the disk at seq %" PRIu64 " (%s), %" PRIu64 " records on the base\n", o->to,
	       info.seq, fmt_time(info.time_ns, t, sizeof(t)), info.applied);
	ret = 0;
out:
	if (ofd >= 0)
		close(ofd);
	if (bfd >= 0)
		close(bfd);
	close(jfd);
	return ret;
}

/* ------------------------------------------------------------- parsing -- */

enum { OPT_AT = 256, OPT_SEQ, OPT_BASE, OPT_TO, OPT_JSON };

int cmd_journal(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, OPT_AT },
		{ "seq", required_argument, NULL, OPT_SEQ },
		{ "base", required_argument, NULL, OPT_BASE },
		{ "to", required_argument, NULL, OPT_TO },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct restore_opts o = {};
	const char *verb;
	bool json = false;
	int c, err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	if (optind >= argc) {
		log_err("journal: give a verb: list, verify or restore; see 'sluice journal --help'");
		return 2;
	}
	verb = argv[optind];
	optind++;
	/* options may come before or after the journal's path */
	while (optind < argc) {
		c = getopt_long(argc, argv, "h", opts, NULL);
		if (c == -1) {
			if (o.journal) {
				args_unexpected("journal", argv[optind]);
				return 2;
			}
			o.journal = argv[optind++];
			continue;
		}
		switch (c) {
		case OPT_AT:
			err = parse_time(optarg, &o.point.time_ns);
			if (err) {
				log_err("--at '%s': give RFC 3339 (2026-12-06T07:30:00Z) or Unix "
					"seconds", optarg);
				return 2;
			}
			o.point.by_time = true;
			if (o.have_point)
				goto both;
			o.have_point = true;
			break;
		case OPT_SEQ:
			err = parse_count_argument("--seq", optarg, 0, UINT64_MAX, &o.point.seq);
			if (err)
				return 2;
			if (o.have_point)
				goto both;
			o.have_point = true;
			break;
		case OPT_BASE:
			o.base = optarg;
			break;
		case OPT_TO:
			o.to = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!o.journal) {
		log_err("journal %s: give the journal's path", verb);
		return 2;
	}
	if (!strcmp(verb, "list"))
		return journal_list(o.journal, json);
	if (!strcmp(verb, "verify"))
		return journal_verify(o.journal);
	if (strcmp(verb, "restore")) {
		log_err("journal: unknown verb '%s'; give list, verify or restore", verb);
		return 2;
	}
	if (!o.have_point || !o.to) {
		log_err("journal restore: give the point (--at TIME or --seq N) and --to OUT");
		return 2;
	}
	return journal_restore_cmd(&o);
both:
	log_err("journal restore: give --at or --seq, not both");
	return 2;
}
