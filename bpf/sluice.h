/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sluice.h - the one ABI shared by the BPF programs and user space.
 *
 * Every map key and value, every event and every constant that crosses the
 * kernel/user boundary is defined here, once. Plain C types only and no
 * includes: this file is compiled both against vmlinux.h (BPF) and against
 * libc headers (user space). Keep structs free of implicit padding so both
 * sides agree byte for byte; add explicit __pad fields instead.
 */
#ifndef SLUICE_H
#define SLUICE_H

/* Where pinned maps and links live; user space creates the directory. */
#define SLUICE_PIN_DIR		"/sys/fs/bpf/sluice"

#define SLUICE_COMM_LEN		16

/* ------------------------------------------------------------------ ops -- */

/* Request operation as metered. Index into the per-op arrays below. */
enum sluice_op {
	SLUICE_OP_READ		= 0,
	SLUICE_OP_WRITE		= 1,
	SLUICE_OP_DISCARD	= 2,	/* also secure erase and write-zeroes */
	SLUICE_OP_FLUSH		= 3,	/* empty flush; data+FUA counts as write */
	SLUICE_OP_OTHER		= 4,
	SLUICE_OP_MAX		= 5,
};

/* Bit masks of ops, used by trace filters and classification rules. */
#define SLUICE_OPMASK(op)	(1u << (op))
#define SLUICE_OPMASK_ALL	((1u << SLUICE_OP_MAX) - 1)

/* ------------------------------------------------------------ histogram -- */

/*
 * Log-linear latency histogram in nanoseconds, HDR style: values below
 * 2^SUB_BITS get one bucket each; above, every power of two is split into
 * 2^SUB_BITS equal sub-buckets, so a bucket's width is at most 1/16 of its
 * lower bound: sluice_hist_index() below is the index, written once.
 * Values at or above 2^SLUICE_HIST_MAX_LOG2 ns (~68.7 s) land in the last
 * bucket.
 */
#define SLUICE_HIST_SUB_BITS	4
#define SLUICE_HIST_SUB		(1u << SLUICE_HIST_SUB_BITS)
#define SLUICE_HIST_MAX_LOG2	36
#define SLUICE_HIST_BUCKETS	((SLUICE_HIST_MAX_LOG2 - SLUICE_HIST_SUB_BITS + 1) * SLUICE_HIST_SUB)

/*
 * The bucket of @v, whose highest set bit is @log2 (any value when @v <
 * SLUICE_HIST_SUB): the one formula both sides use, the meter to count and
 * user space to read (lib/hist.c), so they cannot drift apart. Each side
 * brings its own log2, as BPF has no count-leading-zeros it can rely on.
 * Clamped to the last bucket.
 */
static inline __attribute__((always_inline)) unsigned int
sluice_hist_index(unsigned long long v, unsigned int log2)
{
	unsigned int idx;

	if (v < SLUICE_HIST_SUB)
		return (unsigned int)v;
	if (log2 >= SLUICE_HIST_MAX_LOG2)
		return SLUICE_HIST_BUCKETS - 1;
	idx = ((log2 - SLUICE_HIST_SUB_BITS + 1) << SLUICE_HIST_SUB_BITS) |
	      ((unsigned int)(v >> (log2 - SLUICE_HIST_SUB_BITS)) & (SLUICE_HIST_SUB - 1));
	return idx < SLUICE_HIST_BUCKETS ? idx : SLUICE_HIST_BUCKETS - 1;
}

/* Which latency a histogram holds. */
enum sluice_lat {
	SLUICE_LAT_QUEUE	= 0,	/* insert (or bio queue) to issue */
	SLUICE_LAT_DEVICE	= 1,	/* issue to complete */
	SLUICE_LAT_TOTAL	= 2,	/* queue + device, what the application sees */
	SLUICE_LAT_MAX		= 3,
};

