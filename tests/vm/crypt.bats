#!/usr/bin/env bats
# The crypt filter on the real ublk driver, against dm-crypt on the same
# boot: what sluice writes, cryptsetup opens, and the other way round, for
# plain volumes (sector sizes, key sizes, IV modes) and LUKS1/LUKS2; fio
# verify through it; ext4 across kill -9 and serve --recover; and the
# refusals, each with nothing created.

load ublk_helpers

setup() {
	ublk_setup
	LOOPS=()
	DMS=()
	IMG="$BATS_TEST_TMPDIR/backing.img"
	KEY="$BATS_TEST_TMPDIR/key"
	DATA="$BATS_TEST_TMPDIR/data"
}

teardown() {
	local dm
	ublk_teardown
	for dm in "${DMS[@]}"; do
		cryptsetup close "$dm" 2>/dev/null || dmsetup remove --retry "$dm" 2>/dev/null || true
	done
}

# new_key BYTES: a random key file of mode 600 at $KEY.
new_key() {
	head -c "$1" /dev/urandom >"$KEY"
	chmod 600 "$KEY"
}

# stop_server: SIGTERM the last server and wait for it.
stop_server() {
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
}

# dm_open NAME cryptsetup-open-args...: open NAME on a loop device of $IMG;
# the VM has no udev, so dmsetup mknodes makes /dev/mapper/NAME.
dm_open() {
	local name=$1 loop
	shift
	loop=$(losetup -f --show "$IMG")
	LOOPS+=("$loop")
	DMS+=("$name")
	cryptsetup open "$@" "$loop" "$name" || return
	dmsetup mknodes "$name"
	DM_LOOP=$loop
}

dm_close() {
	cryptsetup close "$1"
	losetup -d "$DM_LOOP"
}

# nothing_created: no ublk device and no state file after a refusal.
nothing_created() {
	[ "$(ublkc_count)" -eq 0 ] || fail "a ublk device was left: $(ls /dev/ublk*)"
	! compgen -G "$SLUICE_RUN_DIR/ublk*.state" >/dev/null || fail "a state file was left"
}

luks_format() {
	cryptsetup luksFormat -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$@"
}

@test "plain: what sluice writes dm-crypt reads, and the other way, for 512/4096 sectors, 256/512-bit keys, plain/plain64/essiv IVs" {
	local combo cipher bits ss large name n=0 sargs dargs
	for combo in "aes-xts-plain64 512 512 -" "aes-xts-plain64 256 4096 -" \
		"aes-xts-plain64 512 4096 large" "aes-xts-plain 256 512 -" \
		"aes-xts-plain 512 4096 large" "aes-cbc-essiv:sha256 256 512 -"; do
		read -r cipher bits ss large <<<"$combo"
		n=$((n + 1))
		name="sl$n"
		echo "# $combo" >&3
		rm -f "$IMG"
		truncate -s 8M "$IMG"
		new_key $((bits / 8))
		sargs=(--encrypt "$cipher" --key-file "$KEY" --key-size "$bits" --sector-size "$ss")
		dargs=(--type plain --cipher "$cipher" --key-size "$bits" --key-file "$KEY"
			--sector-size "$ss")
		if [[ $large == large ]]; then
			sargs+=(--iv-large-sectors)
			dargs+=(--iv-large-sectors)
		fi
		# sluice writes at 1 MiB (IVs far from 0), dm-crypt reads
		head -c 4M /dev/urandom >"$DATA"
		serve_bg --backing "$IMG" "${sargs[@]}"
		dd if="$DATA" of="$DEV" bs=1M seek=1 oflag=direct status=none
		stop_server
		run cmp -n 4194304 -i 0:1048576 "$DATA" "$IMG"
		assert_failure	# the backing holds ciphertext
		dm_open "$name" "${dargs[@]}"
		run cmp -n 4194304 -i 0:1048576 "$DATA" "/dev/mapper/$name"
		assert_success
		# dm-crypt writes, sluice reads
		head -c 4M /dev/urandom >"$DATA"
		dd if="$DATA" of="/dev/mapper/$name" bs=1M seek=2 oflag=direct status=none
		dm_close "$name"
		serve_bg --backing "$IMG" "${sargs[@]}"
		run cmp -n 4194304 -i 0:2097152 "$DATA" "$DEV"
		assert_success
		stop_server
	done
}

