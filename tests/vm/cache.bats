#!/usr/bin/env bats
# The cache filter on the real ublk driver (docs/cache.md): fio crc32c
# verify in every mode, kill -9 in write-back under fio verify writes, then
# recovery, a flush and the backing alone holding what was written; a
# restart keeps the cache warm; a hot set over a 5 ms dm-delay backing hits
# 99% after warm-up, and a scan larger than the cache leaves it hot.

load ublk_helpers

setup() {
	ublk_setup
	LOOPS=()
	DMS=()
	IMG="$BATS_TEST_TMPDIR/backing.img"
	CACHE="$BATS_TEST_TMPDIR/cache.img"
}

teardown() {
	ublk_teardown
	[[ -z ${POL:-} ]] || "$SLUICE" policy remove >/dev/null 2>&1 || true
	local d
	for d in "${DMS[@]}"; do
		dmsetup remove --retry "$d" 2>/dev/null || true
	done
	for d in "${LOOPS[@]}"; do
		losetup -d "$d" 2>/dev/null || true
	done
}

# hits ID: "hits misses" of reads so far.
hits() {
	snapshot "$1"
	"$SLUICE" cache stats "$1" --json | jq -r '"\(.read_hits) \(.read_misses)"'
}

# ratio_since "H0 M0" "H1 M1": hits over reads between two hits() in per mille.
permille() {
	local h0 m0 h1 m1
	read -r h0 m0 <<<"$1"
	read -r h1 m1 <<<"$2"
	echo $(((h1 - h0) * 1000 / ((h1 - h0) + (m1 - m0))))
}

# delayed_backing MB MS: a loop device over a file with dm-delay of MS on
# reads and writes; sets BACKING.
delayed_backing() {
	local loop sectors name="cache-delay-$$"
	truncate -s "$1M" "$IMG"
	loop=$(losetup --find --show --direct-io=on "$IMG" 2>/dev/null) ||
		loop=$(losetup --find --show "$IMG")
	LOOPS+=("$loop")
	sectors=$(blockdev --getsz "$loop")
	dmsetup create "$name" --table "0 $sectors delay $loop 0 $2"
	DMS+=("$name")
	dmsetup mknodes "$name"
	BACKING=/dev/mapper/$name
}

# randread DEV OFFSET SIZE [fio args]: every 64 KiB block of the range once, random order.
randread() {
	local dev=$1 off=$2 size=$3
	shift 3
	fio --name=r --filename="$dev" --ioengine=io_uring --direct=1 --rw=randread --bs=64k \
		--iodepth=16 --offset="$off" --size="$size" --randrepeat=0 "$@" \
		--output-format=terse >/dev/null
}

@test "fio crc32c verify in writethrough, writeback and writearound, over 2 queues" {
	cache_verify_every_mode serve_bg
}

@test "writeback: kill -9 under fio verify writes, recover, verify passes; flush; the backing alone holds it" {
	truncate -s 64M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096 --cache "$CACHE" --cache-mode writeback \
		--cache-size 64M
	local id
	id=$(dev_id "$DEV")
	grep -q "^filters=cache:device=/.*/cache.img,mode=writeback,size=64MiB$" \
		"$SLUICE_RUN_DIR/ublk$id.state"
	crash_during_fio 32M
	serve_bg --recover "$id"
	assert_equal "$DEV" "/dev/ublkb$id"
	crash_fio_passes
	run "$SLUICE" cache flush "$id" --timeout 60s
	assert_success
	assert_output --partial "cache flushed"
	assert_equal "$(cstat "$id" dirty_bytes)" 0
	[ "$(cstat "$id" written_back_bytes)" -gt 0 ]
	# what the disk shows is what the backing alone holds
	local disk back
	disk=$(dd if="$DEV" bs=1M count=32 iflag=direct status=none | md5sum)
	back=$(dd if="$IMG" bs=1M count=32 status=none | md5sum)
	assert_equal "$disk" "$back"
}

