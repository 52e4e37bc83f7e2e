// SPDX-License-Identifier: GPL-2.0
/*
 * describe.c - a crypt spec in words, for 'sluice disks'. Plain volumes are
 * what the spec says (with the filter's defaults); LUKS volumes are what
 * their header says, read with libcryptsetup without a key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/cipher.h"
#include "crypt/describe.h"
#include "crypt/luks.h"
#include "filters/filter.h"
#include "lib/units.h"

int crypt_describe(const char *args, const char *backing, struct crypt_desc *d)
{
	struct filter_config cfg = { .args = args };
	struct crypt_params p = { 0 };
	char v[1024], hdr[1024];
	uint64_t n;

	memset(d, 0, sizeof(*d));
	if (filter_config_get(&cfg, "key_file", v, sizeof(v)) == 0)
		snprintf(d->source, sizeof(d->source), "key file %s", v);
	else if (filter_config_get(&cfg, "passphrase_file", v, sizeof(v)) == 0)
		snprintf(d->source, sizeof(d->source), "passphrase file %s", v);
	else if (filter_config_get(&cfg, "key_description", v, sizeof(v)) == 0)
		snprintf(d->source, sizeof(d->source), "keyring %s", v);
	if (filter_config_get(&cfg, "format", v, sizeof(v)) || strcmp(v, "plain")) {
		if (filter_config_get(&cfg, "header", hdr, sizeof(hdr)))
			snprintf(hdr, sizeof(hdr), "%s", backing);
		return luks_header_info(hdr, d->format, sizeof(d->format), d->cipher,
					sizeof(d->cipher), &d->key_bits, &d->sector_size);
	}
	snprintf(d->format, sizeof(d->format), "plain");
	if (filter_config_get(&cfg, "cipher", d->cipher, sizeof(d->cipher)))
		snprintf(d->cipher, sizeof(d->cipher), "aes-xts-plain64");
	if (crypt_cipher_parse(d->cipher, &p))
		return -EINVAL;
	d->key_bits = p.mode == CRYPT_MODE_XTS ? 512 : 256;
	if (!filter_config_get(&cfg, "key_size", v, sizeof(v)) &&
	    !units_parse_abs(UNIT_COUNT, v, &n))
		d->key_bits = (uint32_t)n;
	d->sector_size = 512;
	if (!filter_config_get(&cfg, "sector_size", v, sizeof(v)) &&
	    !units_parse_abs(UNIT_SIZE, v, &n))
		d->sector_size = (uint32_t)n;
	return 0;
}
