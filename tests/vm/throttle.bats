#!/usr/bin/env bats
# sluice throttle on a disk that saturates: null_blk in timer mode with a
# shallow hardware queue (irqmode=2 completion_nsec=200000 hw_queue_depth=8)
# behind mq-deadline with a deep scheduler queue, so congestion shows as
# latency the kernel's counters see. Two cgroups run fio at iodepth 32.
# Everything is asserted as ratios of what this VM measured first, never
# as wall-clock time.
# shellcheck disable=SC2030,SC2031

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SLUICE=$TOP/build/sluice
CG=/sys/fs/cgroup
RUNTIME=${SLUICE_THROTTLE_RUNTIME:-30}
DEPTH=${SLUICE_THROTTLE_DEPTH:-128}
# Low enough that two workloads, or one, congest the disk in any VM.
THRESHOLD=${SLUICE_THROTTLE_THRESHOLD:-1ms}

setup_file() {
	local d=/sys/kernel/config/nullb/sluicethr mm
	mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
	[ -d /sys/kernel/config/nullb ] || modprobe null_blk nr_devices=0
	if [ ! -d "$d" ]; then
		mkdir "$d"
		echo 2 >"$d/irqmode"
		echo 200000 >"$d/completion_nsec"
		echo 8 >"$d/hw_queue_depth"
		echo 1024 >"$d/size"
		echo 1 >"$d/power"
	fi
	# A configfs null_blk disk is named after its directory.
	DISK=sluicethr
	mm=$(cat "/sys/block/$DISK/dev")
	[ -b "/dev/$DISK" ] || mknod "/dev/$DISK" b "${mm%:*}" "${mm#*:}"
	echo mq-deadline >"/sys/block/$DISK/queue/scheduler"
	echo 1024 >"/sys/block/$DISK/queue/nr_requests"
	grep -qw io "$CG/cgroup.subtree_control" || echo +io >"$CG/cgroup.subtree_control"
	mkdir -p "$CG/thr_a" "$CG/thr_b"
	export DISK MM=$mm
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

# fio_in CGROUP NAME: 4k random reads, direct, libaio iodepth 32, in the
# background; the terse result lands in $OUT/NAME.fio.
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

@test "throttle: shares 2:1 converge, latency returns below the threshold, total kept" {
	local base base_lat first n ratio total lat_ms thr_ns below k
	# Uncontrolled first, measured the same way: a threshold nothing reaches.
	start_throttle --threshold 60s --cgroup thr_a:shares=200 --cgroup thr_b:shares=100
	fio_in thr_a a0
	fio_in thr_b b0
	wait_fio
	stop_throttle
	n=$(wc -l <"$OUT/log")
	[ "$n" -ge 10 ]
	# Skip the ramp-up and ramp-down intervals.
	base=$(mean_field 2 $((n - 2)) '.iops')
	base_lat=$(mean_field 2 $((n - 2)) '.latency_ns')
	echo "uncontrolled: $base IOPS at $base_lat ns, fio a=$(fio_iops a0) b=$(fio_iops b0)" >&3
	# SIOC's default mode: the latency at which this disk gives 90% of its
	# peak, learned by the controller; a fixed latency cannot be chosen
	# ahead for a TCG guest whose speed depends on the host's load.
	start_throttle --threshold 90%peak --cgroup thr_a:shares=200 \
		--cgroup thr_b:shares=100
	fio_in thr_a a1
	fio_in thr_b b1
	wait_fio
	stop_throttle
	cp "$OUT/log" "$TOP/build/vm/throttle-shares.log" 2>/dev/null || true
	n=$(wc -l <"$OUT/log")
	first=$(jq -s 'map(.state == "congested") | index(true)' "$OUT/log")
	echo "congested from interval $first of $n" >&3
	[ "$first" != null ]
	# Latency below the threshold within 10 intervals of congestion.
	below=$(jq -s --argjson f "$first" \
		'.[$f + 1:$f + 11] | map(.latency_ns < .threshold_ns) | index(true)' "$OUT/log")
	[ "$below" != null ]
	# Converged: the intervals after the first 10 of congestion, but not
	# the last two, when fio winds down.
	k=$((first + 10))
	[ $((n - 2 - k)) -ge 5 ]
	ratio=$(jq -s --argjson f "$k" --argjson t "$((n - 2))" \
		'[.[$f:$t][] | .classes[0].iops] as $a | [.[$f:$t][] | .classes[1].iops] as $b
		 | ($a | add) / ($b | add)' "$OUT/log")
	total=$(mean_field "$k" $((n - 2)) '.iops')
	lat_ms=$(mean_field "$k" $((n - 2)) '.latency_ns / 1e6')
	thr_ns=$(jq -s '.[-1].threshold_ns' "$OUT/log")
	echo "controlled: ratio $ratio, total $total IOPS, latency $lat_ms ms," \
		"threshold $thr_ns ns, peak $(jq -s '.[-1].peak_iops' "$OUT/log")" >&3
	[ "$(calc "$ratio >= 1.7 && $ratio <= 2.3")" = 1 ]
	[ "$(calc "$total >= 0.9 * $base")" = 1 ]
}

@test "throttle: a workload alone is never held back" {
	start_throttle --threshold "$THRESHOLD" --cgroup thr_a:shares=200 \
		--cgroup thr_b:shares=100
	fio_in thr_a alone
	wait_fio
	stop_throttle
	# It drives the disk past the threshold, and still gets no limit.
	run jq -s 'map(.latency_ns) | max' "$OUT/log"
	echo "max latency alone: $output ns" >&3
	[ "$(calc "$output > $(jq -s '.[0].threshold_ns' "$OUT/log")")" = 1 ]
	run jq -s 'map(.classes[].dynamic) | any' "$OUT/log"
	assert_output false
	run jq -s 'map(.state == "congested") | any' "$OUT/log"
	assert_output false
}

@test "throttle: static IOPS and bandwidth limits hold within 5%" {
	start_throttle --threshold 60s --cgroup thr_a:shares=200,rbps=2M \
		--cgroup thr_b:shares=100,riops=600
	wait_state
	fio_in thr_a sa
	fio_in thr_b sb
	run cat "$CG/thr_b/io.max"
	assert_output --partial "riops=600"
	wait_fio
	stop_throttle
	echo "a $(fio_bw sa) B/s (limit 2097152), b $(fio_iops sb) IOPS (limit 600)" >&3
	# Held to the limit (not above by more than 5%), and the limit binds.
	[ "$(calc "$(fio_bw sa) <= 1.05 * 2097152 && $(fio_bw sa) >= 0.8 * 2097152")" = 1 ]
	[ "$(calc "$(fio_iops sb) <= 1.05 * 600 && $(fio_iops sb) >= 0.8 * 600")" = 1 ]
	# Static limits are policy: the exit leaves them in place.
	run cat "$CG/thr_b/io.max"
	assert_output --partial "riops=600"
	run cat "$CG/thr_a/io.max"
	assert_output --partial "rbps=2097152"
}

# Waits until io.max of thr_a carries a limit the throttle set.
wait_dynamic() {
	local _
	for _ in $(seq 60); do
		grep -q "^$MM " "$CG/thr_a/io.max" && return 0
		sleep 1
	done
	return 1
}

@test "throttle: SIGTERM leaves no dynamic limit behind" {
	start_throttle --threshold "$THRESHOLD" --cgroup thr_a:shares=200 \
		--cgroup thr_b:shares=100
	fio_in thr_a ta
	fio_in thr_b tb
	wait_dynamic
	run cat "$CG/thr_a/io.max"
	assert_output --regexp "^$MM .*riops=[0-9]"
	stop_throttle
	run cat "$CG/thr_a/io.max"
	assert_output ""
	run cat "$CG/thr_b/io.max"
	assert_output ""
	run jq .running "$STATE"
	assert_output false
	wait_fio
}

@test "throttle: after kill -9, --cleanup removes the dynamic limits" {
	start_throttle --threshold "$THRESHOLD" --cgroup thr_a:shares=200 \
		--cgroup thr_b:shares=100,wiops=777
	fio_in thr_a ka
	fio_in thr_b kb
	wait_dynamic
	kill -KILL "$THR_PID"
	wait "$THR_PID" || true
	run cat "$CG/thr_a/io.max"
	assert_output --regexp "^$MM .*riops=[0-9]"
	run "$SLUICE" throttle --cleanup --record "$RECORD"
	assert_success
	run cat "$CG/thr_a/io.max"
	assert_output ""
	run cat "$CG/thr_b/io.max"
	assert_output "$MM rbps=max wbps=max riops=max wiops=777"
	wait_fio
}
