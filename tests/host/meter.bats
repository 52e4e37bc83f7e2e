#!/usr/bin/env bats
# The meter on real loop devices and the real kernel: exact counts, per-disk
# and per-cgroup attribution, trace filters, histograms, top and the
# exporter. Runs on the host (6.18, blkio on cgroup v1) and in the VM (6.12
# and 6.1, cgroup v2); see tests/vm/portable.list.

load helpers
load meter_helpers

setup() {
	ensure_kernel_fs
	L1=$(make_meter_loop 64)
	L2=$(make_meter_loop 64)
	D1=$(basename "$L1")
	D2=$(basename "$L2")
}

teardown() {
	stop_bg_all
	cleanup_loops
	cleanup_cgroups
}

@test "stat: counts exactly the reads, writes and bytes fio did, on that disk only" {
	run_ok "$SLUICE" stat --disk "$D1" --json -o "$BATS_TEST_TMPDIR/s.json" -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randread 200 && fio_n $L1 randwrite 100"
	j="$BATS_TEST_TMPDIR/s.json"
	assert_equal "$(jq '.disks | length' "$j")" 1
	assert_equal "$(jq -r '.disks[0].name' "$j")" "$D1"
	assert_equal "$(jq '.disks[0].ios.read' "$j")" 200
	assert_equal "$(jq '.disks[0].ios.write' "$j")" 100
	assert_equal "$(jq '.disks[0].bytes.read' "$j")" $((200 * 4096))
	assert_equal "$(jq '.disks[0].bytes.write' "$j")" $((100 * 4096))
	assert_equal "$(jq '.disks[0].latency_ns.read.count' "$j")" 200
	assert_equal "$(jq '.disks[0].errors' "$j")" 0
}

@test "stat: no I/O is charged to an idle loop device" {
	run_ok "$SLUICE" stat --json -o "$BATS_TEST_TMPDIR/s.json" -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randread 150"
	j="$BATS_TEST_TMPDIR/s.json"
	assert_equal "$(jq --arg d "$D1" '.disks[] | select(.name == $d) | .ios.read' "$j")" 150
	assert_equal "$(jq --arg d "$D2" '[.disks[] | select(.name == $d)] | length' "$j")" 0
}

@test "stat: exits with the command's status" {
	run -3 "$SLUICE" stat -- sh -c 'exit 3'
	run -127 "$SLUICE" stat -- /nonexistent/command
	assert_output --partial "/nonexistent/command: cannot run"
}

@test "stat: per-cgroup attribution is exact for two jobs in two cgroups" {
	cga=$(make_cgroup a)
	cgb=$(make_cgroup b)
	run_ok "$SLUICE" stat --disk "$D1" --json -o "$BATS_TEST_TMPDIR/s.json" -- sh -c "
		$(declare -f fio_n in_cgroup)
		in_cgroup $cga sh -c '$(declare -f fio_n); fio_n $L1 randread 120' &
		in_cgroup $cgb sh -c '$(declare -f fio_n); fio_n $L1 randwrite 80' &
		wait"
	j="$BATS_TEST_TMPDIR/s.json"
	ida=$(cgroup_id "$cga")
	idb=$(cgroup_id "$cgb")
	assert_equal "$(jq --argjson id "$ida" '.disks[0].cgroups[] | select(.id == $id) | .ios.read' "$j")" 120
	assert_equal "$(jq --argjson id "$ida" '.disks[0].cgroups[] | select(.id == $id) | .ios.write' "$j")" 0
	assert_equal "$(jq --argjson id "$idb" '.disks[0].cgroups[] | select(.id == $id) | .ios.write' "$j")" 80
	assert_equal "$(jq --argjson id "$idb" '.disks[0].cgroups[] | select(.id == $id) | .ios.read' "$j")" 0
	path=$(jq -r --argjson id "$ida" '.disks[0].cgroups[] | select(.id == $id) | .path' "$j")
	assert_equal "$path" "/$(basename "$cga")"
}

