/* SPDX-License-Identifier: GPL-2.0 */
/*
 * meter_cli.h - what the metering subcommands (top, trace, hist, stat,
 * exporter) share: opening the meter with one clear error per failure,
 * resolving --disk/--cgroup/--op with errors that name the input, stream
 * aggregation, and SIGINT/SIGTERM handling. These log; libraries do not.
 */
#ifndef SLUICE_METER_CLI_H
#define SLUICE_METER_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "loader/meter.h"

/* Set by SIGINT/SIGTERM once meter_cli_signals() ran. */
extern volatile sig_atomic_t meter_cli_stop;
void meter_cli_signals(void);

/*
 * The command a metering subcommand runs (stat/hist/trace -- CMD...):
 * forked with default SIGINT/SIGTERM so the terminal's ^C reaches it; a
 * command that cannot be run exits 127 (not found) or 126, as in a shell.
 */
int meter_cli_spawn(char **cmd, pid_t *pid);
/* Wait for it, through EINTR; *status is what a shell reports. 0 or -errno. */
int meter_cli_wait(pid_t pid, int *status);
/* The shell's exit status for a waitpid() status. */
int meter_cli_exit_status(int ws);

/* meter_open() with the error explained (capabilities, doctor). 0 or 1. */
int meter_cli_open(struct meter **m, const struct meter_opts *opts);

/* meter_close() that first warns of latency samples lost, if any. */
void meter_cli_close(struct meter *m);

/* --disk: 0 or 2 (usage error, logged). */
int meter_cli_disk(const char *spec, bool partitions, unsigned int *dev);
/* --cgroup: 0 or 2 (logged). */
int meter_cli_cgroup(const char *spec, uint64_t *id);
/* --op read,write,discard,flush,other: mask, 0 or 2 (logged). */
int meter_cli_ops(const char *spec, unsigned int *mask);

extern const char *const meter_op_names[SLUICE_OP_MAX];
extern const char *const meter_err_names[SLUICE_ERR_MAX];

/* Totals of a set of streams (delta of two snapshots when @prev). */
struct meter_sum {
	uint64_t ios[SLUICE_OP_MAX];
	uint64_t bytes[SLUICE_OP_MAX];
	uint64_t lat_ns[SLUICE_OP_MAX];
	uint64_t timed[SLUICE_OP_MAX];
	uint64_t errors[SLUICE_ERR_MAX];
};

void meter_sum_add(struct meter_sum *sum, const struct sluice_meter_val *cur,
		   const struct sluice_meter_val *prev);
uint64_t meter_sum_errors(const struct meter_sum *sum);

/* Label for a cgroup id: its path in the io hierarchy, or "cgroup:ID". */
void meter_cli_cgroup_label(uint64_t id, char *buf, size_t len);

#endif /* SLUICE_METER_CLI_H */
