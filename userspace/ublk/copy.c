// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>

#include "lib/macro.h"
#include "ublk/copy.h"
#include "ublk/uapi_compat.h"

static const char *const names[] = {
	[UBLK_COPY_AUTO] = "auto",
	[UBLK_COPY_BUFFER] = "buffer",
	[UBLK_COPY_USER] = "user",
	[UBLK_COPY_MMAP] = "mmap",
};

int ublk_copy_parse(const char *s, enum ublk_copy *out)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ublk_copy_name(enum ublk_copy c)
{
	if ((unsigned int)c >= ARRAY_SIZE(names))
		return "?";
	return names[c];
}

int ublk_copy_resolve(enum ublk_copy want, const struct ublk_copy_env *env,
		      enum ublk_copy *out)
{
	bool user_copy = env->features & UBLK_F_USER_COPY;
	bool mmap_ok = env->chain_empty && env->page_cache;

	switch (want) {
	case UBLK_COPY_AUTO:
		*out = user_copy && mmap_ok && env->in_memory ? UBLK_COPY_MMAP : UBLK_COPY_BUFFER;
		return 0;
	case UBLK_COPY_BUFFER:
		*out = want;
		return 0;
	case UBLK_COPY_MMAP:
		if (!mmap_ok)
			return user_copy ? -EINVAL : -EOPNOTSUPP;
		/* fall through */
	case UBLK_COPY_USER:
		if (!user_copy)
			return -EOPNOTSUPP;
		*out = want;
		return 0;
	}
	return -EINVAL;
}
