// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "lib/units.h"

static char *scaled(double v, const char *const *names, int n, double step,
		    char *buf, size_t len)
{
	int i = 0;

	while (i < n - 1 && v >= step) {
		v /= step;
		i++;
	}
	if (i == 0 || v >= 100)
		snprintf(buf, len, "%.0f%s", v, names[i]);
	else if (v >= 10)
		snprintf(buf, len, "%.1f%s", v, names[i]);
	else
		snprintf(buf, len, "%.2f%s", v, names[i]);
	return buf;
}

char *units_fmt_ns(double ns, char *buf, size_t len)
{
	static const char *const n[] = { "ns", "us", "ms", "s" };

	return scaled(ns, n, 4, 1000, buf, len);
}

char *units_fmt_bytes(double bytes, char *buf, size_t len)
{
	static const char *const n[] = { "B", "KiB", "MiB", "GiB", "TiB" };

	return scaled(bytes, n, 5, 1024, buf, len);
}

char *units_fmt_count(double v, char *buf, size_t len)
{
	static const char *const n[] = { "", "k", "M", "G" };

	return scaled(v, n, 4, 1000, buf, len);
}
