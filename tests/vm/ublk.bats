#!/usr/bin/env bats
# sluice serve, disks and stop on the real ublk driver (6.12 test VM).

load ublk_helpers

setup() {
	ublk_setup
	LOOPS=()
	IMG="$BATS_TEST_TMPDIR/backing.img"
}

teardown() {
	ublk_teardown
}

@test "serve: the disk advertises a volatile cache, FUA and discard" {
	truncate -s 32M "$IMG"
	serve_bg --backing "$IMG"
	local b=/sys/block/${DEV#/dev/}
	assert_equal "$(cat "$b/queue/write_cache")" "write back"
	assert_equal "$(cat "$b/queue/fua")" 1
	[ "$(cat "$b/queue/discard_max_bytes")" -gt 0 ]
	assert_equal "$(blockdev --getsize64 "$DEV")" $((32 << 20))
}

@test "fio crc32c verify over a file: bs 512 and 4096, QD 1 and 64" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG" --block-size 512 --queues 2 --depth 64
	local size
	for bs in 512 4096; do
		for qd in 1 64; do
			# 512 bytes one at a time: 2 MiB a job (4096 writes) proves the
			# path; all 8 MiB took half of this test's 100 s on 6.12
			size=8M
			[ "$bs$qd" = 5121 ] && size=2M
			run fio_verify "$DEV" "$bs" "$qd" --size="$size"
			assert_success
			assert_output --partial "err= 0"
			refute_output --regexp "bad magic|verify failed|crc32c: "
		done
	done
}

# mmap is the first test's path (auto over tmpfs, asserted below); the
# 512-byte QD 1 pass proves the small-block path of each mode on 2 MiB.
@test "copy modes: fio crc32c verify with --copy user and buffer" {
	truncate -s 16M "$IMG"
	local mode
	for mode in user buffer; do
		serve_copy "$mode" --backing "$IMG" --block-size 512 --queues 2 --depth 64
		for bs_qd in "4096 64" "512 1 --size=2M"; do
			# shellcheck disable=SC2086 # several words on purpose
			run fio_verify "$DEV" $bs_qd
			assert_success
			assert_output --partial "err= 0"
			refute_output --regexp "bad magic|verify failed|crc32c: "
		done
		kill -TERM "$SERVER_PID"
		wait "$SERVER_PID"
	done
}

@test "copy modes: auto is zero copy where the driver has it, else mmap for passthrough on tmpfs; buffer with a filter that sees the data; zero copy through count; mmap refused with filters" {
	truncate -s 16M "$IMG"
	serve_copy auto --backing "$IMG"
	if kernel_has_ublk_zero_copy; then
		assert_equal "$(served_copy)" zero
	else
		assert_equal "$(served_copy)" mmap
	fi
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	serve_copy auto --backing "$IMG" --journal "$BATS_TEST_TMPDIR/j" --journal-size 64M
	assert_equal "$(served_copy)" buffer
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	# count never touches the data (data_blind): zero copy on 6.15+, else buffer
	serve_copy auto --backing "$IMG" --policy count
	if kernel_has_ublk_zero_copy; then
		assert_equal "$(served_copy)" zero
	else
		assert_equal "$(served_copy)" buffer
	fi
	local before
	before=$(ublkc_count)
	run -1 timeout 60 "$SLUICE" serve --backing "$IMG" --copy mmap --policy count
	assert_output --partial "--copy mmap: needs a passthrough policy"
	run -2 timeout 60 "$SLUICE" serve --backing "$IMG" --copy fast
	assert_output --partial "--copy 'fast': expected auto, buffer, user, mmap or zero"
	assert_equal "$(ublkc_count)" "$before"
}

@test "copy zero: refused naming the driver features where the driver lacks zero copy, served where it has it" {
	truncate -s 16M "$IMG"
	if kernel_has_ublk_zero_copy; then
		# 7.x: served (tests/vm/kernel7/ublk_zerocopy.bats has the rest)
		serve_copy zero --backing "$IMG"
		run "$SLUICE" disks
		assert_line --regexp "^ +copy: zero-copy \("
		return
	fi
	local before loop
	before=$(ublkc_count)
	run -1 timeout 60 "$SLUICE" serve --backing "$IMG" --copy zero
	assert_output --partial "--copy zero: this ublk driver has neither UBLK_F_AUTO_BUF_REG (Linux 6.16+) nor UBLK_F_SUPPORT_ZERO_COPY (Linux 6.15+); use --copy buffer"
	assert_equal "$(ublkc_count)" "$before"
	# auto over a block device (O_DIRECT): the buffer, and disks says why
	loop=$(losetup --find --show "$IMG")
	LOOPS+=("$loop")
	serve_bg --backing "$loop" --block-size 4096
	run "$SLUICE" disks
	assert_line "     copy: buffer (driver lacks zero copy)"
	# nor batched commands (7.0+): the queues use FETCH/COMMIT_AND_FETCH per tag
	assert_line "     commands: per tag"
}

