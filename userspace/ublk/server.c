// SPDX-License-Identifier: GPL-2.0
/*
 * server.c - one disk's server from start to stop (see server.h). The
 * order matters: no thread before the fork of --daemon (the queue threads
 * and the filters' own threads would stay with the parent), the filters
 * start once the disk is live, the state file is written once the disk
 * can be recovered from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filters/registry.h"
#include "ublk/control.h"
#include "ublk/filter_stats.h"
#include "ublk/server.h"

_Static_assert(FILTER_SPEC_MAX <= STATE_FILTERS_MAX, "a chosen spec must fit the state file");

void ublk_server_init(struct ublk_server *s, const struct ublk_server_cfg *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->backing.fd = -1;
	s->ready_fd = -1;
	s->dev_stage = "";
	s->fail_index = -1;
}

static int fail(struct ublk_server *s, enum ublk_server_stage stage, int err)
{
	s->stage = stage;
	return err;
}

static int load_recover_state(struct ublk_server *s)
{
	int err;

	err = state_read(s->cfg.state_dir, s->cfg.recover_id, &s->st);
	if (err)
		return err;
	if (s->st.pid != getpid() && state_server_running(s->st.pid))
		return -EBUSY;
	return 0;
}

static int describe_new(struct ublk_server *s)
{
	const struct ublk_server_cfg *c = &s->cfg;
	int err;

	if (strlen(c->backing) >= sizeof(s->st.backing))
		return fail(s, UBLK_SERVER_STATE, -ENAMETOOLONG);
	if (!realpath(c->backing, s->st.backing))
		snprintf(s->st.backing, sizeof(s->st.backing), "%s", c->backing);
	s->st.queues = c->queues;
	s->st.depth = c->depth;
	s->st.block_size = c->block_size;
	s->st.read_only = c->read_only;
	if (c->filters) {
		snprintf(s->policy.policy, sizeof(s->policy.policy), "adhoc");
		if (snprintf(s->policy.spec, sizeof(s->policy.spec), "%s", c->filters) >=
		    (int)sizeof(s->policy.spec))
			return fail(s, UBLK_SERVER_POLICY, -ENAMETOOLONG);
		err = 0;
	} else {
		err = filter_spec_choose(c->state_dir, s->st.backing, c->policy, &s->policy);
	}
	if (err)
		return fail(s, UBLK_SERVER_POLICY, err);
	snprintf(s->st.policy, sizeof(s->st.policy), "%s", s->policy.policy);
	snprintf(s->st.filters, sizeof(s->st.filters), "%s", s->policy.spec);
	return 0;
}

/* The disk's size from cfg.size and the backing, checked against the block size. */
static int settle_size(struct ublk_server *s)
{
	uint64_t bs = s->st.block_size, want = s->cfg.size;

	if (!want) {
		s->st.size = s->backing.size / bs * bs;
		return s->st.size ? 0 : -ENODATA;
	}
	if (want % bs)
		return -EINVAL;
	if (s->backing.is_blkdev && want > s->backing.size)
		return -EFBIG;
	if (want > s->backing.size && s->st.read_only)
		return -EROFS;
	s->st.size = want;
	return 0;
}