@test "a restart keeps the cache warm" {
	truncate -s 64M "$IMG"
	head -c 16M /dev/urandom | dd of="$IMG" conv=notrunc status=none
	serve_bg --backing "$IMG" --cache "$CACHE" --cache-mode writethrough --cache-size 32M
	randread "$DEV" 0 16M
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	serve_bg --backing "$IMG" --cache "$CACHE" --cache-mode writethrough --cache-size 32M
	local id h0 h1
	id=$(dev_id "$DEV")
	h0=$(hits "$id")
	randread "$DEV" 0 16M
	h1=$(hits "$id")
	# every one of the 256 reads after the restart hit
	assert_equal "$(permille "$h0" "$h1")" 1000
	run "$SLUICE" cache stats "$id"
	assert_success
	assert_line --regexp "reads: +[0-9.]+% hits"
}

@test "a hot set over a 5 ms dm-delay backing hits 99%; a scan larger than the cache leaves it hot" {
	delayed_backing 256 5
	# 64 MiB of cache, a 32 MiB hot set, a 128 MiB scan in random order
	# (no stream for the sequential cutoff to catch: 2Q must keep the hot set)
	serve_bg --backing "$BACKING" --cache "$CACHE" --cache-mode writeback --cache-size 64M
	local id h0 h1 h2 p
	id=$(dev_id "$DEV")
	randread "$DEV" 0 32M
	randread "$DEV" 0 32M
	h0=$(hits "$id")
	randread "$DEV" 0 32M --time_based --runtime=3 --norandommap
	h1=$(hits "$id")
	p=$(permille "$h0" "$h1")
	echo "# hot set after warm-up: $p per mille hits" >&3
	[ "$p" -ge 990 ] || fail "hot set hit ratio ${p} per mille after warm-up"
	randread "$DEV" 64M 128M
	[ "$(cstat "$id" evictions)" -gt 0 ] || fail "the scan evicted nothing: it did not fill the cache"
	h1=$(hits "$id")
	randread "$DEV" 0 32M
	h2=$(hits "$id")
	p=$(permille "$h1" "$h2")
	echo "# hot set after a 128 MiB scan: $p per mille hits, $(cstat "$id" evictions) evictions" >&3
	[ "$p" -ge 990 ] || fail "hot set hit ratio ${p} per mille after the scan"
}

@test "a sequential stream past the cutoff bypasses the cache" {
	truncate -s 64M "$IMG"
	serve_bg --backing "$IMG" --cache "$CACHE" --cache-size 32M --sequential-cutoff 1M
	local id
	id=$(dev_id "$DEV")
	local b0 f0
	snapshot "$id"
	b0=$(cstat "$id" bypassed)
	f0=$(cstat "$id" fills)
	dd if="$DEV" of=/dev/null bs=128k skip=64 count=64 iflag=direct status=none
	snapshot "$id"
	# 1 MiB of the 8 MiB stream is admitted, the rest bypasses
	assert_equal "$(($(cstat "$id" bypassed) - b0))" 56
	assert_equal "$(($(cstat "$id" fills) - f0))" 8
}

