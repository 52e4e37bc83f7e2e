// SPDX-License-Identifier: GPL-2.0
/*
 * sluice serve - expose a file or block device as /dev/ublkbN through the
 * ublk driver, with the disk's filter chain in between. Prints the device
 * path once the disk is live, then serves in the foreground (or detaches
 * with --daemon). SIGTERM or SIGINT stop it cleanly: in-flight I/O drains,
 * the backing is flushed, the device is deleted and its state file removed;
 * SIGUSR2 exits and leaves the disk to 'serve --recover' (a live upgrade).
 * --recover ID re-attaches to a disk whose server died, under a mounted
 * file system, without the application seeing an error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/cmds.h"
#include "cmd/serve_alerts.h"
#include "cmd/serve_cache.h"
#include "cmd/serve_crypt.h"
#include "cmd/serve_journal.h"
#include "cmd/serve_replica.h"
#include "filters/crypt.h"
#include "filters/registry.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "loader/policy_apply.h"
#include "loader/policy_chain.h"
#include "ublk/server.h"

#define DEFAULT_QUEUES		1
#define DEFAULT_DEPTH		128
#define DEFAULT_BLOCK_SIZE	512

struct serve_opts {
	const char *backing;
	uint64_t size;
	uint32_t queues;
	uint32_t depth;
	uint32_t block_size;
	bool read_only;
	const char *policy;
	bool daemon;
	const char *pid_file;
	bool recover;
	uint32_t recover_id;
	uint32_t dev_id;
	enum ublk_copy copy;
	/* ad hoc data services, chained crypt, journal, cache; or NULL */
	const char *filters;
	struct serve_journal journal;	/* --journal ...: the journal filter */
	struct serve_replica replica;	/* --replica ...: its replica.* keys */
	struct serve_cache cache;	/* --cache ...: the cache filter */
	char cache_spec[FILTER_SPEC_MAX];
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice serve --backing PATH [--size S] [--queues N] [--depth D]\n"
		"                    [--block-size 512|4096] [--read-only] [--policy NAME]\n"
		"                    [--id N] [--copy MODE] [--daemon --pid-file FILE]\n"
		"                    [--cache PATH [--cache-mode MODE] [--cache-size S]\n"
		"                     [--sequential-cutoff S]]\n"
		"       sluice serve --recover ID [--copy MODE] [--daemon --pid-file FILE]\n"
		"\n"
		"Serve a regular file or a block device as /dev/ublkbN through the ublk\n"
		"driver. Prints the device path when the disk is live, then serves in the\n"
		"foreground. SIGTERM/SIGINT drain in-flight I/O, flush the backing and\n"
		"delete the device; SIGUSR2 exits and leaves the disk live for\n"
		"'serve --recover' (a live upgrade). The disk advertises a volatile\n"
		"write cache and FUA: FLUSH becomes fdatasync of the backing, FUA writes\n"
		"are RWF_DSYNC, DISCARD and WRITE_ZEROES punch or zero ranges.\n"
		"\n"
		"Options:\n"
		"  --backing PATH      file or block device to serve (O_DIRECT when possible)\n"
		"  --size S            disk size (K, M, G, T suffixes); default: the backing's\n"
		"                      size, less what the policy's filters keep of it. A\n"
		"                      file may be smaller: reads past its end are zeroes,\n"
		"                      writes extend it\n"
		"  --queues N          hardware queues, one thread each (default %d)\n"
		"  --depth D           requests in flight per queue (default %d)\n"
		"  --block-size B      logical block size, 512 or 4096 (default %d)\n"
		"  --read-only         a read-only disk\n"
		"  --policy NAME       the disk's filter chain: an applied policy bound to\n"
		"                      served: {backing: PATH}, or a built-in one:\n"
		"                      %s.\n"
		"                      Default: the applied policy bound to PATH, if any,\n"
		"                      else passthrough\n"
		"  --id N              ask for /dev/ublkbN (default: the driver's choice)\n"
		"  --copy MODE         how data reaches the request: buffer (the driver\n"
		"                      copies to a server buffer), user (UBLK_F_USER_COPY,\n"
		"                      Linux 6.5+), mmap (user copy from a mapping of the\n"
		"                      backing: one copy; passthrough, page-cache backings),\n"
		"                      zero (no copy: the backing I/O uses the request's\n"
		"                      pages; passthrough, Linux 6.15+) or auto (default:\n"
		"                      zero where it applies, else mmap on tmpfs, else buffer)\n"
		"  --daemon            detach once the disk is live\n"
		"  --pid-file FILE     write the server's pid here (with --daemon)\n"
		SERVE_JOURNAL_USAGE
		SERVE_REPLICA_USAGE
		"  --cache PATH        keep hot data on PATH, a fast file or block device\n"
		"                      (docs/cache.md); a file not there yet is made with\n"
		"                      --cache-size\n"
		"  --cache-mode MODE   writethrough (default), writeback or writearound\n"
		"  --cache-size S      use S bytes of the cache device (default: all of it)\n"
		"  --sequential-cutoff S  a stream longer than S bypasses the cache (4M; 0: off)\n"
		"  --recover ID        re-attach to disk ID whose server died (kill -9,\n"
		"                      upgrade); its state file says how to serve it\n"
		"  -h, --help          this text\n"
		"\n"
		"State files: $SLUICE_RUN_DIR or /run/sluice, one per disk.\n"
		"\n"
		"Examples:\n"
		"  sluice serve --backing /var/lib/disk.img\n"
		"  sluice serve --backing disk.img --size 10G --queues 2 --depth 64 --daemon \\\n"
		"      --pid-file /run/disk.pid\n"
		"  sluice serve --backing /dev/sdb --block-size 4096 --policy count\n"
		"  sluice serve --backing /dev/shm/disk.img --copy mmap\n"
		"  sluice serve --backing disk.img --journal /var/lib/disk.journal --retention 2h\n"
		"  sluice serve --backing /dev/sdb --cache /dev/nvme0n1p2 --cache-mode writeback\n"
		"  sluice serve --recover 0\n",
		DEFAULT_QUEUES, DEFAULT_DEPTH, DEFAULT_BLOCK_SIZE, policy_builtin_names());
	fprintf(f, "\n");
	serve_crypt_usage(f);
}

