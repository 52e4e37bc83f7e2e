#!/usr/bin/env bats
# The meter on real loop devices and the real kernel: exact counts, per-disk
# and per-cgroup attribution, trace filters, histograms, top and the
# exporter. Runs on the host (6.18, blkio on cgroup v1) and in the VM (6.12
# and 6.1, cgroup v2); see tests/vm/portable.list.

load helpers
load meter_helpers

setup() {
	ensure_kernel_fs
	L1=$(make_loop 64)
	L2=$(make_loop 64)
	D1=$(basename "$L1")
	D2=$(basename "$L2")
}

teardown() {
	cleanup_loops
	cleanup_cgroups
}

@test "stat: counts exactly the reads, writes and bytes fio did, on that disk only" {
	run -0 "$SLUICE" stat --disk "$D1" --json -o "$BATS_TEST_TMPDIR/s.json" -- \
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
	run -0 "$SLUICE" stat --json -o "$BATS_TEST_TMPDIR/s.json" -- \
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
	run -0 "$SLUICE" stat --disk "$D1" --json -o "$BATS_TEST_TMPDIR/s.json" -- sh -c "
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
	dev=$(losetup --find --show --partscan --direct-io=on "$img")
	echo "$dev" >>"$BATS_TEST_TMPDIR/loops"
	echo "$dev"
}

@test "stat: a partition rolls up to its disk, or not with --partitions" {
	L3=$(make_part_loop)
	for _ in 1 2 3 4 5; do [ -b "${L3}p1" ] && break; sleep 0.2; done
	[ -b "${L3}p1" ] || skip "this kernel did not create ${L3}p1 (kernel built without partition table support, e.g. no CONFIG_MSDOS_PARTITION)"
	run -0 "$SLUICE" stat --disk "${L3}p1" --json -o "$BATS_TEST_TMPDIR/s.json" -- \
		sh -c "$(declare -f fio_n); fio_n ${L3}p1 randread 50 --size=4M"
	assert_equal "$(jq -r '.disks[0].name' "$BATS_TEST_TMPDIR/s.json")" "$(basename "$L3")"
	assert_equal "$(jq '.disks[0].ios.read' "$BATS_TEST_TMPDIR/s.json")" 50
	run -0 "$SLUICE" stat --partitions --disk "${L3}p1" --json -o "$BATS_TEST_TMPDIR/p.json" -- \
		sh -c "$(declare -f fio_n); fio_n ${L3}p1 randread 30 --size=4M"
	assert_equal "$(jq -r '.disks[0].name' "$BATS_TEST_TMPDIR/p.json")" "$(basename "$L3")p1"
	assert_equal "$(jq '.disks[0].ios.read' "$BATS_TEST_TMPDIR/p.json")" 30
}
