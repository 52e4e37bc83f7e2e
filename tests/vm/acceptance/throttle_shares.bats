#!/usr/bin/env bats
# Acceptance check for issue 6's headline claim: with shares 2:1 and the
# disk congested, the two cgroups' IOPS converge to 2:1 within 15%,
# latency returns below the threshold within 10 intervals, and the total
# keeps at least 90% of the uncontrolled throughput. It passes on a quiet
# host and fails under load (the guest's timers run late when its vCPUs
# starve), so it runs by 'make test-acceptance', not in 'make test'.

load ../throttle_helpers

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
	# A latency threshold two thirds of the uncontrolled latency: the disk
	# is congested by definition, whatever speed this TCG guest runs at (a
	# fixed latency cannot be chosen ahead). Not SIOC's peak mode: with the
	# disk saturated from the first interval, the latency learned for 90%
	# of peak is the saturated latency itself (13 ms against 12 ms seen), so
	# peak mode cannot tell this disk is congested; the simulated-disk unit
	# tests cover peak mode.
	thr_us=$(calc "int($base_lat * 2 / 3 / 1000)")
	start_throttle --threshold "${thr_us}us" --cgroup thr_a:shares=200 \
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