@test "stat: an unknown disk is named in the error" {
	run -2 "$SLUICE" stat --disk nosuchdisk9 -- true
	assert_output "sluice: error: nosuchdisk9: no such disk; list disks with lsblk"
}

# make_part_loop: a loop device over an image with one MBR partition
# (sectors 2048..18431), scanned so the kernel creates loopNp1.
make_part_loop() {
	local img dev
	img=$(mktemp "$BATS_TEST_TMPDIR/part.XXXXXX")
	truncate -s 16M "$img"
	# entry 1 at 446: type 0x83, LBA start 2048, 16384 sectors; signature 55aa
	printf '\x00\x00\x00\x00\x83\x00\x00\x00\x00\x08\x00\x00\x00\x40\x00\x00' |
		dd of="$img" bs=1 seek=446 conv=notrunc status=none
	printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none
	dev=$(losetup --find --show --partscan --direct-io=on "$img" 2>/dev/null) ||
		dev=$(losetup --find --show --partscan "$img")
	echo "$dev" >>"$BATS_TEST_TMPDIR/loops"
	echo "$dev"
}

@test "stat: a partition rolls up to its disk, or not with --partitions" {
	L3=$(make_part_loop)
	for _ in 1 2 3 4 5; do [ -b "${L3}p1" ] && break; sleep 0.2; done
	[ -b "${L3}p1" ] || skip "this kernel did not create ${L3}p1 (kernel built without partition table support, e.g. no CONFIG_MSDOS_PARTITION)"
	run_ok "$SLUICE" stat --disk "${L3}p1" --json -o "$BATS_TEST_TMPDIR/s.json" -- \
		sh -c "$(declare -f fio_n); fio_n ${L3}p1 randread 50 --size=4M"
	assert_equal "$(jq -r '.disks[0].name' "$BATS_TEST_TMPDIR/s.json")" "$(basename "$L3")"
	assert_equal "$(jq '.disks[0].ios.read' "$BATS_TEST_TMPDIR/s.json")" 50
	run_ok "$SLUICE" stat --partitions --disk "${L3}p1" --json -o "$BATS_TEST_TMPDIR/p.json" -- \
		sh -c "$(declare -f fio_n); fio_n ${L3}p1 randread 30 --size=4M"
	assert_equal "$(jq -r '.disks[0].name' "$BATS_TEST_TMPDIR/p.json")" "$(basename "$L3")p1"
	assert_equal "$(jq '.disks[0].ios.read' "$BATS_TEST_TMPDIR/p.json")" 30
}

@test "stat: two meters side by side both count exactly" {
	"$SLUICE" top --json --interval 0.2 --count 20 >"$BATS_TEST_TMPDIR/top.json" 3>&- &
	top_pid=$!
	run_ok "$SLUICE" stat --disk "$D1" --json -o "$BATS_TEST_TMPDIR/s.json" -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randread 77"
	assert_equal "$(jq '.disks[0].ios.read' "$BATS_TEST_TMPDIR/s.json")" 77
	wait "$top_pid"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/top.json")" 20
}

@test "trace --disk: only that disk's I/O, one event per I/O" {
	run_ok "$SLUICE" trace --disk "$D1" --json -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randread 50 && fio_n $L2 randread 30"
	assert_equal "$(echo "$output" | jq -s 'length')" 50
	assert_equal "$(echo "$output" | jq -s --arg d "$D1" 'map(select(.disk == $d and .op == "read" and .bytes == 4096)) | length')" 50
	assert_equal "$(echo "$output" | jq -s 'map(select(.comm == "fio")) | length')" 50
}

@test "trace --op: drops the other operations" {
	run_ok "$SLUICE" trace --disk "$D1" --op write --json -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randread 40 && fio_n $L1 randwrite 20"
	assert_equal "$(echo "$output" | jq -s 'length')" 20
	assert_equal "$(echo "$output" | jq -s 'map(select(.op == "write")) | length')" 20
}