@test "a bypassed class (reads of 128 KiB and more) does not fill the cache; another class does" {
	local id h0 f0 b0
	truncate -s 64M "$IMG"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	POL="$BATS_TEST_TMPDIR/p.yaml"
	cat >"$POL" <<-EOF
	policies:
	  - name: cached
	    classes:
	      - name: big
	        match: {op: read, size: {min: 128KiB}}
	      - name: small
	    services:
	      cache: {device: $CACHE, size: 32MiB, sequential_cutoff: 1TiB, bypass_classes: big}
	bindings:
	  - disk: {served: {backing: $IMG}}
	    policy: cached
	EOF
	"$SLUICE" policy apply "$POL" >/dev/null
	serve_bg --backing "$IMG"
	id=$(dev_id "$DEV")
	run "$SLUICE" disks --json
	echo "$output" | jq -e '.[0].filters[0] | endswith("bypass_classes=big,policy=cached")'
	# counted from here: the partition scan's reads went before
	snapshot "$id"
	f0=$(cstat "$id" fills)
	b0=$(cstat "$id" bypassed_class)
	# class big: 64 random reads of 128 KiB, none admitted
	fio --name=big --filename="$DEV" --ioengine=psync --direct=1 --rw=randread --bs=128k \
		--offset=8M --size=8M --randrepeat=0 --output-format=terse >/dev/null
	snapshot "$id"
	assert_equal "$(($(cstat "$id" fills) - f0))" 0
	assert_equal "$(($(cstat "$id" bypassed_class) - b0))" 64
	# class small: 4 KiB reads of another 1 MiB are admitted and hit next time
	fio --name=small --filename="$DEV" --ioengine=psync --direct=1 --rw=randread --bs=4k \
		--offset=16M --size=1M --randrepeat=0 --output-format=terse >/dev/null
	snapshot "$id"
	assert_equal "$(($(cstat "$id" fills) - f0))" 256
	h0=$(cstat "$id" read_hits)
	fio --name=small --filename="$DEV" --ioengine=psync --direct=1 --rw=randread --bs=4k \
		--offset=16M --size=1M --randrepeat=0 --output-format=terse >/dev/null
	snapshot "$id"
	assert_equal "$(($(cstat "$id" read_hits) - h0))" 256
	run "$SLUICE" cache stats "$id"
	assert_line --partial "bypassed $((b0 + 64)) (class $((b0 + 64)))"
}

@test "cache attach under fio verify; detach in write-back with dirty data; the backing alone holds what was written" {
	local id pid rc=0
	# 50 ms writes to the backing: the write-back lags, so the cache holds dirty data
	delayed_backing 64 50
	serve_bg --backing "$BACKING"
	id=$(dev_id "$DEV")
	fio --name=att --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=64k \
		--iodepth=8 --size=16M --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--verify_state_save=0 --randrepeat=0 >"$BATS_TEST_TMPDIR/fio.log" 2>&1 3>&- &
	pid=$!
	sleep 1
	kill -0 "$pid"	# still running when the cache comes in
	run "$SLUICE" cache attach "$id" --cache "$CACHE" --cache-size 32M \
		--cache-mode writeback --sequential-cutoff 1G
	assert_success
	assert_output "/dev/ublkb$id: cache $CACHE attached (writeback), cold"
	wait "$pid" || rc=$?
	run cat "$BATS_TEST_TMPDIR/fio.log"
	assert_equal "$rc" 0
	assert_output --partial "err= 0"
	assert_equal "$(state_filters "$id")" \
		"cache:device=$CACHE,mode=writeback,size=32MiB,sequential_cutoff=1GiB"
	# 16 MiB the test knows, written back slower than it is written
	head -c 16M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	dd if="$BATS_TEST_TMPDIR/data" of="$DEV" bs=64k seek=256 oflag=direct status=none
	snapshot "$id"
	[ "$(cstat "$id" dirty_bytes)" -gt 0 ]
	run "$SLUICE" cache detach "$id"
	assert_success
	assert_line --regexp "^/dev/ublkb$id: [0-9.]+[KMG]?i?B dirty$"
	assert_line "/dev/ublkb$id: cache detached; the disk runs on the backing alone"
	assert_equal "$(state_filters "$id")" ""
	run "$SLUICE" cache stats "$id"
	assert_failure
	# the backing alone holds what was written, and the disk shows it
	assert_equal "$(dd if="$BACKING" bs=64k skip=256 count=256 iflag=direct status=none |
		md5sum)" "$(md5sum <"$BATS_TEST_TMPDIR/data")"
	assert_equal "$(dd if="$DEV" bs=64k skip=256 count=256 iflag=direct status=none |
		md5sum)" "$(md5sum <"$BATS_TEST_TMPDIR/data")"
}

