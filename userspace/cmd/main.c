// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - the sluice binary: global options and the subcommand table.
 */
#include <stdio.h>
#include <string.h>

#include "lib/macro.h"
#include "cmd/cmds.h"
#include "lib/log.h"

static const struct sluice_cmd commands[] = {
	{ "doctor",	cmd_doctor,	"what this kernel offers sluice, and the fix for what is missing" },
	{ "top",	cmd_top,	"live per-disk and per-class I/O rates, latency, %util" },
	{ "trace",	cmd_trace,	"print one line per block I/O, filtered in the kernel" },
	{ "hist",	cmd_hist,	"latency histograms per disk (and class), as bars or JSON" },
	{ "stat",	cmd_stat,	"run a command, report per-disk block I/O while it ran" },
	{ "exporter",	cmd_exporter,	"serve the meter as Prometheus metrics over HTTP" },
	{ "policy",	cmd_policy,	"check, apply, show and remove policies; report compliance" },
	{ "throttle",	cmd_throttle,	"latency-based throttling of cgroups per disk (Storage I/O Control)" },
	{ "serve",	cmd_serve,	"serve a file or block device as /dev/ublkbN through a filter chain" },
	{ "journal",	cmd_journal,	"list, verify and restore a disk's journal (point in time)" },
	{ "replica",	cmd_replica,	"receive a journaled disk's records: the replica side" },
	{ "disks",	cmd_disks,	"list the disks sluice serves, with their policy and state" },
	{ "stop",	cmd_stop,	"stop a served disk: drain, flush and delete it" },
	{ "cache",	cmd_cache,	"a disk's cache: stats, flush" },
	{ "stages",	cmd_stages,	"where ublk request time goes: driver, filters, backing" },
};


static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: sluice [-v] COMMAND [ARGS...]\n"
		"       sluice help [COMMAND]\n"
		"       sluice --version\n"
		"\n"
		"eBPF-programmable block I/O metering, policies, throttling and data services.\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\n"
		"Global options:\n"
		"  -v, --verbose   show libbpf's debug output and more detail\n"
		"\n"
		"Run 'sluice COMMAND --help' for a command's options and examples.\n");
}

static const struct sluice_cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct sluice_cmd *cmd;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			log_set_verbose(true);
		} else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			printf("sluice %s\n", SLUICE_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			log_err("unknown option '%s'; see 'sluice --help'", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			usage(stdout);
			return 0;
		}
		cmd = find_cmd(argv[i + 1]);
		if (!cmd) {
			log_err("unknown command '%s'; see 'sluice help'", argv[i + 1]);
			return 2;
		}
		char *help_argv[] = { argv[i + 1], "--help", NULL };

		return cmd->fn(2, help_argv);
	}
	cmd = find_cmd(argv[i]);
	if (!cmd) {
		log_err("unknown command '%s'; see 'sluice help'", argv[i]);
		return 2;
	}
	return cmd->fn(argc - i, argv + i);
}
