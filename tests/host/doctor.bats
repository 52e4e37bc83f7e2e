#!/usr/bin/env bats
# sluice doctor on this machine's kernel (6.18, no ublk, no device-mapper).

load helpers

@test "doctor: core works on the host and exits 0" {
	run "$SLUICE" doctor
	assert_success
	assert_line --regexp '^ok +bpf '
	assert_line --regexp '^ok +btf '
	assert_line --regexp '^ok +tp-block-rq '
	assert_line --partial "core: ok"
}

@test "doctor: ublk is missing on the host, with the fix" {
	[ ! -e /dev/ublk-control ] || skip "this host has ublk"
	run "$SLUICE" doctor
	assert_line --regexp '^missing +ublk '
	assert_output --partial "fix: modprobe ublk_drv"
}

@test "doctor --json is one object with stable feature names" {
	run "$SLUICE" doctor --json
	assert_success
	echo "$output" | jq -e '.core_ok == true' >/dev/null
	for f in bpf btf bpffs tracefs tp-block-rq tp-block-io tp-block-bio fentry kprobe \
		io-uring ublk cgroup2-io device-mapper cap-bpf cap-sys-admin; do
		echo "$output" | jq -e --arg f "$f" '.features | map(.name) | index($f) != null' >/dev/null \
			|| fail "feature $f missing from --json"
	done
	state=$(echo "$output" | jq -r '.features[] | select(.name == "ublk") | .state')
	[ -e /dev/ublk-control ] && assert_equal "$state" ok || assert_equal "$state" missing
}

@test "doctor: block_io_start/done are reported on a kernel that has them" {
	run "$SLUICE" doctor --json
	state=$(echo "$output" | jq -r '.features[] | select(.name == "tp-block-io") | .state')
	if grep -q 'btf_trace_block_io_start' <(bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null); then
		assert_equal "$state" ok
	else
		assert_equal "$state" missing
	fi
}

@test "doctor rejects stray arguments" {
	run -2 "$SLUICE" doctor extra
	assert_output --partial "doctor takes no arguments ('extra')"
}