/* Histograms are split by direction only: discard/flush/other count as "other". */
enum sluice_dir {
	SLUICE_DIR_READ		= 0,
	SLUICE_DIR_WRITE	= 1,
	SLUICE_DIR_OTHER	= 2,
	SLUICE_DIR_MAX		= 3,
};

/* ---------------------------------------------------------------- meter -- */

/*
 * A metered stream: one disk, one policy class, one cgroup. Before any
 * policy is applied class is SLUICE_CLASS_DEFAULT and the cgroup carries the
 * attribution; readers aggregate over whichever field they do not show.
 *
 * cgroup_id is the kernfs id of the cgroup the kernel charged the bio to
 * (bio->bi_blkg->blkcg): a cgroup v2 id where io runs on cgroup2, a v1
 * blkio cgroup id on hybrid hosts that keep blkio on v1. On 64-bit hosts
 * it equals the inode number of the cgroup's directory.
 */
struct sluice_meter_key {
	unsigned int dev;		/* whole-disk dev_t in kernel encoding (MKDEV: major << 20 | minor) */
	unsigned int class_id;		/* SLUICE_CLASS_DEFAULT until a policy classifies */
	unsigned long long cgroup_id;	/* blkcg's cgroup kernfs id, 0 if unknown */
};

#define SLUICE_CLASS_DEFAULT	0

/* Kernel dev_t encoding (include/linux/kdev_t.h), not glibc's. */
#define SLUICE_MINORBITS	20
#define SLUICE_MKDEV(ma, mi)	(((unsigned int)(ma) << SLUICE_MINORBITS) | (unsigned int)(mi))
#define SLUICE_MAJOR(dev)	((dev) >> SLUICE_MINORBITS)
#define SLUICE_MINOR(dev)	((dev) & ((1u << SLUICE_MINORBITS) - 1))

/*
 * Per-CPU counters; user space sums over CPUs. ios/bytes count completions
 * (a request completed in pieces counts once, its bytes as they complete);
 * the latency sums cover the requests whose issue the meter saw.
 */
struct sluice_meter_val {
	unsigned long long ios[SLUICE_OP_MAX];		/* completed requests */
	unsigned long long bytes[SLUICE_OP_MAX];	/* completed bytes */
	unsigned long long lat_ns[SLUICE_OP_MAX];	/* sum of total latency (start to complete) */
	unsigned long long queue_ns[SLUICE_OP_MAX];	/* sum of queue latency (start to issue) */
	unsigned long long device_ns[SLUICE_OP_MAX];	/* sum of device latency (issue to complete) */
	unsigned long long timed[SLUICE_OP_MAX];	/* completions with latency known */
	unsigned long long errors[8];			/* by enum sluice_err (SLUICE_ERR_MAX) */
};

/* Histogram map key: which stream and which direction. */
struct sluice_hist_key {
	unsigned int dev;
	unsigned int class_id;
	unsigned long long cgroup_id;
	unsigned int dir;		/* enum sluice_dir */
	unsigned int __pad;
};

/* One stream's three latency histograms, indexed by enum sluice_lat. */
struct sluice_hist_val {
	unsigned long long buckets[SLUICE_LAT_MAX][SLUICE_HIST_BUCKETS];
};

/*
 * Samples whose histogram entry could not be allocated yet: per CPU, up to
 * SLUICE_HIST_PENDING streams, each a whole histogram (a burst of samples
 * for the same new stream all wait here).
 */
#define SLUICE_HIST_PENDING	2
struct sluice_hist_pending {
	struct sluice_hist_key key;
	unsigned int valid;
	unsigned int __pad;
	struct sluice_hist_val h;
};

/*
 * Per-disk busy time and in-flight count are not metered in BPF: user space
 * reads the block layer's own accounting (/sys/dev/block/M:m/stat io_ticks
 * and in_flight, what iostat uses), which is exact; see docs/metering.md.
 * aqu-sz is derived from the per-stream latency sums.
 */

