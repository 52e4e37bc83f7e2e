#!/usr/bin/env bats
# sluice top and the exporter read a running throttle's state file: a
# hand-written one for exact values, a real `sluice throttle` daemon on a
# loop device for the round trip, and stale files (dead pid, clean exit,
# old) that must be ignored. Every path is under $BATS_TEST_TMPDIR, never
# the shared /run/sluice.

load helpers
load meter_helpers

setup() {
	ensure_kernel_fs
	LOOP=$(make_meter_loop 64)
	D=$(basename "$LOOP")
	MM=$(lsblk -dno MAJ:MIN "$LOOP" | tr -d ' ')
	STATE=$BATS_TEST_TMPDIR/throttle.json
}

teardown() {
	stop_bg_all
	cleanup_loops
}

# write_state PID RUNNING TIME: the loop disk congested at 31.2ms/30ms, one
# class limited to 7330 IOPS and one unlimited, as cmd_throttle.c writes it.
write_state() {
	cat >"$STATE" <<-EOF
	{"version":1,"time":$3,"pid":$1,"running":$2,"interval_s":1,
	 "source":"sysfs","latency":"total","disks":[{"disk":"$D","dev":"$MM",
	 "state":"congested","mode":"steering","latency_ns":31200000,"threshold_ns":30000000,
	 "threshold_mode":"latency","peak_iops":11800,"peak_bps":48332800,
	 "iops":10950,"bps":44851200,"window_iops":11000,"elasticity":3.1,
	 "changed":true,"reason":"latency above target: tightening","classes":[
	 {"name":"db","class_id":1,"cgroup":"/sys/fs/cgroup/db","shares":200,
	  "reserve_iops":0,"iops":7290,"dynamic":true,"allow_iops":7330,
	  "riops":7330,"wiops":10,"rbps":45000000,"wbps":61400},
	 {"name":"batch","class_id":2,"cgroup":"/sys/fs/cgroup/batch","shares":100,
	  "reserve_iops":0,"iops":3,"dynamic":false,"allow_iops":0,
	  "riops":0,"wiops":0,"rbps":0,"wbps":0}]}]}
	EOF
}

# Reads on the loop device while top meters, so the disk has a row; fio
# outlasts top and is stopped by pid in teardown.
reads_in_bg() {
	bg fio --name=bg --filename="$LOOP" --direct=1 --ioengine=psync --bs=4k \
		--rw=randread --time_based --runtime=60 --size=16M --rate_iops=100
}

@test "top --json carries the throttle object of a live throttle" {
	write_state $$ true "$(date +%s)"
	reads_in_bg
	run_ok "$SLUICE" top --json --count 2 --interval 0.5 --disk "$D" --throttle-state "$STATE"
	echo "${lines[1]}" | jq -e --arg d "$D" '.disks[0] | .name == $d and
		.throttle.state == "congested" and .throttle.mode == "steering" and
		.throttle.latency_ns == 31200000 and
		.throttle.threshold_ns == 30000000 and .throttle.threshold_mode == "latency" and
		.throttle.peak_iops == 11800 and (.throttle.classes | length) == 2 and
		.throttle.classes[0].name == "db" and .throttle.classes[0].allow_iops == 7330 and
		.throttle.classes[0].dynamic and (.throttle.classes[1].dynamic | not)' >/dev/null ||
		fail "no throttle object: ${lines[1]}"
}

@test "top text shows the state, latency/threshold and allowances in 80 columns" {
	write_state $$ true "$(date +%s)"
	reads_in_bg
	run_ok bash -c "'$SLUICE' top --count 2 --interval 0.5 --disk '$D' --classes \
		--throttle-state '$STATE' | cat"
	assert_output --partial "throttle: congested 31.2ms/30.0ms"
	assert_line --regexp '^ +db +allow 7330 iops +/sys/fs/cgroup/db$'
	assert_line --regexp '^ +batch +allow max +/sys/fs/cgroup/batch$'
	refute_output --partial $'\e'
	while IFS= read -r l; do [ "${#l}" -le 80 ] || fail "line too long: $l"; done <<<"$output"
}

@test "top ignores a stale state: dead pid, clean exit, three intervals old" {
	local dead
	sleep 0 &
	dead=$!
	wait "$dead"
	reads_in_bg
	for s in "$dead true $(date +%s)" "$$ false $(date +%s)" "$$ true $(($(date +%s) - 60))"; do
		# shellcheck disable=SC2086 # three words on purpose
		write_state $s
		run_ok "$SLUICE" top --json --count 1 --interval 0.5 --disk "$D" \
			--throttle-state "$STATE"
		echo "$output" | jq -e --arg d "$D" '.disks[0].name == $d and
			(.disks[0] | has("throttle") | not)' >/dev/null ||
			fail "stale state ($s) shown: $output"
	done
	echo '{"time": 1, "pid": ' >"$STATE"
	run_ok "$SLUICE" top --json --count 1 --interval 0.5 --disk "$D" --throttle-state "$STATE"
	echo "$output" | jq -e '.disks[0] | has("throttle") | not' >/dev/null
}