@test "LUKS2 (passphrase file, key file, detached header) and LUKS1: interop with cryptsetup, payload served" {
	local pass="$BATS_TEST_TMPDIR/pass" hdr="$BATS_TEST_TMPDIR/hdr" size off
	printf 'correct horse\n' >"$pass"
	chmod 600 "$pass"
	new_key 32
	# LUKS2 with a passphrase file (its first line), 4 KiB sectors
	truncate -s 32M "$IMG"
	printf 'correct horse' | luks_format --type luks2 --sector-size 4096 "$IMG" -
	head -c 4M /dev/urandom >"$DATA"
	serve_bg --backing "$IMG" --passphrase-file "$pass"
	off=$(cryptsetup luksDump "$IMG" | sed -n 's/^[[:space:]]*offset: \([0-9]*\) \[bytes\]/\1/p' | head -n1)
	size=$(blockdev --getsize64 "$DEV")
	assert_equal "$size" $((32 * 1048576 - off))
	run "$SLUICE" disks --json
	echo "$output" | jq -e --arg p "passphrase file $pass" '.[0].encryption == {"format": "LUKS2",
		"cipher": "aes-xts-plain64", "key_size": 512, "sector_size": 4096, "key_source": $p}'
	dd if="$DATA" of="$DEV" bs=1M oflag=direct status=none
	stop_server
	dm_open lk2 --type luks2 --key-file "$pass" --keyfile-size 13
	run cmp -n 4194304 "$DATA" /dev/mapper/lk2
	assert_success
	head -c 4M /dev/urandom >"$DATA"
	dd if="$DATA" of=/dev/mapper/lk2 bs=1M seek=1 oflag=direct status=none
	dm_close lk2
	serve_bg --backing "$IMG" --passphrase-file "$pass"
	run cmp -n 4194304 -i 0:1048576 "$DATA" "$DEV"
	assert_success
	stop_server

	# LUKS2 with a key file, 512-byte sectors, keyslot 3
	rm -f "$IMG"; truncate -s 32M "$IMG"
	luks_format --type luks2 --sector-size 512 --key-slot 3 "$IMG" "$KEY"
	head -c 4M /dev/urandom >"$DATA"
	serve_bg --backing "$IMG" --key-file "$KEY"
	dd if="$DATA" of="$DEV" bs=1M oflag=direct status=none
	stop_server
	dm_open lk2k --type luks2 --key-file "$KEY"
	run cmp -n 4194304 "$DATA" /dev/mapper/lk2k
	assert_success
	dm_close lk2k

	# LUKS2 with a detached header: the whole backing is payload
	rm -f "$IMG"; truncate -s 16M "$IMG"
	truncate -s 16M "$hdr"
	luks_format --type luks2 --header "$hdr" "$IMG" "$KEY"
	head -c 4M /dev/urandom >"$DATA"
	serve_bg --backing "$IMG" --key-file "$KEY" --header "$hdr"
	assert_equal "$(blockdev --getsize64 "$DEV")" $((16 * 1048576))
	dd if="$DATA" of="$DEV" bs=1M oflag=direct status=none
	stop_server
	dm_open lkh --type luks2 --header "$hdr" --key-file "$KEY"
	run cmp -n 4194304 "$DATA" /dev/mapper/lkh
	assert_success
	dm_close lkh

	# LUKS1, written by dm-crypt, read by sluice
	rm -f "$IMG"; truncate -s 16M "$IMG"
	luks_format --type luks1 "$IMG" "$KEY"
	head -c 4M /dev/urandom >"$DATA"
	dm_open lk1 --type luks1 --key-file "$KEY"
	dd if="$DATA" of=/dev/mapper/lk1 bs=1M oflag=direct status=none
	dm_close lk1
	serve_bg --backing "$IMG" --key-file "$KEY"
	run cmp -n 4194304 "$DATA" "$DEV"
	assert_success
	stop_server
}

