// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/policy.h"
#include "loader/policy_cglimits.h"

static const char *const v1_files[CGL_MAX] = {
	"blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device",
	"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
};

static const char *const v2_keys[CGL_MAX] = { "riops", "wiops", "rbps", "wbps" };

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		err = -errno;
	close(fd);
	return err;
}

int cglimit_write(const char *dir, int ver, unsigned int major, unsigned int minor,
		  const uint64_t v[CGL_MAX])
{
	char path[4200], line[256], val[4][24];
	int i, err;

	if (ver == POL_CG_V1) {
		for (i = 0; i < CGL_MAX; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, v1_files[i]);
			snprintf(line, sizeof(line), "%u:%u %" PRIu64 "\n", major, minor, v[i]);
			err = write_str(path, line);
			if (err)
				return err;
		}
		return 0;
	}
	if (ver != POL_CG_V2)
		return -EOPNOTSUPP;
	for (i = 0; i < CGL_MAX; i++) {
		if (v[i])
			snprintf(val[i], sizeof(val[i]), "%" PRIu64, v[i]);
		else
			snprintf(val[i], sizeof(val[i]), "max");
	}
	snprintf(path, sizeof(path), "%s/io.max", dir);
	snprintf(line, sizeof(line), "%u:%u rbps=%s wbps=%s riops=%s wiops=%s\n", major, minor,
		 val[CGL_RBPS], val[CGL_WBPS], val[CGL_RIOPS], val[CGL_WIOPS]);
	return write_str(path, line);
}

int cglimit_read(const char *dir, int ver, unsigned int major, unsigned int minor,
		 uint64_t v[CGL_MAX])
{
	char path[4200], line[512], *tok, *save, *eq;
	unsigned int ma, mi;
	uint64_t x;
	FILE *f;
	int i, j, n;

	memset(v, 0, CGL_MAX * sizeof(v[0]));
	for (i = 0; i < (ver == POL_CG_V1 ? CGL_MAX : 1); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ver == POL_CG_V1 ? v1_files[i] : "io.max");
		f = fopen(path, "re");
		if (!f)
			return -errno;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%u:%u %n", &ma, &mi, &n) != 2 || ma != major || mi != minor)
				continue;
			if (ver == POL_CG_V1) {
				if (sscanf(line + n, "%" SCNu64, &x) == 1)
					v[i] = x;
				continue;
			}
			for (tok = strtok_r(line + n, " \n", &save); tok;
			     tok = strtok_r(NULL, " \n", &save)) {
				eq = strchr(tok, '=');
				if (!eq)
					continue;
				*eq = '\0';
				for (j = 0; j < CGL_MAX; j++)
					if (!strcmp(tok, v2_keys[j]) && strcmp(eq + 1, "max"))
						v[j] = strtoull(eq + 1, NULL, 10);
			}
		}
		fclose(f);
	}
	return 0;
}
