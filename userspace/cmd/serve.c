// SPDX-License-Identifier: GPL-2.0
/*
 * sluice serve - expose a file or block device as /dev/ublkbN through the
 * ublk driver, with the disk's filter chain in between. Prints the device
 * path once the disk is live, then serves in the foreground (or detaches
 * with --daemon). SIGTERM or SIGINT stop it cleanly: in-flight I/O drains,
 * the backing is flushed, the device is deleted and its state file removed.
 * --recover ID re-attaches to a disk whose server died, under a mounted
 * file system, without the application seeing an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmds.h"
#include "filters/chain.h"
#include "filters/from_policy.h"
#include "loader/policy_apply.h"
#include "filters/registry.h"
#include "lib/log.h"
#include "lib/size.h"
#include "loader/policy_chain.h"
#include "ublk/copy.h"
#include "ublk/dev.h"
#include "ublk/filter_stats.h"
#include "lib/disk_state.h"

#define DEFAULT_QUEUES		1
#define DEFAULT_DEPTH		128
#define DEFAULT_BLOCK_SIZE	512
#define RECOVER_WAIT_MS		30000

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
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice serve --backing PATH [--size S] [--queues N] [--depth D]\n"
		"                    [--block-size 512|4096] [--read-only] [--policy NAME]\n"
		"                    [--id N] [--copy MODE] [--daemon --pid-file FILE]\n"
		"       sluice serve --recover ID [--copy MODE] [--daemon --pid-file FILE]\n"
		"\n"
		"Serve a regular file or a block device as /dev/ublkbN through the ublk\n"
		"driver. Prints the device path when the disk is live, then serves in the\n"
		"foreground. SIGTERM/SIGINT drain in-flight I/O, flush the backing and\n"
		"delete the device. The disk advertises a volatile write cache and FUA:\n"
		"FLUSH becomes fdatasync of the backing, FUA writes are RWF_DSYNC, DISCARD\n"
		"and WRITE_ZEROES punch or zero ranges.\n"
		"\n"
		"Options:\n"
		"  --backing PATH      file or block device to serve (O_DIRECT when possible)\n"
		"  --size S            disk size (K, M, G, T suffixes); default: the backing's\n"
		"                      size. A file may be smaller: reads past its end are\n"
		"                      zeroes, writes extend it\n"
		"  --queues N          hardware queues, one thread each (default %d)\n"
		"  --depth D           requests in flight per queue (default %d)\n"
		"  --block-size B      logical block size, 512 or 4096 (default %d)\n"
		"  --read-only         a read-only disk\n"
		"  --policy NAME       the disk's filter chain: an applied policy bound to\n"
		"                      served: {backing: PATH}, or built in (%s).\n"
		"                      Default: the applied policy bound to PATH, if any,\n"
		"                      else passthrough\n"
		"  --id N              ask for /dev/ublkbN (default: the driver's choice)\n"
		"  --copy MODE         how data reaches the request: buffer (the driver\n"
		"                      copies to a server buffer), user (UBLK_F_USER_COPY,\n"
		"                      Linux 6.5+), mmap (user copy from a mapping of the\n"
		"                      backing: one copy; passthrough, page-cache backings)\n"
		"                      or auto (default: mmap where it applies, else buffer)\n"
		"  --daemon            detach once the disk is live\n"
		"  --pid-file FILE     write the server's pid here (with --daemon)\n"
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
		"  sluice serve --recover 0\n",
		DEFAULT_QUEUES, DEFAULT_DEPTH, DEFAULT_BLOCK_SIZE, policy_builtin_names());
}

static int parse_u32(const char *opt, const char *arg, uint32_t min, uint32_t max,
		     uint32_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || *arg == '-' || v < min || v > max) {
		log_err("%s '%s': expected a number from %u to %u", opt, arg, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

enum { OPT_SIZE = 256, OPT_QUEUES, OPT_DEPTH, OPT_BS, OPT_RO, OPT_POLICY, OPT_DAEMON,
       OPT_PIDFILE, OPT_RECOVER, OPT_ID, OPT_BACKING, OPT_COPY };

static int parse_args(int argc, char **argv, struct serve_opts *o)
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
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool shape = false;
	int c;

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
			if (size_parse(optarg, &o->size) || !o->size) {
				log_err("--size '%s': not a size; use bytes or K, M, G, T (e.g. 64M)",
					optarg);
				return 2;
			}
			shape = true;
			break;
		case OPT_QUEUES:
			if (parse_u32("--queues", optarg, 1, UBLK_QUEUES_MAX, &o->queues))
				return 2;
			shape = true;
			break;
		case OPT_DEPTH:
			if (parse_u32("--depth", optarg, 1, UBLK_MAX_QUEUE_DEPTH, &o->depth))
				return 2;
			shape = true;
			break;
		case OPT_BS:
			if (parse_u32("--block-size", optarg, 512, 4096, &o->block_size))
				return 2;
			if (o->block_size != 512 && o->block_size != 4096) {
				log_err("--block-size %u: use 512 or 4096", o->block_size);
				return 2;
			}
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
			if (parse_u32("--recover", optarg, 0, INT_MAX, &o->recover_id))
				return 2;
			o->recover = true;
			break;
		case OPT_ID:
			if (parse_u32("--id", optarg, 0, INT_MAX, &o->dev_id))
				return 2;
			shape = true;
			break;
		case OPT_COPY:
			if (ublk_copy_parse(optarg, &o->copy)) {
				log_err("--copy '%s': use auto, buffer, user or mmap", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_err("serve takes no arguments ('%s'); give the backing with --backing",
			argv[optind]);
		return 2;
	}
	if (o->recover && (o->backing || shape)) {
		log_err("--recover takes the disk's shape from its state file; "
			"give only --recover ID [--daemon --pid-file FILE]");
		return 2;
	}
	if (!o->recover && !o->backing) {
		log_err("--backing is required: the file or block device to serve; "
			"see 'sluice serve --help'");
		return 2;
	}
	if (o->pid_file && !o->daemon) {
		log_err("--pid-file goes with --daemon");
		return 2;
	}
	return 0;
}

/* ------------------------------------------------------------- server -- */

