#!/usr/bin/env bats
# sluice throttle with its classes from the applied policy: a real
# 'sluice policy apply' (real BPF maps, real cgroups in the hierarchy that
# tags block I/O) on a real loop device, read back by the throttle. This
# host's cgroup2 has no io controller, so the throttle's io.max and io.stat
# are directories standing in for the cgroups (--cgroup-root); the real
# io.max is exercised by tests/vm/throttle.bats.

load helpers
load meter_helpers

setup() {
	ensure_kernel_fs
	export SLUICE_RUN_DIR="$BATS_TEST_TMPDIR/run"
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	LOOP=$(make_loop 16)
	MM=$(lsblk -dno MAJ:MIN "$LOOP" | tr -d ' ')
	CGR=$BATS_TEST_TMPDIR/cg
	A=sluice-test-tpa-$$
	B=sluice-test-tpb-$$
	local c
	for c in "$A" "$B"; do
		mkdir -p "$(cg_io_root)/$c" "$CGR/$c"
		echo "$(cg_io_root)/$c" >>"$BATS_TEST_TMPDIR/cgroups"
		: >"$CGR/$c/io.max"
		echo "$MM rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0" >"$CGR/$c/io.stat"
	done
	STATE=$BATS_TEST_TMPDIR/state.json
	RECORD=$BATS_TEST_TMPDIR/record
	LOG=$BATS_TEST_TMPDIR/log
	THR_PID=
	FIO_PID=
	BUMP_PID=
}

teardown() {
	local pid
	for pid in "$THR_PID" "$BUMP_PID" "$FIO_PID"; do
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	cleanup_loops
	if [ -f "$BATS_TEST_TMPDIR/cgroups" ]; then
		while read -r pid; do
			rmdir "$pid" 2>/dev/null || true
		done <"$BATS_TEST_TMPDIR/cgroups"
	fi
	return 0
}

# write_policy FILE THROTTLE A_SHARES [LATENCY [INTERVAL]]: two classes on
# LOOP, a with a reservation and its own latency target, b statically held;
# a third class without a cgroup that the throttle cannot steer.
write_policy() {
	local out=$1 thr=$2 ash=$3 lat=${4:-20ms} ivl=
	[ -n "${5:-}" ] && ivl="throttle_interval: $5"
	cat >"$out" <<-EOF
	version: 1
	policies:
	  - name: tp
	    latency_target: $lat
	    throttle: $thr
	    $ivl
	    classes:
	      - name: hi
	        match: {cgroup: $A}
	        shares: $ash
	        reserve: 50 iops
	        latency_target: 5ms
	      - name: lo
	        match: {cgroup: $B}
	        shares: 100
	        limits: {read_iops: 300 iops, write_bps: 50% peak}
	      - name: rest
	        shares: 10
	bindings:
	  - disk: $LOOP
	    policy: tp
	EOF
}

start_throttle() {
	"$SLUICE" throttle --interval 100ms --cgroup-root "$CGR" --state "$STATE" \
		--record "$RECORD" "$@" >"$LOG" 2>&1 3>&- &
	THR_PID=$!
}

# wait_for JQ_EXPR: until the state file satisfies it (10 s at most).
wait_for() {
	local _
	for _ in $(seq 100); do
		[ -s "$STATE" ] && [ "$(jq -r "$1" "$STATE" 2>/dev/null)" = true ] && return 0
		sleep 0.1
	done
	echo "state never satisfied: $1" >&2
	cat "$STATE" "$LOG" >&2
	return 1
}

@test "throttle with no options takes disk, threshold and classes from the policy" {
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 200
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	gen=$("$SLUICE" policy show --json | jq -r .generation)
	run "$SLUICE" throttle --once --interval 100ms --cgroup-root "$CGR" --state "$STATE" \
		--record "$RECORD"
	assert_success
	run jq -r '"\(.policy_generation) \(.disks | length)"' "$STATE"
	assert_output "$gen 1"
	run jq -r '.disks[0] | "\(.disk) \(.dev) \(.policy) \(.threshold_mode) \(.threshold_ns)"' \
		"$STATE"
	assert_output "$(basename "$LOOP") $MM tp latency 20000000"
	# class ids are the policy's; the catch-all class has no cgroup to steer
	run jq -r '.disks[0].classes[] | "\(.name) \(.class_id) \(.cgroup) \(.shares) \(.reserve_iops) \(.latency_target_ns) \(.riops)"' "$STATE"
	assert_line --index 0 "hi 1 $CGR/$A 200 50 5000000 0"
	assert_line --index 1 "lo 2 $CGR/$B 100 0 null 300"
	[ "${#lines[@]}" -eq 2 ]
	# the static limit is in io.max; the percent-of-peak one waits for a peak
	run cat "$CGR/$B/io.max"
	assert_output "$MM riops=300 wiops=max rbps=max wbps=max"
}

