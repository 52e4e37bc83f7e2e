/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve_journal.h - `sluice serve --journal PATH [--journal-size SIZE]
 * [--retention DURATION] [--commit sync|async]`: the ad hoc journal, as the
 * filter spec "journal:path=...,size=...,retention=...,commit=..." that a
 * policy's services: journal: would give.
 */
#ifndef SLUICE_CMD_SERVE_JOURNAL_H
#define SLUICE_CMD_SERVE_JOURNAL_H

#include <stddef.h>
#include <getopt.h>
#include <stdbool.h>

struct serve_journal {
	const char *path;
	const char *size;
	const char *retention;
	const char *commit;
	char size_buf[24];
	char abs_path[3072];
	char spec[4096];
};

/* The options, for serve's getopt table; ids from SERVE_JOURNAL_OPT up. */
#define SERVE_JOURNAL_OPT	0x4a00
#define SERVE_JOURNAL_OPTIONS						\
	{ "journal", required_argument, NULL, SERVE_JOURNAL_OPT },		\
	{ "journal-size", required_argument, NULL, SERVE_JOURNAL_OPT + 1 },	\
	{ "retention", required_argument, NULL, SERVE_JOURNAL_OPT + 2 },	\
	{ "commit", required_argument, NULL, SERVE_JOURNAL_OPT + 3 }

#define SERVE_JOURNAL_USAGE						\
	"  --journal PATH      journal every write to PATH (continuous data\n"	\
	"                      protection; 'sluice journal --help')\n"		\
	"  --journal-size S    its size when created (default 1GiB)\n"		\
	"  --retention D       how far back it can restore (default 24h)\n"	\
	"  --commit MODE       sync (a write is acknowledged once its record is\n" \
	"                      durable, default) or async (at the next flush)\n"

/* A serve option in the journal's range: 1 taken, 0 not ours, -EINVAL said. */
int serve_journal_option(struct serve_journal *j, int opt, const char *arg);

/*
 * After parsing: the spec in j->spec ("" without --journal), and the
 * journal checked against @backing (when it exists): 0, or -errno with
 * the reason said.
 */
int serve_journal_finish(struct serve_journal *j, const char *backing, bool recover);

/*
 * The journal filter of @spec (a policy's or a state file's) failed to set
 * up: say why, as --journal would have, and return true; false when the
 * journal checks clean or the spec has none (the caller says what it can).
 */
bool serve_journal_say(const char *spec, const char *backing);

#endif /* SLUICE_CMD_SERVE_JOURNAL_H */