enum { OPT_SIZE = 256, OPT_QUEUES, OPT_DEPTH, OPT_BS, OPT_RO, OPT_POLICY, OPT_DAEMON,
       OPT_PIDFILE, OPT_RECOVER, OPT_ID, OPT_BACKING, OPT_COPY,
       OPT_CACHE, OPT_CACHE_MODE, OPT_CACHE_SIZE, OPT_SEQ_CUTOFF };

/* parse_argv() as args.h says: > 0 go on, 0 after --help, < 0 an error already said. */
static int parse_argv(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {
		{ "backing", required_argument, NULL, OPT_BACKING },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "queues", required_argument, NULL, OPT_QUEUES },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "block-size", required_argument, NULL, OPT_BS },
		{ "read-only", no_argument, NULL, OPT_RO },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "daemon", no_argument, NULL, OPT_DAEMON },
		{ "pid-file", required_argument, NULL, OPT_PIDFILE },
		{ "recover", required_argument, NULL, OPT_RECOVER },
		{ "id", required_argument, NULL, OPT_ID },
		{ "copy", required_argument, NULL, OPT_COPY },
		SERVE_JOURNAL_OPTIONS,
		SERVE_CACHE_OPTIONS(OPT_CACHE),
		SERVE_REPLICA_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const char *const copies[] = {
		[UBLK_COPY_AUTO] = "auto", [UBLK_COPY_BUFFER] = "buffer",
		[UBLK_COPY_USER] = "user", [UBLK_COPY_MMAP] = "mmap",
		[UBLK_COPY_ZERO] = "zero",
	};
	bool shape = false;
	unsigned int idx;
	int c, err;

	memset(o, 0, sizeof(*o));
	o->queues = DEFAULT_QUEUES;
	o->depth = DEFAULT_DEPTH;
	o->block_size = DEFAULT_BLOCK_SIZE;
	o->dev_id = UBLK_DEV_ANY;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_BACKING:
			o->backing = optarg;
			break;
		case OPT_SIZE:
			err = parse_size_argument("--size", optarg, &o->size);
			if (err)
				return err;
			shape = true;
			break;
		case OPT_QUEUES:
			err = parse_uint_argument("--queues", optarg, 1, UBLK_QUEUES_MAX,
						  &o->queues);
			if (err)
				return err;
			shape = true;
			break;
		case OPT_DEPTH:
			err = parse_uint_argument("--depth", optarg, 1, UBLK_MAX_QUEUE_DEPTH,
						  &o->depth);
			if (err)
				return err;
			shape = true;
			break;
		case OPT_BS:
			err = parse_enum_argument("--block-size", optarg,
						  (const char *const[]){ "512", "4096" }, 2, &idx);
			if (err)
				return err;
			o->block_size = idx ? 4096 : 512;
			shape = true;
			break;
		case OPT_RO:
			o->read_only = true;
			shape = true;
			break;
		case OPT_POLICY:
			o->policy = optarg;
			shape = true;
			break;
		case OPT_DAEMON:
			o->daemon = true;
			break;
		case OPT_PIDFILE:
			o->pid_file = optarg;
			break;
		case OPT_RECOVER:
			err = parse_uint_argument("--recover", optarg, 0, INT_MAX,
						  &o->recover_id);
			if (err)
				return err;
			o->recover = true;
			break;
		case OPT_ID:
			err = parse_uint_argument("--id", optarg, 0, INT_MAX, &o->dev_id);
			if (err)
				return err;
			shape = true;
			break;
		case OPT_COPY:
			err = parse_enum_argument("--copy", optarg, copies, ARRAY_SIZE(copies),
						  &idx);
			if (err)
				return err;
			o->copy = idx;
			break;
		/* ad hoc cache: serve_cache.c builds its filter */
		case OPT_CACHE ... OPT_SEQ_CUTOFF:
			err = serve_cache_option(c - OPT_CACHE, optarg, &o->cache);
			if (err)
				return err;
			shape = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			err = serve_journal_option(&o->journal, c, optarg) ?:
			      serve_replica_option(&o->replica, c, optarg);
			if (err < 0)
				return err;
			if (err)
				break;
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_err("serve takes no arguments ('%s'); give the backing with --backing",
			argv[optind]);
		return -EINVAL;
	}
	if (o->recover && (o->backing || shape)) {
		log_err("--recover takes the disk's shape from its state file; "
			"give only --recover ID [--daemon --pid-file FILE]");
		return -EINVAL;
	}
	if (!o->recover && !o->backing) {
		log_err("--backing is required: the file or block device to serve; "
			"see 'sluice serve --help'");
		return -EINVAL;
	}
	if (serve_journal_finish(&o->journal, o->backing, o->recover) ||
	    serve_replica_finish(&o->replica, &o->journal))
		return -EINVAL;
	if (o->pid_file && !o->daemon) {
		log_err("--pid-file goes with --daemon");
		return -EINVAL;
	}
	/* ad hoc data services: their filters in chain order */
	err = serve_cache_spec(&o->cache, o->cache_spec, sizeof(o->cache_spec));
	if (err)
		return err;
	return 1;
}