@test "fio crc32c verify over a loop device, through the count filter" {
	truncate -s 16M "$IMG"
	local loop
	loop=$(losetup --find --show "$IMG")
	LOOPS+=("$loop")
	serve_bg --backing "$loop" --block-size 4096 --policy count
	for qd in 1 64; do
		run fio_verify "$DEV" 4096 "$qd"
		assert_success
		assert_output --partial "err= 0"
	done
}

@test "ext4: mkfs, mount, copy a tree, umount, fsck clean, contents identical" {
	truncate -s 64M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096
	mkfs.ext4 -q -F "$DEV"
	local mnt="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$mnt"
	mount "$DEV" "$mnt"
	cp -a /usr/include/linux "$mnt/tree"
	umount "$mnt"
	run fsck.ext4 -fn "$DEV"
	assert_success
	mount -o ro "$DEV" "$mnt"
	run diff -r /usr/include/linux "$mnt/tree"
	umount "$mnt"
	assert_success
}

@test "kill -9 during a fio verify write, serve --recover: no I/O error, verify passes" {
	truncate -s 64M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096
	local id
	id=$(dev_id "$DEV")
	crash_during_fio 48M
	run "$SLUICE" disks --json
	assert_equal "$(echo "$output" | jq -r ".[] | select(.id == $id) | .server")" dead
	serve_bg --recover "$id"
	assert_equal "$DEV" "/dev/ublkb$id"
	crash_fio_passes
}

@test "a long filter chain (spec over 300 bytes): served, kill -9 during fio verify, recovered whole" {
	truncate -s 64M "$IMG"
	bind_long_chain "$IMG"
	serve_bg --backing "$IMG" --block-size 4096
	local id spec
	id=$(dev_id "$DEV")
	spec=$(state_filters "$id")
	[ "${#spec}" -gt 300 ] || fail "a spec of ${#spec} bytes: $spec"
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e --arg id "$id" \
		'.[] | select(.id == ($id | tonumber)) | .policy == "longchain" and
		 (.filters | length) == 4 and all(.filters[]; startswith("count:label="))'
	crash_during_fio 32M
	# the state file with the whole chain is what recovery reads
	serve_bg --recover "$id"
	assert_equal "$DEV" "/dev/ublkb$id"
	crash_fio_passes
	assert_equal "$(state_filters "$id")" "$spec"
	run cat "$SERVE_ERR"
	refute_output --partial "error"
}

@test "kill -9 of a --copy user server during fio verify, recovered as --copy mmap" {
	truncate -s 32M "$IMG"
	serve_copy user --backing "$IMG" --block-size 4096
	local id
	id=$(dev_id "$DEV")
	crash_during_fio 24M
	serve_copy mmap --recover "$id"
	crash_fio_passes
}

@test "a mounted file system survives kill -9 and recovery (--copy buffer)" {
	truncate -s 64M "$IMG"
	serve_copy buffer --backing "$IMG" --block-size 4096
	local id mnt="$BATS_TEST_TMPDIR/mnt"
	id=$(dev_id "$DEV")
	mkfs.ext4 -q -F "$DEV"
	mkdir -p "$mnt"
	mount "$DEV" "$mnt"
	cp -a /usr/include/linux "$mnt/a"
	sync
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	serve_bg --recover "$id"
	cp -a /usr/include/linux "$mnt/b"
	sync
	run diff -r /usr/include/linux "$mnt/b"
	assert_success
	umount "$mnt"
	run fsck.ext4 -fn "$DEV"
	assert_success
}

@test "FLUSH: after fsync returns the data is in the backing file, even after kill -9" {
	local mode
	head -c 4M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	for mode in mmap user buffer; do
		rm -f "$IMG"
		truncate -s 16M "$IMG"
		serve_copy "$mode" --backing "$IMG"
		# Buffered writes sit in the page cache of /dev/ublkbN until fsync.
		dd if="$BATS_TEST_TMPDIR/data" of="$DEV" bs=1M seek=2 conv=fsync,notrunc status=none
		kill -9 "$SERVER_PID"
		wait "$SERVER_PID" || true
		run cmp -n $((4 << 20)) "$BATS_TEST_TMPDIR/data" \
			<(dd if="$IMG" bs=1M skip=2 count=4 status=none)
		assert_success
		"$SLUICE" stop "$DEV"
	done
}