@test "fio crc32c verify through an encrypted disk, 1 and 2 queues; WRITE_ZEROES reads back zeroes, DISCARD refused" {
	local q id
	new_key 64
	for q in 1 2; do
		rm -f "$IMG"
		truncate -s 32M "$IMG"
		serve_bg --backing "$IMG" --encrypt aes-xts-plain64 --key-file "$KEY" \
			--sector-size 4096 --queues "$q" --depth 32
		run fio_verify "$DEV" 4096 16 --bsrange=4k-128k
		assert_success
		assert_output --partial "err= 0"
		id=$(dev_id "$DEV")
		run "$SLUICE" disks
		assert_output --partial "crypt: plain aes-xts-plain64, 512-bit key, 4096-byte sectors, key file $KEY"
		sleep 1.5	# the stats file is written about every second
		run grep -E "crypt bytes_encrypted=[1-9][0-9]* bytes_decrypted=[1-9]" \
			"$SLUICE_RUN_DIR/ublk$id.stats"
		assert_success
		stop_server
	done
	serve_bg --backing "$IMG" --encrypt aes-xts-plain64 --key-file "$KEY" --sector-size 4096
	head -c 1M /dev/urandom | dd of="$DEV" bs=1M oflag=direct status=none
	blkdiscard -z -o 0 -l 1048576 "$DEV"
	run cmp -n 1048576 "$DEV" /dev/zero
	assert_success
	# discards would show where data is: refused unless --allow-discards
	assert_equal "$(cat "/sys/block/ublkb$(dev_id "$DEV")/queue/discard_max_bytes")" 0
	run blkdiscard -o 0 -l 1048576 "$DEV"
	assert_failure
}

@test "ext4 on an encrypted disk survives kill -9 and serve --recover: e2fsck clean, checksums intact" {
	local id mnt="$BATS_TEST_TMPDIR/mnt"
	truncate -s 64M "$IMG"
	new_key 64
	serve_bg --backing "$IMG" --encrypt aes-xts-plain64 --key-file "$KEY" --sector-size 4096
	id=$(dev_id "$DEV")
	# the state file names where the key is, never the key
	run grep -c "key_file=$KEY" "$SLUICE_RUN_DIR/ublk$id.state"
	assert_output 1
	mkfs.ext4 -q -F "$DEV"
	mkdir -p "$mnt"
	mount "$DEV" "$mnt"
	cp -a /usr/include/linux "$mnt/a"
	sync
	(cd "$mnt/a" && find . -type f -exec md5sum {} + | sort) >"$BATS_TEST_TMPDIR/sums"
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	serve_bg --recover "$id"
	cp -a /usr/include/linux "$mnt/b"
	sync
	run diff -r /usr/include/linux "$mnt/b"
	assert_success
	run bash -c "cd '$mnt/a' && find . -type f -exec md5sum {} + | sort | diff - '$BATS_TEST_TMPDIR/sums'"
	assert_success
	umount "$mnt"
	run e2fsck -fn "$DEV"
	assert_success
	stop_server
	# and dm-crypt sees the same file system
	dm_open ext --type plain --cipher aes-xts-plain64 --key-size 512 --key-file "$KEY" \
		--sector-size 4096
	run e2fsck -fn /dev/mapper/ext
	assert_success
}

