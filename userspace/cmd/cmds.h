/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmds.h - the subcommand entry points. Each lives in its own cmd_<verb>.c
 * and returns the process exit status: 0 success, 1 failure (or drift, for
 * status commands), 2 usage error.
 */
#ifndef SLUICE_CMDS_H
#define SLUICE_CMDS_H

struct sluice_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

int cmd_doctor(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_hist(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_exporter(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_replica(int argc, char **argv);
int cmd_disks(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_stages(int argc, char **argv);
int cmd_throttle(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif /* SLUICE_CMDS_H */
