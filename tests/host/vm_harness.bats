#!/usr/bin/env bats
# tests/vm/run seen from the host: the guest command's status, stdout and
# stderr come back unchanged, and a stuck guest is killed. Each test boots
# the VM once (a few seconds; the first run downloads the kernel).

load ../vm/helpers

@test "vm run: a failing command fails on the host with its status" {
	run -1 "$VM_RUN" -- false 3>&-
}

@test "vm run: exit status, stdout and stderr pass through separately" {
	run --separate-stderr "$VM_RUN" -- sh -c 'uname -r; echo to-stderr >&2; exit 7' 3>&-
	assert_equal "$status" 7
	assert_output --regexp '^6\.12\.'
	assert_equal "${stderr:-}" to-stderr
}

@test "vm run: --timeout kills the VM and exits 124" {
	run -124 "$VM_RUN" --timeout 3 -- sleep 600 3>&-
	assert_output --partial 'timed out'
}
