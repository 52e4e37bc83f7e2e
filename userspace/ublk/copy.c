// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/macro.h"
#include "ublk/copy.h"
#include "ublk/uapi_compat.h"

static const char *const names[] = {
	[UBLK_COPY_AUTO] = "auto",
	[UBLK_COPY_BUFFER] = "buffer",
	[UBLK_COPY_USER] = "user",
	[UBLK_COPY_MMAP] = "mmap",
	[UBLK_COPY_ZERO] = "zero",
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

uint64_t ublk_copy_zero_flag(uint64_t features)
{
	if (features & UBLK_F_AUTO_BUF_REG)
		return UBLK_F_AUTO_BUF_REG;
	return features & UBLK_F_SUPPORT_ZERO_COPY;
}

int ublk_copy_resolve(enum ublk_copy want, const struct ublk_copy_env *env,
		      enum ublk_copy *out)
{
	bool user_copy = env->features & UBLK_F_USER_COPY;
	bool zero_copy = ublk_copy_zero_flag(env->features);
	/* no filter sees the data; one that moves it needs the pages for the request's life */
	bool zero_ok = !env->data_filter &&
		       (!env->data_mover || (env->features & UBLK_F_AUTO_BUF_REG));
	bool mmap_ok = env->chain_empty && env->page_cache;

	switch (want) {
	case UBLK_COPY_AUTO:
		/*
		 * Zero copy first, in-memory backings too: on 7.3 bench/ublk
		 * over tmpfs had it at 0.61-0.91 of loop and mmap at 0.28-0.81
		 * in two boots (2-3x on 128 KiB); mmap leads where there is
		 * no zero copy (1.13-1.39 of loop on 6.12).
		 */
		if (zero_copy && zero_ok)
			*out = UBLK_COPY_ZERO;
		else if (user_copy && mmap_ok && env->in_memory)
			*out = UBLK_COPY_MMAP;
		else
			*out = UBLK_COPY_BUFFER;
		return 0;
	case UBLK_COPY_BUFFER:
		*out = want;
		return 0;
	case UBLK_COPY_ZERO:
		if (!zero_copy)
			return -EOPNOTSUPP;
		if (!zero_ok)
			return -EINVAL;
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

void ublk_copy_why(enum ublk_copy want, enum ublk_copy got, const struct ublk_copy_env *env,
		   uint64_t flags, char *buf, size_t len)
{
	const char *why = "asked for";

	switch (got) {
	case UBLK_COPY_ZERO:
		why = flags & UBLK_F_AUTO_BUF_REG ? "auto buffer registration" :
						    "buffer registered per request";
		break;
	case UBLK_COPY_MMAP:
		if (want == UBLK_COPY_AUTO)
			why = "passthrough over an in-memory backing";
		break;
	case UBLK_COPY_BUFFER:
	case UBLK_COPY_USER:
		if (env->data_filter) {
			snprintf(buf, len, "filter %s sees the data", env->data_filter);
			return;
		}
		if (env->data_mover && ublk_copy_zero_flag(env->features)) {
			snprintf(buf, len, "filter %s needs auto buffer registration",
				 env->data_mover);
			return;
		}
		if (want == UBLK_COPY_AUTO && !ublk_copy_zero_flag(env->features))
			why = "driver lacks zero copy";
		break;
	case UBLK_COPY_AUTO:
		break;
	}
	snprintf(buf, len, "%s", why);
}
