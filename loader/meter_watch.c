// SPDX-License-Identifier: GPL-2.0
/*
 * meter_watch.c - on-demand attach of the meter's optional programs; see
 * meter_watch.h.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#include <bpf/libbpf.h>

#include "sluice.h"
#include "loader/meter_watch.h"
#include "meter.skel.h"

enum watch_src {
	WATCH_STOP,
	WATCH_UEVENT,
	WATCH_NOTIFY,
};

struct meter_watch {
	struct meter_bpf *skel;
	pthread_mutex_t lock;		/* links and error */
	struct bpf_link *issue;
	struct bpf_link *bio_queue;
	struct bpf_link *bio_complete;
	int error;
	struct ring_buffer *rb;
	int uevent_fd;
	int stop_fd;
	int epoll_fd;
	pthread_t thread;
	bool running;
};

static int attach_one(struct bpf_program *prog, struct bpf_link **link)
{
	struct bpf_link *l;

	if (*link || !bpf_program__autoload(prog))
		return 0;	/* attached already, or not loaded on this kernel */
	l = bpf_program__attach(prog);
	if (!l)
		return -errno ?: -EINVAL;
	*link = l;
	return 0;
}

/* Record the first failure: meter_snapshot() reports it. */
static int note(struct meter_watch *w, int err)
{
	if (err && !w->error)
		w->error = err;
	return err;
}

static int attach_issue(struct meter_watch *w)
{
	int err;

	pthread_mutex_lock(&w->lock);
	err = note(w, attach_one(w->skel->progs.rq_issue, &w->issue));
	pthread_mutex_unlock(&w->lock);
	return err;
}

static int attach_bio(struct meter_watch *w)
{
	int err;

	pthread_mutex_lock(&w->lock);
	err = attach_one(w->skel->progs.bio_complete, &w->bio_complete);
	/* completion first: a bio queued in between is found, not leaked */
	if (!err)
		err = attach_one(w->skel->progs.bio_queue, &w->bio_queue);
	note(w, err);
	pthread_mutex_unlock(&w->lock);
	return err;
}

static bool bio_attached(struct meter_watch *w)
{
	bool yes;

	pthread_mutex_lock(&w->lock);
	yes = w->bio_queue != NULL;
	pthread_mutex_unlock(&w->lock);
	return yes;
}

/*
 * A disk without a blk-mq queue (its I/O never becomes a request) that can
 * take I/O: an unconfigured zram or a device-mapper disk not yet resumed
 * has no capacity, and gets a "change" uevent when it gets one.
 */
static bool needs_bio_programs(const char *name)
{
	unsigned long long sectors = 0;
	char path[300];
	FILE *f;
	int n;

	if (name[0] == '.' || strchr(name, '/'))
		return false;
	snprintf(path, sizeof(path), "/sys/block/%s/queue", name);
	if (access(path, F_OK))
		return false;
	snprintf(path, sizeof(path), "/sys/block/%s/mq", name);
	if (!access(path, F_OK) || errno != ENOENT)
		return false;
	snprintf(path, sizeof(path), "/sys/block/%s/size", name);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fscanf(f, "%llu", &sectors);
	fclose(f);
	return n == 1 && sectors > 0;
}

int meter_watch_rescan(struct meter_watch *w)
{
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (!w || bio_attached(w))
		return 0;
	d = opendir("/sys/block");
	if (!d)
		return -errno;
	while (!found && (de = readdir(d)))
		found = needs_bio_programs(de->d_name);
	closedir(d);
	return found ? attach_bio(w) : 0;
}

int meter_watch_error(struct meter_watch *w)
{
	int err;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	err = w->error;
	pthread_mutex_unlock(&w->lock);
	return err;
}