static int build_chain(struct ublk_server *s)
{
	const struct filter_ops *ops[CHAIN_MAX_FILTERS];
	struct filter_config cfgs[CHAIN_MAX_FILTERS];
	const char *args[CHAIN_MAX_FILTERS];
	char *buf;
	int n, i, bad = 0, err;

	/* the spec is cut up in place; args point into it until chain_create returns */
	buf = strdup(s->st.filters);
	if (!buf)
		return fail(s, UBLK_SERVER_CHAIN, -ENOMEM);
	n = filter_spec_parse(buf, ops, args, CHAIN_MAX_FILTERS, &bad);
	if (n < 0) {
		s->fail_index = bad;
		err = fail(s, UBLK_SERVER_FILTERS, n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		cfgs[i] = (struct filter_config){
			.name = ops[i]->name,
			.args = args[i],
			.disk_size = s->st.size,
			.block_size = s->st.block_size,
			.queues = s->st.queues,
			.depth = s->st.depth,
			.backing = s->st.backing,
			.backing_size = s->backing.size,
			.recovering = s->cfg.recover,
		};
	}
	err = chain_create(&s->chain, ops, cfgs, n, &ublk_queue_sinks);
	if (err)
		fail(s, UBLK_SERVER_CHAIN, err);
out:
	free(buf);
	return err;
}

/*
 * A new disk's size once the filters said what they keep of the backing
 * (a header at its start, a smaller usable size). A regular file may grow
 * to what --size asks; a block device or a read-only backing may not.
 */
static int settle_geometry(struct ublk_server *s)
{
	uint64_t bs = s->st.block_size, want = s->cfg.size, span = s->backing.size, usable;
	uint64_t off = chain_data_offset(s->chain);
	int err;

	/* backing I/O lands at the offset: keep it aligned for O_DIRECT */
	if (off % bs || off % s->backing.lbs)
		return -EINVAL;
	if (want && !s->backing.is_blkdev && !s->st.read_only && span < off + want)
		span = off + want;
	err = chain_geometry(s->chain, span, &s->data_offset, &usable);
	if (err)
		return err;
	s->usable = usable / bs * bs;
	if (!s->usable)
		return -ENOSPC;
	if (want > s->usable)
		return -EFBIG;
	s->st.size = want ? want : s->usable;
	return 0;
}

/* choose_copy() without the description of its choice. */
static int __choose_copy(struct ublk_server *s, const struct ublk_copy_env *env)
{
	int err;

	err = ublk_copy_resolve(s->cfg.copy, env, &s->copy);
	if (err)
		return fail(s, UBLK_SERVER_COPY, err);
	if (s->copy == UBLK_COPY_MMAP) {
		err = backing_map(&s->backing, s->st.size);
		if (err && s->cfg.copy != UBLK_COPY_AUTO)
			return fail(s, UBLK_SERVER_MAP, err);
		if (err) {
			/* auto only prefers mmap; the device is not made yet. */
			s->map_err = err;
			s->copy = UBLK_COPY_BUFFER;
		}
	}
	/* The device's flag wins: its requests come without a buffer address. */
	if (s->copy == UBLK_COPY_BUFFER && (env->features & UBLK_F_USER_COPY) && s->cfg.recover)
		s->copy = UBLK_COPY_USER;
	if (s->cfg.recover && ublk_copy_zero_flag(env->features))
		s->copy = UBLK_COPY_ZERO;
	return 0;
}

/*
 * Settle the copy mode. A recovered disk keeps the UBLK_F_USER_COPY or zero
 * copy flag it was created with (its state file's flags); only the server
 * side can change.
 */
static int choose_copy(struct ublk_server *s)
{
	struct ublk_copy_env env = {
		.features = s->cfg.recover ? s->st.flags : s->ctrl->features,
		.page_cache = s->backing.page_cache,
		.in_memory = s->backing.in_memory,
		.chain_empty = !s->chain || !s->chain->n,
		.data_filter = chain_data_filter(s->chain),
		.data_mover = chain_data_mover(s->chain),
	};
	int err;

	err = __choose_copy(s, &env);
	if (err)
		return err;
	snprintf(s->st.copy, sizeof(s->st.copy), "%s", ublk_copy_name(s->copy));
	ublk_copy_why(s->cfg.copy, s->copy, &env, env.features, s->st.copy_why,
		      sizeof(s->st.copy_why));
	return 0;
}

int ublk_server_open(struct ublk_server *s)
{
	int err;

	if (s->cfg.recover) {
		err = load_recover_state(s);
		if (err)
			return fail(s, UBLK_SERVER_STATE, err);
	} else {
		err = describe_new(s);
		if (err)
			return err;
	}
	err = backing_open(&s->backing, s->st.backing, s->st.block_size, s->st.read_only);
	if (err)
		return fail(s, UBLK_SERVER_BACKING, err);
	if (!s->cfg.recover) {
		err = settle_size(s);
		if (err)
			return fail(s, UBLK_SERVER_SIZE, err);
	}
	err = build_chain(s);
	if (err)
		return err;
	if (!s->cfg.recover) {
		err = settle_geometry(s);
		if (err)
			return fail(s, UBLK_SERVER_GEOMETRY, err);
	}
	err = ublk_ctrl_open(&s->ctrl);
	if (err)
		return fail(s, UBLK_SERVER_CTRL, err);
	if (s->cfg.no_auto_buf_reg)
		s->ctrl->features &= ~UBLK_F_AUTO_BUF_REG;
	if (s->cfg.no_batch)
		s->ctrl->features &= ~UBLK_F_BATCH_IO;
	return choose_copy(s);
}

int ublk_server_daemonize(struct ublk_server *s, bool *parent)
{
	int fds[2];
	char buf[64];
	ssize_t n;
	pid_t pid;

	*parent = false;
	if (pipe2(fds, O_CLOEXEC))
		return fail(s, UBLK_SERVER_DAEMON, -errno);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return fail(s, UBLK_SERVER_DAEMON, -errno);
	}
	if (pid > 0) {
		*parent = true;
		close(fds[1]);
		n = read(fds[0], buf, sizeof(buf) - 1);
		close(fds[0]);
		if (n <= 0)
			return -ECHILD;
		buf[n] = '\0';
		return sscanf(buf, "%u", &s->st.id) == 1 ? 0 : -ECHILD;
	}
	close(fds[0]);
	s->ready_fd = fds[1];
	setsid();
	return 0;
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f) ? -errno : 0;
}

static int create_disk(struct ublk_server *s)
{
	struct ublk_dev_cfg cfg = {
		.size = s->st.size,
		.queues = s->st.queues,
		.depth = s->st.depth,
		.block_size = s->st.block_size,
		.read_only = s->st.read_only,
		.user_copy = s->copy == UBLK_COPY_USER || s->copy == UBLK_COPY_MMAP,
		.zero_copy = s->copy == UBLK_COPY_ZERO ? ublk_copy_zero_flag(s->ctrl->features) : 0,
		.dev_id = s->cfg.dev_id,
	};
	int err;

	err = ublk_dev_create(&s->dev, s->ctrl, &s->backing, s->chain, &cfg, &s->dev_stage);
	if (err)
		return fail(s, UBLK_SERVER_CREATE, err);
	s->st.id = s->dev->info.dev_id;
	s->st.flags = s->dev->info.flags;
	return 0;
}