/* ----------------------------------------------------------- messages -- */

static void say_backing_error(const char *path, int err)
{
	switch (err) {
	case -EISDIR:
		log_err("%s: is a directory; give a regular file or a block device with --backing",
			path);
		break;
	case -EINVAL:
		log_err("%s: neither a regular file nor a block device; give one with --backing",
			path);
		break;
	case -EROFS:
	case -EACCES:
	case -EPERM:
		log_err("%s: %s; serve it with --read-only or fix its permissions", path,
			strerror(-err));
		break;
	default:
		log_err("%s: %s; give an existing file or block device with --backing", path,
			strerror(-err));
	}
}

static void say_size_error(const struct ublk_server *s, int err)
{
	uint64_t size = s->cfg.size, bs = s->st.block_size, have = s->backing.size;
	const char *path = s->st.backing;

	switch (err) {
	case -ENODATA:
		log_err("%s: smaller than one %" PRIu64 "-byte block; give --size to serve "
			"it as a sparse disk", path, bs);
		break;
	case -EFBIG:
		log_err("--size %" PRIu64 ": larger than %s (%" PRIu64 " bytes)", size, path, have);
		break;
	case -EROFS:
		log_err("--size %" PRIu64 ": larger than %s (%" PRIu64 " bytes) on a read-only "
			"disk", size, path, have);
		break;
	default:
		log_err("--size %" PRIu64 ": not a multiple of the block size (%" PRIu64 ")",
			size, bs);
	}
}

