/* SPDX-License-Identifier: GPL-2.0 */
/*
 * server.h - one disk's server from start to stop, the daemon behind
 * 'sluice serve'. In order:
 *
 *   ublk_server_open       describe the disk (the arguments and its policy,
 *                          or the state file of --recover), open the
 *                          backing, settle the size, build the filter chain
 *                          (filter_config.recovering for --recover), size
 *                          the disk by what the filters leave of the
 *                          backing (chain_geometry), open /dev/ublk-control,
 *                          choose the copy mode
 *   ublk_server_daemonize  --daemon: fork; the parent waits for the child's
 *                          word that the disk is live
 *   ublk_server_start      create (or recover) the device (ublk_dev_create
 *                          leaves out what a filter refuses, chain_refused_ops),
 *                          start the filters (chain_start), write the state
 *                          file and the pid file
 *   ublk_server_detach     --daemon: tell the parent, leave the terminal
 *   ublk_server_wait       serve until a signal or the driver ends the queues
 *   ublk_server_stop       stop the filters (chain_stop), drain, flush,
 *                          delete the device
 *   ublk_server_close      free what is left; takes a half-opened server
 *
 * Nothing here prints. A step returns 0 or -errno and leaves in the server
 * where it failed (s->stage, and per stage what a message needs: the
 * device's step, a filter's index, the policy choice) for the caller to
 * say it once, naming the object and the fix.
 */
#ifndef SLUICE_UBLK_SERVER_H
#define SLUICE_UBLK_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "filters/chain.h"
#include "filters/from_policy.h"
#include "lib/disk_state.h"
#include "ublk/backing.h"
#include "ublk/copy.h"
#include "ublk/ctrl.h"
#include "ublk/dev.h"
#include "ublk/filter_stats.h"

#define UBLK_SERVER_RECOVER_WAIT_MS	30000

struct ublk_server_cfg {
	const char *state_dir;		/* where the disk's state file lives */
	/* a new disk */
	const char *backing;		/* file or block device */
	uint64_t size;			/* bytes; 0: the backing's, rounded down */
	uint32_t queues;
	uint32_t depth;
	uint32_t block_size;		/* 512 or 4096 */
	bool read_only;
	const char *policy;		/* NULL: the bound policy, else passthrough */
	/* ad hoc filters (serve --encrypt, --journal, --cache): this spec,
	 * policy "adhoc", instead of any policy */
	const char *filters;
	uint32_t dev_id;		/* UBLK_DEV_ANY: the driver's choice */
	/* or a disk whose server died, shaped by its state file */
	bool recover;
	uint32_t recover_id;
	/* either */
	enum ublk_copy copy;
	bool no_auto_buf_reg;		/* zero copy as 6.15 does it, on a newer driver (tests) */
	bool no_batch;			/* per-tag commands on a driver with batched ones (bench) */
	bool daemon;
	const char *pid_file;		/* NULL: none */
	/* given the disk's filter counters about once a second (the CLI's alerts) */
	void (*on_stats)(const struct filter_stats *fs, void *arg);
	void *on_stats_arg;
};

/* Where a step failed; what the caller's message needs is beside it. */
enum ublk_server_stage {
	UBLK_SERVER_STATE,	/* the disk's description. --recover: its state file
				 * (-ENOENT, -EINVAL malformed, -EBUSY still served by
				 * st.pid); new: --backing's path (-ENAMETOOLONG) */
	UBLK_SERVER_POLICY,	/* filter_spec_choose(): the choice in s->policy */
	UBLK_SERVER_BACKING,	/* backing_open() */
	UBLK_SERVER_SIZE,	/* -ENODATA backing below one block, -EINVAL not a
				 * multiple of the block size, -EFBIG past a block
				 * device, -EROFS past a read-only backing */
	UBLK_SERVER_FILTERS,	/* the spec: -ENOENT filter s->fail_index unknown,
				 * -E2BIG more than CHAIN_MAX_FILTERS */
	UBLK_SERVER_CHAIN,	/* a filter's init */
	UBLK_SERVER_GEOMETRY,	/* what the filters leave of the backing (s->usable
				 * after s->data_offset): -ENOSPC nothing, -EFBIG less
				 * than --size, -EINVAL an offset off the block size */
	UBLK_SERVER_CTRL,	/* ublk_ctrl_open() */
	UBLK_SERVER_COPY,	/* ublk_copy_resolve() */
	UBLK_SERVER_MAP,	/* backing_map() for --copy mmap */
	UBLK_SERVER_DAEMON,	/* pipe or fork */
	UBLK_SERVER_CREATE,	/* ublk_dev_create(): s->dev_stage */
	UBLK_SERVER_RECOVER,	/* ublk_dev_recover(): s->dev_stage */
	UBLK_SERVER_START,	/* a filter's start hook; the disk was stopped */
	UBLK_SERVER_STATE_FILE,	/* writing it; the disk was stopped */
	UBLK_SERVER_PID_FILE,	/* writing it; the disk was stopped */
};

