// SPDX-License-Identifier: GPL-2.0
/*
 * serve_journal.c - serve's journal options into the journal filter's spec,
 * and the one check that must speak before the disk is made: is PATH a
 * journal of this backing, of this version, whole?
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/serve_journal.h"
#include "cmd/serve_schema.h"
#include "journal/store.h"
#include "lib/log.h"
#include "lib/units.h"

int serve_journal_option(struct serve_journal *j, int opt, const char *arg)
{
	uint64_t v;

	switch (opt - SERVE_JOURNAL_OPT) {
	case 0:
		j->path = arg;
		return 1;
	case 1:
		if (parse_size_argument("--journal-size", arg, &v))
			return -EINVAL;
		if (v < (2u << 20) || v % 8) {
			log_err("--journal-size '%s': give a size of 2MiB or more, e.g. 1G", arg);
			return -EINVAL;
		}
		/* bytes: the filter reads the units grammar, serve's spellings differ */
		snprintf(j->size_buf, sizeof(j->size_buf), "%llu", (unsigned long long)v);
		j->size = j->size_buf;
		return 1;
	case 2:
		if (serve_schema_duration(&journal_service_ops, "retention", "--retention", arg,
					  "24h or 30m"))
			return -EINVAL;
		j->retention = arg;
		return 1;
	case 3:
		if (serve_schema_enum(&journal_service_ops, "commit", "--commit", arg))
			return -EINVAL;
		j->commit = arg;
		return 1;
	}
	return 0;
}

static int check_existing(const char *path, const char *backing)
{
	struct journal_scan scan;
	struct journal_sb sb;
	char real[4096];
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		log_err("journal %s: %s; give a writable path (--journal, or the policy's "
			"journal path)", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || !st.st_size) {
		close(fd);
		return 0;
	}
	err = journal_scan(fd, &sb, &scan);
	close(fd);
	if (err == -EPROTONOSUPPORT) {
		log_err("journal %s: version %u, this sluice reads version %d; use the sluice "
			"that wrote it, or move it away to start a new journal", path, sb.version,
			JOURNAL_VERSION);
		return err;
	}
	if (err == -ENODATA || err == -EBADMSG) {
		log_err("journal %s: not a sluice journal (or its superblock is corrupt); "
			"give another path (--journal, or the policy's journal path); nothing "
			"was changed", path);
		return err;
	}
	if (err) {
		log_err("journal %s: %s", path, strerror(-err));
		return err;
	}
	if (!realpath(backing, real) || strcmp(real, sb.backing)) {
		log_err("journal %s belongs to another disk (backing %s), not %s; give this "
			"disk's journal, or a new path (--journal, or the policy's journal path)",
			path, sb.backing, backing);
		return -EXDEV;
	}
	if (scan.end == JOURNAL_END_CORRUPT) {
		log_err("journal %s: record %llu at byte %llu is corrupt (%s) and later records "
			"follow; nothing was replayed: restore what is before it with 'sluice "
			"journal restore %s --seq %llu', or move the journal away", path,
			(unsigned long long)scan.end_seq, (unsigned long long)scan.end_off,
			scan.why, path, (unsigned long long)scan.end_seq - 1);
		return -EBADMSG;
	}
	return 0;
}

static int add(struct serve_journal *j, size_t *used, const char *key, const char *val)
{
	int n;

	if (!val)
		return 0;
	if (strpbrk(val, ", ")) {
		log_err("--%s '%s': a comma or a blank cannot be passed to the journal", key, val);
		return -EINVAL;
	}
	n = snprintf(j->spec + *used, sizeof(j->spec) - *used, "%s%s=%s",
		     *used ? "," : "journal:", key, val);
	if (n < 0 || (size_t)n >= sizeof(j->spec) - *used) {
		log_err("--journal: the path is too long");
		return -ENAMETOOLONG;
	}
	*used += n;
	return 0;
}

int serve_journal_finish(struct serve_journal *j, const char *backing, bool recover)
{
	size_t used = 0;
	int err;

	j->spec[0] = '\0';
	if (!j->path) {
		if (j->size || j->retention || j->commit) {
			log_err("--journal-size, --retention and --commit go with --journal PATH");
			return -EINVAL;
		}
		return 0;
	}
	if (recover) {
		log_err("--recover takes the journal from the disk's state file; give only "
			"--recover ID");
		return -EINVAL;
	}
	/* the state file keeps the spec: --recover may run from another directory */
	if (j->path[0] != '/') {
		char cwd[2048];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(j->abs_path, sizeof(j->abs_path), "%s/%s", cwd, j->path) >=
			    (int)sizeof(j->abs_path)) {
			log_err("--journal %s: the path is too long; give an absolute one", j->path);
			return -ENAMETOOLONG;
		}
		j->path = j->abs_path;
	}
	err = add(j, &used, "path", j->path) ?: add(j, &used, "size", j->size) ?:
	      add(j, &used, "retention", j->retention) ?: add(j, &used, "commit", j->commit);
	if (err)
		return err;
	return check_existing(j->path, backing);
}

bool serve_journal_say(const char *spec, const char *backing)
{
	const char *p = strstr(spec, "journal:path=");
	char path[PATH_MAX];
	size_t n;

	if (!p || (p != spec && p[-1] != ' '))
		return false;
	p += strlen("journal:path=");
	n = strcspn(p, ", ");
	snprintf(path, sizeof(path), "%.*s", (int)n, p);
	/* the same checks the ad hoc --journal makes before the disk exists */
	return check_existing(path, backing) < 0;
}
