// SPDX-License-Identifier: GPL-2.0
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lib/macro.h"
#include "bpf/sluice.h"
#include "lib/enforcer.h"
#include "lib/fileio.h"
#include "loader/policy_apply.h"
#include "loader/policy_cglimits.h"
#include "loader/policy_compile.h"
#include "loader/policy_maps.h"
#include "loader/ublk_class.h"

#define STATE_PATH_MAX	(PATH_MAX + 64)

/* One limit file setting: what is there (old) and what we want (new). */
struct lim_rec {
	int ver;
	unsigned int major, minor;
	uint64_t v[CGL_MAX];
	char dir[PATH_MAX];
};

struct lim_list {
	struct lim_rec *v;
	size_t n;
};

static int lim_push(struct lim_list *l, const struct lim_rec *r)
{
	struct lim_rec *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n++] = *r;
	return 0;
}

static int fail(struct policy_apply_result *res, enum policy_stage st, const char *what, int err)
{
	size_t n = what ? strlen(what) : 0;

	res->stage = st;
	/* keep the tail: the end of a long path says the most */
	if (n >= sizeof(res->what))
		what += n - (sizeof(res->what) - 1);
	memcpy(res->what, what ? what : "", n >= sizeof(res->what) ? sizeof(res->what) - 1 : n);
	res->what[n >= sizeof(res->what) ? sizeof(res->what) - 1 : n] = '\0';
	return err;
}

int policy_state_dir(const char *run_dir, char *buf, size_t len)
{
	char link[PATH_MAX], real[PATH_MAX];

	snprintf(link, sizeof(link), "%s/policy/current", run_dir);
	/* realpath() leaves a partial path behind on failure: never hand that out */
	if (!realpath(link, real))
		return -errno;
	if (strlen(real) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, real, strlen(real) + 1);
	return 0;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) ? -1 : 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * A file of a generation directory still being built (gen.N.tmp), so not
 * replaced in place: the directory's rename is the atomic step. Synced, as
 * is the directory before and after its rename: the limits record is what
 * the next apply reads to take this generation's limits back, and an apply
 * is rare enough for a few fsyncs.
 */
static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

static int copy_file(const char *from, const char *to)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(from, "re");
	ssize_t n;
	int err;

	if (!f)
		return -errno;
	n = getdelim(&buf, &len, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return write_file(to, "", 0);
	}
	err = write_file(to, buf, (size_t)n);
	free(buf);
	return err;
}

bool policy_limit_held_by_server(const char *run_dir, const struct policy_set *set,
				  const struct policy_cg_limit *l)
{
	const struct pol_binding *b;
	struct served_throttle t;

	if (l->binding >= set->nr_bindings)
		return false;
	b = &set->bindings[l->binding];
	if (b->policy < 0 || enforcer_find(run_dir, l->major, l->minor, &t))
		return false;
	/* a server started under another policy holds that one's limits, not these */
	return !strcmp(t.policy, set->policies[b->policy].name);
}

/* Which of @img's limits a ublk server holds: io.max stays off those. */
static int limits_held(const char *run_dir, const struct policy_set *set,
		       const struct policy_image *img, bool **held)
{
	size_t i;

	*held = calloc(img->nr_limits + 1, sizeof(**held));
	if (!*held)
		return -ENOMEM;
	for (i = 0; i < img->nr_limits; i++)
		(*held)[i] = policy_limit_held_by_server(run_dir, set, &img->limits[i]);
	return 0;
}

/* Only what this generation writes: what the next one or 'remove' clears. */
static int write_limits_record(const char *path, const struct policy_image *img,
			       const bool *held)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	const struct policy_cg_limit *l;
	int err;

	if (!f)
		return -ENOMEM;
	for (i = 0; i < img->nr_limits; i++) {
		if (held[i])
			continue;
		l = &img->limits[i];
		fprintf(f, "%d %u:%u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", l->ver,
			l->major, l->minor, l->riops, l->wiops, l->rbps, l->wbps, l->dir);
	}
	fclose(f);
	err = write_file(path, buf, len);
	free(buf);
	return err;
}