@test "ext4 on a write-back cached disk survives kill -9 and recovery" {
	truncate -s 128M "$IMG"
	serve_bg --backing "$IMG" --block-size 4096 --cache "$CACHE" --cache-mode writeback \
		--cache-size 64M
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
	run diff -r /usr/include/linux "$mnt/a"
	assert_success
	run diff -r /usr/include/linux "$mnt/b"
	assert_success
	umount "$mnt"
	run fsck.ext4 -fn "$DEV"
	assert_success
	# flushed, the backing alone is a clean file system with the same files
	run "$SLUICE" cache flush "$id" --timeout 60s
	assert_success
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	run fsck.ext4 -fn "$IMG"
	assert_success
}

@test "write-through: a cache device that starts failing keeps the disk correct" {
	truncate -s 64M "$IMG"
	local loop sectors
	loop=$(losetup --find --show "$BATS_TEST_TMPDIR/cdev.img" 2>/dev/null ||
		{ truncate -s 32M "$BATS_TEST_TMPDIR/cdev.img" &&
		  losetup --find --show "$BATS_TEST_TMPDIR/cdev.img"; })
	LOOPS+=("$loop")
	sectors=$(blockdev --getsz "$loop")
	dmsetup create "cache-fail-$$" --table "0 $sectors linear $loop 0"
	DMS+=("cache-fail-$$")
	dmsetup mknodes "cache-fail-$$"
	serve_bg --backing "$IMG" --block-size 4096 --cache "/dev/mapper/cache-fail-$$" \
		--cache-mode writethrough
	run fio_verify "$DEV" 64k 8
	assert_success
	# every cache I/O fails from now on
	dmsetup suspend "cache-fail-$$"
	dmsetup load "cache-fail-$$" --table "0 $sectors error"
	dmsetup resume "cache-fail-$$"
	run fio_verify "$DEV" 4096 16
	assert_success
	run fio_verify "$DEV" 64k 8
	assert_success
}

@test "cache flush ends while fio keeps writing in write-back (writes go through meanwhile)" {
	local id pid
	delayed_backing 64 20
	serve_bg --backing "$BACKING" --cache "$CACHE" --cache-size 32M --cache-mode writeback
	id=$(dev_id "$DEV")
	fio --name=w --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=64k \
		--iodepth=8 --size=16M --time_based --runtime=30 --randrepeat=0 \
		--output-format=terse >/dev/null 2>&1 3>&- &
	pid=$!
	sleep 3
	snapshot "$id"
	[ "$(cstat "$id" dirty_bytes)" -gt 0 ]
	run "$SLUICE" cache flush "$id" --timeout 20s
	assert_success
	assert_output --partial "cache flushed, no dirty data left"
	kill -0 "$pid"	# fio still writing: the flush did not wait for it
	snapshot "$id"
	assert_equal "$(cstat "$id" holding)" 0
	kill "$pid"
	wait "$pid" || true
}

@test "a cache device that failed stays degraded after a restart" {
	local id loop sectors name="cache-half-$$"
	truncate -s 64M "$IMG"
	truncate -s 32M "$BATS_TEST_TMPDIR/cdev.img"
	loop=$(losetup --find --show "$BATS_TEST_TMPDIR/cdev.img")
	LOOPS+=("$loop")
	sectors=$(blockdev --getsz "$loop")
	# the metadata (its first MiB) works, every data block fails
	printf '0 2048 linear %s 0\n2048 %d error\n' "$loop" $((sectors - 2048)) |
		dmsetup create "$name"
	DMS+=("$name")
	dmsetup mknodes "$name"
	serve_bg --backing "$IMG" --block-size 4096 --cache "/dev/mapper/$name" \
		--cache-mode writethrough
	id=$(dev_id "$DEV")
	run fio_verify "$DEV" 64k 8
	assert_success
	snapshot "$id"
	assert_equal "$(cstat "$id" degraded)" 1
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	SERVER_PIDS=()
	serve_bg --backing "$IMG" --block-size 4096 --cache "/dev/mapper/$name" \
		--cache-mode writethrough
	id=$(dev_id "$DEV")
	snapshot "$id"
	assert_equal "$(cstat "$id" degraded)" 1
	run fio_verify "$DEV" 64k 8
	assert_success
	snapshot "$id"
	assert_equal "$(cstat "$id" fills)" 0
}
