// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "cmd/meter_cli.h"
#include "lib/cgroups.h"
#include "lib/disks.h"
#include "lib/log.h"

volatile sig_atomic_t meter_cli_stop;

const char *const meter_op_names[SLUICE_OP_MAX] = {
	"read", "write", "discard", "flush", "other",
};

const char *const meter_err_names[SLUICE_ERR_MAX] = {
	"ioerr", "timeout", "nospc", "notsupp", "medium", "transport", "again", "other",
};

static void on_signal(int sig)
{
	meter_cli_stop = 1;
}

void meter_cli_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int meter_cli_spawn(char **cmd, pid_t *pid)
{
	pid_t p = fork();

	if (p < 0)
		return -errno;
	if (p == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(cmd[0], cmd);
		log_err("%s: cannot run: %s", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	*pid = p;
	return 0;
}

int meter_cli_exit_status(int ws)
{
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int meter_cli_wait(pid_t pid, int *status)
{
	pid_t w;
	int ws;

	do
		w = waitpid(pid, &ws, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	*status = meter_cli_exit_status(ws);
	return 0;
}

void meter_cli_close(struct meter *m)
{
	uint64_t lost;

	if (!m)
		return;
	lost = meter_samples_lost(m);
	if (lost)
		log_warn("%llu latency samples lost: the kernel had no memory for their "
			 "histograms; I/O counts are exact", (unsigned long long)lost);
	meter_close(m);
}

int meter_cli_open(struct meter **m, const struct meter_opts *opts)
{
	int err;

	log_setup_libbpf();
	/*
	 * Handlers first: a signal that arrives while the programs load must
	 * still end in a clean detach, not in the default action.
	 */
	meter_cli_signals();
	err = meter_open(m, opts);
	if (!err)
		return 0;
	switch (err) {
	case -EPERM:
		log_err("loading the meter needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); "
			"run as root");
		break;
	case -ENOENT:
	case -ESRCH:
	case -EOPNOTSUPP:
		log_err("this kernel lacks BTF or the block tracepoints the meter needs; "
			"run 'sluice doctor' for what is missing and how to fix it");
		break;
	case -EACCES:
		log_err("this kernel's BPF verifier rejected the meter; run 'sluice doctor', "
			"and retry with -v for the verifier's log to report it");
		break;
	default:
		log_err("cannot load the meter: %s; run 'sluice doctor', or retry with -v "
			"for libbpf's log", strerror(-err));
	}
	return 1;
}

int meter_cli_disk(const char *spec, bool partitions, unsigned int *dev)
{
	int err = disk_resolve(spec, partitions, dev);

	if (!err)
		return 0;
	if (err == -ENOTBLK)
		log_err("%s: not a block device; name a disk as in 'lsblk' (e.g. loop3, "
			"/dev/nvme0n1, 7:3)", spec);
	else
		log_err("%s: no such disk; list disks with lsblk", spec);
	return 2;
}

int meter_cli_cgroup(const char *spec, uint64_t *id)
{
	int err = cgroup_resolve(spec, id);

	if (!err)
		return 0;
	if (err == -EXDEV)
		log_err("%s: this cgroup is not in the hierarchy the block layer charges (%s); "
			"use a cgroup under it", spec, cgroup_io_root() ?: "none mounted");
	else
		log_err("%s: no such cgroup under %s; give a path like /sys/fs/cgroup/..., "
			"a path relative to it, or a cgroup id", spec,
			cgroup_io_root() ?: "/sys/fs/cgroup");
	return 2;
}

int meter_cli_ops(const char *spec, unsigned int *mask)
{
	char *dup = strdup(spec), *tok, *save;
	int op, ret = 0;

	if (!dup)
		return 2;
	*mask = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (op = 0; op < SLUICE_OP_MAX; op++)
			if (!strcmp(tok, meter_op_names[op]))
				break;
		if (op == SLUICE_OP_MAX) {
			log_err("--op: unknown operation '%s'; use read, write, discard, flush "
				"or other, comma-separated", tok);
			ret = 2;
			break;
		}
		*mask |= SLUICE_OPMASK(op);
	}
	free(dup);
	return ret;
}

void meter_sum_add(struct meter_sum *sum, const struct sluice_meter_val *cur,
		   const struct sluice_meter_val *prev)
{
	int i;

#define DELTA(f) (cur->f - (prev ? prev->f : 0))
	for (i = 0; i < SLUICE_OP_MAX; i++) {
		sum->ios[i] += DELTA(ios[i]);
		sum->bytes[i] += DELTA(bytes[i]);
		sum->lat_ns[i] += DELTA(lat_ns[i]);
		sum->timed[i] += DELTA(timed[i]);
	}
	for (i = 0; i < SLUICE_ERR_MAX; i++)
		sum->errors[i] += DELTA(errors[i]);
#undef DELTA
}

uint64_t meter_sum_errors(const struct meter_sum *sum)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < SLUICE_ERR_MAX; i++)
		n += sum->errors[i];
	return n;
}

void meter_cli_cgroup_label(uint64_t id, char *buf, size_t len)
{
	if (!id || cgroup_path(id, buf, len))
		snprintf(buf, len, "cgroup:%llu", (unsigned long long)id);
}