static int read_limits_record(const char *path, struct lim_list *out)
{
	char line[PATH_MAX + 128];
	struct lim_rec r;
	FILE *f = fopen(path, "re");
	int n, err = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		memset(&r, 0, sizeof(r));
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%d %u:%u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %n",
			   &r.ver, &r.major, &r.minor, &r.v[0], &r.v[1], &r.v[2], &r.v[3], &n) < 7)
			continue;
		snprintf(r.dir, sizeof(r.dir), "%s", line + n);
		err = lim_push(out, &r);
		if (err)
			break;
	}
	fclose(f);
	return err;
}

/* Write the generation's state directory, gen.N, complete before anyone sees it. */
static int write_state(const char *run_dir, const struct policy_image *img,
		       const bool *held, char *const *files, size_t nr_files, uint64_t gen,
		       char *dir, size_t len, struct policy_apply_result *res)
{
	char tmp[STATE_PATH_MAX], p[STATE_PATH_MAX + 300], base[PATH_MAX];
	size_t i;
	int err;

	snprintf(tmp, sizeof(tmp), "%s/policy/gen.%" PRIu64 ".tmp", run_dir, gen);
	snprintf(dir, len, "%s/policy/gen.%" PRIu64, run_dir, gen);
	rm_rf(tmp);
	rm_rf(dir);
	snprintf(p, sizeof(p), "%s/chains", tmp);
	err = mkdir_p(p);
	if (!err) {
		snprintf(p, sizeof(p), "%s/sources", tmp);
		err = mkdir_p(p);
	}
	if (err)
		return fail(res, PS_STATE, p, err);
	for (i = 0; i < img->nr_chains; i++) {
		snprintf(p, sizeof(p), "%s/chains/b%03u.chain", tmp, img->chains[i].binding);
		/* serve --recover rebuilds a disk from its chain: durable where the run dir is */
		err = write_file_atomic(p, img->chains[i].text, strlen(img->chains[i].text), 0644,
					FILE_ATOMIC_SYNC);
		if (err)
			goto out_rm;
	}
	for (i = 0; i < nr_files; i++) {
		snprintf(base, sizeof(base), "%s", files[i]);
		snprintf(p, sizeof(p), "%s/sources/%02zu-%s", tmp, i, basename(base));
		err = copy_file(files[i], p);
		if (err)
			goto out_rm;
	}
	snprintf(p, sizeof(p), "%s/limits", tmp);
	err = write_limits_record(p, img, held);
	if (err)
		goto out_rm;
	snprintf(p, sizeof(p), "%s/chains", tmp);
	err = fsync_dir(p);
	if (!err) {
		snprintf(p, sizeof(p), "%s/sources", tmp);
		err = fsync_dir(p);
	}
	if (!err) {
		snprintf(p, sizeof(p), "%s", tmp);
		err = fsync_dir(p);
	}
	if (err)
		goto out_rm;
	if (rename(tmp, dir)) {
		err = -errno;
		snprintf(p, sizeof(p), "%s", dir);
		goto out_rm;
	}
	/* The rename itself is durable once the parent directory is synced. */
	err = fsync_parent_dir(dir);
	if (err) {
		snprintf(p, sizeof(p), "%s", dir);
		return fail(res, PS_STATE, p, err);
	}
	return 0;
out_rm:
	rm_rf(tmp);
	return fail(res, PS_STATE, p, err);
}