@test "FUA: an O_DSYNC write is in the backing file when it returns, even after kill -9" {
	local mode
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	for mode in mmap user; do
		rm -f "$IMG"
		truncate -s 16M "$IMG"
		serve_copy "$mode" --backing "$IMG"
		dd if="$BATS_TEST_TMPDIR/data" of="$DEV" bs=64k seek=3 oflag=direct,dsync \
			conv=notrunc status=none
		kill -9 "$SERVER_PID"
		wait "$SERVER_PID" || true
		run cmp -n $((1 << 20)) "$BATS_TEST_TMPDIR/data" \
			<(dd if="$IMG" bs=64k skip=3 count=16 status=none)
		assert_success
		"$SLUICE" stop "$DEV"
	done
}

@test "FUA writes (O_DSYNC) and flushes reach the server and succeed" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG" --policy count
	run dd if=/dev/urandom of="$DEV" bs=4k count=64 oflag=direct,dsync status=none
	assert_success
	run dd if="$DEV" of=/dev/null bs=4k count=64 iflag=direct status=none
	assert_success
}

@test "backing full: the application gets ENOSPC, the server serves the next request" {
	local small="$BATS_TEST_TMPDIR/small" mode
	mkdir -p "$small"
	for mode in mmap user buffer; do
		mount -t tmpfs -o size=4M tmpfs "$small"
		# Sparse: the mmap path meets holes it cannot fill on a full file system.
		truncate -s 16M "$small/img"
		serve_copy "$mode" --backing "$small/img" --size 16M
		# O_DIRECT: the backing's ENOSPC reaches the application as ENOSPC.
		run dd if=/dev/urandom of="$DEV" bs=1M count=8 oflag=direct status=none
		assert_failure
		assert_output --partial "No space left on device"
		kill -0 "$SERVER_PID"
		run dd if="$DEV" of=/dev/null bs=4k count=16 iflag=direct status=none
		assert_success
		# A hole of the full file reads as zeroes.
		run cmp -n $((1 << 20)) /dev/zero \
			<(dd if="$DEV" bs=1M skip=12 count=1 iflag=direct status=none)
		assert_success
		run dd if=/dev/urandom of="$DEV" bs=4k count=1 oflag=direct status=none
		assert_success
		kill -TERM "$SERVER_PID"
		wait "$SERVER_PID"
		umount "$small"
	done
}

@test "DISCARD punches holes and WRITE_ZEROES zeroes" {
	head -c 8M /dev/urandom >"$IMG"
	serve_bg --backing "$IMG" --block-size 4096
	local before after
	before=$(stat -c %b "$IMG")
	blkdiscard -o 0 -l 4M "$DEV"
	after=$(stat -c %b "$IMG")
	[ "$after" -lt "$before" ]
	run cmp -n $((4 << 20)) /dev/zero <(dd if="$DEV" bs=1M count=4 iflag=direct status=none)
	assert_success
	blkdiscard -z -o 4M -l 2M "$DEV"
	run cmp -n $((2 << 20)) /dev/zero <(dd if="$DEV" bs=1M skip=4 count=2 iflag=direct status=none)
	assert_success
	# The last 2 MiB kept their data.
	run cmp -n $((2 << 20)) <(dd if="$IMG" bs=1M skip=6 count=2 status=none) \
		<(dd if="$DEV" bs=1M skip=6 count=2 iflag=direct status=none)
	assert_success
}

@test "read-only disk: reads work, writes fail" {
	head -c 4M /dev/urandom >"$IMG"
	serve_bg --backing "$IMG" --read-only
	assert_equal "$(blockdev --getro "$DEV")" 1
	run cmp "$IMG" "$DEV"
	assert_success
	run dd if=/dev/zero of="$DEV" bs=4k count=1 oflag=direct status=none
	assert_failure
}

