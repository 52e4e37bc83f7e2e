#!/usr/bin/env bats
# Issue 6's headline claim: with shares 2:1 and the disk congested, the
# two cgroups' IOPS converge to 2:1 within 15%, latency returns below the
# threshold within 10 intervals, and the total keeps at least 90% of the
# uncontrolled throughput.
#
# Under qemu TCG the guest's speed follows the host's load: on a busy
# 2-core host it moved by 28% between two runs a minute apart, and by a
# factor of 20 between a quiet host and one running four guests (issue
# 12). A figure measured in one phase and compared in another is then a
# coin toss, so these checks do not depend on the guest's speed:
# - the uncontrolled figures come from the same fio run as the controlled
#   ones: the throttle watches for a few intervals right before and right
#   after it controls, while fio keeps running;
# - the latency threshold is set on a disk whose pace the device sets, not
#   the guest: each request takes 256 ms in null_blk, 64 at a time (250
#   IOPS), which even a guest starved to a few hundred IOPS completes on
#   time (its timers firing late cost a few percent). The latency is then
#   the queue's, Little's law: 2 x 64 requests at 250 IOPS, and a
#   threshold between it and what holding the shares gives holds;
# - 90%peak learns its threshold in the run, from the latency curve
#   (quarter-octave buckets, the threshold a bucket's top), on the same
#   kind of disk at 220 ms per request and 2 x 46 requests: 291 IOPS
#   at ~316 ms uncontrolled (a queue of 28 outside the device); holding
#   the shares (46 + 21) keeps the device busy at ~230 ms, in the bucket
#   215-262 ms, and nothing can go under the device's own 220 ms, so no
#   lucky interval teaches a lower bucket: the threshold learned is
#   262 ms, with the guest's speed out of it. (A
#   guest-paced disk moved by a factor of 2 within one run on a busy
#   host; a device-paced one with a deep queue outside the device gives
#   its peak at any latency above its own, and the learned threshold
#   fell under what holding gives.)

load throttle_helpers

setup_file() {
	nullb_disk sluiceshr 256000000 64
	nullb_disk sluicepeak 220000000 64
}

# Intervals each phase of the run lasts, and how many to skip at the start
# of a watched phase (the ramp; or the backlog a stopped throttle releases).
WATCH=6
SKIP=2

# phase NAME THRESHOLD INTERVALS: the throttle over the running fio jobs
# for INTERVALS intervals; its log is kept as $OUT/NAME.log (and in
# build/vm/throttle-NAME.log).
phase() {
	start_throttle --threshold "$2" --cgroup thr_a:shares=200 --cgroup thr_b:shares=100
	wait_intervals "$3"
	stop_throttle
	cp "$OUT/log" "$OUT/$1.log"
	cp "$OUT/log" "$TOP/build/vm/throttle-$1.log" 2>/dev/null || true
}

# watch NAME: a phase with a threshold nothing reaches; sets BASE (mean IOPS
# after the skipped intervals) and BASE_LAT (their mean latency, ns).
watch() {
	phase "$1" 60s "$WATCH"
	BASE=$(jq -s --argjson s "$SKIP" '.[$s:] | map(.iops) | add / length' "$OUT/$1.log")
	BASE_LAT=$(jq -s --argjson s "$SKIP" '.[$s:] | map(.latency_ns) | add / length' \
		"$OUT/$1.log")
	echo "uncontrolled ($1): $BASE IOPS at $BASE_LAT ns," \
		"a:b $(jq -s --argjson s "$SKIP" '.[$s:] | (map(.classes[0].iops) | add) /
			(map(.classes[1].iops) | add)' "$OUT/$1.log")" >&3
}

