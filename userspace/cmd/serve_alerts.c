// SPDX-License-Identifier: GPL-2.0
#include "cmd/filter_stats_cli.h"
#include "cmd/serve_alerts.h"
#include "lib/log.h"

void serve_alerts_seen(const struct filter_stats *fs, void *arg)
{
	struct serve_alerts *a = arg;
	unsigned int now = filter_stats_alerts(fs), bit;
	char text[160];

	for (bit = 1; bit & FILTER_ALERTS_ALL; bit <<= 1) {
		if (!((now ^ a->raised) & bit))
			continue;
		filter_stats_alert_text(fs, bit, now & bit, text, sizeof(text));
		if (now & bit)
			log_warn("/dev/ublkb%u: %s", fs->id, text);
		else
			log_info("/dev/ublkb%u: %s", fs->id, text);
	}
	a->raised = now;
}