@test "refusals: wrong passphrase, key file mode, equal XTS halves, a policy contradicting the LUKS header; nothing created" {
	local pass="$BATS_TEST_TMPDIR/pass"
	truncate -s 32M "$IMG"
	new_key 64
	printf 'right\n' >"$pass"
	chmod 600 "$pass"
	luks_format --type luks2 --sector-size 4096 "$IMG" "$KEY"

	run "$SLUICE" serve --backing "$IMG" --passphrase-file "$pass"
	assert_failure
	assert_output "sluice: error: $IMG: '$pass' opens no LUKS keyslot; give the right key; nothing was created"
	nothing_created

	chmod 644 "$KEY"
	run "$SLUICE" serve --backing "$IMG" --key-file "$KEY"
	assert_failure
	assert_output "sluice: error: key file '$KEY' is readable by group or others (mode 0644); run 'chmod 600 $KEY'; nothing was created"
	nothing_created
	chmod 600 "$KEY"

	run "$SLUICE" serve --backing "$IMG" --key-file "$KEY" --encrypt aes-cbc-essiv:sha256
	assert_failure
	assert_output "sluice: error: $IMG: cipher aes-cbc-essiv:sha256 was asked for (--encrypt or the policy's cipher), the LUKS2 header says aes-xts-plain64; leave it out: the header decides; nothing was created"
	nothing_created

	run "$SLUICE" serve --backing "$IMG" --key-file "$KEY" --sector-size 512
	assert_failure
	assert_output --partial "sector size 512 was asked for (--sector-size or the policy's sector_size), the LUKS2 header says 4096"
	nothing_created

	rm -f "$IMG"; truncate -s 8M "$IMG"
	head -c 32 /dev/urandom >"$KEY.half"
	cat "$KEY.half" "$KEY.half" >"$KEY"
	run "$SLUICE" serve --backing "$IMG" --encrypt aes-xts-plain64 --key-file "$KEY"
	assert_failure
	assert_output "sluice: error: key '$KEY': its two XTS halves are equal, which XTS forbids (OpenSSL 3 refuses it); make a new random key, e.g. 'head -c 64 /dev/urandom > KEY'; nothing was created"
	nothing_created

	# a wrong plain key gives other data, never an error
	new_key 64
	serve_bg --backing "$IMG" --encrypt aes-xts-plain64 --key-file "$KEY"
	head -c 1M /dev/urandom >"$DATA"
	dd if="$DATA" of="$DEV" bs=1M oflag=direct status=none
	stop_server
	new_key 64
	serve_bg --backing "$IMG" --encrypt aes-xts-plain64 --key-file "$KEY"
	run cmp -n 1048576 "$DATA" "$DEV"
	assert_failure
	run dd if="$DEV" of=/dev/null bs=1M iflag=direct status=none
	assert_success
}

@test "a policy's services: encrypt: serves the disk through crypt; dm-crypt reads what it wrote; policy status agrees" {
	local pol="$BATS_TEST_TMPDIR/p.yaml"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	truncate -s 8M "$IMG"
	new_key 64
	cat >"$pol" <<-EOF
	policies:
	  - name: vault
	    services:
	      encrypt: {format: plain, sector_size: 4096, iv_large_sectors: true, key_file: $KEY}
	bindings:
	  - disk: {served: {backing: $IMG}}
	    policy: vault
	EOF
	"$SLUICE" policy apply "$pol" >/dev/null
	head -c 4M /dev/urandom >"$DATA"
	serve_bg --backing "$IMG" --block-size 4096
	run "$SLUICE" disks --json
	echo "$output" | jq -e '.[0].policy == "vault" and (.[0].filters[0] | startswith("crypt:format=plain"))'
	dd if="$DATA" of="$DEV" bs=1M oflag=direct status=none
	run "$SLUICE" policy status
	assert_success
	stop_server
	"$SLUICE" policy remove >/dev/null
	dm_open pol --type plain --cipher aes-xts-plain64 --key-size 512 --key-file "$KEY" \
		--sector-size 4096 --iv-large-sectors
	run cmp -n 4194304 "$DATA" /dev/mapper/pol
	assert_success
}