# converged LOG BASE: the issue's three criteria on a controlled run.
converged() {
	local log=$1 base=$2 n first below k ratio total lat_ms thr_ns
	n=$(wc -l <"$log")
	first=$(jq -s 'map(.state == "congested") | index(true)' "$log")
	echo "congested from interval $first of $n, modes" \
		"$(jq -sc 'map(.mode) | group_by(.) | map({(.[0]): length}) | add' "$log")" >&3
	[ "$first" != null ]
	# the mode says how: calm exactly while calm, else holding or steering
	jq -se 'all(.[]; (.state == "calm") == (.mode == "calm") and
		(.mode == "calm" or .mode == "holding" or .mode == "steering"))' "$log" >/dev/null
	# Latency below the threshold within 10 intervals of congestion.
	below=$(jq -s --argjson f "$first" \
		'.[$f + 1:$f + 11] | map(.latency_ns < .threshold_ns) | index(true)' "$log")
	# Converged: every interval after the first 10 of congestion (fio
	# runs on past the last one).
	k=$((first + 10))
	[ $((n - k)) -ge 5 ]
	ratio=$(jq -s --argjson f "$k" \
		'[.[$f:][] | .classes[0].iops] as $a | [.[$f:][] | .classes[1].iops] as $b
		 | ($a | add) / ($b | add)' "$log")
	total=$(jq -s --argjson f "$k" '[.[$f:][] | .iops] | add / length' "$log")
	lat_ms=$(jq -s --argjson f "$k" '[.[$f:][] | .latency_ns] | add / length / 1e6' "$log")
	thr_ns=$(jq -s '.[-1].threshold_ns' "$log")
	echo "controlled: ratio $ratio, total $total IOPS ($(calc "100 * $total / $base")%)," \
		"latency $lat_ms ms, threshold $thr_ns ns, below after $below," \
		"peak $(jq -s '.[-1].peak_iops' "$log")" >&3
	if [ "$below" = null ] || [ "$(calc "$ratio >= 1.7 && $ratio <= 2.3")" != 1 ] ||
		[ "$(calc "$total >= 0.9 * $base")" != 1 ]; then
		show_intervals "$log" >&2
		return 1
	fi
}

# show_intervals LOG: one line per interval, for a failure's reader: what
# the law did (mode, window, reason) and what each class did and was
# allowed (- when free).
show_intervals() {
	jq -r '[.state, .mode, "iops \(.iops)", "lat \(.latency_ns / 1e6 | floor)ms",
		"window \(.window_iops)",
		(.classes[] | "\(.name) \(.iops)/\(if .dynamic then .allow_iops else "-" end)"),
		.reason] | join("  ")' "$1"
}

# run_shares NAME THRESHOLD|auto INTERVALS: one fio run, watched, controlled
# for INTERVALS intervals, watched again; the controlled phase is judged
# against the mean of the two watched ones. auto: a latency threshold
# from the first watched phase (below).
run_shares() {
	local before before_lat thr=$2
	# shellcheck disable=SC2034 # fio_in's runtime: fio is stopped after the run
	RUNTIME=600
	fio_in thr_a "$1"a
	fio_in thr_b "$1"b
	watch "$1"0
	before=$BASE before_lat=$BASE_LAT
	# The latency threshold: 7/8 of the uncontrolled latency, seconds old.
	# The disk is congested by definition, and holding the shares meets
	# it: with both jobs at the same iodepth, the high-share job alone
	# and the low-share one capped at a third of the disk queue 3/4 of the
	# uncontrolled latency (Little's law); the threshold sits halfway, so
	# either side has 12% for the disk's own jitter. Lower thresholds,
	# which no window reaches at 2:1 in this guest (blk-throttle releases
	# bios in batches: docs/throttle.md), are the simulated-disk unit
	# tests' (test_unreachable_threshold_keeps_shares,
	# test_creeping_window_stops).
	[ "$thr" != auto ] || thr="$(calc "int($before_lat * 0.875 / 1000)")us"
	phase "$1" "$thr" "$3"
	watch "$1"1
	stop_fio
	echo "probes: $(jq -s 'map(select(.reason | test("probing"))) | length' "$OUT/$1.log")" >&3
	converged "$OUT/$1.log" "$(calc "($before + $BASE) / 2")"
}

@test "throttle: shares 2:1 converge, latency returns below the threshold, total kept" {
	nullb_disk sluiceshr 256000000 64
	# shellcheck disable=SC2034 # fio_in's iodepth (throttle_helpers)
	DEPTH=64
	run_shares shares auto 18
}

@test "throttle: 90%peak on a disk saturated from the start learns its knee and converges" {
	# Saturated from the first interval, the curve holds only the
	# saturated point: the throttle probes near the peak to find the
	# knee, then holds the shares under it.
	# Congestion may also show first through noise at the saturated
	# point's bucket edge: the probes are reported, not required.
	nullb_disk sluicepeak 220000000 64
	# shellcheck disable=SC2034 # fio_in's iodepth (throttle_helpers)
	DEPTH=46
	run_shares peak 90%peak 26
}