static int recover_disk(struct ublk_server *s)
{
	int err;

	err = ublk_dev_recover(&s->dev, s->ctrl, &s->backing, s->chain, s->st.id,
			       UBLK_SERVER_RECOVER_WAIT_MS, &s->dev_stage);
	return err ? fail(s, UBLK_SERVER_RECOVER, err) : 0;
}

/* Undo a started disk whose files could not be written. */
static void abort_started(struct ublk_server *s)
{
	ublk_dev_stop(s->dev);
	s->dev = NULL;
}

int ublk_server_start(struct ublk_server *s)
{
	const char *dir = s->cfg.state_dir;
	int err;

	/* Queue threads inherit this mask: only the main thread takes signals. */
	sigemptyset(&s->signals);
	sigaddset(&s->signals, SIGTERM);
	sigaddset(&s->signals, SIGINT);
	sigaddset(&s->signals, SIGHUP);
	sigaddset(&s->signals, UBLK_SERVER_LEAVE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &s->signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = s->cfg.recover ? recover_disk(s) : create_disk(s);
	if (err)
		return err;
	/* after the fork and with the disk live: threads started here stay */
	err = chain_start(s->chain);
	if (err) {
		abort_started(s);
		return fail(s, UBLK_SERVER_START, err);
	}
	s->st.pid = getpid();
	err = state_write(dir, &s->st);
	if (err) {
		abort_started(s);
		return fail(s, UBLK_SERVER_STATE_FILE, err);
	}
	if (s->cfg.pid_file) {
		err = write_pid_file(s->cfg.pid_file);
		if (err) {
			abort_started(s);
			state_remove(dir, s->st.id);
			return fail(s, UBLK_SERVER_PID_FILE, err);
		}
	}
	s->files_written = true;
	return 0;
}

int ublk_server_detach(struct ublk_server *s)
{
	char line[32];
	struct stat st;
	int fd, err = 0;

	if (s->ready_fd < 0)
		return 0;
	snprintf(line, sizeof(line), "%u\n", s->st.id);
	if (write(s->ready_fd, line, strlen(line)) < 0)
		err = -errno;
	close(s->ready_fd);
	s->ready_fd = -1;
	/*
	 * Detach from the caller's terminal and pipes (a pipe kept open would
	 * hold up whoever reads it). A log file stderr was redirected to stays,
	 * and so does a socket: under systemd stderr is journald's stream, so
	 * what the server says later (a failed disk, the hand-over on SIGUSR2)
	 * reaches the unit's journal.
	 */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fstat(STDERR_FILENO, &st) || !(S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)))
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return err;
}

int ublk_server_wait(struct ublk_server *s)
{
	struct timespec tick = { 0, 200 * 1000000L };
	uint64_t stats_due = 0;
	int sig;

	for (;;) {
		/* best effort: the disk serves whether people see its counters or not */
		filter_stats_publish(s->cfg.state_dir, s->st.id, s->chain, &stats_due,
				     s->cfg.on_stats, s->cfg.on_stats_arg);
		ublk_control_poll(s->cfg.state_dir, s->st.id, s->chain);
		sig = sigtimedwait(&s->signals, NULL, &tick);
		if (sig > 0)
			return sig;
		if (ublk_dev_queue_exited(s->dev))
			return 0;
	}
}

int ublk_server_stop(struct ublk_server *s)
{
	int err;

	/* the filters' threads and timers end before the queues drain */
	chain_stop(s->chain);
	err = ublk_dev_stop(s->dev);
	s->dev = NULL;
	if (s->files_written) {
		state_remove(s->cfg.state_dir, s->st.id);
		filter_stats_remove(s->cfg.state_dir, s->st.id);
		if (s->cfg.pid_file)
			unlink(s->cfg.pid_file);
		s->files_written = false;
	}
	return err;
}

int ublk_server_leave(struct ublk_server *s)
{
	int err = 0;

	if (!(s->st.flags & UBLK_F_USER_RECOVERY))
		return -EOPNOTSUPP;
	/* what completed is on the backing whatever comes next; make it durable */
	if (s->backing.fd >= 0 && fdatasync(s->backing.fd))
		err = -errno;
	if (s->files_written && s->cfg.pid_file)
		unlink(s->cfg.pid_file);
	return err;
}

void ublk_server_close(struct ublk_server *s)
{
	if (s->dev)
		ublk_server_stop(s);
	chain_destroy(s->chain);
	s->chain = NULL;
	ublk_ctrl_close(s->ctrl);
	s->ctrl = NULL;
	backing_close(&s->backing);
	if (s->ready_fd >= 0)
		close(s->ready_fd);
	s->ready_fd = -1;
}