struct server {
	struct serve_opts *o;
	struct disk_state st;
	struct backing backing;
	struct filter_chain *chain;
	struct ublk_ctrl *ctrl;
	struct ublk_dev *dev;
	enum ublk_copy copy;	/* resolved: never auto */
	int ready_fd;		/* --daemon: pipe to the waiting parent */
	bool bound;		/* its chain comes from an applied policy's binding */
};

static int build_chain(struct server *s)
{
	const struct filter_ops *ops[CHAIN_MAX_FILTERS];
	struct filter_config cfgs[CHAIN_MAX_FILTERS];
	const char *args[CHAIN_MAX_FILTERS];
	char buf[STATE_FILTERS_MAX];
	int n, i, bad = 0, err;

	snprintf(buf, sizeof(buf), "%s", s->st.filters);
	n = filter_spec_parse(buf, ops, args, CHAIN_MAX_FILTERS, &bad);
	if (n == -ENOENT) {
		log_err("policy '%s': unknown filter #%d in '%s'", s->st.policy, bad + 1,
			s->st.filters);
		return n;
	}
	if (n < 0) {
		log_err("policy '%s': more than %d filters", s->st.policy, CHAIN_MAX_FILTERS);
		return n;
	}
	for (i = 0; i < n; i++) {
		cfgs[i] = (struct filter_config){
			.name = ops[i]->name,
			.args = args[i],
			.disk_size = s->st.size,
			.block_size = s->st.block_size,
			.queues = s->st.queues,
			.depth = s->st.depth,
		};
	}
	err = chain_create(&s->chain, ops, cfgs, n, &ublk_queue_sinks);
	if (err)
		log_err("policy '%s': setting up its filters failed: %s", s->st.policy,
			strerror(-err));
	return err;
}

