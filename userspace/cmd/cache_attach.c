// SPDX-License-Identifier: GPL-2.0
/*
 * cache_attach.c - add a cache to a served disk, or take it away, without
 * reformatting the disk and without taking it down: the disk's filters in
 * its state file change, and its server hands it over (SIGUSR2, as for a
 * live upgrade: docs/install.md) to 'serve --recover', which builds the new
 * chain. Requests wait in the kernel meanwhile, and those in flight are
 * issued again (UBLK_F_USER_RECOVERY_REISSUE), so a mounted file system and
 * running I/O carry on.
 *
 * Detach first holds the cache (write-back takes no new dirty data) and
 * waits for its dirty data to reach the backing, then hands over while
 * still held: nothing dirty is left behind. Attach starts a cold cache: the
 * device's superblock is invalidated, so no block it held before (stale
 * now) is ever served.
 *
 * If the new server fails to start, the old filters are put back and the
 * disk is recovered as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/format.h"
#include "cmd/cache_attach.h"
#include "lib/disk_state.h"
#include "lib/log.h"
#include "ublk/uapi_compat.h"

#define LEAVE_TIMEOUT_MS	30000

/* The word of @filters that is the cache's ("cache:..."), or NULL. */
static char *find_cache(char *filters, size_t *len)
{
	char *p = filters;

	while (*p) {
		*len = strcspn(p, " ");
		if (!strncmp(p, "cache:", 6) || (*len == 5 && !strncmp(p, "cache", 5)))
			return p;
		p += *len;
		p += strspn(p, " ");
	}
	return NULL;
}

/* The served disk @id, which must be able to outlive its server; logs why not. */
static int served(uint32_t id, struct disk_state *st)
{
	int err;

	err = state_read(state_dir(), id, st);
	if (err || st->pid <= 0 || kill(st->pid, 0)) {
		log_err("/dev/ublkb%u: not served (no live server); list disks with "
			"'sluice disks'", id);
		return err ? err : -ESRCH;
	}
	if (!(st->flags & UBLK_F_USER_RECOVERY)) {
		log_err("/dev/ublkb%u: made without crash recovery, so its server cannot hand "
			"it over; stop it and serve it again with or without --cache", id);
		return -EOPNOTSUPP;
	}
	return 0;
}

static bool alive(pid_t pid)
{
	return !kill(pid, 0) || errno != ESRCH;
}

/* SIGUSR2 to the server, and wait for it to be gone. */
static int hand_over(uint32_t id, pid_t pid)
{
	struct timespec tick = { 0, 50 * 1000000L };
	unsigned int waited;

	if (kill(pid, SIGUSR2))
		return -errno;
	for (waited = 0; waited < LEAVE_TIMEOUT_MS && alive(pid); waited += 50)
		nanosleep(&tick, NULL);
	if (alive(pid)) {
		log_err("/dev/ublkb%u: its server (pid %d) did not leave within %u s", id,
			(int)pid, LEAVE_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	return 0;
}

/* 'sluice serve --recover ID --daemon' from this binary; its exit status. */
static int recover(uint32_t id)
{
	char ids[16];
	int status, fd;
	pid_t pid;

	snprintf(ids, sizeof(ids), "%u", id);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		/* the daemon's "/dev/ublkbN" line is ours to say */
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		execl("/proc/self/exe", "sluice", "serve", "--recover", ids, "--daemon",
		      (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * The disk's filters become @filters, under a new server. On failure the
 * old ones come back, so the disk is served as before.
 */
static int reserve(uint32_t id, struct disk_state *st, const char *filters)
{
	char old[STATE_FILTERS_MAX];
	int err, rc;

	snprintf(old, sizeof(old), "%s", st->filters);
	snprintf(st->filters, sizeof(st->filters), "%s", filters);
	err = state_write(state_dir(), st);
	if (err) {
		log_err("%s/ublk%u.state: %s", state_dir(), id, strerror(-err));
		return err;
	}
	err = hand_over(id, st->pid);
	if (err) {
		snprintf(st->filters, sizeof(st->filters), "%s", old);
		state_write(state_dir(), st);
		return err;
	}
	rc = recover(id);
	if (!rc)
		return 0;
	log_err("/dev/ublkb%u: the server with the new filters did not start (above); "
		"serving it as it was", id);
	snprintf(st->filters, sizeof(st->filters), "%s", old);
	err = state_write(state_dir(), st);
	if (!err && !recover(id))
		return -EIO;
	log_err("/dev/ublkb%u: waits for a server; run 'sluice serve --recover %u'", id, id);
	return -EIO;
}

/* A cold start: the device's old superblock (if any) no longer counts. */
static int forget_cache(const char *path)
{
	char zero[CACHE_SB_SIZE] = { 0 };
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero) || fdatasync(fd))
		err = -errno;
	close(fd);
	return err;
}

int cache_attach(uint32_t id, const struct serve_cache *o)
{
	char filters[STATE_FILTERS_MAX], path[STATE_FILTERS_MAX];
	struct disk_state st;
	size_t len;
	int err;

	if (served(id, &st))
		return 1;
	snprintf(filters, sizeof(filters), "%s", st.filters);
	if (find_cache(filters, &len)) {
		log_err("/dev/ublkb%u: has a cache already; 'sluice cache detach %u' first", id,
			id);
		return 1;
	}
	/* nearest the backing: last */
	if (serve_cache_spec(o, filters, sizeof(filters)))
		return 2;
	find_cache(filters, &len);
	snprintf(path, sizeof(path), "%s", strstr(filters, "cache:device=") + 13);
	path[strcspn(path, ",")] = '\0';
	if (access(path, F_OK) && !o->size) {
		log_err("cache %s: no such file; give --cache-size to make one", path);
		return 1;
	}
	err = forget_cache(path);
	if (err) {
		log_err("cache %s: cannot start it empty: %s", path, strerror(-err));
		return 1;
	}
	if (reserve(id, &st, filters))
		return 1;
	printf("/dev/ublkb%u: cache %s attached (%s), cold\n", id, path,
	       o->mode ? o->mode : "writethrough");
	return 0;
}

int cache_detach(uint32_t id, uint64_t timeout_ns)
{
	char filters[STATE_FILTERS_MAX];
	struct disk_state st;
	char *p;
	size_t len;

	if (served(id, &st))
		return 1;
	snprintf(filters, sizeof(filters), "%s", st.filters);
	p = find_cache(filters, &len);
	if (!p) {
		log_err("/dev/ublkb%u: has no cache to detach", id);
		return 1;
	}
	/* held from here on: the hand-over leaves nothing dirty behind */
	if (cache_flush_wait(id, timeout_ns, true))
		return 1;
	memmove(p, p + len, strlen(p + len) + 1);
	/* the blank before it goes too */
	if (p > filters && p[-1] == ' ')
		memmove(p - 1, p, strlen(p) + 1);
	len = strlen(filters);
	while (len && filters[len - 1] == ' ')
		filters[--len] = '\0';
	p = filters + strspn(filters, " ");
	/* the flush above read a state the server may have left since: read it again */
	if (served(id, &st))
		return 1;
	if (reserve(id, &st, p))
		return 1;
	printf("/dev/ublkb%u: cache detached; the disk runs on the backing alone\n", id);
	return 0;
}