@test "throttle --policy without a policy, or with one that polices nothing, names the fix" {
	run -2 "$SLUICE" throttle --policy --state "$STATE" --record "$RECORD"
	assert_output --partial "no policy is in force; apply one with 'sluice policy apply FILE'"
	run -2 "$SLUICE" throttle --state "$STATE" --record "$RECORD"
	assert_output --partial "no disk to police; give --disk DISK"
	assert_output --partial "or apply a policy"
	write_policy "$BATS_TEST_TMPDIR/p.yaml" false 200
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	run -2 "$SLUICE" throttle --state "$STATE" --record "$RECORD"
	assert_output --regexp "the policy in force \(generation [0-9]+\) polices no disk; set 'throttle: true'"
	run -2 "$SLUICE" throttle --policy --disk "$LOOP" --state "$STATE" --record "$RECORD"
	assert_output --partial "--policy takes the disks from the applied policy"
}

@test "throttle names the cgroup and the fix when a policy cgroup has no io.max" {
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 200
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	rm "$CGR/$A/io.max"
	run -1 "$SLUICE" throttle --once --interval 100ms --cgroup-root "$CGR" \
		--state "$STATE" --record "$RECORD"
	assert_output --partial "$CGR/$A/io.max"
	assert_output --partial "enable the io controller"
}

# iomax CGROUP: its stand-in io.max, which the daemon may be rewriting
# (a regular file is truncated, then written; the kernel's file is not).
iomax() {
	local _ v
	for _ in $(seq 50); do
		v=$(cat "$CGR/$1/io.max")
		[ -n "$v" ] && break
		sleep 0.02
	done
	echo "$v"
}

# bump: both classes' io.stat count 1000 reads per 100 ms, as two busy
# cgroups would, so the disk (busy with real fio) has two active classes.
bump() {
	local n=0
	while :; do
		n=$((n + 1000))
		echo "$MM rbytes=$((n * 4096)) wbytes=0 rios=$n wios=0 dbytes=0 dios=0" \
			>"$CGR/$A/io.stat.tmp" && mv "$CGR/$A/io.stat.tmp" "$CGR/$A/io.stat"
		echo "$MM rbytes=$((n * 4096)) wbytes=0 rios=$n wios=0 dbytes=0 dios=0" \
			>"$CGR/$B/io.stat.tmp" && mv "$CGR/$B/io.stat.tmp" "$CGR/$B/io.stat"
		sleep 0.1
	done
}

# congest: a policy with a 1 us threshold in force, real reads on LOOP,
# both classes busy in io.stat, and the throttle running from the policy.
congest() {
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 200 1us
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	fio --name=p --filename="$LOOP" --rw=randread --direct=1 --bs=4k --ioengine=libaio \
		--iodepth=16 --time_based --runtime=30 --output=/dev/null >/dev/null 2>&1 3>&- &
	FIO_PID=$!
	bump >/dev/null 2>&1 3>&- &
	BUMP_PID=$!
	start_throttle --source sysfs
}

@test "a new policy apply is taken at the next interval, whole, with a log line" {
	congest
	gen1=$("$SLUICE" policy show --json | jq -r .generation)
	# latency over 1 us and two busy classes: congested, dynamic limits set
	wait_for '.disks[0].state == "congested" and .disks[0].classes[0].dynamic'
	run iomax "$A"
	assert_output --regexp "^$MM riops=[0-9]+ "

	# new shares and threshold: generation 2 replaces generation 1 as a whole
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 700 900ms
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	gen2=$("$SLUICE" policy show --json | jq -r .generation)
	[ "$gen2" -gt "$gen1" ]
	wait_for ".policy_generation == $gen2"
	run jq -r '.disks[0] | "\(.threshold_ns) \(.classes[0].shares) \(.classes[1].shares)"' \
		"$STATE"
	assert_output "900000000 700 100"
	run grep -c "policy generation $gen2 in force (was $gen1): 1 disk policed" "$LOG"
	assert_output 1
	# the old generation's dynamic limits are gone; the static one holds,
	# and "50% peak" is half the peak this disk was seen to give
	wait_for '.disks[0].state == "calm"'
	run iomax "$A"
	assert_output "$MM riops=max wiops=max rbps=max wbps=max"
	run iomax "$B"
	assert_output --regexp "^$MM riops=300 wiops=max rbps=max wbps=[0-9]+$"
	run jq '.disks[0] | (.classes[1].wbps / (.peak_bps / 2) - 1) | fabs < 0.01' "$STATE"
	assert_output true

	# removed: nothing left to police, the daemon waits for the next apply
	"$SLUICE" policy remove
	wait_for '.policy_generation == 0 and (.disks | length) == 0'
	kill -TERM "$THR_PID"
	wait "$THR_PID"
	THR_PID=
	run jq -r .running "$STATE"
	assert_output false
	[ ! -e "$RECORD" ]
}