static int open_backing(struct server *s)
{
	const char *path = s->st.backing;
	int err;

	err = backing_open(&s->backing, path, s->st.block_size, s->st.read_only);
	switch (err) {
	case 0:
		return 0;
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
	return err;
}

/* The disk's size from --size and the backing, checked against the block size. */
static int settle_size(struct server *s)
{
	uint64_t bs = s->st.block_size;

	if (!s->o->size) {
		s->st.size = s->backing.size / bs * bs;
		if (!s->st.size) {
			log_err("%s: smaller than one %" PRIu64 "-byte block; give --size to serve "
				"it as a sparse disk", s->st.backing, bs);
			return -EINVAL;
		}
		return 0;
	}
	if (s->o->size % bs) {
		log_err("--size %" PRIu64 ": not a multiple of the block size (%" PRIu64 ")",
			s->o->size, bs);
		return -EINVAL;
	}
	if (s->backing.is_blkdev && s->o->size > s->backing.size) {
		log_err("--size %" PRIu64 ": larger than %s (%" PRIu64 " bytes)", s->o->size,
			s->st.backing, s->backing.size);
		return -EINVAL;
	}
	if (s->o->size > s->backing.size && s->st.read_only) {
		log_err("--size %" PRIu64 ": larger than %s (%" PRIu64 " bytes) on a read-only "
			"disk", s->o->size, s->st.backing, s->backing.size);
		return -EINVAL;
	}
	s->st.size = s->o->size;
	return 0;
}

static int open_ctrl(struct server *s)
{
	int err = ublk_ctrl_open(&s->ctrl);

	if (err == -ENOENT)
		log_err("%s: no ublk driver here; load it with 'modprobe ublk_drv' "
			"(CONFIG_BLK_DEV_UBLK), or use the test VM: tests/vm/run -- sluice serve ...",
			UBLK_CONTROL_PATH);
	else if (err)
		log_err("%s: %s; run as root", UBLK_CONTROL_PATH, strerror(-err));
	return err;
}

/*
 * Settle the copy mode. A recovered disk keeps the UBLK_F_USER_COPY it was
 * created with (its state file's flags); only the server side can change.
 */
static int choose_copy(struct server *s)
{
	struct ublk_copy_env env = {
		.features = s->o->recover ? s->st.flags : s->ctrl->features,
		.page_cache = s->backing.page_cache,
		.in_memory = s->backing.in_memory,
		.chain_empty = !s->chain || !s->chain->n,
	};
	const char *want = ublk_copy_name(s->o->copy);
	int err;

	err = ublk_copy_resolve(s->o->copy, &env, &s->copy);
	if (err == -EOPNOTSUPP) {
		log_err("--copy %s: %s has no UBLK_F_USER_COPY (Linux 6.5+); use --copy buffer",
			want, s->o->recover ? "this disk" : "this ublk driver");
		return err;
	}
	if (err) {
		log_err("--copy mmap: needs a passthrough policy and a backing in the page "
			"cache (buffered or tmpfs), and %s is %s; use --copy user",
			s->st.backing, env.chain_empty ? "O_DIRECT" : "filtered");
		return err;
	}
	if (s->copy == UBLK_COPY_MMAP) {
		err = backing_map(&s->backing, s->st.size);
		if (err && s->o->copy != UBLK_COPY_AUTO) {
			log_err("%s: cannot map it for --copy mmap: %s; use --copy user",
				s->st.backing, strerror(-err));
			return err;
		}
		if (err) {
			/* auto only prefers mmap; the device is not made yet. */
			log_debug("%s: cannot map it (%s); copy buffer", s->st.backing,
				  strerror(-err));
			s->copy = UBLK_COPY_BUFFER;
		}
	}
	/* The device's flag wins: its requests come without a buffer address. */
	if (s->copy == UBLK_COPY_BUFFER && (env.features & UBLK_F_USER_COPY) && s->o->recover)
		s->copy = UBLK_COPY_USER;
	return 0;
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

static void report_create_error(struct server *s, const char *stage, int err)
{
	char max[32];

	if (!strcmp(stage, "add") && err == -EEXIST) {
		log_err("ublk device %u already exists; choose another --id or leave it out",
			s->o->dev_id);
	} else if (!strcmp(stage, "add") && err == -EINVAL && s->o->dev_id != UBLK_DEV_ANY) {
		log_err("ublk device id %u is out of the driver's range; choose a smaller --id "
			"or leave it out", s->o->dev_id);
	} else if (!strcmp(stage, "add") && (err == -EACCES || err == -ENOSPC)) {
		ublks_max(max, sizeof(max));
		log_err("too many ublk devices (ublk_drv allows %s); stop one with 'sluice stop' "
			"or raise /sys/module/ublk_drv/parameters/ublks_max", max);
	} else {
		log_err("creating the ublk device failed at '%s': %s", stage, strerror(-err));
	}
}

static int create_disk(struct server *s)
{
	struct ublk_dev_cfg cfg = {
		.size = s->st.size,
		.queues = s->st.queues,
		.depth = s->st.depth,
		.block_size = s->st.block_size,
		.read_only = s->st.read_only,
		.user_copy = s->copy != UBLK_COPY_BUFFER,
		.dev_id = s->o->dev_id,
	};
	const char *stage = "";
	int err;

	err = ublk_dev_create(&s->dev, s->ctrl, &s->backing, s->chain, &cfg, &stage);
	if (err) {
		report_create_error(s, stage, err);
		return err;
	}
	s->st.id = s->dev->info.dev_id;
	s->st.flags = s->dev->info.flags;
	return 0;
}

static int recover_disk(struct server *s)
{
	const char *stage = "";
	uint32_t id = s->st.id;
	int err;

	err = ublk_dev_recover(&s->dev, s->ctrl, &s->backing, s->chain, id,
			       RECOVER_WAIT_MS, &stage);
	if (!err)
		return 0;
	if (err == -ENODEV)
		log_err("ublk disk %u: no such device any more; start a new one with "
			"'sluice serve --backing %s'", id, s->st.backing);
	else if (err == -EOPNOTSUPP)
		log_err("ublk disk %u: created without crash recovery (UBLK_F_USER_RECOVERY); "
			"stop it with 'sluice stop %u'", id, id);
	else if (err == -EBUSY)
		log_err("ublk disk %u: the driver is still releasing the old server after %d s; "
			"retry 'sluice serve --recover %u'", id, RECOVER_WAIT_MS / 1000, id);
	else
		log_err("ublk disk %u: recovery failed at '%s': %s", id, stage, strerror(-err));
	return err;
}

static int load_recover_state(struct server *s)
{
	const char *dir = state_dir();
	uint32_t id = s->o->recover_id;
	int err;

	err = state_read(dir, id, &s->st);
	if (err == -ENOENT) {
		log_err("ublk disk %u: no state file in %s; list disks with 'sluice disks'", id, dir);
		return err;
	}
	if (err) {
		log_err("%s/ublk%u.state: %s", dir, id,
			err == -EINVAL ? "malformed" : strerror(-err));
		return err;
	}
	if (s->st.pid != getpid() && state_server_running(s->st.pid)) {
		log_err("ublk disk %u: still served by pid %d; stop it with 'sluice stop %u' "
			"or kill it first", id, (int)s->st.pid, id);
		return -EBUSY;
	}
	return 0;
}

/* The applied policy's chain as this disk's filters; nothing is created yet. */
static int policy_from_chain(struct server *s, const struct policy_chain_desc *c)
{
	const char *missing;
	bool added;
	int err;

	err = filter_spec_from_chain(c, s->st.filters, sizeof(s->st.filters), &missing);
	if (err == -EOPNOTSUPP) {
		log_err("policy '%s' needs the '%s' filter for %s, and '%s' is not available in "
			"this version of sluice; nothing was created. Drop that service from "
			"the policy and re-apply it, or serve with a built-in --policy", c->policy,
			missing, s->st.backing, missing);
		return err;
	}
	if (err) {
		log_err("policy '%s': its filter list does not fit a state file (%zu bytes)",
			c->policy, sizeof(s->st.filters));
		return err;
	}
	err = filter_spec_add_throttle(s->st.filters, sizeof(s->st.filters), c->policy, &added);
	if (err) {
		log_err("policy '%s': its filter list with the class throttle does not fit a "
			"state file (%zu bytes)", c->policy, sizeof(s->st.filters));
		return err;
	}
	if (added)
		log_debug("policy '%s' limits its classes: the server throttles them", c->policy);
	snprintf(s->st.policy, sizeof(s->st.policy), "%s", c->policy);
	return 0;
}

static void unknown_policy(struct server *s, const char *name, const struct policy_chain_desc *c)
{
	char applied[512];

	if (policy_chain_names(state_dir(), applied, sizeof(applied)) || !applied[0])
		snprintf(applied, sizeof(applied), "none");
	if (c && c->policy)
		log_err("--policy '%s': no such policy for %s; applied policies: %s (%s is bound "
			"to '%s': leave --policy out to serve it so); built in: %s", name,
			s->st.backing, applied, s->st.backing, c->policy, policy_builtin_names());
	else
		log_err("--policy '%s': no such policy for %s; applied policies: %s; built in: %s "
			"(an applied policy needs a binding served: {backing: %s})", name,
			s->st.backing, applied, policy_builtin_names(), s->st.backing);
}

/*
 * An applied policy bound to this backing wins when --policy is left out or
 * names it; otherwise a built-in policy; anything else is refused.
 */
static int choose_policy(struct server *s)
{
	const char *name = s->o->policy, *spec;
	struct policy_chain_desc c;
	bool bound;
	int err;

	err = policy_chain_find(state_dir(), s->st.backing, &c);
	if (err && err != -ENOENT) {
		log_err("%s/policy/current/chains: %s; check it with 'sluice policy status'",
			state_dir(), strerror(-err));
		return err;
	}
	bound = !err;
	if (bound && (!name || !strcmp(name, c.policy ? c.policy : ""))) {
		s->bound = true;
		err = policy_from_chain(s, &c);
		policy_chain_free(&c);
		return err;
	}
	if (!name)
		name = "passthrough";
	if (!policy_builtin_spec(name, &spec)) {
		if (bound)
			log_warn("%s is bound to applied policy '%s'; serving with built-in '%s' "
				 "instead ('sluice policy status' shows any drift)", s->st.backing,
				 c.policy ? c.policy : "?", name);
		policy_chain_free(&c);
		snprintf(s->st.policy, sizeof(s->st.policy), "%s", name);
		snprintf(s->st.filters, sizeof(s->st.filters), "%s", spec);
		return 0;
	}
	unknown_policy(s, name, bound ? &c : NULL);
	policy_chain_free(&c);
	return -ENOENT;
}

/*
 * The applied policy's maps name disks by number, and this disk had none
 * when the policy was applied: apply it again so its I/O is classified (and
 * metered and throttled per class) from now on. The disk serves either way.
 */
static void classify_new_disk(struct server *s)
{
	struct policy_apply_result res;
	int err;

	err = policy_reapply(state_dir(), &res);
	if (err)
		log_warn("/dev/ublkb%u serves, but its I/O is not classified by policy '%s': "
			 "re-applying it failed (%s%s%s); run 'sluice policy apply' again",
			 s->st.id, s->st.policy, strerror(-err), res.what[0] ? ": " : "", res.what);
	else
		log_debug("policy '%s' re-applied (generation %" PRIu64 ") to classify /dev/ublkb%u",
			 s->st.policy, res.generation, s->st.id);
}

static int fill_new_state(struct server *s)
{
	if (strlen(s->o->backing) >= sizeof(s->st.backing)) {
		log_err("--backing: path too long");
		return -ENAMETOOLONG;
	}
	if (!realpath(s->o->backing, s->st.backing))
		snprintf(s->st.backing, sizeof(s->st.backing), "%s", s->o->backing);
	s->st.queues = s->o->queues;
	s->st.depth = s->o->depth;
	s->st.block_size = s->o->block_size;
	s->st.read_only = s->o->read_only;
	return choose_policy(s);
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f) ? -errno : 0;
}

/*
 * --daemon: the parent waits for the child to say the disk is live (its
 * path) or that it failed, so the exit status and the printed path mean the
 * same as in the foreground.
 */
static int daemonize(struct server *s)
{
	int fds[2], status = 1;
	char buf[128];
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(fds[1]);
		n = read(fds[0], buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			fputs(buf, stdout);
			status = 0;
		}
		exit(status);
	}
	close(fds[0]);
	s->ready_fd = fds[1];
	setsid();
	return 0;
}

