#!/usr/bin/env bats
# The test VM itself: the kernel, devices, file systems and tools that every
# other VM suite takes for granted. Run with tests/vm/suite.

load helpers

setup() {
	vm_setup
}

teardown() {
	vm_teardown
}

@test "the kernel is the series asked for" {
	assert [ -n "${SLUICE_VM_KERNEL:-}" ]
	run uname -r
	assert_success
	assert_output --regexp "^${SLUICE_VM_KERNEL//./\\.}\\."
	assert_equal "$output" "$SLUICE_VM_KVER"
}

@test "ublk: /dev/ublk-control exists" {
	require_ublk
	assert [ -c /dev/ublk-control ]
	assert [ -d /sys/module/ublk_drv ]
}

@test "cgroup v2 has the io controller, enabled for children" {
	run findmnt -n -o FSTYPE /sys/fs/cgroup
	assert_output cgroup2
	run cat /sys/fs/cgroup/cgroup.controllers
	assert_output --regexp '(^| )io( |$)'
	run cat /sys/fs/cgroup/cgroup.subtree_control
	assert_output --regexp '(^| )io( |$)'
}

@test "bpffs and tracefs are mounted; block tracepoints exist" {
	run findmnt -n -o FSTYPE /sys/fs/bpf
	assert_output bpf
	run findmnt -n -o FSTYPE /sys/kernel/tracing
	assert_output tracefs
	assert [ -d /sys/kernel/tracing/events/block/block_rq_issue ]
	assert [ -r /sys/kernel/btf/vmlinux ]
}

@test "null_blk: nullb0 reads, and modprobe reloads it with parameters" {
	assert [ -b /dev/nullb0 ]
	run dd if=/dev/nullb0 of=/dev/null bs=4k count=64 iflag=direct status=none
	assert_success
	vm_defer modprobe null_blk
	vm_defer modprobe -r null_blk
	modprobe -r null_blk
	modprobe null_blk nr_devices=2
	assert [ -b /dev/nullb1 ]
}

@test "device-mapper: a linear target over a loop device carries data" {
	local dev mapped
	dev=$(vm_loop 32)
	mapped=$(vm_dm_linear "harness-$$" "$dev")
	assert [ -b "$mapped" ]
	run fio_verify "$mapped" 2M
	assert_success
}

@test "device-mapper: the targets the suites compare with are loaded" {
	run dmsetup targets
	assert_success
	local t
	for t in linear crypt delay flakey log-writes writecache; do
		assert_line --regexp "^$t "
	done
}

@test "the kernel loads modules on demand (ext4 on a loop device)" {
	local dev mnt
	dev=$(vm_loop 64)
	mnt=$BATS_TEST_TMPDIR/mnt
	mkdir "$mnt"
	mkfs.ext4 -q "$dev"
	mount -t ext4 "$dev" "$mnt"
	vm_defer umount "$mnt"
	echo hello >"$mnt/f"
	assert_equal "$(cat "$mnt/f")" hello
}

@test "the repository is writable at its host path" {
	local f
	assert_equal "$PWD" "$TOP"
	mkdir -p "$TOP/build"
	f=$(mktemp "$TOP/build/.vm-write-test.XXXXXX")
	vm_defer rm -f "$f"
	echo ok >"$f"
	assert_equal "$(cat "$f")" ok
}

@test "sluice doctor: cgroup v2 io, device-mapper and null_blk are ok" {
	assert [ -x "$SLUICE" ]
	run "$SLUICE" doctor --json
	assert_success
	local name
	for name in cgroup2-io device-mapper null-blk bpffs tracefs tp-block-rq; do
		assert_equal "$name=$(jq -r --arg n "$name" \
			'.features[] | select(.name == $n) | .state' <<<"$output")" "$name=ok"
	done
}

@test "sluice doctor: ublk is ok" {
	require_ublk
	run "$SLUICE" doctor
	assert_success
	assert_line --regexp '^ok +ublk '
	assert_line --regexp '^ok +cgroup2-io '
}