struct ublk_server {
	struct ublk_server_cfg cfg;
	struct disk_state st;		/* the disk as its state file says */
	struct filter_spec_choice policy; /* a new disk: how its chain was chosen */
	struct backing backing;
	struct filter_chain *chain;
	struct ublk_ctrl *ctrl;
	struct ublk_dev *dev;
	uint64_t data_offset;		/* where the filters put disk offset 0 on the backing */
	uint64_t usable;		/* bytes of disk they leave of it, whole blocks */
	enum ublk_copy copy;		/* resolved: never auto */
	int map_err;			/* auto wanted mmap, mapping failed: buffer */
	sigset_t signals;		/* what stops the server */
	int ready_fd;			/* --daemon: pipe to the waiting parent */
	bool files_written;		/* the state file (and pid file) exist */
	/* the last failure */
	enum ublk_server_stage stage;
	const char *dev_stage;		/* ublk_dev_create/recover's step */
	int fail_index;			/* the filter */
};

/* Set up @s for ublk_server_close() at any point; copies @cfg. */
void ublk_server_init(struct ublk_server *s, const struct ublk_server_cfg *cfg);

/* Everything before the device exists; no thread is started. 0 or -errno. */
int ublk_server_open(struct ublk_server *s);

/*
 * Fork. The child returns 0 with *parent false and goes on. The parent
 * waits until the child has called ublk_server_detach() (0, s->st.id is
 * the disk) or has given up (-ECHILD; the child said why on stderr), and
 * returns with *parent true: it must exit without ublk_server_close(), whose
 * filter teardown belongs to the child.
 */
int ublk_server_daemonize(struct ublk_server *s, bool *parent);

/*
 * Block the stop signals (the queue threads inherit the mask), create or
 * recover the device, start the chain, write the state file and the pid
 * file. On failure nothing new is left: the device is deleted again (a
 * failed recovery leaves it recoverable, as it was).
 */
int ublk_server_start(struct ublk_server *s);

/*
 * --daemon: tell the waiting parent the disk is live, then point stdin,
 * stdout and (unless it is a regular file, a log) stderr at /dev/null.
 * Returns -errno when the parent could not be told; the disk serves anyway.
 */
int ublk_server_detach(struct ublk_server *s);

/*
 * The signal that hands the disk over instead of deleting it: a live
 * upgrade (systemd's RestartKillSignal=), 'serve --recover' takes it over.
 */
#define UBLK_SERVER_LEAVE_SIGNAL SIGUSR2

/*
 * Serve until SIGTERM, SIGINT, SIGHUP or UBLK_SERVER_LEAVE_SIGNAL (returned)
 * or the queues end (0).
 */
int ublk_server_wait(struct ublk_server *s);

/*
 * Stop the filters, stop the device (drain, flush, delete), remove the
 * state file and the pid file. Returns ublk_dev_stop()'s error (-ENODEV:
 * the device was already gone).
 */
int ublk_server_stop(struct ublk_server *s);

/*
 * Prepare to leave the disk to the next server (UBLK_SERVER_LEAVE_SIGNAL):
 * flush the backing and remove the pid file; the device and the state file
 * stay. The caller then exits at once, without ublk_server_stop() or
 * ublk_server_close(): the queue threads are still in their rings, and the
 * process's exit is what makes the driver quiesce the disk and requeue what
 * the server held (UBLK_F_USER_RECOVERY_REISSUE), as after a crash.
 * -EOPNOTSUPP when the disk was made without UBLK_F_USER_RECOVERY (then
 * stop it as usual), or fdatasync's -errno (the disk is left all the same).
 */
int ublk_server_leave(struct ublk_server *s);

/* Free what is left: chain, control device, backing. Takes any state. */
void ublk_server_close(struct ublk_server *s);

#endif /* SLUICE_UBLK_SERVER_H */
