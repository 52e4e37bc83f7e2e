// SPDX-License-Identifier: GPL-2.0
/*
 * store.c - the cache device and its persistent metadata at start: open
 * (or make) the device, read its superblock or format it, and load the
 * slot table so the cache comes back warm with its dirty blocks dirty.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache.h"

int cache_store_open(const char *path, uint64_t want, uint64_t *size)
{
	struct stat st;
	int fd, err;

	/* a file is made only when its size is known */
	fd = open(path, O_RDWR | O_CLOEXEC | (want ? O_CREAT : 0), 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out_close;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size)) {
			err = -errno;
			goto out_close;
		}
		if (want && want < *size)
			*size = want;
	} else if (S_ISREG(st.st_mode)) {
		*size = st.st_size;
		if (want && (uint64_t)st.st_size < want && ftruncate(fd, want)) {
			err = -errno;
			goto out_close;
		}
		if (want)
			*size = want;
	} else {
		err = -EINVAL;
		goto out_close;
	}
	return fd;
out_close:
	close(fd);
	return err;
}

/* The device's superblock, or a new format when it has none. */
int cache_store_load_sb(struct cache *c, const struct filter_config *cfg, uint64_t dev_size)
{
	uint64_t id = cache_hash_str(cfg->backing ? cfg->backing : "");
	int err;

	err = cache_sb_read(c->fd, &c->sb);
	if (!err) {
		if (c->sb.backing_id != id || c->sb.backing_size != cfg->backing_size)
			return -EEXIST;
		if (c->sb.block_size != c->bs || c->sb.data_off +
		    (uint64_t)c->sb.nblocks * c->sb.block_size > dev_size)
			return -EINVAL;
		/* it failed before: still not to be trusted with new data */
		c->degraded = c->sb.flags & CACHE_SB_DEGRADED;
		return 0;
	}
	if (err != -ENODATA)
		return err;
	err = cache_sb_layout(&c->sb, dev_size, c->bs);
	if (err)
		return err;
	if (getrandom(&c->sb.gen, sizeof(c->sb.gen), 0) != sizeof(c->sb.gen))
		return -errno;
	c->sb.backing_size = cfg->backing_size;
	c->sb.backing_id = id;
	c->sb.disk_size = cfg->disk_size;
	return cache_sb_write(c->fd, &c->sb);
}

/* The slot table into memory: the cache comes back warm, its dirty blocks dirty. */
int cache_store_load_slots(struct cache *c)
{
	struct cache_slot *slots;
	uint32_t i, other;
	int err;

	slots = calloc(c->sb.nblocks, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	err = cache_slots_read(c->fd, &c->sb, slots);
	if (err)
		goto out;
	for (i = 0; i < c->sb.nblocks; i++) {
		struct cache_slot *s = &slots[i];

		if (s->bblock == CACHE_NO_BLOCK || !s->valid)
			continue;
		if (s->seq >= c->seq)
			c->seq = s->seq + 1;
		if ((s->bblock + 1) * c->bs > c->disk_size + c->bs)
			continue;
		other = q2_lookup(c->q, s->bblock);
		if (other != Q2_NONE) {
			/* two slots for one block: the newer one holds it */
			if (slots[other].seq > s->seq)
				continue;
			cache_dirty_account(c, c->b[other].dirty, 0);
			c->b[other] = (struct cblock){};
			q2_release(c->q, other);
		}
		q2_remove(c->q, i);
		q2_insert(c->q, i, s->bblock, true);
		c->b[i].valid = s->valid;
		c->b[i].dirty = s->dirty;
		cache_dirty_account(c, 0, s->dirty);
	}
out:
	free(slots);
	return err;
}

/*
 * From a queue's timer, under no lock: once the cache is degraded, its
 * superblock says so, so a restart does not trust it with new data again.
 * Best effort: a device that fails every write refuses this one too.
 */
void cache_store_save_degraded(struct cache *c)
{
	struct cache_sb sb;
	bool save;

	pthread_mutex_lock(&c->lock);
	save = c->degraded && !(c->sb.flags & CACHE_SB_DEGRADED);
	if (save) {
		c->sb.flags |= CACHE_SB_DEGRADED;
		sb = c->sb;
	}
	pthread_mutex_unlock(&c->lock);
	if (save && cache_sb_write(c->fd, &sb))
		atomic_fetch_add(&c->errors, 1);
}