@test "kill -9 of the throttle leaves no dynamic limit behind: its guardian removes them" {
	local _
	congest
	wait_for '.disks[0].state == "congested" and .disks[0].classes[1].dynamic'
	run iomax "$B"
	assert_output --regexp "^$MM riops=[0-9]+ "
	[ -s "$RECORD" ]
	kill -KILL "$THR_PID"
	wait "$THR_PID" || true
	THR_PID=
	# no --cleanup: the base limits come back by themselves
	for _ in $(seq 100); do
		[ ! -e "$RECORD" ] && break
		sleep 0.1
	done
	[ ! -e "$RECORD" ]
	run iomax "$A"
	assert_output "$MM riops=max wiops=max rbps=max wbps=max"
	run iomax "$B"
	assert_output "$MM riops=300 wiops=max rbps=max wbps=max"
	run grep -c "died without removing its dynamic limits: removed them" "$LOG"
	assert_output 1
}

@test "the policy's throttle_interval is the control interval; a re-apply moves it" {
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 200 20ms 200ms
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	# show gives it back in the schema, and what it shows checks as a policy
	run "$SLUICE" policy show --json
	echo "$output" | jq -e '.policies[0].throttle == true and .policies[0].throttle_interval == "200ms"'
	"$SLUICE" policy show >"$BATS_TEST_TMPDIR/shown.yaml"
	grep -qx ' *throttle_interval: 200ms' "$BATS_TEST_TMPDIR/shown.yaml"
	"$SLUICE" policy check --no-resolve "$BATS_TEST_TMPDIR/shown.yaml"
	# another interval in the file is a different policy
	sed 's/throttle_interval: 200ms/throttle_interval: 300ms/' "$BATS_TEST_TMPDIR/p.yaml" \
		>"$BATS_TEST_TMPDIR/changed.yaml"
	run -1 "$SLUICE" policy status "$BATS_TEST_TMPDIR/changed.yaml"
	assert_line --regexp "^  policy +drift +policy 'tp' in force differs from the file; re-apply$"
	run "$SLUICE" policy status "$BATS_TEST_TMPDIR/p.yaml"
	assert_line --regexp "^  policy +ok +'tp' in force on $MM$"

	# no --interval: the policy's
	"$SLUICE" throttle --source sysfs --cgroup-root "$CGR" --state "$STATE" \
		--record "$RECORD" >"$LOG" 2>&1 3>&- &
	THR_PID=$!
	wait_for '.running and .interval_s == 0.2 and (.disks | length) == 1'
	run grep -c "control interval 200ms: policy 'tp' asks for it" "$LOG"
	assert_output 1

	# a live re-apply: the new interval from the next one on, logged
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 200 20ms 50ms
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	gen=$("$SLUICE" policy show --json | jq -r .generation)
	wait_for ".policy_generation == $gen and .interval_s == 0.05"
	run grep -c "control interval 50ms (was 200ms) from the next one on: policy 'tp' asks for it" "$LOG"
	assert_output 1

	# the key dropped: back to the default
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 200 20ms
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	gen=$("$SLUICE" policy show --json | jq -r .generation)
	wait_for ".policy_generation == $gen and .interval_s == 1"
	run grep -c "control interval 1s (was 50ms) from the next one on: no policy in force sets throttle_interval" "$LOG"
	assert_output 1
	kill -TERM "$THR_PID"
	wait "$THR_PID"
	THR_PID=
}

@test "an explicit --interval wins over the policy's throttle_interval, and says so" {
	write_policy "$BATS_TEST_TMPDIR/p.yaml" true 200 20ms 200ms
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	run "$SLUICE" throttle --once --interval 100ms --source sysfs --cgroup-root "$CGR" \
		--state "$STATE" --record "$RECORD"
	assert_success
	assert_line "sluice: control interval 100ms from --interval; policy 'tp' asks for 200ms"
	run jq -r '"\(.interval_s) \(.disks[0].policy)"' "$STATE"
	assert_output "0.1 tp"
}
