#!/usr/bin/env bats
# sluice serve, disks and stop on the host, which has no ublk driver:
# argument checks, the clear "no driver" error, and state-file listing.

load helpers

setup() {
	export SLUICE_RUN_DIR="$BATS_TEST_TMPDIR/run"
	IMG="$BATS_TEST_TMPDIR/disk.img"
	truncate -s 16M "$IMG"
}

@test "serve: --backing is required" {
	run -2 "$SLUICE" serve
	assert_output "sluice: error: --backing is required: the file or block device to serve; see 'sluice serve --help'"
}

@test "serve: a missing backing names the path and the fix" {
	run -1 "$SLUICE" serve --backing /nonexistent/disk.img
	assert_output "sluice: error: /nonexistent/disk.img: No such file or directory; give an existing file or block device with --backing"
}

@test "serve: a directory is not a backing" {
	run -1 "$SLUICE" serve --backing "$BATS_TEST_TMPDIR"
	assert_output "sluice: error: $BATS_TEST_TMPDIR: is a directory; give a regular file or a block device with --backing"
}

@test "serve: size must be a multiple of the block size" {
	run -1 "$SLUICE" serve --backing "$IMG" --size 1000
	assert_output "sluice: error: --size 1000: not a multiple of the block size (512)"
	run -1 "$SLUICE" serve --backing "$IMG" --size 6K --block-size 4096
	assert_output "sluice: error: --size 6144: not a multiple of the block size (4096)"
}

@test "serve: bad sizes, block sizes and counts are usage errors" {
	run -2 "$SLUICE" serve --backing "$IMG" --size 12Q
	assert_output "sluice: error: --size '12Q': expected a size (4096, 64M, 1.5G, 8KiB, 1MB; K, M, G, T are powers of 1024)"
	run -2 "$SLUICE" serve --backing "$IMG" --block-size 1024
	assert_output "sluice: error: --block-size '1024': expected 512 or 4096"
	run -2 "$SLUICE" serve --backing "$IMG" --queues 0
	assert_output "sluice: error: --queues '0': expected a whole number from 1 to 64"
	run -2 "$SLUICE" serve --backing "$IMG" --depth 5000
	assert_output "sluice: error: --depth '5000': expected a whole number from 1 to 4096"
	run -2 "$SLUICE" serve --backing "$IMG" stray
	assert_output --partial "serve takes no arguments ('stray')"
	run -2 "$SLUICE" serve --recover 1 --backing "$IMG"
	assert_output --partial "--recover takes the disk's shape from its state file"
	run -2 "$SLUICE" serve --backing "$IMG" --pid-file x
	assert_output "sluice: error: --pid-file goes with --daemon"
}

@test "serve: an empty backing needs --size" {
	: >"$IMG"
	run -1 "$SLUICE" serve --backing "$IMG"
	assert_output "sluice: error: $IMG: smaller than one 512-byte block; give --size to serve it as a sparse disk"
}

@test "serve: an unknown policy lists the applied and built-in ones" {
	run -1 "$SLUICE" serve --backing "$IMG" --policy nosuch
	assert_output "sluice: error: --policy 'nosuch': no such policy for $IMG; applied policies: none; built in: passthrough, count, tick (an applied policy needs a binding served: {backing: $IMG})"
}

@test "serve: no ublk driver gives the fix and creates nothing" {
	[ ! -e /dev/ublk-control ] || skip "this host has the ublk driver"
	run -1 "$SLUICE" serve --backing "$IMG"
	assert_output "sluice: error: /dev/ublk-control: no ublk driver here; load it with 'modprobe ublk_drv' (CONFIG_BLK_DEV_UBLK), or use the test VM: tests/vm/run -- sluice serve ..."
	[ ! -e "$SLUICE_RUN_DIR" ] || [ -z "$(ls "$SLUICE_RUN_DIR")" ]
}

@test "serve --recover: no state file names the fix" {
	run -1 "$SLUICE" serve --recover 7
	assert_output "sluice: error: ublk disk 7: no state file in $SLUICE_RUN_DIR; list disks with 'sluice disks'"
}

@test "serve --recover: a live server is not replaced" {
	mkdir -p "$SLUICE_RUN_DIR"
	printf 'id=3\nbacking=%s\nsize=16777216\nqueues=1\ndepth=64\nblock_size=512\nread_only=0\npolicy=passthrough\nfilters=\npid=%d\nflags=0x58\n' \
		"$IMG" $$ >"$SLUICE_RUN_DIR/ublk3.state"
	run -1 "$SLUICE" serve --recover 3
	assert_output "sluice: error: ublk disk 3: still served by pid $$; stop it with 'sluice stop 3' or kill it first"
}

@test "disks: empty without state files; lists them with --json" {
	run "$SLUICE" disks --json
	assert_success
	assert_output "[]"
	mkdir -p "$SLUICE_RUN_DIR"
	printf 'id=3\nbacking=%s\nsize=16777216\nqueues=2\ndepth=64\nblock_size=4096\nread_only=1\npolicy=count\nfilters=count\npid=999999\nflags=0x58\n' \
		"$IMG" >"$SLUICE_RUN_DIR/ublk3.state"
	echo garbage >"$SLUICE_RUN_DIR/ublk4.state"
	run "$SLUICE" disks --json
	assert_success
	local j
	j=$(echo "$output" | grep '^\[')
	assert_equal "$(echo "$j" | jq -r '.[0].device')" /dev/ublkb3
	assert_equal "$(echo "$j" | jq -r '.[0].filters[0]')" count
	assert_equal "$(echo "$j" | jq -r '.[0].server')" dead
	assert_equal "$(echo "$j" | jq -r '.[0].read_only')" true
	assert_equal "$(echo "$j" | jq length)" 1
	assert_output --partial "ublk4.state: malformed; skipped"
	run "$SLUICE" disks
	assert_line --regexp "^3 +/dev/ublkb3 +16.0M +2 +64 +count,ro +(unknown|gone) +"
}

@test "stop: an unknown disk and a bad name are errors" {
	run -1 "$SLUICE" stop 42
	assert_output "sluice: error: /dev/ublkb42: no such disk; list disks with 'sluice disks'"
	run -2 "$SLUICE" stop /dev/sda
	assert_output "sluice: error: '/dev/sda': not a ublk disk; give /dev/ublkbN or N (see 'sluice disks')"
	run -2 "$SLUICE" stop
	assert_output --partial "stop takes one disk"
}

@test "the server carries its USDT probes (provider sluice)" {
	run readelf -n "$SLUICE"
	assert_success
	for p in req_fetched filter_enter filter_exit backing_submit backing_complete commit; do
		echo "$output" | grep -A3 'Provider: sluice' | grep -q "Name: $p" ||
			fail "USDT probe sluice:$p missing"
	done
}

@test "stages: loads on a kernel without ublk and falls back to the block tracepoints" {
	ensure_kernel_fs
	run "$SLUICE" stages --interval 1 --count 1 --json
	assert_success
	assert_equal "$(echo "$output" | jq -r .hook)" tracepoint
	assert_equal "$(echo "$output" | jq -c .disks)" "[]"
}
