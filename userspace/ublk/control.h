/* SPDX-License-Identifier: GPL-2.0 */
/*
 * control.h - one command from the CLI to a filter of a running server.
 * The CLI writes RUN_DIR/ublkN.control ("FILTER WORD"); the server, in the
 * loop that publishes its counters (ublk_server_wait, every 200 ms), takes
 * it, calls the filter's ops->control and answers in ublkN.control.done
 * ("err=N"). Files rather than a socket: the state directory is already
 * where the CLI and the server meet (state, stats), with its permissions.
 * One command at a time per disk. Returns 0 or -errno; never prints.
 */
#ifndef SLUICE_UBLK_CONTROL_H
#define SLUICE_UBLK_CONTROL_H

#include <stdint.h>

struct filter_chain;

/* Server side: carry out a waiting command, if any. */
int ublk_control_poll(const char *dir, uint32_t id, struct filter_chain *c);

/*
 * CLI side: send @word to filter @filter of disk @id and wait up to
 * @timeout_ms for the answer: the filter's result, or -ETIMEDOUT (no live
 * server took it; the command is withdrawn).
 */
int ublk_control_send(const char *dir, uint32_t id, const char *filter, const char *word,
		      unsigned int timeout_ms);

#endif /* SLUICE_UBLK_CONTROL_H */
