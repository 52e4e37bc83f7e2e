#!/usr/bin/env bats
# Issue 6's headline claim: with shares 2:1 and the disk congested, the
# two cgroups' IOPS converge to 2:1 within 15%, latency returns below the
# threshold within 10 intervals, and the total keeps at least 90% of the
# uncontrolled throughput. Under qemu TCG the guest's speed follows the
# host's load (its timers run late when its vCPUs starve), so the
# uncontrolled throughput is measured right before and right after the
# controlled run and the controlled one is compared with their mean. On a
# host busy with other work (other VMs, builds) the guest's speed can still
# move by more than the 10% at stake within one run: run it alone.

load throttle_helpers

# uncontrolled NAME: one run with a threshold nothing reaches; sets BASE
# (mean IOPS without the ramp intervals) and BASE_LAT (mean latency, ns).
uncontrolled() {
	local n
	start_throttle --threshold 60s --cgroup thr_a:shares=200 --cgroup thr_b:shares=100
	fio_in thr_a "$1a"
	fio_in thr_b "$1b"
	wait_fio
	stop_throttle
	n=$(wc -l <"$OUT/log")
	[ "$n" -ge 10 ]
	BASE=$(mean_field 2 $((n - 2)) '.iops')
	BASE_LAT=$(mean_field 2 $((n - 2)) '.latency_ns')
	echo "uncontrolled ($1): $BASE IOPS at $BASE_LAT ns," \
		"fio a=$(fio_iops "$1a") b=$(fio_iops "$1b")" >&3
}

# controlled THRESHOLD NAME: the same workloads under the throttle; the log
# is kept as build/vm/throttle-NAME.log.
controlled() {
	start_throttle --threshold "$1" --cgroup thr_a:shares=200 --cgroup thr_b:shares=100
	fio_in thr_a "$2a"
	fio_in thr_b "$2b"
	wait_fio
	stop_throttle
	cp "$OUT/log" "$TOP/build/vm/throttle-$2.log" 2>/dev/null || true
	cp "$OUT/log" "$OUT/$2.log"
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
	# Converged: the intervals after the first 10 of congestion, but not
	# the last two, when fio winds down.
	k=$((first + 10))
	[ $((n - 2 - k)) -ge 5 ]
	ratio=$(jq -s --argjson f "$k" --argjson t "$((n - 2))" \
		'[.[$f:$t][] | .classes[0].iops] as $a | [.[$f:$t][] | .classes[1].iops] as $b
		 | ($a | add) / ($b | add)' "$log")
	total=$(jq -s --argjson f "$k" --argjson t "$((n - 2))" \
		'[.[$f:$t][] | .iops] | add / length' "$log")
	lat_ms=$(jq -s --argjson f "$k" --argjson t "$((n - 2))" \
		'[.[$f:$t][] | .latency_ns] | add / length / 1e6' "$log")
	thr_ns=$(jq -s '.[-1].threshold_ns' "$log")
	echo "controlled: ratio $ratio, total $total IOPS ($(calc "100 * $total / $base")%)," \
		"latency $lat_ms ms, threshold $thr_ns ns, below after $below," \
		"peak $(jq -s '.[-1].peak_iops' "$log")" >&3
	[ "$below" != null ]
	[ "$(calc "$ratio >= 1.7 && $ratio <= 2.3")" = 1 ]
	[ "$(calc "$total >= 0.9 * $base")" = 1 ]
}

@test "throttle: shares 2:1 converge, latency returns below the threshold, total kept" {
	local before before_lat thr_us
	uncontrolled u0
	before=$BASE before_lat=$BASE_LAT
	# A latency threshold at 90% of the uncontrolled latency: the disk is
	# congested by definition, whatever speed this TCG guest runs at (a
	# fixed latency cannot be chosen ahead), and the threshold is one that
	# 2:1 at full throughput can meet here. With both jobs at the same
	# iodepth, the high-share job alone at two thirds of the disk queues
	# 3/4 of the uncontrolled latency (Little's law); the capped job's
	# batches add to it (holding the shares measured 76-86% here), and
	# capping both does not lower it in this guest (blk-throttle releases
	# bios in batches: docs/throttle.md). Lower thresholds, which no
	# window reaches at 2:1 in this guest, are the simulated-disk unit
	# tests' (test_unreachable_threshold_keeps_shares, test_creeping_window_stops).
	thr_us=$(calc "int($before_lat * 0.9 / 1000)")
	controlled "${thr_us}us" shares
	uncontrolled u1
	converged "$OUT/shares.log" "$(calc "($before + $BASE) / 2")"
}

@test "throttle: 90%peak on a disk saturated from the start learns its knee and converges" {
	local before
	uncontrolled p0
	before=$BASE
	# Saturated from the first interval, the curve holds only the
	# saturated point: the throttle probes near the peak to find the
	# knee, then holds the shares under it.
	controlled 90%peak peak
	uncontrolled p1
	# Congestion may also show first through noise at the saturated
	# point's bucket edge: the probes are reported, not required.
	run jq -s 'map(select(.reason | test("probing"))) | length' "$OUT/peak.log"
	echo "probes: $output" >&3
	converged "$OUT/peak.log" "$(calc "($before + $BASE) / 2")"
}