static void announce(struct server *s)
{
	char line[64];
	struct stat st;
	int fd;

	snprintf(line, sizeof(line), "/dev/ublkb%u\n", s->st.id);
	if (s->ready_fd < 0) {
		fputs(line, stdout);
		fflush(stdout);
		return;
	}
	if (write(s->ready_fd, line, strlen(line)) < 0)
		log_warn("cannot tell the parent the disk is live: %s", strerror(errno));
	close(s->ready_fd);
	s->ready_fd = -1;
	/*
	 * Detach from the caller's terminal and pipes (a pipe kept open would
	 * hold up whoever reads it); a log file stderr was redirected to stays.
	 */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fstat(STDERR_FILENO, &st) || !S_ISREG(st.st_mode))
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* Serve until a signal says stop or the queues end on their own. */
static int wait_for_stop(struct server *s, sigset_t *set)
{
	struct timespec tick = { 0, 200 * 1000000L };
	uint64_t stats_due = 0;
	int sig;

	for (;;) {
		/* best effort: the disk serves whether people see its counters or not */
		filter_stats_publish(state_dir(), s->st.id, s->chain, &stats_due);
		sig = sigtimedwait(set, NULL, &tick);
		if (sig > 0)
			return sig;
		if (ublk_dev_queue_exited(s->dev))
			return 0;
	}
}

