/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uapi_compat.h - ublk uapi constants newer than the linux/ublk_cmd.h that
 * Debian 12's linux-libc-dev ships (kernel 6.1). Each is defined only when
 * the system header lacks it; which of them the running driver honours is
 * asked with GET_FEATURES, never guessed from a version number.
 */
#ifndef SLUICE_UBLK_UAPI_COMPAT_H
#define SLUICE_UBLK_UAPI_COMPAT_H

#include <sys/ioctl.h>
#include <linux/ublk_cmd.h>

/* Added in 6.5 with unprivileged devices. */
#ifndef UBLK_CMD_GET_DEV_INFO2
#define UBLK_CMD_GET_DEV_INFO2		0x12
#endif

/*
 * ioctl-encoded command opcodes, added in 6.4 ("block: ublk: switch to
 * ioctl command encoding"); the driver may be built without the legacy
 * opcodes (CONFIG_BLKDEV_UBLK_LEGACY_OPCODES=n), so use these when offered.
 */
#ifndef UBLK_U_CMD_GET_DEV_INFO
#define UBLK_U_CMD_GET_DEV_INFO		_IOR('u', UBLK_CMD_GET_DEV_INFO, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV		_IOWR('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV		_IOWR('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV		_IOWR('u', UBLK_CMD_START_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV		_IOWR('u', UBLK_CMD_STOP_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS		_IOWR('u', UBLK_CMD_SET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_PARAMS		_IOR('u', UBLK_CMD_GET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_USER_RECOVERY	_IOWR('u', UBLK_CMD_START_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_END_USER_RECOVERY	_IOWR('u', UBLK_CMD_END_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#define UBLK_U_IO_FETCH_REQ		_IOWR('u', UBLK_IO_FETCH_REQ, struct ublksrv_io_cmd)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ	_IOWR('u', UBLK_IO_COMMIT_AND_FETCH_REQ, struct ublksrv_io_cmd)
#endif

/* Added in 6.5; only in ioctl encoding. */
#ifndef UBLK_U_CMD_GET_FEATURES
#define UBLK_U_CMD_GET_FEATURES		_IOR('u', 0x13, struct ublksrv_ctrl_cmd)
#endif

/* Added in 6.3 ("ublk_drv: add mechanism for supporting unprivileged ublk device"). */
#ifndef UBLK_F_UNPRIVILEGED_DEV
#define UBLK_F_UNPRIVILEGED_DEV		(1ULL << 5)
#endif

/* Added in 6.4 with the ioctl encoding above. */
#ifndef UBLK_F_CMD_IOCTL_ENCODE
#define UBLK_F_CMD_IOCTL_ENCODE		(1ULL << 6)
#endif

/* Added in 6.5 ("ublk: support user copy"). */
#ifndef UBLK_F_USER_COPY
#define UBLK_F_USER_COPY		(1ULL << 7)
#endif

/*
 * UBLK_F_USER_COPY: the server reads and writes a request's data with
 * pread/pwrite on /dev/ublkcN at an offset naming (queue, tag, byte); 6.5's
 * include/uapi/linux/ublk_cmd.h. 6.1's header has only the base offset.
 */
#ifndef UBLKSRV_IO_BUF_OFFSET
#define UBLKSRV_IO_BUF_OFFSET		0x80000000
#endif
#ifndef UBLK_IO_BUF_BITS
#define UBLK_IO_BUF_BITS		25
#define UBLK_TAG_OFF			UBLK_IO_BUF_BITS
#define UBLK_TAG_BITS			16
#define UBLK_QID_OFF			(UBLK_TAG_OFF + UBLK_TAG_BITS)
#endif

/* Where the data of request @tag of queue @q_id starts on /dev/ublkcN. */
static inline int64_t ublk_user_copy_pos(unsigned int q_id, unsigned int tag)
{
	return UBLKSRV_IO_BUF_OFFSET + ((int64_t)q_id << UBLK_QID_OFF) +
	       ((int64_t)tag << UBLK_TAG_OFF);
}

