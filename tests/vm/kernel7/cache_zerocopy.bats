#!/usr/bin/env bats
# The cache filter over zero copy (UBLK_F_AUTO_BUF_REG, the 7.x test VM):
# the cache moves a request's data between its pages and the cache file or
# the backing with fixed-buffer reads and writes, never through the
# server's memory. A hit, a fill, a partial hit or a write that read or
# wrote the server's idle buffer instead of the request's pages fails fio's
# verify or the comparisons here. tests/vm/cache.bats proves the cache's
# behaviour in buffer mode on 6.12; this file only the zero copy path.
# Listed in kernel7.list.

load ../ublk_helpers

setup() {
	ublk_setup
	IMG="$BATS_TEST_TMPDIR/backing.img"
	CACHE="$BATS_TEST_TMPDIR/cache.img"
}

teardown() {
	ublk_teardown
}

@test "cache on zero copy: fills, hits and partial hits move the request's own pages; fio verify in every mode" {
	head -c 16M /dev/urandom >"$IMG"
	truncate -s 64M "$IMG"
	# no sequential cutoff: dd's reads are admitted
	serve_copy auto --backing "$IMG" --block-size 4096 --cache "$CACHE" \
		--cache-mode writethrough --cache-size 32M --sequential-cutoff 0
	assert_equal "$(served_copy)" zero
	assert_equal "$(disks_copy_line)" "zero-copy (auto buffer registration)"
	# first pass: misses filled from the request's pages; second: hits into them
	local want first second id
	id=$(dev_id "$DEV")
	want=$(head -c 16M "$IMG" | md5sum)
	first=$(dd if="$DEV" bs=64k count=256 iflag=direct status=none | md5sum)
	second=$(dd if="$DEV" bs=64k count=256 iflag=direct status=none | md5sum)
	assert_equal "$first" "$want"
	assert_equal "$second" "$want"
	# 4 KiB reads inside cached blocks, and 28 KiB ones across them: hits
	run fio --name=r --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randread \
		--bs=28k --iodepth=8 --size=16M --randrepeat=0 --output-format=terse
	assert_success
	snapshot "$id"
	[ "$(cstat "$id" fills)" -ge 256 ]
	[ "$(cstat "$id" read_hits)" -ge 512 ]
	assert_equal "$(cstat "$id" errors)" 0
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	SERVER_PIDS=()

	cache_verify_every_mode serve_copy zero
}

@test "cache on zero copy, write-back: kill -9 under fio verify writes, recover, verify passes; flush; the backing alone holds it" {
	truncate -s 64M "$IMG"
	serve_copy zero --backing "$IMG" --block-size 4096 --cache "$CACHE" \
		--cache-mode writeback --cache-size 64M
	local id disk back
	id=$(dev_id "$DEV")
	crash_during_fio 32M
	serve_bg --recover "$id"
	assert_equal "$("$SLUICE" disks --json | jq -r '.[0].copy')" zero
	crash_fio_passes
	run "$SLUICE" cache flush "$id" --timeout 60s
	assert_success
	snapshot "$id"
	assert_equal "$(cstat "$id" dirty_bytes)" 0
	disk=$(dd if="$DEV" bs=1M count=32 iflag=direct status=none | md5sum)
	back=$(dd if="$IMG" bs=1M count=32 status=none | md5sum)
	assert_equal "$disk" "$back"
}

@test "cache without auto buffer registration (6.15's zero copy): buffer mode, and --copy zero refused naming why" {
	truncate -s 64M "$IMG"
	SLUICE_UBLK_NO_AUTO_BUF_REG=1 serve_copy auto --backing "$IMG" --cache "$CACHE" \
		--cache-mode writethrough --cache-size 32M
	assert_equal "$(served_copy)" buffer
	run "$SLUICE" disks --json
	assert_equal "$(echo "$output" | jq -r '.[0].copy_why')" \
		"filter cache needs auto buffer registration"
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	SERVER_PIDS=()
	# timeout: should it serve after all, the test fails instead of hanging
	SLUICE_UBLK_NO_AUTO_BUF_REG=1 run timeout 60 "$SLUICE" serve --backing "$IMG" --cache "$CACHE" \
		--cache-mode writethrough --cache-size 32M --copy zero
	assert_failure
	assert_output --partial "filter cache moves the data"
	assert_output --partial "UBLK_F_AUTO_BUF_REG"
}