static void say_recover_state_error(const struct ublk_server *s, int err)
{
	const char *dir = s->cfg.state_dir;
	uint32_t id = s->cfg.recover_id;

	if (err == -ENOENT)
		log_err("ublk disk %u: no state file in %s; list disks with 'sluice disks'", id, dir);
	else if (err == -EBUSY)
		log_err("ublk disk %u: still served by pid %d; stop it with 'sluice stop %u' "
			"or kill it first", id, (int)s->st.pid, id);
	else
		log_err("%s/ublk%u.state: %s", dir, id,
			err == -EINVAL ? "malformed" : strerror(-err));
}

static void say_unknown_policy(const struct ublk_server *s)
{
	const struct filter_spec_choice *p = &s->policy;
	const char *name = s->cfg.policy, *backing = s->st.backing;
	char applied[512];

	if (policy_chain_names(s->cfg.state_dir, applied, sizeof(applied)) || !applied[0])
		snprintf(applied, sizeof(applied), "none");
	if (p->is_bound && p->bound[0])
		log_err("--policy '%s': no such policy for %s; applied policies: %s (%s is bound "
			"to '%s': leave --policy out to serve it so); built in: %s", name,
			backing, applied, backing, p->bound, policy_builtin_names());
	else
		log_err("--policy '%s': no such policy for %s; applied policies: %s; built in: %s "
			"(an applied policy needs a binding served: {backing: %s})", name,
			backing, applied, policy_builtin_names(), backing);
}

static void say_policy_error(const struct ublk_server *s, int err)
{
	const struct filter_spec_choice *p = &s->policy;

	if (p->find_failed && err == -EBADMSG)
		log_err("%s/policy/current/chains: the chain bound to %s cannot be read by this "
			"sluice (too many filters or parameters, or a newer format); nothing was "
			"created. Re-apply the policy with this sluice: 'sluice policy apply FILE'",
			s->cfg.state_dir, s->st.backing);
	else if (p->find_failed)
		log_err("%s/policy/current/chains: %s; check it with 'sluice policy status'",
			s->cfg.state_dir, strerror(-err));
	else if (err == -ENOENT)
		say_unknown_policy(s);
	else if (err == -EOPNOTSUPP)
		log_err("policy '%s' needs the '%s' filter for %s, and '%s' is not available in "
			"this version of sluice; nothing was created. Drop that service from "
			"the policy and re-apply it, or serve with a built-in --policy", p->bound,
			p->missing, s->st.backing, p->missing);
	else if (p->throttle)
		log_err("policy '%s': its filter list with the class throttle does not fit a "
			"state file (%d bytes)", p->bound, FILTER_SPEC_MAX);
	else
		log_err("policy '%s': its filter list does not fit a state file (%d bytes)",
			p->bound, FILTER_SPEC_MAX);
}