/* Error buckets: BLK_STS_* folded into a few that operators act on. */
enum sluice_err {
	SLUICE_ERR_IOERR	= 0,
	SLUICE_ERR_TIMEOUT	= 1,
	SLUICE_ERR_NOSPC	= 2,
	SLUICE_ERR_NOTSUPP	= 3,
	SLUICE_ERR_MEDIUM	= 4,
	SLUICE_ERR_TRANSPORT	= 5,
	SLUICE_ERR_AGAIN	= 6,
	SLUICE_ERR_OTHER	= 7,
	SLUICE_ERR_MAX		= 8,
};

/* ---------------------------------------------------------------- trace -- */

/* One completed I/O, sent through the ring buffer in trace mode only. */
struct sluice_event {
	unsigned long long ts_ns;	/* completion time, CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	unsigned long long cgroup_id;
	unsigned long long sector;
	unsigned long long queue_ns;
	unsigned long long device_ns;
	unsigned int dev;
	unsigned int bytes;
	unsigned int pid;		/* issuing task (tgid), 0 if not known */
	unsigned int class_id;
	unsigned int op;		/* enum sluice_op */
	unsigned int status;		/* blk_status_t, 0 on success */
	char comm[SLUICE_COMM_LEN];
};

/* Trace filter, set by user space before load (rodata). 0 = any. */
struct sluice_trace_filter {
	unsigned int dev;
	unsigned int op_mask;		/* SLUICE_OPMASK bits; 0 = all */
	unsigned long long cgroup_id;
	unsigned long long min_lat_ns;	/* total latency */
};

/* ------------------------------------------------------ policy (classify) -- */

/*
 * A compiled policy ("generation") is one hash map holding every table the
 * classifier, the throttle and the CLI need, keyed by (kind, id). Each apply
 * builds a complete new inner map and then swaps the single slot of the
 * outer ARRAY_OF_MAPS SLUICE_MAP_POLICY: a request sees either the whole old
 * policy or the whole new one, never a mix, and the kernel frees the old
 * inner map only after every program that looked it up has finished (RCU).
 * docs/policy.md explains the choice.
 */
#define SLUICE_MAX_RULES	64	/* classification rules walked per disk */
#define SLUICE_MAX_CLASSES	256	/* class ids 0..255, 0 = default */
#define SLUICE_MAX_DISKS	1024
#define SLUICE_CLASS_NAME_LEN	32
#define SLUICE_CGROUP_LEVELS	16	/* ancestor levels matched (root = level 0) */
#define SLUICE_POLICY_PATH_LEN	224
#define SLUICE_POLICY_MAX_ENTRIES 8192	/* entries in one generation's map */

enum sluice_policy_kind {
	SLUICE_PK_META		= 1,	/* id 0: struct sluice_policy_meta */
	SLUICE_PK_DISK		= 2,	/* id dev: struct sluice_disk_policy (hot path) */
	SLUICE_PK_RULE		= 3,	/* id rule index: struct sluice_class_rule */
	SLUICE_PK_CLASS		= 4,	/* id class id: struct sluice_class_limits */
	SLUICE_PK_POLICY	= 5,	/* id policy id: struct sluice_policy_info */
	SLUICE_PK_CGROUP	= 6,	/* id cgroup id: struct sluice_cgroup_anc */
	SLUICE_PK_BINDING	= 7,	/* id binding index: struct sluice_binding */
	SLUICE_PK_RULE_CGROUP	= 8,	/* id rule index: struct sluice_policy_path */
	SLUICE_PK_POLICY_TEXT	= 9,	/* id policy id: its description, struct sluice_policy_path */
};

struct sluice_policy_key {
	unsigned int kind;		/* enum sluice_policy_kind */
	unsigned int __pad;
	unsigned long long id;
};

