#!/usr/bin/env bats
# The journal filter on the real ublk driver: point-in-time restore, kill -9
# during fio verify then --recover, ext4 consistent at every flush point
# (xfstests generic/482 style), and bad journals refused with nothing
# overwritten. Journals are fallocated: the sizes keep the suite well inside
# the VM's tmpfs (half its 2G of memory).

load ublk_helpers

setup() {
	ublk_setup
	LOOPS=()
	IMG="$BATS_TEST_TMPDIR/backing.img"
	J="$BATS_TEST_TMPDIR/disk.journal"
}

teardown() {
	ublk_teardown
}

# jlist KEY: a field of 'sluice journal list --json'.
jlist() {
	"$SLUICE" journal list "$J" --json | jq -r ".$1"
}

@test "point in time: restore at a noted seq and time gives pattern A exactly; at the end, the live disk" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 32M
	head -c 4M /dev/urandom >"$BATS_TEST_TMPDIR/A"
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/B"
	dd if="$BATS_TEST_TMPDIR/A" of="$DEV" bs=1M oflag=direct conv=fsync status=none
	local seq t
	seq=$(jlist last_seq)
	t=$(date +%s.%N)
	sleep 0.2
	dd if="$BATS_TEST_TMPDIR/B" of="$DEV" bs=1M seek=2 oflag=direct conv=fsync status=none
	# the expected image at the noted point: A on the empty disk
	truncate -s 16M "$BATS_TEST_TMPDIR/want"
	dd if="$BATS_TEST_TMPDIR/A" of="$BATS_TEST_TMPDIR/want" conv=notrunc status=none

	run "$SLUICE" journal restore "$J" --seq "$seq" --to "$BATS_TEST_TMPDIR/at-seq"
	assert_success
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/at-seq"
	run "$SLUICE" journal restore "$J" --at "$t" --to "$BATS_TEST_TMPDIR/at-time"
	assert_success
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/at-time"
	# RFC 3339 names the same moment (to the second: the write of B came later)
	run "$SLUICE" journal restore "$J" --at "$(date -u -d "@${t%.*}" +%Y-%m-%dT%H:%M:%SZ)" \
		--to "$BATS_TEST_TMPDIR/at-rfc"
	assert_success
	run "$SLUICE" journal restore "$J" --seq "$(jlist last_seq)" --to "$BATS_TEST_TMPDIR/end"
	assert_success
	dd if="$DEV" of="$BATS_TEST_TMPDIR/live" bs=1M iflag=direct status=none
	cmp "$BATS_TEST_TMPDIR/live" "$BATS_TEST_TMPDIR/end"
	# restore never overwrites a file
	run "$SLUICE" journal restore "$J" --seq "$seq" --to "$BATS_TEST_TMPDIR/end"
	assert_failure
	assert_output --partial "exists; restore into a new file"
	cmp "$BATS_TEST_TMPDIR/live" "$BATS_TEST_TMPDIR/end"
	# stats: records, bytes, fsyncs through the filter's stats op
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e '.[0].filter_stats.filters[0] | .name == "journal" and
		.counters.records >= 5 and .counters.fsyncs >= 1 and .counters.bytes > 5000000' \
		>/dev/null
}

@test "kill -9 during fio crc32c verify through the journal, serve --recover: verify passes, journal verifies" {
	truncate -s 64M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096 --journal "$J" --journal-size 64M
	local id
	id=$(dev_id "$DEV")
	crash_during_fio 16M
	serve_bg --recover "$id"
	assert_equal "$DEV" "/dev/ublkb$id"
	crash_fio_passes
	run "$SLUICE" journal verify "$J"
	assert_success
	assert_output --partial "records good"
	# the live disk is the journal's last point
	run "$SLUICE" journal restore "$J" --seq "$(jlist last_seq)" --to "$BATS_TEST_TMPDIR/end"
	assert_success
	dd if="$DEV" of="$BATS_TEST_TMPDIR/live" bs=1M iflag=direct status=none
	cmp "$BATS_TEST_TMPDIR/live" "$BATS_TEST_TMPDIR/end"
}