static int point_current(const char *run_dir, const char *dir)
{
	char link[STATE_PATH_MAX], tmp[STATE_PATH_MAX + 8];

	snprintf(link, sizeof(link), "%s/policy/current", run_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", link);
	unlink(tmp);
	if (symlink(dir, tmp))
		return -errno;
	/* rename() over the old link: readers see the old or the new, never none */
	if (rename(tmp, link)) {
		unlink(tmp);
		return -errno;
	}
	return fsync_parent_dir(link);
}

static void undo_limits(const struct lim_list *undo)
{
	size_t i = undo->n;

	while (i--)
		cglimit_write(undo->v[i].dir, undo->v[i].ver, undo->v[i].major, undo->v[i].minor,
			      undo->v[i].v);
}

/* Set the new static limits, remembering what was there to undo on failure. */
static int set_limits(const struct policy_image *img, const bool *held, struct lim_list *undo,
		      struct policy_apply_result *res)
{
	const struct policy_cg_limit *l;
	struct lim_rec r;
	uint64_t v[CGL_MAX];
	size_t i;
	int err;

	for (i = 0; i < img->nr_limits; i++) {
		if (held[i]) {
			res->nr_limits_served++;
			continue;
		}
		l = &img->limits[i];
		memset(&r, 0, sizeof(r));
		r.ver = l->ver;
		r.major = l->major;
		r.minor = l->minor;
		snprintf(r.dir, sizeof(r.dir), "%s", l->dir);
		err = cglimit_read(l->dir, l->ver, l->major, l->minor, r.v);
		if (!err)
			err = lim_push(undo, &r);
		v[CGL_RIOPS] = l->riops;
		v[CGL_WIOPS] = l->wiops;
		v[CGL_RBPS] = l->rbps;
		v[CGL_WBPS] = l->wbps;
		if (!err)
			err = cglimit_write(l->dir, l->ver, l->major, l->minor, v);
		if (err) {
			undo_limits(undo);
			return fail(res, PS_LIMITS, l->dir, err);
		}
		res->nr_limits++;
	}
	return 0;
}

/*
 * Limits the previous generation wrote that the new one does not: clear
 * them. A disk a ublk server has taken over since counts as not written:
 * that is how a limit written before the server started leaves io.max.
 */
static void clear_stale_limits(const struct lim_list *old, const struct policy_image *img,
			       const bool *held)
{
	static const uint64_t zero[CGL_MAX];
	const struct policy_cg_limit *l;
	size_t i, j;

	for (i = 0; i < old->n; i++) {
		for (j = 0; j < img->nr_limits; j++) {
			l = &img->limits[j];
			if (!held[j] && !strcmp(l->dir, old->v[i].dir) && l->major == old->v[i].major &&
			    l->minor == old->v[i].minor)
				break;
		}
		if (j == img->nr_limits)
			cglimit_write(old->v[i].dir, old->v[i].ver, old->v[i].major,
				      old->v[i].minor, zero);
	}
}

int policy_apply(const struct policy_set *set, char *const *files, size_t nr_files,
		 const char *run_dir, struct policy_apply_result *res)
{
	char dir[STATE_PATH_MAX], old_dir[STATE_PATH_MAX] = "", p[STATE_PATH_MAX + 16];
	struct lim_list undo = {}, old = {};
	struct policy_image img;
	int outer = -1, inner = -1, prev = -1, err;
	bool loaded = false, *held = NULL;
	uint64_t gen;

	memset(res, 0, sizeof(*res));
	gen = policy_maps_generation() + 1;
	err = policy_compile(set, gen, &img);
	if (!err)
		err = policy_image_add_cgroup_tree(&img, set);
	if (!err)
		err = limits_held(run_dir, set, &img, &held);
	if (err) {
		policy_image_free(&img);
		return fail(res, PS_COMPILE, "policy", err);
	}
	err = policy_maps_prepare();
	if (err) {
		fail(res, PS_BPFFS, SLUICE_PIN_DIR, err);
		goto out_free;
	}
	err = policy_maps_outer_fd(true, &outer);
	if (err) {
		fail(res, PS_MAPS, SLUICE_PIN_DIR "/" SLUICE_MAP_POLICY, err);
		goto out_free;
	}
	err = policy_maps_build(&img, &inner);
	if (err) {
		fail(res, PS_MAPS, "new policy generation map", err);
		goto out_close;
	}
	err = write_state(run_dir, &img, held, files, nr_files, gen, dir, sizeof(dir), res);
	if (err)
		goto out_close;
	if (!policy_state_dir(run_dir, old_dir, sizeof(old_dir))) {
		snprintf(p, sizeof(p), "%s/limits", old_dir);
		read_limits_record(p, &old);
	}
	err = set_limits(&img, held, &undo, res);
	if (err)
		goto out_rm_state;
	err = policy_maps_swap(outer, inner, &prev);
	if (err) {
		fail(res, PS_SWAP, SLUICE_PIN_DIR "/" SLUICE_MAP_POLICY, err);
		undo_limits(&undo);
		goto out_rm_state;
	}
	err = point_current(run_dir, dir);
	if (err) {
		/* the chains would not match the maps: put the old generation back */
		if (prev >= 0)
			policy_maps_swap(outer, prev, NULL);
		undo_limits(&undo);
		fail(res, PS_STATE, dir, err);
		goto out_rm_state;
	}
	clear_stale_limits(&old, &img, held);
	if (old_dir[0] && strcmp(old_dir, dir))
		rm_rf(old_dir);
	res->generation = gen;
	/* the policy is in force; programs that read it come next */
	err = policy_probe_ensure(&loaded);
	res->progs_loaded = loaded;
	if (err) {
		fail(res, PS_PROGS, "classify probe", err);
		goto out_close;
	}
	/* servers ran since a 'policy remove': their classes come back too */
	if (policy_maps_pinned(SLUICE_MAP_UCLASS)) {
		err = ublk_class_ensure(&loaded);
		if (err)
			fail(res, PS_PROGS, "ublk class program", err);
	}
	goto out_close;

out_rm_state:
	rm_rf(dir);
out_close:
	if (prev >= 0)
		close(prev);
	if (inner >= 0)
		close(inner);
	if (outer >= 0)
		close(outer);
out_free:
	free(held);
	free(undo.v);
	free(old.v);
	policy_image_free(&img);
	return err;
}

int policy_remove(const char *run_dir, struct policy_apply_result *res)
{
	static const uint64_t zero[CGL_MAX];
	/*
	 * The ublk_class program goes with the policy map it was loaded
	 * against: left attached, it would keep classifying every request of
	 * a later policy's disks by the removed (empty) map, as class 0. Its
	 * slot map stays: running servers have it mapped.
	 */
	static const char *const pins[] = { SLUICE_LINK_PROBE, SLUICE_MAP_PROBE, SLUICE_LINK_UCLASS,
					     SLUICE_MAP_POLICY };
	char dir[STATE_PATH_MAX], p[STATE_PATH_MAX + 16];
	struct lim_list old = {};
	size_t i;
	int err;

	memset(res, 0, sizeof(*res));
	if (!policy_state_dir(run_dir, dir, sizeof(dir))) {
		snprintf(p, sizeof(p), "%s/limits", dir);
		read_limits_record(p, &old);
		for (i = 0; i < old.n; i++)
			if (!cglimit_write(old.v[i].dir, old.v[i].ver, old.v[i].major,
					   old.v[i].minor, zero))
				res->nr_limits++;
		free(old.v);
	}
	/* programs that still hold the map (a running meter) must stop classifying */
	err = policy_maps_clear();
	if (err)
		return fail(res, PS_MAPS, SLUICE_MAP_POLICY, err);
	for (i = 0; i < ARRAY_SIZE(pins); i++) {
		err = policy_maps_unpin(pins[i]);
		if (err)
			return fail(res, PS_MAPS, pins[i], err);
	}
	snprintf(p, sizeof(p), "%s/policy", run_dir);
	rm_rf(p);
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int policy_state_sources(const char *run_dir, char ***files, size_t *nr)
{
	char dir[STATE_PATH_MAX], p[STATE_PATH_MAX + 16], *s, **v;
	struct dirent *de;
	int err;
	DIR *d;

	*files = NULL;
	*nr = 0;
	err = policy_state_dir(run_dir, dir, sizeof(dir));
	if (err)
		return err;
	snprintf(p, sizeof(p), "%s/sources", dir);
	d = opendir(p);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&s, "%s/%s", p, de->d_name) < 0)
			break;
		v = realloc(*files, (*nr + 1) * sizeof(*v));
		if (!v) {
			free(s);
			break;
		}
		*files = v;
		(*files)[(*nr)++] = s;
	}
	closedir(d);
	if (*nr)
		qsort(*files, *nr, sizeof(**files), str_cmp);
	return 0;
}

int policy_reapply(const char *run_dir, struct policy_apply_result *res)
{
	struct policy_opts opts = { .resolve = true, .run_dir = run_dir };
	struct policy_diags diags = {};
	struct policy_set set;
	char **files = NULL;
	size_t nr = 0, i;
	int err;

	memset(res, 0, sizeof(*res));
	err = policy_state_sources(run_dir, &files, &nr);
	if (!err && !nr)
		err = -ENOENT;
	if (err)
		goto out_free;
	err = policy_check_files(files, nr, &opts, &set, &diags);
	if (err) {
		if (diags.n)
			snprintf(res->what, sizeof(res->what), "%s:%u:%u: %s", diags.v[0].file,
				 diags.v[0].line, diags.v[0].col, diags.v[0].msg);
		err = err == -ENOMEM ? err : -EINVAL;
		goto out_diags;
	}
	err = policy_apply(&set, files, nr, run_dir, res);
	policy_set_free(&set);
out_diags:
	policy_diags_free(&diags);
out_free:
	for (i = 0; i < nr; i++)
		free(files[i]);
	free(files);
	return err;
}