@test "trace --min-lat: only I/O at least that slow" {
	run_ok "$SLUICE" trace --disk "$D1" --min-lat 10s --json -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randread 40"
	assert_equal "$(echo "$output" | jq -s 'length')" 0
	run_ok "$SLUICE" trace --disk "$D1" --min-lat 20us --json -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randwrite 60"
	n=$(echo "$output" | jq -s 'length')
	[ "$n" -le 60 ]
	assert_equal "$(echo "$output" | jq -s 'map(select(.queue_ns + .device_ns < 20000)) | length')" 0
}

@test "trace --cgroup: only that cgroup's I/O" {
	cga=$(make_cgroup ta)
	cgb=$(make_cgroup tb)
	run_ok "$SLUICE" trace --cgroup "$cga" --json -- sh -c "
		$(declare -f fio_n in_cgroup)
		in_cgroup $cga sh -c '$(declare -f fio_n); fio_n $L1 randread 33' &
		in_cgroup $cgb sh -c '$(declare -f fio_n); fio_n $L1 randread 44' &
		wait"
	# the loop device's own reads of its backing file stay charged to the
	# cgroup too, so count on the loop device and check every event's cgroup
	assert_equal "$(echo "$output" | jq -s --arg d "$D1" 'map(select(.disk == $d)) | length')" 33
	assert_equal "$(echo "$output" | jq -s --argjson id "$(cgroup_id "$cga")" 'map(select(.cgroup_id != $id)) | length')" 0
}

@test "trace and top: an unknown cgroup or op is named in the error" {
	run -2 "$SLUICE" trace --cgroup /no/such/cgroup
	assert_output --partial "/no/such/cgroup: no such cgroup"
	run -2 "$SLUICE" top --cgroup nosuch-cg-xyz
	assert_output --partial "nosuch-cg-xyz: no such cgroup"
	run -2 "$SLUICE" trace --op reed
	assert_output --partial "unknown operation 'reed'"
}

@test "hist --json: bucket counts add up to the I/O count" {
	run_ok "$SLUICE" hist --disk "$D1" --json -- \
		sh -c "$(declare -f fio_n); fio_n $L1 randread 200 && fio_n $L1 randwrite 100"
	echo "$output" | jq -e . >/dev/null
	assert_equal "$(echo "$output" | jq '[.disks[0].streams[] | select(.dir == "read") | .buckets[].count] | add')" 200
	assert_equal "$(echo "$output" | jq '[.disks[0].streams[] | select(.dir == "write") | .buckets[].count] | add')" 100
	assert_equal "$(echo "$output" | jq '[.disks[0].streams[] | .count] | add')" 300
	# p50 <= p99 <= p99.9, and every bucket's bounds are ordered
	echo "$output" | jq -e '.disks[0].streams[] | select(.p50 <= .p99 and .p99 <= .p999)' >/dev/null
	echo "$output" | jq -e '[.disks[0].streams[].buckets[] | select(.ge >= .lt)] | length == 0' >/dev/null
}

@test "hist --lat queue: a queue that does not stamp issue times gets the issue program" {
	# Most blk-mq queues stamp issue times themselves, so the meter attaches
	# its own issue program only when a completion shows one that does not;
	# SLUICE_METER_OWN_ISSUE_TIMES makes it ignore the kernel's stamps, which
	# turns every queue into such a queue.
	export SLUICE_METER_OWN_ISSUE_TIMES=1
	run_ok "$SLUICE" hist --disk "$D1" --lat queue --json -- bash -c "
		$(declare -f fio_n attached)
		# the first completion asks for the program; wait until it is attached
		for i in \$(seq 100); do
			fio_n $L1 randread 1
			attached rq_issue && break
			sleep 0.1
		done
		fio_n $L1 randread 200"
	# without the issue program a request's queue time would be 0
	assert_equal "$(echo "$output" | jq '[.disks[0].streams[] | select(.dir == "read") | .buckets[] | select(.ge >= 1) | .count] | add // 0 | . >= 200')" true
}

