#!/usr/bin/env bats
# sluice serve --copy zero on a ublk driver with zero copy (6.15+; the 7.x
# test VM: UBLK_F_AUTO_BUF_REG, and with SLUICE_UBLK_NO_AUTO_BUF_REG the
# register/unregister path of 6.15), and the batched commands of 7.0+. Not in tests/vm/*.bats: 6.12 has no
# zero copy, and ublk.bats checks it refuses. Listed in kernel7.list.

load ../ublk_helpers

setup() {
	ublk_setup
	LOOPS=()
	MNT="$BATS_TEST_TMPDIR/mnt"
}

teardown() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	umount "$MNT" 2>/dev/null || true
	ublk_teardown
}

# ext4_file SIZE: an ext4 file system on a loop device at $MNT, and on it
# $MNT/img of SIZE, a backing that opens O_DIRECT outside the page cache.
ext4_file() {
	truncate -s 96M "$BATS_TEST_TMPDIR/fs.img"
	local loop
	loop=$(losetup --find --show "$BATS_TEST_TMPDIR/fs.img")
	LOOPS+=("$loop")
	mkfs.ext4 -q "$loop"
	mkdir -p "$MNT"
	mount "$loop" "$MNT"
	truncate -s "$1" "$MNT/img"
}

# verify_4k_128k: fio crc32c verify, 4K random writes at QD 32 and 128K
# sequential writes, on $DEV.
verify_4k_128k() {
	run fio_verify "$DEV" 4096 32
	assert_success
	assert_output --partial "err= 0"
	refute_output --regexp "bad magic|verify failed|crc32c: "
	run fio_verify "$DEV" 128k 4 --rw=write
	assert_success
	assert_output --partial "err= 0"
	refute_output --regexp "bad magic|verify failed|crc32c: "
}

@test "zero copy over an O_DIRECT file and a block device: fio verify 4K and 128K; disks names the path" {
	ext4_file 32M
	serve_copy auto --backing "$MNT/img"
	assert_equal "$(served_copy)" zero
	assert_equal "$(disks_copy_line)" "zero-copy (auto buffer registration)"
	verify_4k_128k
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"

	truncate -s 32M "$BATS_TEST_TMPDIR/blk.img"
	local loop
	loop=$(losetup --find --show --direct-io=on "$BATS_TEST_TMPDIR/blk.img")
	LOOPS+=("$loop")
	serve_copy zero --backing "$loop" --block-size 4096 --queues 2 --depth 64
	verify_4k_128k
	run "$SLUICE" disks --json
	assert_equal "$(echo "$output" | jq -r '.[0].copy + "/" + .[0].copy_why')" \
		"zero/auto buffer registration"
}

@test "batched commands (7.0+): zero, buffer and user copy serve with them, fio verify; per tag on request; disks says which" {
	truncate -s 32M "$BATS_TEST_TMPDIR/img"
	local mode
	for mode in zero buffer user; do
		serve_copy "$mode" --backing "$BATS_TEST_TMPDIR/img" --queues 2 --depth 64
		run "$SLUICE" disks
		assert_line "     commands: batched"
		run fio_verify "$DEV" 4096 32 --bsrange=4k-128k
		assert_success
		assert_output --partial "err= 0"
		refute_output --regexp "bad magic|verify failed|crc32c: "
		kill -TERM "$SERVER_PID"
		wait "$SERVER_PID"
	done
	SLUICE_UBLK_NO_BATCH=1 serve_copy zero --backing "$BATS_TEST_TMPDIR/img"
	run "$SLUICE" disks --json
	assert_equal "$(echo "$output" | jq -r '.[0].batch')" false
	run fio_verify "$DEV" 4096 32
	assert_success
	assert_output --partial "err= 0"
}

@test "zero copy, 6.15's way (register/unregister per request): fio verify, kill -9, serve --recover" {
	ext4_file 48M
	SLUICE_UBLK_NO_AUTO_BUF_REG=1 serve_copy zero --backing "$MNT/img" --block-size 4096
	assert_equal "$(disks_copy_line)" "zero-copy (buffer registered per request)"
	verify_4k_128k
	local id
	id=$(dev_id "$DEV")
	crash_during_fio 32M
	# the device's flag decides: no auto registration after recovery either
	serve_copy auto --recover "$id"
	assert_equal "$(served_copy)" zero
	crash_fio_passes
	assert_equal "$(disks_copy_line)" "zero-copy (buffer registered per request)"
}

