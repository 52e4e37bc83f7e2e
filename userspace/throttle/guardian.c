// SPDX-License-Identifier: GPL-2.0
/*
 * guardian.c - see guardian.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "throttle/guardian.h"
#include "throttle/iomax.h"

/*
 * It ignores the signals a terminal or 'timeout' sends the whole group:
 * the daemon is the one to stop, and its death is the guardian's cue.
 */
static void __attribute__((noreturn)) guard(pid_t parent, const char *record,
					     tguardian_report_fn *report)
{
	sigset_t set;
	unsigned int n = 0;
	int sig, fd, err;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR1))
		_exit(1);
	/* Holding the caller's stdout would keep a reader of it waiting. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	while (getppid() == parent)
		sigwait(&set, &sig);
	err = iomax_book_cleanup_record(record, &n);
	if (report)
		report(parent, record, err, n);
	_exit(err && err != -ENOENT ? 1 : 0);
}

int tguardian_start(const char *record, tguardian_report_fn *report)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid)
		guard(parent, record, report);
	return 0;
}