@test "the issue program is not attached where every queue stamps issue times" {
	bg "$SLUICE" top --interval 1 --disk "$D1"
	for i in $(seq 100); do
		attached rq_complete && break
		sleep 0.1
	done
	attached rq_complete || fail "the meter did not attach"
	fio_n "$L1" randread 100
	fio_n "$L1" randwrite 50
	sleep 0.5
	run attached rq_issue
	assert_failure
}

@test "hist --classes: one stream per cgroup" {
	cga=$(make_cgroup ha)
	run_ok "$SLUICE" hist --disk "$D1" --classes --json -- sh -c "
		$(declare -f fio_n in_cgroup)
		in_cgroup $cga sh -c '$(declare -f fio_n); fio_n $L1 randread 25'
		fio_n $L1 randread 15"
	assert_equal "$(echo "$output" | jq --argjson id "$(cgroup_id "$cga")" '.disks[0].streams[] | select(.cgroup_id == $id and .dir == "read") | .count')" 25
}

@test "hist: draws bars with percentiles" {
	run_ok "$SLUICE" hist --disk "$D1" -- sh -c "$(declare -f fio_n); fio_n $L1 randread 64"
	assert_line --regexp "^$D1 read: 64 I/Os  p50 .* p99 .* p99.9 "
	assert_output --partial "|****"
}

@test "hist --classes: a long cgroup path keeps the output within 80 columns" {
	cg=$(make_cgroup a-cgroup-name-that-is-long-enough-to-fill-a-terminal-line-by-itself)
	run_ok "$SLUICE" hist --disk "$D1" --classes -- sh -c "
		$(declare -f fio_n in_cgroup)
		in_cgroup $cg sh -c '$(declare -f fio_n); fio_n $L1 randread 30'"
	while IFS= read -r l; do [ "${#l}" -le 80 ] || fail "line too long: $l"; done <<<"$output"
	assert_output --partial "fill-a-terminal-line-by-itself"
	assert_line --regexp "^ +30 I/Os  p50 "
}

@test "top --json --count 2: two JSON lines with the disk's rates" {
	fio --name=bg --filename="$L1" --direct=1 --ioengine=psync --bs=4k --rw=randread \
		--time_based --runtime=120 --size=16M --rate_iops=200 --output=/dev/null 3>&- &
	fio_pid=$!
	# loading the meter can take seconds under emulation: fio outlasts top
	# and is stopped by pid once top is done
	# fio starts slowly under emulation: meter once its reads are flowing
	reads0=$(awk '{ print $1 }' "/sys/block/$D1/stat")
	for _ in $(seq 100); do
		[ "$(awk '{ print $1 }' "/sys/block/$D1/stat")" -gt $((reads0 + 20)) ] && break
		sleep 0.1
	done
	run_ok "$SLUICE" top --json --count 2 --disk "$D1" --classes --self
	kill "$fio_pid"
	wait "$fio_pid" || true
	assert_equal "${#lines[@]}" 2
	for l in "${lines[@]}"; do
		echo "$l" | jq -e --arg d "$D1" '.disks[0].name == $d and .interval_s > 0 and (.self.run_cnt >= 0)' >/dev/null ||
			fail "unexpected top line: $l"
	done
	r=$(echo "${lines[1]}" | jq '.disks[0].r_s')
	# fio caps at 200/s but may fall short under emulation (the VM): the
	# rate must be there and must not exceed the cap (no double counting);
	# the exporter test checks the rate itself within 10%
	awk -v r="$r" 'BEGIN { exit !(r > 20 && r < 240) }' || fail "r/s = $r, fio rate 200/s"
	echo "${lines[1]}" | jq -e '.disks[0].classes | length >= 1' >/dev/null
}

