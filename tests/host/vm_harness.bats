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

@test "vm run: a guest kernel panic exits 125, shows the oops and keeps the console" {
	rm -f "$TOP/build/vm/console-6.12.log"
	run -125 "$VM_RUN" --kernel 6.12 -- sh -c 'echo c > /proc/sysrq-trigger' 3>&-
	assert_output --partial 'from its first oops line'
	assert_output --partial 'Kernel panic - not syncing: sysrq triggered crash'
	grep -q 'sysrq triggered crash' "$TOP/build/vm/console-6.12.log"
}
