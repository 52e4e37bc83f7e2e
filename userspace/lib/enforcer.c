// SPDX-License-Identifier: GPL-2.0
/*
 * enforcer.c - is a disk's class throttling held by a sluice ublk server;
 * see enforcer.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/ublk_cmd.h>

#include "lib/disk_state.h"
#include "lib/enforcer.h"

/* @args is "k=v,k=v": copy the value of @key into buf ("" when absent). */
static void arg_get(const char *args, size_t alen, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key), vlen;
	const char *p = args, *end = args + alen, *comma;

	buf[0] = '\0';
	while (p < end) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (!comma)
			comma = end;
		if ((size_t)(comma - p) > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			vlen = (size_t)(comma - p) - klen - 1;
			if (vlen >= len)
				vlen = len - 1;
			memcpy(buf, p + klen + 1, vlen);
			buf[vlen] = '\0';
			return;
		}
		p = comma + 1;
	}
}

bool enforcer_spec_throttle(const char *filters, struct served_throttle *t)
{
	static const char name[] = "throttle";
	const char *p = filters, *end, *colon;
	size_t n = sizeof(name) - 1;

	while (p && *p) {
		p += strspn(p, " ");
		end = p + strcspn(p, " ");
		colon = memchr(p, ':', (size_t)(end - p));
		if ((colon ? (size_t)(colon - p) : (size_t)(end - p)) == n && !strncmp(p, name, n)) {
			if (t) {
				const char *args = colon ? colon + 1 : end;
				size_t alen = (size_t)(end - args);

				arg_get(args, alen, "policy", t->policy, sizeof(t->policy));
				arg_get(args, alen, "state", t->state, sizeof(t->state));
			}
			return true;
		}
		p = end;
	}
	return false;
}

/* ublkb<N> is the name ublk_drv gives its disks; their numbers are dynamic. */
static int ublk_id_of(unsigned int major, unsigned int minor, uint32_t *id)
{
	char path[64], link[PATH_MAX], *base;
	unsigned int n;
	char rest;
	ssize_t len;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major, minor);
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0)
		return -ENOENT;
	link[len] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (sscanf(base, "ublkb%u%c", &n, &rest) != 1)
		return -ENOENT;
	*id = n;
	return 0;
}

int enforcer_find(const char *run_dir, unsigned int major, unsigned int minor,
		  struct served_throttle *t)
{
	struct disk_state st;
	int err;

	memset(t, 0, sizeof(*t));
	err = ublk_id_of(major, minor, &t->id);
	if (err)
		return err;
	err = state_read(run_dir, t->id, &st);
	if (err == -EINVAL || err == -ENOENT)
		return -ENOENT;		/* not ours, or a half-written foreign file */
	if (err)
		return err;
	/*
	 * A killed server's recoverable disk takes no I/O until 'serve
	 * --recover' brings the same chain back, and serve does not apply the
	 * policy again then: the disk stays the server's, or io.max would hold
	 * it twice after the recovery. A disk that cannot be recovered fails
	 * its I/O until deleted: the kernel's, as with no server.
	 */
	if (!state_server_running(st.pid) && !(st.flags & UBLK_F_USER_RECOVERY))
		return -ENOENT;
	if (!enforcer_spec_throttle(st.filters, t))
		return -ENOENT;
	return 0;
}