@test "exporter: throttle gauges pass promtool, and vanish with the throttle" {
	local port=$((20000 + RANDOM % 20000)) m=$BATS_TEST_TMPDIR/m.txt
	write_state $$ true "$(date +%s)"
	bg "$SLUICE" exporter --listen "127.0.0.1:$port" --throttle-state "$STATE"
	wait_http "http://127.0.0.1:$port/metrics" || fail "exporter did not answer"
	curl -sf "http://127.0.0.1:$port/metrics" >"$m"
	run promtool check metrics <"$m"
	assert_success
	run grep '^sluice_throttle_' "$m"
	assert_line "sluice_throttle_congested{disk=\"$D\",dev=\"$MM\"} 1"
	assert_line "sluice_throttle_latency_seconds{disk=\"$D\",dev=\"$MM\"} 0.0312"
	assert_line "sluice_throttle_threshold_seconds{disk=\"$D\",dev=\"$MM\"} 0.03"
	assert_line "sluice_throttle_peak_iops{disk=\"$D\",dev=\"$MM\"} 11800"
	assert_line "sluice_throttle_steering{disk=\"$D\",dev=\"$MM\"} 1"
	assert_line "sluice_throttle_allowance_iops{disk=\"$D\",dev=\"$MM\",class=\"db\",cgroup=\"/sys/fs/cgroup/db\",enforced_by=\"kernel\"} 7330"
	assert_equal "${#lines[@]}" 6
	grep -q '^# TYPE sluice_throttle_allowance_iops gauge$' "$m"
	grep -q '^# HELP sluice_throttle_congested ' "$m"
	write_state $$ false "$(date +%s)"
	curl -sf "http://127.0.0.1:$port/metrics" >"$m"
	run grep -c '^sluice_throttle_' "$m"
	assert_output 0
}

@test "a real throttle daemon's state reaches top" {
	local cgd=$BATS_TEST_TMPDIR/cg
	mkdir -p "$cgd"
	: >"$cgd/io.max"
	echo "$MM rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0" >"$cgd/io.stat"
	bg "$SLUICE" throttle --disk "$LOOP" --threshold 30ms --interval 200ms --source sysfs \
		--cgroup "$cgd:shares=300" --state "$STATE" --record "$BATS_TEST_TMPDIR/record"
	for _ in $(seq 50); do
		[ -s "$STATE" ] && break
		sleep 0.1
	done
	reads_in_bg
	run_ok "$SLUICE" top --json --count 2 --interval 0.5 --disk "$D" --throttle-state "$STATE"
	echo "${lines[1]}" | jq -e '.disks[0].throttle | .threshold_ns == 30000000 and
		(.state == "calm" or .state == "congested") and
		.classes[0].shares == 300' >/dev/null || fail "no throttle object: ${lines[1]}"
	# a loop device is no served disk: io.max holds it
	jq -e '.disks[0].enforced_by == "kernel" and .disks[0].classes[0].enforced_by == "kernel"' \
		"$STATE" >/dev/null || fail "not enforced by the kernel: $(cat "$STATE")"
	# the mode follows the state: one class alone is never congested
	jq -e '.disks[0] | .state == "calm" and .mode == "calm"' \
		"$STATE" >/dev/null || fail "no calm mode: $(cat "$STATE")"
}

@test "top says when a ublk server holds the disk's limits" {
	write_state $$ true "$(date +%s)"
	sed -i 's/"state":"congested",/&"enforced_by":"server",/' "$STATE"
	reads_in_bg
	run_ok bash -c "'$SLUICE' top --count 2 --interval 0.5 --disk '$D' \
		--throttle-state '$STATE' | cat"
	assert_output --partial "throttle: congested 31.2ms/30.0ms, by the ublk server"
	while IFS= read -r l; do [ "${#l}" -le 80 ] || fail "line too long: $l"; done <<<"$output"
	run_ok "$SLUICE" top --json --count 2 --interval 0.5 --disk "$D" --throttle-state "$STATE"
	echo "${lines[1]}" | jq -e '.disks[0].throttle.enforced_by == "server"' >/dev/null ||
		fail "no enforced_by: ${lines[1]}"
	# without the field (an older throttle), the kernel's
	write_state $$ true "$(date +%s)"
	run_ok "$SLUICE" top --json --count 2 --interval 0.5 --disk "$D" --throttle-state "$STATE"
	echo "${lines[1]}" | jq -e '.disks[0].throttle.enforced_by == "kernel"' >/dev/null
}