/* "add@..." then KEY=VALUE strings, each NUL-terminated. */
static void on_uevent(struct meter_watch *w)
{
	const char *devname = NULL, *p, *end;
	bool add_or_change = false, block = false, disk = false;
	char buf[8192];
	ssize_t n;

	n = recv(w->uevent_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (p = buf, end = buf + n; p < end; p += strlen(p) + 1) {
		if (!strcmp(p, "ACTION=add") || !strcmp(p, "ACTION=change"))
			add_or_change = true;
		else if (!strcmp(p, "SUBSYSTEM=block"))
			block = true;
		else if (!strcmp(p, "DEVTYPE=disk"))
			disk = true;
		else if (!strncmp(p, "DEVNAME=", 8))
			devname = p + 8;
	}
	if (add_or_change && block && disk && devname && !bio_attached(w) &&
	    needs_bio_programs(devname))
		attach_bio(w);
}

static int on_notify(void *ctx, void *data, size_t size)
{
	struct meter_watch *w = ctx;

	if (size >= sizeof(__u32) && *(__u32 *)data == SLUICE_NOTIFY_WANT_ISSUE)
		attach_issue(w);
	return 0;
}

static void *watch_main(void *arg)
{
	struct meter_watch *w = arg;
	struct epoll_event ev[4];
	int n, i;

	for (;;) {
		n = epoll_wait(w->epoll_fd, ev, 4, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			note(w, -errno);
			return NULL;
		}
		for (i = 0; i < n; i++) {
			switch (ev[i].data.u32) {
			case WATCH_STOP:
				return NULL;
			case WATCH_UEVENT:
				on_uevent(w);
				break;
			case WATCH_NOTIFY:
				ring_buffer__consume(w->rb);
				break;
			}
		}
	}
}

static int watch_fd(struct meter_watch *w, int fd, enum watch_src src)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = src };

	return epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The kernel's uevent broadcast; -errno where this namespace gets none. */
static int open_uevents(void)
{
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int fd;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_KOBJECT_UEVENT);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		close(fd);
		return -errno;
	}
	return fd;
}

int meter_watch_start(struct meter_watch **out, struct meter_bpf *skel, bool all)
{
	struct meter_watch *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->skel = skel;
	w->uevent_fd = w->stop_fd = w->epoll_fd = -1;
	pthread_mutex_init(&w->lock, NULL);

	if (all) {
		err = attach_issue(w);
		if (!err)
			err = attach_bio(w);
	} else {
		err = meter_watch_rescan(w);
	}
	if (err)
		goto out_stop;

	w->rb = ring_buffer__new(bpf_map__fd(skel->maps.notify), on_notify, w, NULL);
	if (!w->rb) {
		err = -errno ?: -ENOMEM;
		goto out_stop;
	}
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epoll_fd < 0 || w->stop_fd < 0) {
		err = -errno;
		goto out_stop;
	}
	err = watch_fd(w, w->stop_fd, WATCH_STOP);
	if (!err)
		err = watch_fd(w, ring_buffer__epoll_fd(w->rb), WATCH_NOTIFY);
	if (err)
		goto out_stop;
	/* Without uevents, meter_watch_rescan() at each snapshot still finds new disks. */
	w->uevent_fd = open_uevents();
	if (w->uevent_fd >= 0) {
		err = watch_fd(w, w->uevent_fd, WATCH_UEVENT);
		if (err)
			goto out_stop;
	}
	err = -pthread_create(&w->thread, NULL, watch_main, w);
	if (err)
		goto out_stop;
	w->running = true;
	*out = w;
	return 0;

out_stop:
	meter_watch_stop(w);
	return err;
}

void meter_watch_stop(struct meter_watch *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	if (w->running) {
		if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(w->thread);
		pthread_join(w->thread, NULL);
	}
	ring_buffer__free(w->rb);
	if (w->uevent_fd >= 0)
		close(w->uevent_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->epoll_fd >= 0)
		close(w->epoll_fd);
	bpf_link__destroy(w->bio_queue);
	bpf_link__destroy(w->bio_complete);
	bpf_link__destroy(w->issue);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