static void server_cleanup(struct server *s)
{
	chain_destroy(s->chain);
	ublk_ctrl_close(s->ctrl);
	backing_close(&s->backing);
	if (s->ready_fd >= 0)
		close(s->ready_fd);
}

static int serve(struct serve_opts *o)
{
	struct server s = { .o = o, .ready_fd = -1, .backing = { .fd = -1 } };
	const char *dir = state_dir();
	sigset_t set;
	int err, sig;

	if (o->recover)
		err = load_recover_state(&s);
	else
		err = fill_new_state(&s);
	if (err)
		return 1;
	err = open_backing(&s);
	if (!err && !o->recover)
		err = settle_size(&s);
	if (!err)
		err = build_chain(&s);
	if (!err)
		err = open_ctrl(&s);
	if (!err)
		err = choose_copy(&s);
	if (!err && o->daemon)
		err = daemonize(&s);
	if (err)
		goto out;

	/* Queue threads inherit this mask: only the main thread takes signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = o->recover ? recover_disk(&s) : create_disk(&s);
	if (err)
		goto out;
	s.st.pid = getpid();
	err = state_write(dir, &s.st);
	if (err) {
		log_err("%s: cannot write the disk's state file: %s; stopping the disk", dir,
			strerror(-err));
		ublk_dev_stop(s.dev);
		goto out;
	}
	if (o->pid_file && (err = write_pid_file(o->pid_file))) {
		log_err("%s: %s; stopping the disk", o->pid_file, strerror(-err));
		ublk_dev_stop(s.dev);
		state_remove(dir, s.st.id);
		goto out;
	}
	if (s.bound && !o->recover)
		classify_new_disk(&s);
	announce(&s);
	log_debug("serving %s as /dev/ublkb%u (%u queues, depth %u, backing %s, copy %s%s)",
		  s.st.backing, s.st.id, s.st.queues, s.st.depth,
		  s.backing.direct ? "O_DIRECT" : "buffered", ublk_copy_name(s.copy),
		  s.st.flags & UBLK_F_USER_RECOVERY ? ", recoverable" : "");

	sig = wait_for_stop(&s, &set);
	err = ublk_dev_stop(s.dev);
	if (err && err != -ENODEV)
		log_err("/dev/ublkb%u: stopping failed: %s", s.st.id, strerror(-err));
	else if (!sig)
		log_warn("/dev/ublkb%u: the driver ended the queues; the disk is gone", s.st.id);
	state_remove(dir, s.st.id);
	filter_stats_remove(dir, s.st.id);
	if (o->pid_file)
		unlink(o->pid_file);
	if (err == -ENODEV)
		err = 0;

out:
	server_cleanup(&s);
	return err ? 1 : 0;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	int ret;

	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret == 1 ? 0 : ret;
	return serve(&o);
}