@test "ext4 workload: restored at every flush point (up to 8), e2fsck -fn is clean" {
	truncate -s 64M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096 --journal "$J" --journal-size 96M
	local mnt="$BATS_TEST_TMPDIR/mnt" rmnt="$BATS_TEST_TMPDIR/rmnt" start i s n out
	mkdir -p "$mnt" "$rmnt"
	mkfs.ext4 -q -F "$DEV"
	sync
	start=$(jlist last_seq)
	mount "$DEV" "$mnt"
	for i in 1 2 3 4 5 6; do
		head -c $((i * 100))K /dev/urandom >"$mnt/f$i.tmp"
		sync "$mnt/f$i.tmp"
		mv "$mnt/f$i.tmp" "$mnt/f$i"
		[[ $i -gt 2 ]] && rm "$mnt/f$((i - 2))"
		mkdir -p "$mnt/d$i" && cp "$mnt/f$i" "$mnt/d$i/copy"
		sync
	done
	umount "$mnt"
	mapfile -t flushes < <("$SLUICE" journal list "$J" --json |
		jq -r --argjson s "$start" '.flush_seqs[] | select(. > $s)')
	n=${#flushes[@]}
	[[ $n -ge 6 ]]
	# at most 8 points, spread over the run, the last one always
	for ((i = 0; i < 8 && i < n; i++)); do
		s=${flushes[$((i * (n - 1) / (n > 8 ? 7 : (n - 1))))]}
		out="$BATS_TEST_TMPDIR/at-$s"
		run "$SLUICE" journal restore "$J" --seq "$s" --to "$out"
		assert_success
		# as generic/482: mount to replay ext4's own journal, then fsck
		mount -o loop "$out" "$rmnt"
		umount "$rmnt"
		run e2fsck -fn "$out"
		echo "seq $s: $output"
		assert_success
		rm -f "$out"
	done
}

@test "bad journals: another disk's, another version, a corrupt record in the middle: clear errors, nothing overwritten" {
	local other="$BATS_TEST_TMPDIR/other.img" sum bsum
	truncate -s 16M "$IMG" "$other"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 16M
	head -c 1M /dev/urandom | dd of="$DEV" bs=64K oflag=direct conv=fsync status=none
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	sum=$(md5sum <"$J")
	bsum=$(md5sum <"$other")

	# another disk's journal
	run "$SLUICE" serve --backing "$other" --journal "$J"
	assert_failure
	assert_output --partial "belongs to another disk (backing $IMG)"
	assert_equal "$(md5sum <"$J")" "$sum"
	assert_equal "$(md5sum <"$other")" "$bsum"

	# a corrupt record in the middle: byte 100 of the first record's data
	cp "$J" "$J.good"
	printf '\xff' | dd of="$J" bs=1 seek=$((8192 + 64 + 100)) conv=notrunc status=none
	run "$SLUICE" journal verify "$J"
	assert_failure
	assert_output --partial "record seq 1 at byte 8192 is corrupt"
	sum=$(md5sum <"$J")
	bsum=$(md5sum <"$IMG")
	run "$SLUICE" serve --backing "$IMG" --journal "$J"
	assert_failure
	assert_output --partial "record 1 at byte 8192 is corrupt"
	run "$SLUICE" journal restore "$J" --seq 3 --to "$BATS_TEST_TMPDIR/r"
	assert_failure
	assert_output --partial "after corrupt record seq 1 at byte 8192"
	[[ ! -e $BATS_TEST_TMPDIR/r ]]
	assert_equal "$(md5sum <"$J")" "$sum"
	assert_equal "$(md5sum <"$IMG")" "$bsum"

	# another version (both superblock copies)
	cp "$J.good" "$J"
	printf '\x09' | dd of="$J" bs=1 seek=8 conv=notrunc status=none
	printf '\x09' | dd of="$J" bs=1 seek=$((4096 + 8)) conv=notrunc status=none
	sum=$(md5sum <"$J")
	run "$SLUICE" serve --backing "$IMG" --journal "$J"
	assert_failure
	assert_output --partial "version 9, this sluice reads version 1"
	run "$SLUICE" journal list "$J"
	assert_failure
	assert_output --partial "version 9"
	assert_equal "$(md5sum <"$J")" "$sum"
	assert_equal "$(md5sum <"$IMG")" "$bsum"
}
