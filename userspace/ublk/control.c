// SPDX-License-Identifier: GPL-2.0
/* control.c - a CLI command to a filter of a running server (control.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filters/chain.h"
#include "lib/fileio.h"
#include "ublk/control.h"

#define WORD_MAX	64

static void paths(const char *dir, uint32_t id, char *cmd, char *done, size_t len)
{
	snprintf(cmd, len, "%s/ublk%u.control", dir, id);
	snprintf(done, len, "%s/ublk%u.control.done", dir, id);
}

/* The small file @path into @buf, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int ublk_control_poll(const char *dir, uint32_t id, struct filter_chain *c)
{
	char cmd[512], done[512], text[2 * WORD_MAX + 2], filter[WORD_MAX], word[WORD_MAX];
	char answer[32];
	int err, res;

	paths(dir, id, cmd, done, sizeof(cmd));
	err = read_small(cmd, text, sizeof(text));
	if (err)
		return err == -ENOENT ? 0 : err;
	/* taken: a command is carried out once, whatever its answer */
	unlink(cmd);
	if (sscanf(text, "%63s %63s", filter, word) != 2)
		res = -EINVAL;
	else
		res = chain_filter_control(c, filter, word);
	snprintf(answer, sizeof(answer), "err=%d\n", res);
	return write_file_atomic(done, answer, strlen(answer), 0644, 0);
}

int ublk_control_send(const char *dir, uint32_t id, const char *filter, const char *word,
		      unsigned int timeout_ms)
{
	struct timespec tick = { 0, 50 * 1000000L };
	char cmd[512], done[512], text[2 * WORD_MAX + 2], answer[32];
	unsigned int waited;
	int err, res;

	if (strlen(filter) >= WORD_MAX || strlen(word) >= WORD_MAX || !*filter || !*word ||
	    strpbrk(filter, " \t\n") || strpbrk(word, " \t\n"))
		return -EINVAL;
	paths(dir, id, cmd, done, sizeof(cmd));
	unlink(done);
	snprintf(text, sizeof(text), "%s %s\n", filter, word);
	err = write_file_atomic(cmd, text, strlen(text), 0600, 0);
	if (err)
		return err;
	for (waited = 0; waited <= timeout_ms; waited += 50) {
		err = read_small(done, answer, sizeof(answer));
		if (!err) {
			unlink(done);
			return sscanf(answer, "err=%d", &res) == 1 ? res : -EPROTO;
		}
		if (err != -ENOENT)
			return err;
		nanosleep(&tick, NULL);
	}
	unlink(cmd);
	return -ETIMEDOUT;
}
