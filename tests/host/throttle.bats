#!/usr/bin/env bats
# sluice throttle's front end and daemon loop on this host: a real loop
# device read through the kernel's counters, and a directory standing in
# for the cgroup (this host's cgroup v2 has no io controller; the real
# io.max is exercised by tests/vm/throttle.bats).

load helpers

setup() {
	LOOP=$(make_loop 16)
	MM=$(lsblk -dno MAJ:MIN "$LOOP" | tr -d ' ')
	CGD=$BATS_TEST_TMPDIR/cg
	mkdir -p "$CGD"
	: >"$CGD/io.max"
	echo "$MM rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0" >"$CGD/io.stat"
	STATE=$BATS_TEST_TMPDIR/state.json
	RECORD=$BATS_TEST_TMPDIR/record
}

teardown() {
	cleanup_loops
}

@test "throttle --help shows usage, thresholds and examples" {
	run "$SLUICE" throttle --help
	assert_success
	assert_output --partial "Usage: sluice throttle"
	assert_output --partial "%peak"
	assert_output --partial "Examples:"
}

@test "throttle without a disk is a usage error naming the fix" {
	run -2 "$SLUICE" throttle
	assert_output --partial "no disk to police; give --disk DISK"
}

@test "throttle rejects a bad threshold, an unknown key and a missing disk" {
	run -2 "$SLUICE" throttle --disk "$LOOP" --threshold fast
	assert_output --partial "--threshold 'fast': expected a latency (30ms) or N%peak"
	run -2 "$SLUICE" throttle --disk "$LOOP" --cgroup "a:weight=3"
	assert_output --partial "unknown key"
	run -2 "$SLUICE" throttle --disk /dev/nonexistent-disk
	assert_output --partial "no such disk; list disks with lsblk"
	run -2 "$SLUICE" throttle --threshold 30ms
	assert_output --partial "give --disk first"
}

@test "throttle names the cgroup and the fix when io.max is missing" {
	run -1 "$SLUICE" throttle --disk "$LOOP" --threshold 30ms --once \
		--cgroup "$BATS_TEST_TMPDIR/nope" --state "$STATE" --record "$RECORD"
	assert_output --partial "nope/io.max"
	assert_output --partial "enable the io controller"
}

@test "throttle --once measures the disk and publishes its state" {
	dd if="$LOOP" of=/dev/null bs=4k count=256 iflag=direct 2>/dev/null &
	run "$SLUICE" throttle --disk "$LOOP" --threshold 30ms --once --interval 200ms \
		--cgroup "$CGD:shares=300" --state "$STATE" --record "$RECORD"
	assert_success
	wait
	run jq -r '.disks[0] | "\(.disk) \(.dev) \(.state) \(.threshold_ns) \(.classes[0].shares)"' \
		"$STATE"
	assert_output "$(basename "$LOOP") $MM calm 30000000 300"
	run jq -r '.running' "$STATE"
	assert_output true
}

@test "throttle keeps static limits on exit and drops its record" {
	local pid
	# Not start_bg: its $(...) would wait for the daemon's stdout.
	"$SLUICE" throttle --disk "$LOOP" --threshold 30ms --interval 100ms \
		--cgroup "$CGD:riops=123,wbps=1M" --state "$STATE" --record "$RECORD" \
		>"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	pid=$!
	for _ in $(seq 50); do
		[ -s "$STATE" ] && break
		sleep 0.1
	done
	run cat "$CGD/io.max"
	assert_output "$MM riops=123 wiops=max rbps=max wbps=1048576"
	kill -TERM "$pid"
	wait "$pid"
	run cat "$CGD/io.max"
	assert_output "$MM riops=123 wiops=max rbps=max wbps=1048576"
	run jq -r '.running' "$STATE"
	assert_output false
	[ ! -e "$RECORD" ]
}

@test "throttle --config reads the same settings from a file" {
	cat >"$BATS_TEST_TMPDIR/conf" <<-EOF
	# policed disk and its classes
	disk $LOOP
	threshold 90%peak
	--cgroup=$CGD:shares=50,reserve=10
	EOF
	run "$SLUICE" throttle --config "$BATS_TEST_TMPDIR/conf" --once --interval 100ms \
		--state "$STATE" --record "$RECORD"
	assert_success
	run jq -r '.disks[0] | "\(.threshold_mode) \(.peak_pct) \(.classes[0].shares) \(.classes[0].reserve_iops)"' "$STATE"
	assert_output "peak 90 50 10"
}

@test "throttle --cleanup restores what a killed throttle recorded" {
	echo "$MM riops=max wiops=max rbps=max wbps=max $CGD" >"$RECORD"
	echo "$MM riops=5 wiops=max rbps=max wbps=max" >"$CGD/io.max"
	run "$SLUICE" throttle --cleanup --record "$RECORD"
	assert_success
	assert_output --partial "removed the dynamic limits of a previous throttle (1 "
	run cat "$CGD/io.max"
	assert_output "$MM riops=max wiops=max rbps=max wbps=max"
	[ ! -e "$RECORD" ]
	run "$SLUICE" throttle --cleanup --record "$RECORD"
	assert_success
}

@test "throttle takes the disk's latency and p99 from the BPF meter" {
	ensure_kernel_fs
	fio --name=m --filename="$LOOP" --rw=randread --direct=1 --bs=4k --ioengine=psync \
		--time_based --runtime=4 --output=/dev/null 3>&- &
	local fpid=$!
	run "$SLUICE" throttle --disk "$LOOP" --threshold 30ms --once --interval 2s \
		--source meter --p99 --cgroup "$CGD" --state "$STATE" --record "$RECORD"
	assert_success
	wait "$fpid"
	run jq -r '"\(.source) \(.latency) \(.disks[0].iops > 100) \(.disks[0].latency_ns > 0)"' \
		"$STATE"
	assert_output "meter total true true"
}
