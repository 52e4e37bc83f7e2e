#!/usr/bin/env bats
# The three data services on one disk, in chain order crypt -> journal ->
# cache -> backing: nothing below crypt ever holds plaintext, a kill -9
# under fio verify writes loses nothing acknowledged, and what the backing
# and the journal hold opens with plain cryptsetup once the cache is flushed.

load ublk_helpers

setup() {
	ublk_setup
	IMG="$BATS_TEST_TMPDIR/backing.img"
	JOURNAL="$BATS_TEST_TMPDIR/disk.journal"
	CACHE="$BATS_TEST_TMPDIR/cache.img"
	KEY="$BATS_TEST_TMPDIR/key"
	MAPPED=()
}

teardown() {
	local m
	for m in "${MAPPED[@]}"; do
		cryptsetup close "$m" 2>/dev/null || true
	done
	ublk_teardown
}

# plain_md5 FILE NAME: the md5 of the first 64 MiB of FILE opened by dm-crypt
# in plain mode with the disk's key, as any Linux machine would open it.
plain_md5() {
	cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
		--key-file "$KEY" --sector-size 4096 "$1" "$2"
	MAPPED+=("$2")
	dmsetup mknodes "$2"
	dd if="/dev/mapper/$2" bs=1M count=64 iflag=direct status=none | md5sum
}

@test "crypt, journal and cache on one disk: ciphertext below crypt, kill -9 loses nothing, cryptsetup opens the backing and a restore" {
	local id marker live
	head -c 64 /dev/urandom >"$KEY"
	chmod 600 "$KEY"
	truncate -s 64M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096 --queues 2 \
		--encrypt aes-xts-plain64 --key-file "$KEY" --sector-size 4096 \
		--journal "$JOURNAL" --journal-size 64MiB \
		--cache "$CACHE" --cache-mode writeback --cache-size 32M
	id=$(dev_id "$DEV")
	run state_filters "$id"
	assert_output --regexp '^crypt:.* journal:.* cache:.*mode=writeback'
	refute_output --partial "$(od -An -tx1 "$KEY" | tr -d ' \n' | head -c 16)"

	# a plaintext marker the layers below crypt must never show
	marker="$BATS_TEST_TMPDIR/marker"
	yes SLUICE-PLAINTEXT-MARKER | head -c 1M >"$marker"
	dd if="$marker" of="$DEV" bs=1M seek=40 oflag=direct status=none

	crash_during_fio 32M
	serve_bg --recover "$id"
	assert_equal "$DEV" "/dev/ublkb$id"
	crash_fio_passes
	run cmp "$marker" <(dd if="$DEV" bs=1M skip=40 count=1 iflag=direct status=none)
	assert_success

	run grep -c -a SLUICE-PLAINTEXT-MARKER "$IMG" "$JOURNAL" "$JOURNAL.base" "$CACHE"
	refute_output --regexp ':[1-9]'

	run "$SLUICE" cache flush "$id" --timeout 60s
	assert_success
	live=$(dd if="$DEV" bs=1M count=64 iflag=direct status=none | md5sum)
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	SERVER_PIDS=()

	# the backing alone, opened by dm-crypt, is the disk
	assert_equal "$(plain_md5 "$IMG" stack-backing)" "$live"
	# and so is the journal's restore at its end
	run "$SLUICE" journal restore "$JOURNAL" --seq "$("$SLUICE" journal list "$JOURNAL" --json |
		jq -r '.last_seq')" --to "$BATS_TEST_TMPDIR/restored.img"
	assert_success
	assert_equal "$(plain_md5 "$BATS_TEST_TMPDIR/restored.img" stack-restored)" "$live"
}