struct sluice_policy_meta {
	unsigned long long generation;	/* increases by one per apply */
	unsigned long long applied_at;	/* CLOCK_REALTIME seconds */
	unsigned int nr_policies;
	unsigned int nr_bindings;
	unsigned int nr_rules;
	unsigned int nr_classes;
};

/* Per-disk binding: which policy governs requests to this disk. */
struct sluice_disk_policy {
	unsigned int policy_id;		/* 1-based; 0 = no policy */
	unsigned int flags;		/* SLUICE_DISK_F_* */
	unsigned int first_rule;	/* index of this policy's first rule */
	unsigned int nr_rules;
};

#define SLUICE_DISK_F_METER	(1u << 0)	/* meter per class */
#define SLUICE_DISK_F_THROTTLE	(1u << 1)	/* policed by sluice throttle */

/*
 * One classification rule; first match wins, in index order. A cgroup rule
 * matches the cgroup itself and every descendant: the request's cgroup
 * ancestor at cgroup_level must be cgroup_id.
 */
struct sluice_class_rule {
	unsigned long long cgroup_id;	/* 0 = any cgroup; else the cgroup or a descendant */
	unsigned int op_mask;		/* SLUICE_OPMASK bits; 0 = any */
	unsigned int min_bytes;		/* inclusive */
	unsigned int max_bytes;		/* inclusive; 0 = no upper bound */
	unsigned int class_id;
	unsigned int cgroup_level;	/* depth of cgroup_id in the hierarchy, for ancestor match */
	unsigned int policy_id;
};

/* Bits of sluice_class_limits.pct_mask: the value is a percentage of measured peak. */
#define SLUICE_LIM_PCT_RIOPS	(1u << 0)
#define SLUICE_LIM_PCT_WIOPS	(1u << 1)
#define SLUICE_LIM_PCT_RBPS	(1u << 2)
#define SLUICE_LIM_PCT_WBPS	(1u << 3)
#define SLUICE_LIM_PCT_RESERVE	(1u << 4)

/* Per-class limits and shares, read by the throttle and the ublk server. */
struct sluice_class_limits {
	unsigned long long riops, wiops;	/* 0 = unlimited */
	unsigned long long rbps, wbps;
	unsigned long long reserve_iops;	/* minimum guaranteed (mClock reservation) */
	unsigned int shares;			/* relative weight, default 1000 */
	unsigned int latency_target_us;		/* 0 = none */
	char name[SLUICE_CLASS_NAME_LEN];
	unsigned int policy_id;
	unsigned int pct_mask;			/* SLUICE_LIM_PCT_* */
};

struct sluice_policy_info {
	char name[SLUICE_CLASS_NAME_LEN];
	unsigned long long latency_target_ns;	/* disk-wide target; 0 = none */
	unsigned int flags;			/* SLUICE_DISK_F_* */
	unsigned int first_class;		/* class ids first_class.. */
	unsigned int nr_classes;
	unsigned int first_rule;
	unsigned int nr_rules;
	unsigned int throttle_interval_ms;	/* 0 = the throttle's default */
};

/* Ancestors of one cgroup, so an id alone can be matched against subtrees. */
struct sluice_cgroup_anc {
	unsigned long long ids[SLUICE_CGROUP_LEVELS];	/* ids[l] = ancestor at level l */
	unsigned int level;				/* the cgroup's own level */
	unsigned int __pad;
};

struct sluice_policy_path {
	char path[SLUICE_POLICY_PATH_LEN];
};

/* A binding as written, for show and status. */
struct sluice_binding {
	unsigned int dev;		/* resolved disk, 0 if not resolved (disk not served yet) */
	unsigned int policy_id;
	char selector[SLUICE_POLICY_PATH_LEN];	/* "kind:value", e.g. "path:/dev/loop0" */
};

