#!/usr/bin/env bats
# The meter on bio-based stacked devices, which the host lacks: device-mapper
# linear and crypt over loop devices in the test VM (6.12 and 6.1). The I/O
# must be metered on the dm disk and charged to the issuing cgroup there and
# on the member disk, never to the kworker (kcryptd) that submits it.
# Run with: tests/vm/suite tests/vm/meter.bats

load ../host/helpers
load ../host/meter_helpers

setup() {
	[[ ${SLUICE_VM:-} == 1 ]] || fail "this suite runs in the test VM: tests/vm/suite $BATS_TEST_FILENAME"
	ensure_kernel_fs
	L1=$(make_meter_loop 64)
	D1=$(basename "$L1")
	DM=sluice-meter-$$
}

teardown() {
	dmsetup remove "$DM" 2>/dev/null || true
	rm -f "/dev/mapper/$DM"
	cleanup_loops
	cleanup_cgroups
}

# dm_create TABLE: the dm disk's kernel name (dm-N) once its node exists.
dm_create() {
	dmsetup create "$DM" --table "$1"
	dmsetup mknodes "$DM"
	dmsetup info -c --noheadings -o blkdevname "$DM"
}

sectors() {
	blockdev --getsz "$1"
}

@test "dm-linear: metered at bio level, named by mapper name, charged to the cgroup" {
	dmn=$(dm_create "0 $(sectors "$L1") linear $L1 0")
	cg=$(make_cgroup dml)
	id=$(cgroup_id "$cg")
	run_ok "$SLUICE" stat --json -o "$BATS_TEST_TMPDIR/s.json" -- sh -c "
		$(declare -f fio_n in_cgroup)
		in_cgroup $cg sh -c '$(declare -f fio_n); fio_n /dev/mapper/$DM randread 100'"
	j="$BATS_TEST_TMPDIR/s.json"
	assert_equal "$(jq -r --arg d "$dmn" '.disks[] | select(.name == $d) | .dm_name' "$j")" "$DM"
	assert_equal "$(jq --arg d "$dmn" '.disks[] | select(.name == $d) | .ios.read' "$j")" 100
	assert_equal "$(jq --arg d "$dmn" --argjson id "$id" '.disks[] | select(.name == $d) | .cgroups[] | select(.id == $id) | .ios.read' "$j")" 100
	# the member disk sees the same reads, charged to the same cgroup
	assert_equal "$(jq --arg d "$D1" --argjson id "$id" '.disks[] | select(.name == $d) | .cgroups[] | select(.id == $id) | .ios.read' "$j")" 100
	# --disk takes the mapper name
	run_ok "$SLUICE" stat --disk "$DM" --json -o "$BATS_TEST_TMPDIR/d.json" -- \
		sh -c "$(declare -f fio_n); fio_n /dev/mapper/$DM randwrite 40"
	assert_equal "$(jq -r '.disks[0].name' "$BATS_TEST_TMPDIR/d.json")" "$dmn"
	assert_equal "$(jq '.disks[0].ios.write' "$BATS_TEST_TMPDIR/d.json")" 40
}

@test "dm-crypt: writes submitted by kcryptd stay charged to the issuing cgroup" {
	key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
	# the cipher does not matter, kcryptd does: take one this kernel has
	# (6.1's VM image lacks the AES modules)
	dmn=$(dm_create "0 $(sectors "$L1") crypt aes-xts-plain64 $key 0 $L1 0" 2>/dev/null) ||
		dmn=$(dm_create "0 $(sectors "$L1") crypt cipher_null-ecb - 0 $L1 0") ||
		fail "dm-crypt: neither aes-xts nor cipher_null is available"
	cg=$(make_cgroup dmc)
	id=$(cgroup_id "$cg")
	run_ok "$SLUICE" stat --json -o "$BATS_TEST_TMPDIR/s.json" -- sh -c "
		$(declare -f fio_n in_cgroup)
		in_cgroup $cg sh -c '$(declare -f fio_n); fio_n /dev/mapper/$DM randwrite 60'"
	j="$BATS_TEST_TMPDIR/s.json"
	assert_equal "$(jq --arg d "$dmn" --argjson id "$id" '.disks[] | select(.name == $d) | .cgroups[] | select(.id == $id) | .ios.write' "$j")" 60
	member=$(jq --arg d "$D1" '[.disks[] | select(.name == $d) | .cgroups[].ios.write] | add' "$j")
	mine=$(jq --arg d "$D1" --argjson id "$id" '.disks[] | select(.name == $d) | .cgroups[] | select(.id == $id) | .ios.write' "$j")
	[ "$member" -ge 1 ] || fail "no writes reached $D1"
	assert_equal "$mine" "$member"
}

@test "trace on a dm disk: the issuing task, not a kworker" {
	dm_create "0 $(sectors "$L1") linear $L1 0" >/dev/null
	run_ok "$SLUICE" trace --disk "$DM" --json -- \
		sh -c "$(declare -f fio_n); fio_n /dev/mapper/$DM randread 25"
	assert_equal "$(echo "$output" | jq -s 'length')" 25
	assert_equal "$(echo "$output" | jq -s 'map(select(.comm == "fio")) | length')" 25
}

@test "a dm disk created while the meter runs is metered from its first I/O on" {
	# the bio programs are attached only while a bio-based disk exists: here
	# the kernel's uevent for the new disk attaches them
	! attached bio_queue || fail "another meter is running"
	run_ok "$SLUICE" stat --json -o "$BATS_TEST_TMPDIR/s.json" -- bash -c "
		$(declare -f fio_n dm_create sectors attached)
		DM=$DM
		dmn=\$(dm_create '0 $(sectors "$L1") linear $L1 0') || exit 1
		echo \$dmn >$BATS_TEST_TMPDIR/dmn
		for i in \$(seq 50); do
			attached bio_queue && break
			sleep 0.1
		done
		fio_n /dev/mapper/$DM randread 80"
	dmn=$(cat "$BATS_TEST_TMPDIR/dmn")
	assert_equal "$(jq --arg d "$dmn" '.disks[] | select(.name == $d) | .ios.read' "$BATS_TEST_TMPDIR/s.json")" 80
}