@test "top: plain text when piped, no escape sequences, fits 80 columns" {
	# a class row whose cgroup path is longer than its column
	cg=$(make_cgroup a-cgroup-name-longer-than-the-disk-column)
	in_cgroup "$cg" fio --name=bg --filename="$L1" --direct=1 --ioengine=psync --bs=4k \
		--rw=randread --time_based --runtime=60 --size=16M --rate_iops=100 \
		--output=/dev/null 3>&- &
	fio_pid=$!
	run bash -c "'$SLUICE' top --count 3 --interval 0.5 --classes --disk $D1 | cat"
	kill "$fio_pid"
	wait "$fio_pid" || true
	assert_success
	assert_output --partial "DISK"
	refute_output --partial $'\e'
	while IFS= read -r l; do [ "${#l}" -le 80 ] || fail "line too long: $l"; done <<<"$output"
	# the label is whole on a line of its own
	assert_output --partial "${cg##*/}"
}

@test "SIGTERM and SIGINT detach the programs cleanly" {
	before=$(bpftool prog show | grep -c 'name rq_complete' || true)
	"$SLUICE" trace >/dev/null 2>&1 3>&- &
	pid=$!
	"$SLUICE" top --json >/dev/null 2>&1 3>&- &
	pid2=$!
	for _ in $(seq 50); do
		[ "$(bpftool prog show | grep -c 'name rq_complete')" -ge $((before + 2)) ] && break
		sleep 0.1
	done
	assert_equal "$(bpftool prog show | grep -c 'name rq_complete')" $((before + 2))
	kill -TERM "$pid"
	kill -INT "$pid2"
	wait "$pid" || fail "trace exited with $? on SIGTERM"
	wait "$pid2" || fail "top exited with $? on SIGINT"
	# programs are freed after an RCU grace period once the last fd closes
	for _ in $(seq 50); do
		[ "$(bpftool prog show | grep -c 'name rq_complete' || true)" -eq "$before" ] && break
		sleep 0.1
	done
	assert_equal "$(bpftool prog show | grep -c 'name rq_complete' || true)" "$before"
}

@test "not root: the error names the missing capabilities" {
	command -v setpriv >/dev/null || skip "setpriv not installed"
	run -1 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$SLUICE" top --count 1
	assert_output --partial "CAP_BPF and CAP_PERFMON"
}


@test "exporter: /metrics passes promtool, with exact counters and histograms" {
	port=$((20000 + RANDOM % 20000))
	bg "$SLUICE" exporter --listen "127.0.0.1:$port"
	wait_http "http://127.0.0.1:$port/metrics" || fail "exporter did not answer"
	fio_n "$L1" randread 120
	fio_n "$L1" randwrite 30
	curl -sf "http://127.0.0.1:$port/metrics" >"$BATS_TEST_TMPDIR/m.txt"
	run promtool check metrics <"$BATS_TEST_TMPDIR/m.txt"
	assert_success
	m="$BATS_TEST_TMPDIR/m.txt"
	sum() { grep -E "$1" "$m" | awk '{ s += $NF } END { print s + 0 }'; }
	assert_equal "$(sum "^sluice_io_total\\{disk=\"$D1\".*op=\"read\"")" 120
	assert_equal "$(sum "^sluice_io_total\\{disk=\"$D1\".*op=\"write\"")" 30
	assert_equal "$(sum "^sluice_io_bytes_total\\{disk=\"$D1\".*op=\"read\"")" $((120 * 4096))
	assert_equal "$(sum "^sluice_io_latency_seconds_count\\{disk=\"$D1\".*dir=\"read\",lat=\"total\"")" 120
	assert_equal "$(sum "^sluice_io_latency_seconds_bucket\\{disk=\"$D1\".*dir=\"read\",lat=\"total\",le=\"\\+Inf\"")" 120
	grep -q '^sluice_bpf_runs_total ' "$m"
	run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope"
	assert_output 404
}
