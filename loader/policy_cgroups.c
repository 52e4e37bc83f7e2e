// SPDX-License-Identifier: GPL-2.0
/*
 * policy_cgroups.c - ancestor ids of rule cgroups and their descendants,
 * for the classifier's subtree match (see bpf/classify.bpf.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loader/policy_compile.h"

struct walk {
	struct policy_image *img;
	struct sluice_cgroup_anc anc;
	int err;
};

static void record(struct walk *w, unsigned int level)
{
	union sluice_policy_val *v;

	v = policy_image_add(w->img, SLUICE_PK_CGROUP, w->anc.ids[level], &w->err);
	if (!v)
		return;
	v->cgroup = w->anc;
	v->cgroup.level = level;
	memset(&v->cgroup.ids[level + 1], 0,
	       (SLUICE_CGROUP_LEVELS - level - 1) * sizeof(v->cgroup.ids[0]));
}

static void descend(struct walk *w, const char *dir, unsigned int level)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	record(w, level);
	if (w->err || level + 1 >= SLUICE_CGROUP_LEVELS)
		return;
	d = opendir(dir);
	if (!d)
		return;	/* removed meanwhile: nothing to match */
	while (!w->err && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st))
			continue;
		w->anc.ids[level + 1] = st.st_ino;
		descend(w, path, level + 1);
	}
	closedir(d);
}

/* ids[0..level] of @cg from its directory and its parents. */
static int ancestry(const struct pol_cgroup *cg, struct sluice_cgroup_anc *anc)
{
	char path[PATH_MAX], *slash;
	struct stat st;
	int l;

	snprintf(path, sizeof(path), "%s", cg->dir);
	for (l = (int)cg->level; l >= 0; l--) {
		if (stat(path, &st))
			return -errno;
		anc->ids[l] = st.st_ino;
		slash = strrchr(path, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	return 0;
}

int policy_image_add_cgroup_tree(struct policy_image *img, const struct policy_set *set)
{
	struct walk w = { .img = img };
	const struct pol_class *cl;
	size_t i, j, k;

	for (i = 0; i < set->nr_policies; i++) {
		for (j = 0; j < set->policies[i].nr_classes; j++) {
			cl = &set->policies[i].classes[j];
			for (k = 0; k < cl->nr_cgroups; k++) {
				if (!cl->cgroups[k].dir || cl->cgroups[k].level >= SLUICE_CGROUP_LEVELS)
					continue;
				memset(&w.anc, 0, sizeof(w.anc));
				if (ancestry(&cl->cgroups[k], &w.anc))
					continue;
				descend(&w, cl->cgroups[k].dir, cl->cgroups[k].level);
				if (w.err)
					return w.err;
			}
		}
	}
	return 0;
}