static void say_geometry_error(const struct ublk_server *s, int err)
{
	const char *policy = s->st.policy, *path = s->st.backing;
	uint64_t off = chain_data_offset(s->chain);

	if (err == -EINVAL)
		log_err("policy '%s': its filters keep %" PRIu64 " bytes at the start of %s, not a "
			"multiple of the block size (%u); check the filters' settings", policy,
			off, path, s->st.block_size);
	else if (err == -EFBIG)
		log_err("--size %" PRIu64 ": larger than the %" PRIu64 " bytes policy '%s' leaves "
			"of %s; give a smaller --size or leave it out", s->cfg.size, s->usable,
			policy, path);
	else
		log_err("%s: policy '%s' keeps %" PRIu64 " bytes of it and leaves no disk; give a "
			"larger backing", path, policy, off);
}

static void ublks_max(char *buf, size_t len)
{
	FILE *f = fopen("/sys/module/ublk_drv/parameters/ublks_max", "r");

	snprintf(buf, len, "?");
	if (!f)
		return;
	if (!fgets(buf, len, f))
		snprintf(buf, len, "?");
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static void say_create_error(const struct ublk_server *s, int err)
{
	bool add = !strcmp(s->dev_stage, "add");
	uint32_t id = s->cfg.dev_id;
	char max[32];

	if (add && err == -EEXIST) {
		log_err("ublk device %u already exists; choose another --id or leave it out", id);
	} else if (add && err == -EINVAL && id != UBLK_DEV_ANY) {
		log_err("ublk device id %u is out of the driver's range; choose a smaller --id "
			"or leave it out", id);
	} else if (add && err == -EOPNOTSUPP && s->copy == UBLK_COPY_ZERO) {
		log_err("this ublk driver refused zero copy for a new device; use --copy buffer");
	} else if (add && (err == -EACCES || err == -ENOSPC)) {
		ublks_max(max, sizeof(max));
		log_err("too many ublk devices (ublk_drv allows %s); stop one with 'sluice stop' "
			"or raise /sys/module/ublk_drv/parameters/ublks_max", max);
	} else {
		log_err("creating the ublk device failed at '%s': %s", s->dev_stage,
			strerror(-err));
	}
}

static void say_recover_error(const struct ublk_server *s, int err)
{
	uint32_t id = s->st.id;

	if (err == -ENODEV)
		log_err("ublk disk %u: no such device any more; start a new one with "
			"'sluice serve --backing %s'", id, s->st.backing);
	else if (err == -EOPNOTSUPP)
		log_err("ublk disk %u: created without crash recovery (UBLK_F_USER_RECOVERY); "
			"stop it with 'sluice stop %u'", id, id);
	else if (err == -EBUSY)
		log_err("ublk disk %u: the driver is still releasing the old server after %d s; "
			"retry 'sluice serve --recover %u'", id, UBLK_SERVER_RECOVER_WAIT_MS / 1000,
			id);
	else
		log_err("ublk disk %u: recovery failed at '%s': %s", id, s->dev_stage,
			strerror(-err));
}

static void say_copy_error(const struct ublk_server *s, int err)
{
	const char *want = ublk_copy_name(s->cfg.copy);

	if (s->cfg.copy == UBLK_COPY_ZERO && err == -EOPNOTSUPP)
		log_err("--copy zero: %s has neither UBLK_F_AUTO_BUF_REG (Linux 6.16+) nor "
			"UBLK_F_SUPPORT_ZERO_COPY (Linux 6.15+); use --copy buffer",
			s->cfg.recover ? "this disk" : "this ublk driver");
	else if (s->cfg.copy == UBLK_COPY_ZERO && !chain_data_filter(s->chain))
		log_err("--copy zero: filter %s moves the data with the request's pages "
			"registered for its whole life, and %s lacks UBLK_F_AUTO_BUF_REG "
			"(Linux 6.16+); use --copy buffer", chain_data_mover(s->chain),
			s->cfg.recover ? "this disk" : "this ublk driver");
	else if (s->cfg.copy == UBLK_COPY_ZERO)
		log_err("--copy zero: needs filters that leave the data alone, and policy '%s' "
			"has %s, which sees the data; use --copy buffer", s->st.policy,
			chain_data_filter(s->chain) ?: "a filter");
	else if (err == -EOPNOTSUPP)
		log_err("--copy %s: %s has no UBLK_F_USER_COPY (Linux 6.5+); use --copy buffer",
			want, s->cfg.recover ? "this disk" : "this ublk driver");
	else
		log_err("--copy mmap: needs a passthrough policy and a backing in the page "
			"cache (buffered or tmpfs), and %s is %s; use --copy user",
			s->st.backing, !s->chain || !s->chain->n ? "O_DIRECT" : "filtered");
}

/* The one message of a failed step, naming the object and the fix. */
static void say_error(const struct ublk_server *s, int err)
{
	const char *policy = s->st.policy, *dir = s->cfg.state_dir;

	switch (s->stage) {
	case UBLK_SERVER_STATE:
		if (s->cfg.recover)
			say_recover_state_error(s, err);
		else
			log_err("--backing: path too long");
		break;
	case UBLK_SERVER_POLICY:
		say_policy_error(s, err);
		break;
	case UBLK_SERVER_BACKING:
		say_backing_error(s->st.backing, err);
		break;
	case UBLK_SERVER_SIZE:
		say_size_error(s, err);
		break;
	case UBLK_SERVER_FILTERS:
		if (err == -ENOENT)
			log_err("policy '%s': unknown filter #%d in '%s'", policy,
				s->fail_index + 1, s->st.filters);
		else
			log_err("policy '%s': more than %d filters", policy, CHAIN_MAX_FILTERS);
		break;
	case UBLK_SERVER_CHAIN:
		if (crypt_filter_error()[0])
			log_err("%s; nothing was created", crypt_filter_error());
		/* the journal speaks only of a fault it finds again; the cache by errno */
		else if (!serve_journal_say(s->st.filters, s->st.backing) &&
			 !serve_cache_say(s->st.filters, err))
			log_err("policy '%s': setting up its filters failed: %s", policy, strerror(-err));
		break;
	case UBLK_SERVER_GEOMETRY:
		say_geometry_error(s, err);
		break;
	case UBLK_SERVER_CTRL:
		if (err == -ENOENT)
			log_err("%s: no ublk driver here; load it with 'modprobe ublk_drv' "
				"(CONFIG_BLK_DEV_UBLK), or use the test VM: tests/vm/run -- sluice "
				"serve ...", UBLK_CONTROL_PATH);
		else
			log_err("%s: %s; run as root", UBLK_CONTROL_PATH, strerror(-err));
		break;
	case UBLK_SERVER_COPY:
		say_copy_error(s, err);
		break;
	case UBLK_SERVER_MAP:
		log_err("%s: cannot map it for --copy mmap: %s; use --copy user", s->st.backing,
			strerror(-err));
		break;
	case UBLK_SERVER_DAEMON:
		log_err("--daemon: cannot fork the server: %s", strerror(-err));
		break;
	case UBLK_SERVER_CREATE:
		say_create_error(s, err);
		break;
	case UBLK_SERVER_RECOVER:
		say_recover_error(s, err);
		break;
	case UBLK_SERVER_START:
		log_err("policy '%s': starting its filters failed: %s; stopping the disk", policy,
			strerror(-err));
		break;
	case UBLK_SERVER_STATE_FILE:
		log_err("%s: cannot write the disk's state file: %s; stopping the disk", dir,
			strerror(-err));
		break;
	case UBLK_SERVER_PID_FILE:
		log_err("%s: %s; stopping the disk", s->cfg.pid_file, strerror(-err));
		break;
	}
}

/* What ublk_server_open() decided that a user may want to know. */
static void say_choices(const struct ublk_server *s)
{
	const struct filter_spec_choice *p = &s->policy;

	if (p->is_bound && !p->from_binding && p->policy[0])
		log_warn("%s is bound to applied policy '%s'; serving with built-in '%s' "
			 "instead ('sluice policy status' shows any drift)", s->st.backing,
			 p->bound[0] ? p->bound : "?", p->policy);
	if (p->from_binding && p->throttle)
		log_debug("policy '%s' limits its classes: the server throttles them", p->policy);
	if (s->map_err)
		log_debug("%s: cannot map it (%s); copy buffer", s->st.backing,
			  strerror(-s->map_err));
}

/*
 * The applied policy's maps name disks by number, and this disk had none
 * when the policy was applied: apply it again so its I/O is classified (and
 * metered and throttled per class) from now on. The disk serves either way.
 */
static void classify_new_disk(const struct ublk_server *s)
{
	struct policy_apply_result res;
	int err;

	err = policy_reapply(s->cfg.state_dir, &res);
	if (err)
		log_warn("/dev/ublkb%u serves, but its I/O is not classified by policy '%s': "
			 "re-applying it failed (%s%s%s); run 'sluice policy apply' again",
			 s->st.id, s->st.policy, strerror(-err), res.what[0] ? ": " : "", res.what);
	else
		log_debug("policy '%s' re-applied (generation %" PRIu64 ") to classify /dev/ublkb%u",
			 s->st.policy, res.generation, s->st.id);
}

/* The device path on stdout: the disk is live (--daemon: the parent says it). */
static void announce(struct ublk_server *s)
{
	int err;

	if (!s->cfg.daemon) {
		printf("/dev/ublkb%u\n", s->st.id);
		fflush(stdout);
		return;
	}
	err = ublk_server_detach(s);
	if (err)
		log_warn("cannot tell the parent the disk is live: %s", strerror(-err));
}

/* --daemon: fork; the parent prints the child's device and exits. */
static int daemonize(struct ublk_server *s)
{
	bool parent;
	int err;

	err = ublk_server_daemonize(s, &parent);
	if (!parent)
		return err;
	if (!err)
		printf("/dev/ublkb%u\n", s->st.id);
	/* the child owns the filters: no teardown here */
	exit(err ? 1 : 0);
}

/*
 * SIGUSR2: exit and leave the disk, live, to 'serve --recover' (a new
 * binary: systemd's RestartKillSignal=). Returns only when the disk cannot
 * be left (made without user recovery): it is then stopped as for SIGTERM.
 */
static void leave_disk(struct ublk_server *s)
{
	int err = ublk_server_leave(s);

	if (err == -EOPNOTSUPP) {
		log_warn("/dev/ublkb%u: made without crash recovery, so it cannot outlive "
			 "this server; stopping it", s->st.id);
		return;
	}
	if (err)
		log_warn("/dev/ublkb%u: flushing the backing %s: %s; leaving the disk anyway",
			 s->st.id, s->st.backing, strerror(-err));
	log_info("/dev/ublkb%u: left for the next server: sluice serve --recover %u",
		 s->st.id, s->st.id);
	fflush(NULL);
	/* no teardown: the queue threads must stay in their rings until the exit */
	_exit(0);
}

static int serve(const struct serve_opts *o)
{
	struct serve_alerts alerts = { 0 };
	const struct ublk_server_cfg cfg = {
		.state_dir = state_dir(),
		.backing = o->backing,
		.size = o->size,
		.queues = o->queues,
		.depth = o->depth,
		.block_size = o->block_size,
		.read_only = o->read_only,
		.policy = o->policy,
		.dev_id = o->dev_id,
		.recover = o->recover,
		.recover_id = o->recover_id,
		.copy = o->copy,
		/* tests: the register/unregister path of 6.15 on a 6.16+ driver */
		.no_auto_buf_reg = getenv("SLUICE_UBLK_NO_AUTO_BUF_REG") != NULL,
		/* bench/ublk: per-tag commands against batched ones in one boot */
		.no_batch = getenv("SLUICE_UBLK_NO_BATCH") != NULL,
		.daemon = o->daemon,
		.pid_file = o->pid_file,
		.filters = o->filters,
		.on_stats = serve_alerts_seen,
		.on_stats_arg = &alerts,
	};
	struct ublk_server s;
	int err, sig;

	ublk_server_init(&s, &cfg);
	err = ublk_server_open(&s);
	say_choices(&s);
	if (!err && o->daemon)
		err = daemonize(&s);
	if (!err)
		err = ublk_server_start(&s);
	if (err) {
		say_error(&s, err);
		goto out;
	}
	if (s.policy.from_binding && !o->recover)
		classify_new_disk(&s);
	announce(&s);
	log_debug("serving %s as /dev/ublkb%u (%u queues, depth %u, backing %s, copy %s%s)",
		  s.st.backing, s.st.id, s.st.queues, s.st.depth,
		  s.backing.direct ? "O_DIRECT" : "buffered", ublk_copy_name(s.copy),
		  s.st.flags & UBLK_F_USER_RECOVERY ? ", recoverable" : "");

	sig = ublk_server_wait(&s);
	if (sig == UBLK_SERVER_LEAVE_SIGNAL)
		leave_disk(&s);
	err = ublk_server_stop(&s);
	if (err && err != -ENODEV)
		log_err("/dev/ublkb%u: stopping failed: %s", s.st.id, strerror(-err));
	else if (!sig)
		log_warn("/dev/ublkb%u: the driver ended the queues; the disk is gone", s.st.id);
	if (err == -ENODEV)
		err = 0;
out:
	ublk_server_close(&s);
	return err ? 1 : 0;
}

/*
 * Chain one ad hoc service's spec below those before it (crypt, journal,
 * cache): 1, or -errno after saying why.
 */
static int adhoc_append(char *spec, size_t len, const char *more, const char *flag,
			const char *policy)
{
	size_t used = strlen(spec);
	int n;

	if (!more || !more[0])
		return 1;
	if (policy) {
		log_err("--policy '%s' and %s both choose the disk's filters; give one (a "
			"policy's services: do what the flags do)", policy, flag);
		return -EINVAL;
	}
	n = snprintf(spec + used, len - used, "%s%s", used ? " " : "", more);
	if (n < 0 || (size_t)n >= len - used) {
		log_err("%s: the disk's filter list is longer than %zu bytes; use shorter paths",
			flag, len - 1);
		return -ENAMETOOLONG;
	}
	return 1;
}

int cmd_serve(int argc, char **argv)
{
	static char spec[FILTER_SPEC_MAX], crypt_spec[FILTER_SPEC_MAX];
	struct serve_crypt sc;
	struct serve_opts o;
	int ret;

	/* ad hoc data services: their flags leave argv first, then build the spec */
	ret = serve_crypt_take(&argc, argv, &sc);
	if (ret > 0)
		ret = parse_argv(argc, argv, &o);
	if (ret > 0)
		ret = serve_crypt_spec(&sc, o.backing, o.recover, &o.block_size, crypt_spec,
				       sizeof(crypt_spec));
	/* one refusal of --policy for every service's flags, in chain order */
	if (ret > 0)
		ret = adhoc_append(spec, sizeof(spec), crypt_spec, "the encryption flags",
				   o.policy);
	if (ret > 0)
		ret = adhoc_append(spec, sizeof(spec), o.journal.spec, "--journal", o.policy);
	if (ret > 0)
		ret = adhoc_append(spec, sizeof(spec), o.cache_spec, "--cache", o.policy);
	if (ret <= 0)
		return args_exit_status(ret);
	o.filters = spec[0] ? spec : NULL;
	return serve(&o);
}