union sluice_policy_val {
	struct sluice_policy_meta meta;
	struct sluice_disk_policy disk;
	struct sluice_class_rule rule;
	struct sluice_class_limits limits;
	struct sluice_policy_info policy;
	struct sluice_cgroup_anc cgroup;
	struct sluice_binding binding;
	struct sluice_policy_path path;
};

/* Counters of the classify probe (bpf/classify_probe.bpf.c): per-CPU requests issued. */
struct sluice_probe_key {
	unsigned int dev;
	unsigned int class_id;
};

/* ----------------------------------------------------------- ublk stages -- */

/*
 * Where a ublk request's time goes (bpf/ublk.bpf.c): the driver hands it to
 * the server, the server's filters, the backing, the filters on the way up,
 * and the commit back to the driver until the block layer completes it.
 */
enum sluice_ublk_stage {
	SLUICE_UBLK_TO_SERVER	= 0,	/* driver queue_rq -> server fetched (USDT req_fetched) */
	SLUICE_UBLK_DOWN	= 1,	/* fetched -> first backing submit */
	SLUICE_UBLK_BACKING	= 2,	/* backing submit -> last backing completion */
	SLUICE_UBLK_UP		= 3,	/* backing completion -> commit (USDT commit) */
	SLUICE_UBLK_TO_KERNEL	= 4,	/* commit -> request completed in the block layer */
	SLUICE_UBLK_TOTAL	= 5,	/* queue_rq -> completed */
	SLUICE_UBLK_STAGES	= 6,
};

#define SLUICE_UBLK_SLOTS	40	/* log2(ns) slots; the last takes everything above */

struct sluice_ublk_stage_key {
	unsigned int dev_id;		/* N of /dev/ublkbN */
	unsigned int stage;		/* enum sluice_ublk_stage */
};

struct sluice_ublk_stage_val {
	unsigned long long count;
	unsigned long long sum_ns;
	unsigned long long slots[SLUICE_UBLK_SLOTS];
};

#define SLUICE_UBLK_MAX_DISKS	256

/* Messages of the meter's notify ring buffer (one __u32 each) to its loader. */
enum sluice_notify {
	SLUICE_NOTIFY_WANT_ISSUE = 1,	/* a queue does not stamp issue times */
};

/* --------------------------------------------------- ublk request classes -- */

/*
 * The class of every request a ublk disk hands to its server, written by
 * bpf/ublk_class.bpf.c when the block layer issues the request (before the
 * driver passes its tag to the server) and read by the server with a plain
 * load from an mmap of the pinned array SLUICE_MAP_UCLASS. One element per
 * (ublk dev id, hw queue), one byte per tag: element dev_id *
 * SLUICE_UCLASS_QUEUES + queue, byte tag. Requests of a disk, queue or tag
 * beyond these bounds are not recorded and read as SLUICE_CLASS_DEFAULT.
 */
#define SLUICE_UCLASS_DEVS	64
#define SLUICE_UCLASS_QUEUES	16
#define SLUICE_UCLASS_DEPTH	4096	/* UBLK_MAX_QUEUE_DEPTH */

struct sluice_uclass_slots {
	unsigned char class_id[SLUICE_UCLASS_DEPTH];	/* class ids fit: SLUICE_MAX_CLASSES 256 */
};

/* Map names, shared so user space finds pinned maps by name. */
#define SLUICE_MAP_METER	"meter"
#define SLUICE_MAP_HIST		"hist"
#define SLUICE_MAP_DISKS	"disks"
#define SLUICE_MAP_EVENTS	"events"
#define SLUICE_MAP_POLICY	"policy_gen"	/* outer map-of-maps, one slot */
#define SLUICE_MAP_PROBE	"probe_counts"	/* classify probe counters */
#define SLUICE_LINK_PROBE	"classify_probe_link"
#define SLUICE_MAP_UCLASS	"ublk_class"	/* struct sluice_uclass_slots */
#define SLUICE_LINK_UCLASS	"ublk_class_link"

#endif /* SLUICE_H */