@test "reads beyond the end of a shorter backing file are zeroes; writes there extend it" {
	local mode
	for mode in mmap user buffer; do
		rm -f "$IMG"
		head -c 1M /dev/urandom >"$IMG"
		serve_copy "$mode" --backing "$IMG" --size 4M
		run cmp -n $((1 << 20)) "$IMG" "$DEV"
		assert_success
		run cmp -n $((3 << 20)) /dev/zero <(dd if="$DEV" bs=1M skip=1 iflag=direct status=none)
		assert_success
		head -c 64k /dev/urandom >"$BATS_TEST_TMPDIR/tail"
		dd if="$BATS_TEST_TMPDIR/tail" of="$DEV" bs=64k seek=32 oflag=direct status=none
		assert_equal "$(stat -c %s "$IMG")" $(((2 << 20) + (64 << 10)))
		run cmp -n $((64 << 10)) "$BATS_TEST_TMPDIR/tail" \
			<(dd if="$DEV" bs=64k skip=32 count=1 iflag=direct status=none)
		assert_success
		kill -TERM "$SERVER_PID"
		wait "$SERVER_PID"
	done
}

@test "bad arguments leave no orphan /dev/ublkc*" {
	local before
	before=$(ublkc_count)
	run -2 timeout 60 "$SLUICE" serve
	assert_output --partial "--backing is required"
	run -1 timeout 60 "$SLUICE" serve --backing /nonexistent
	assert_output --partial "/nonexistent: No such file or directory"
	truncate -s 16M "$IMG"
	run -1 timeout 60 "$SLUICE" serve --backing "$IMG" --size 1000
	assert_output --partial "not a multiple of the block size (512)"
	run -1 timeout 60 "$SLUICE" serve --backing "$IMG" --policy nosuch
	assert_output --partial "no such policy"
	assert_equal "$(ublkc_count)" "$before"
}

@test "a taken --id or an id out of range: clear errors, nothing half-created" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG"
	local id before
	id=$(dev_id "$DEV")
	before=$(ublkc_count)
	run -1 timeout 60 "$SLUICE" serve --backing "$IMG" --id "$id"
	assert_output "sluice: error: ublk device $id already exists; choose another --id or leave it out"
	assert_equal "$(ublkc_count)" "$before"
	run -1 timeout 60 "$SLUICE" serve --backing "$IMG" --id 2000000000
	assert_output --partial "ublk device id 2000000000 is out of the driver's range"
	assert_equal "$(ublkc_count)" "$before"
}

@test "too many devices: the driver's limit is reported, nothing half-created" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG"
	local before max
	before=$(ublkc_count)
	max=$(cat /sys/module/ublk_drv/parameters/ublks_max)
	echo "$before" >/sys/module/ublk_drv/parameters/ublks_max
	run timeout 60 "$SLUICE" serve --backing "$IMG" --daemon 3>&-
	echo "$max" >/sys/module/ublk_drv/parameters/ublks_max
	if [ "$status" -eq 0 ]; then
		"$SLUICE" stop "$output"
		skip "this kernel applies ublks_max to unprivileged devices only"
	fi
	assert_failure 1
	assert_output --partial "too many ublk devices (ublk_drv allows $before)"
	assert_equal "$(ublkc_count)" "$before"
}

@test "disks --json lists served disks; stop deletes them" {
	truncate -s 16M "$IMG"
	truncate -s 32M "$IMG.2"
	serve_bg --backing "$IMG" --queues 2 --depth 32
	local a=$DEV
	serve_bg --backing "$IMG.2" --policy count --read-only
	local b=$DEV
	run "$SLUICE" disks --json
	assert_success
	assert_equal "$(echo "$output" | jq length)" 2
	assert_equal "$(echo "$output" | jq -r ".[] | select(.device == \"$a\") | .queues")" 2
	assert_equal "$(echo "$output" | jq -r ".[] | select(.device == \"$a\") | .depth")" 32
	assert_equal "$(echo "$output" | jq -r ".[] | select(.device == \"$a\") | .state")" live
	assert_equal "$(echo "$output" | jq -r ".[] | select(.device == \"$b\") | .filters[0]")" count
	assert_equal "$(echo "$output" | jq -r ".[] | select(.device == \"$b\") | .size")" $((32 << 20))
	run "$SLUICE" disks
	assert_success
	assert_line --regexp "^$(dev_id "$a") +$a +16.0M +2 +32 +passthrough +live "
	run "$SLUICE" stop "$a"
	assert_success
	[ ! -e "$a" ]
	[ ! -e "/dev/ublkc$(dev_id "$a")" ]
	run "$SLUICE" disks --json
	assert_equal "$(echo "$output" | jq length)" 1
	run "$SLUICE" stop "$(dev_id "$b")"
	assert_success
	[ ! -e "$b" ]
	assert_equal "$("$SLUICE" disks --json)" "[]"
}

