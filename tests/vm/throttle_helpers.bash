# shellcheck shell=bash
# Shared by tests/vm/throttle.bats and tests/vm/throttle_shares.bats:
# a null_blk disk that saturates, two cgroups, fio and the throttle daemon.
# shellcheck disable=SC2030,SC2031

bats_require_minimum_version 1.5.0

TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
source "$TOP/tests/bats-libs.bash"
SLUICE=$TOP/build/sluice
CG=/sys/fs/cgroup
RUNTIME=${SLUICE_THROTTLE_RUNTIME:-30}
DEPTH=${SLUICE_THROTTLE_DEPTH:-128}
# Under the guest-paced disk's own service time (200 us a request), so
# that two workloads, or one, congest it however fast the VM runs: 1ms
# held only while TCG made the timer-mode completions late (one workload
# alone measured 0.68-0.72 ms in quiet boots).
# shellcheck disable=SC2034 # used by the suites that load this file
THRESHOLD=${SLUICE_THROTTLE_THRESHOLD:-100us}

# nullb_disk NAME COMPLETION_NS HW_QUEUE_DEPTH [SCHED [NR_REQUESTS]]: a
# configfs null_blk disk in timer mode behind SCHED (default mq-deadline
# with NR_REQUESTS 1024: a deep scheduler queue, so that congestion shows
# as latency the kernel's counters see; "none" is the kernel's default for
# this disk, its 8 tags the whole queue); DISK and MM are set. A disk of
# that name made earlier in this boot is reused, so each configuration has
# its own name.
nullb_disk() {
	local d=/sys/kernel/config/nullb/$1 mm sched=${4:-mq-deadline} nr=${5:-1024}
	mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
	[ -d /sys/kernel/config/nullb ] || modprobe null_blk nr_devices=0
	if [ ! -d "$d" ]; then
		mkdir "$d"
		echo 2 >"$d/irqmode"
		echo "$2" >"$d/completion_nsec"
		echo "$3" >"$d/hw_queue_depth"
		echo 1024 >"$d/size"
		echo 1 >"$d/power"
	fi
	# A configfs null_blk disk is named after its directory.
	DISK=$1
	mm=$(cat "/sys/block/$DISK/dev")
	[ -b "/dev/$DISK" ] || mknod "/dev/$DISK" b "${mm%:*}" "${mm#*:}"
	echo "$sched" >"/sys/block/$DISK/queue/scheduler"
	[ "$sched" = none ] || echo "$nr" >"/sys/block/$DISK/queue/nr_requests"
	grep -qw io "$CG/cgroup.subtree_control" || echo +io >"$CG/cgroup.subtree_control"
	mkdir -p "$CG/thr_a" "$CG/thr_b"
	export DISK MM=$mm
}

# A disk the guest's CPU sets the pace of (200 us per request, 8 at a
# time: up to 40000 IOPS, more than any TCG guest completes).
setup_file() {
	nullb_disk sluicethr 200000 8
}

teardown_file() {
	rmdir "$CG/thr_a" "$CG/thr_b" 2>/dev/null || true
}

setup() {
	OUT=$BATS_TEST_TMPDIR
	STATE=$OUT/state.json
	RECORD=$OUT/record
	THR_PID=
	FIO_PIDS=()
}

teardown() {
	local pid
	for pid in "${FIO_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	if [ -n "$THR_PID" ] && kill -0 "$THR_PID" 2>/dev/null; then
		kill -TERM "$THR_PID"
		wait "$THR_PID" || true
	fi
	"$SLUICE" throttle --cleanup --record "$RECORD" || true
	echo "$MM riops=max wiops=max rbps=max wbps=max" >"$CG/thr_a/io.max"
	echo "$MM riops=max wiops=max rbps=max wbps=max" >"$CG/thr_b/io.max"
}

# fio_in CGROUP NAME: 4k random reads, direct, libaio at iodepth $DEPTH
# for $RUNTIME s, in the background; the JSON result lands in
# $OUT/NAME.fio.
fio_in() {
	local cg=$1 name=$2
	(
		echo "$BASHPID" >"$CG/$cg/cgroup.procs"
		exec fio --name="$name" --filename="/dev/$DISK" --rw=randread --direct=1 \
			--ioengine=libaio --iodepth="$DEPTH" --bs=4k --time_based --ramp_time=2 --eta=never \
			--runtime="$RUNTIME" --output-format=json --output="$OUT/$name.fio"
	) 3>&- &
	FIO_PIDS+=($!)
}

wait_fio() {
	wait "${FIO_PIDS[@]}"
	FIO_PIDS=()
}

# Ends the fio jobs before their runtime (SIGTERM: fio stops and reports).
stop_fio() {
	kill -TERM "${FIO_PIDS[@]}"
	wait "${FIO_PIDS[@]}" || true
	FIO_PIDS=()
}

fio_iops() {
	jq '.jobs[0].read.iops' "$OUT/$1.fio"
}

fio_bw() {
	jq '.jobs[0].read.bw_bytes' "$OUT/$1.fio"
}

# start_throttle ARGS...: the daemon in the background, JSON log in $OUT/log.
start_throttle() {
	"$SLUICE" throttle --disk "/dev/$DISK" --state "$STATE" --record "$RECORD" \
		--json "$@" >"$OUT/log" 2>"$OUT/err" 3>&- &
	THR_PID=$!
}

# wait_intervals N: the daemon has logged N intervals (at most 4 s each,
# and a minute to start: loading the meter is slow in a busy TCG guest).
wait_intervals() {
	local _
	for _ in $(seq $((8 * $1 + 120))); do
		[ "$(grep -c '"disk"' "$OUT/log")" -ge "$1" ] && return 0
		sleep 0.5
	done
	return 1
}

# The daemon has written static limits and its first state: it is running.
wait_state() {
	local _
	for _ in $(seq 120); do
		[ -s "$STATE" ] && return 0
		sleep 0.5
	done
	return 1
}

stop_throttle() {
	kill -TERM "$THR_PID"
	wait "$THR_PID"
}

# calc EXPR: floating point with awk.
calc() {
	awk "BEGIN { print ($*) }"
}

# Interval lines of the log: one JSON object per disk and interval.
intervals() {
	jq -c 'select(.disk)' "$OUT/log"
}

# The disk's own IOPS over intervals [from, to) of the log (0-based).
mean_field() {
	local from=$1 to=$2 expr=$3
	jq -s --argjson f "$from" --argjson t "$to" \
		'[.[$f:$t][] | '"$expr"'] | add / length' "$OUT/log"
}