/* Added in 6.6 (zoned devices). */
#ifndef UBLK_F_ZONED
#define UBLK_F_ZONED			(1ULL << 8)
#endif

/* Added in 6.13 ("ublk: support device recovery without I/O queueing"). */
#ifndef UBLK_F_USER_RECOVERY_FAIL_IO
#define UBLK_F_USER_RECOVERY_FAIL_IO	(1ULL << 9)
#endif
#ifndef UBLK_S_DEV_FAIL_IO
#define UBLK_S_DEV_FAIL_IO		3
#endif

/*
 * Zero copy, 6.15 ("ublk: zc register/unregister bvec"): the server
 * registers a request's pages in its ring's buffer table at index addr of
 * the io cmd, uses them as a fixed buffer, and unregisters them. The flag
 * is as old as the driver, but before 6.15 ADD_DEV cleared it ("not ready
 * to support zero copy") and 6.5-6.14's GET_FEATURES left it out.
 */
#ifndef UBLK_U_IO_REGISTER_IO_BUF
#define UBLK_U_IO_REGISTER_IO_BUF	_IOWR('u', 0x23, struct ublksrv_io_cmd)
#define UBLK_U_IO_UNREGISTER_IO_BUF	_IOWR('u', 0x24, struct ublksrv_io_cmd)
#endif

/*
 * Added in 6.16 ("ublk: register buffer to local io_uring with provided
 * buf index via UBLK_F_AUTO_BUF_REG"): the driver registers the request's
 * pages itself before the FETCH/COMMIT_AND_FETCH CQE, at the index the
 * SQE's own addr field names (bits 0-15; flags 16-23, the rest zero), and
 * unregisters them at the commit.
 */
#ifndef UBLK_F_AUTO_BUF_REG
#define UBLK_F_AUTO_BUF_REG		(1ULL << 11)
#endif

/*
 * Batched commands, 7.0 ("ublk: add new feature UBLK_F_BATCH_IO"): one
 * PREP_IO_CMDS arms every tag of a queue, a multishot FETCH_IO_CMDS posts
 * arrays of 16-bit tags into a provided buffer ring, and one COMMIT_IO_CMDS
 * completes many requests. The per-tag FETCH/COMMIT_AND_FETCH commands are
 * refused on such a device. Each element is the 8-byte header, then the
 * buffer address with UBLK_BATCH_F_HAS_BUF_ADDR (copy mode only).
 */
#ifndef UBLK_F_BATCH_IO
#define UBLK_F_BATCH_IO			(1ULL << 15)

struct ublk_batch_io {
	__u16 q_id;
	__u16 flags;
	__u16 nr_elem;
	__u8 elem_bytes;
	__u8 reserved;
	__u64 reserved2;
};

struct ublk_elem_header {
	__u16 tag;
	__u16 buf_index;	/* UBLK_F_AUTO_BUF_REG: the slot of the tag's next request */
	__s32 result;		/* COMMIT_IO_CMDS */
};

#define UBLK_BATCH_F_HAS_BUF_ADDR	(1 << 1)
#define UBLK_U_IO_PREP_IO_CMDS		_IOWR('u', 0x25, struct ublk_batch_io)
#define UBLK_U_IO_COMMIT_IO_CMDS	_IOWR('u', 0x26, struct ublk_batch_io)
#define UBLK_U_IO_FETCH_IO_CMDS		_IOWR('u', 0x27, struct ublk_batch_io)
#endif

/* io_uring 6.x's multishot uring_cmd flag; liburing 2.3's header lacks it. */
#ifndef IORING_URING_CMD_MULTISHOT
#define IORING_URING_CMD_MULTISHOT	(1U << 1)
#endif

#endif /* SLUICE_UBLK_UAPI_COMPAT_H */