@test "stop deletes the disk of a dead server" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG"
	local id
	id=$(dev_id "$DEV")
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	run "$SLUICE" disks --json
	assert_equal "$(echo "$output" | jq -r '.[0].server')" dead
	run "$SLUICE" stop "$DEV"
	assert_success
	[ ! -e "/dev/ublkc$id" ]
	assert_equal "$("$SLUICE" disks --json)" "[]"
}

@test "SIGTERM drains, flushes and deletes the device and its state" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG"
	local id
	id=$(dev_id "$DEV")
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	dd if="$BATS_TEST_TMPDIR/data" of="$DEV" bs=1M status=none
	kill -TERM "$SERVER_PID"
	local rc=0
	wait "$SERVER_PID" || rc=$?
	assert_equal "$rc" 0
	[ ! -e "/dev/ublkc$id" ]
	[ ! -e "$SLUICE_RUN_DIR/ublk$id.state" ]
	run cmp -n $((1 << 20)) "$BATS_TEST_TMPDIR/data" "$IMG"
	assert_success
}

@test "--daemon detaches, writes the pid file, prints the device" {
	truncate -s 16M "$IMG"
	run "$SLUICE" serve --backing "$IMG" --daemon --pid-file "$BATS_TEST_TMPDIR/pid" 3>&-
	assert_success
	assert_output --regexp '^/dev/ublkb[0-9]+$'
	local dev=$output pid
	pid=$(cat "$BATS_TEST_TMPDIR/pid")
	SERVER_PIDS+=("$pid")
	kill -0 "$pid"
	[ -b "$dev" ]
	run "$SLUICE" stop "$dev"
	assert_success
	[ ! -e "$dev" ]
	[ ! -e "$BATS_TEST_TMPDIR/pid" ]
}

@test "--daemon: a filter's start-hook thread lives in the detached server; its background reads reach the backing" {
	truncate -s 16M "$IMG"
	local loop dev pid pidf="$BATS_TEST_TMPDIR/pid" before after
	loop=$(losetup --find --show "$IMG")
	LOOPS+=("$loop")
	run "$SLUICE" serve --backing "$loop" --block-size 4096 --policy tick --daemon \
		--pid-file "$pidf" 3>&-
	assert_success
	assert_output --regexp '^/dev/ublkb[0-9]+$'
	dev=$output
	pid=$(cat "$pidf")
	SERVER_PIDS+=("$pid")
	# started by the tick filter's start hook, after the fork: in the daemon
	run grep -lx sluice-tick /proc/"$pid"/task/*/comm
	assert_success
	# nobody uses the disk: every read of the loop device is the filter's own
	before=$(awk '{ print $1 }' "/sys/block/${loop#/dev/}/stat")
	sleep 2
	after=$(awk '{ print $1 }' "/sys/block/${loop#/dev/}/stat")
	[ "$after" -ge $((before + 5)) ] || fail "background reads: $before then $after in 2 s"
	# and the disk serves its application beside them
	run fio_verify "$dev" 4096 16
	assert_success
	assert_output --partial "err= 0"
	refute_output --regexp "bad magic|verify failed|crc32c: "
	run "$SLUICE" stop "$dev"
	assert_success
	[ ! -e "$pidf" ]
	[ ! -e "/proc/$pid" ] || fail "the server $pid is still there after stop"
}

@test "stages: every stage of a served disk is metered, the driver hook by BTF name" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096 --policy count
	local id out="$BATS_TEST_TMPDIR/stages.json" pid
	id=$(dev_id "$DEV")
	"$SLUICE" stages --interval 6 --count 1 --json >"$out" 2>"$out.err" 3>&- &
	pid=$!
	sleep 2
	fio --name=s --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randrw --bs=4k \
		--iodepth=8 --size=8M --io_size=4M >/dev/null
	wait "$pid"
	cat "$out.err"
	# the kprobe where BTF names ublk_queue_rq, unless the driver has the
	# batched commands' own queueing (7.0+), which only the tracepoint sees
	local hook=kprobe
	if bpftool -B /sys/kernel/btf/vmlinux btf dump file /sys/kernel/btf/ublk_drv |
		grep -q "FUNC 'ublk_batch_queue_rqs'"; then
		hook=tracepoint
	fi
	run jq -r '.hook' "$out"
	assert_output "$hook"
	for st in to_server filters_down backing filters_up to_kernel total; do
		run jq -r --arg st "$st" ".disks[] | select(.id == $id) | .stages[] |
			select(.stage == \$st) | .count" "$out"
		[ "$output" -gt 0 ] || fail "stage $st saw no requests: $(cat "$out")"
	done
}