@test "zero copy: kill -9 during fio verify, serve --recover: no I/O error, verify passes" {
	ext4_file 48M
	serve_copy zero --backing "$MNT/img" --block-size 4096
	local id
	id=$(dev_id "$DEV")
	crash_during_fio 32M
	# --copy buffer cannot take it: the device has no buffer addresses
	SERVE_PRE=(-v)
	serve_bg --copy buffer --recover "$id"
	assert_equal "$(served_copy)" zero
	crash_fio_passes
	# the recovered queues took the tags back with PREP_IO_CMDS
	run "$SLUICE" disks
	assert_line "     commands: batched"
}

@test "zero copy: FLUSH and FUA data are in the backing file after kill -9" {
	head -c 4M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	ext4_file 16M
	serve_copy zero --backing "$MNT/img"
	dd if="$BATS_TEST_TMPDIR/data" of="$DEV" bs=1M seek=2 conv=fsync,notrunc status=none
	dd if="$BATS_TEST_TMPDIR/data" of="$DEV" bs=64k count=16 seek=160 oflag=direct,dsync \
		conv=notrunc status=none
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	run cmp -n $((4 << 20)) "$BATS_TEST_TMPDIR/data" \
		<(dd if="$MNT/img" bs=1M skip=2 count=4 status=none)
	assert_success
	run cmp -n $((1 << 20)) "$BATS_TEST_TMPDIR/data" \
		<(dd if="$MNT/img" bs=64k skip=160 count=16 status=none)
	assert_success
}

@test "zero copy: reads past the end of a shorter file are zeroes, writes extend it; a full backing is ENOSPC" {
	ext4_file 0
	head -c 1M /dev/urandom >"$MNT/img"
	serve_copy zero --backing "$MNT/img" --size 4M
	# one dd buffer for all four blocks: what the file lacks must be zeroed
	run cmp <(cat "$MNT/img"; head -c 3M /dev/zero) \
		<(dd if="$DEV" bs=1M count=4 iflag=direct status=none)
	assert_success
	head -c 64k /dev/urandom >"$BATS_TEST_TMPDIR/tail"
	dd if="$BATS_TEST_TMPDIR/tail" of="$DEV" bs=64k seek=32 oflag=direct status=none
	assert_equal "$(stat -c %s "$MNT/img")" $(((2 << 20) + (64 << 10)))
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"

	local small="$BATS_TEST_TMPDIR/small"
	mkdir -p "$small"
	mount -t tmpfs -o size=4M tmpfs "$small"
	truncate -s 16M "$small/img"
	serve_copy zero --backing "$small/img" --size 16M
	run dd if=/dev/urandom of="$DEV" bs=1M count=8 oflag=direct status=none
	assert_failure
	assert_output --partial "No space left on device"
	run dd if="$DEV" of=/dev/null bs=4k count=16 iflag=direct status=none
	assert_success
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	umount "$small"
}

@test "zero copy through a filter that leaves the data alone (count): verify, counted; one that sees it (journal) keeps its buffer, says why, refuses --copy zero" {
	ext4_file 32M
	serve_copy auto --backing "$MNT/img" --policy count
	assert_equal "$(served_copy)" zero
	assert_equal "$(disks_copy_line)" "zero-copy (auto buffer registration)"
	run fio_verify "$DEV" 4096 32
	assert_success
	refute_output --regexp "bad magic|verify failed|crc32c: "
	sleep 1.5	# the server publishes its counters about every second
	"$SLUICE" disks --json | jq -e '.[0].filter_stats.filters[0] | .name == "count" and
		.counters.writes > 0 and .counters.bytes_written >= 4096 * .counters.writes' \
		>/dev/null
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	serve_copy auto --backing "$MNT/img" --journal "$BATS_TEST_TMPDIR/j" --journal-size 64M
	assert_equal "$(served_copy)" buffer
	assert_equal "$(disks_copy_line)" "buffer (filter journal sees the data)"
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	run -1 timeout 60 "$SLUICE" serve --backing "$MNT/img" --copy zero \
		--journal "$BATS_TEST_TMPDIR/j" --journal-size 64M
	assert_output --partial "--copy zero: needs filters that leave the data alone, and policy 'adhoc' has journal, which sees the data"
}
