/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as
 * iSCSI, ext4 metadata and fio's --verify=crc32c use it. None of the
 * libraries sluice links has it (OpenSSL and zlib do plain CRC-32), so this
 * is a portable slice-by-8 table implementation (~1-2 GB/s); the tables are
 * built once, on first use, thread-safely.
 */
#ifndef SLUICE_LIB_CRC32C_H
#define SLUICE_LIB_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continue a CRC over @len more bytes. Start with crc = 0; the result of
 * one call is the @crc of the next, so crc32c(crc32c(0, a), b) equals the
 * CRC of a followed by b.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* SLUICE_LIB_CRC32C_H */
