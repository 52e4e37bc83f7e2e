#!/usr/bin/env bats
# Policies meet the ublk server (6.12 test VM): 'sluice serve' takes its
# filter chain from the applied policy bound to its backing, records it in
# the state file, and 'sluice policy status' checks that disk against it.

load ublk_helpers

setup() {
	ublk_setup
	# shellcheck disable=SC2034 # ublk_teardown detaches these
	LOOPS=()
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	IMG="$BATS_TEST_TMPDIR/backing.img"
	truncate -s 16M "$IMG"
	POL="$BATS_TEST_TMPDIR/p.yaml"
	printf 'not a real key\n' >"$BATS_TEST_TMPDIR/key"
	chmod 600 "$BATS_TEST_TMPDIR/key"
}

teardown() {
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	ublk_teardown
}

# write_policy NAME SERVICES: NAME bound to the ublk disk served over $IMG,
# with the given services mapping.
write_policy() {
	cat >"$POL" <<-EOF
	policies:
	  - name: $1
	    services: $2
	bindings:
	  - disk: {served: {backing: $IMG}}
	    policy: $1
	EOF
}

# The chain file of the only binding.
chain_file() {
	echo "$SLUICE_RUN_DIR/policy/current/chains/b000.chain"
}

@test "serve picks the applied policy of its backing; disks and status agree" {
	write_policy plain '{encrypt: false, journal: false}'
	run "$SLUICE" policy apply "$POL"
	assert_success
	# applied before the disk exists: the binding waits for the server
	run -1 "$SLUICE" policy status
	assert_output --partial "the disk is not served yet"

	serve_bg --backing "$IMG"
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e --arg b "$IMG" \
		'length == 1 and .[0].policy == "plain" and .[0].filters == [] and .[0].backing == $b'

	# the next apply resolves served: {backing} to the running disk
	run "$SLUICE" policy apply "$POL"
	assert_success
	grep -qx "dev=$(cat "/sys/block/${DEV#/dev/}/dev")" "$(chain_file)"
	run "$SLUICE" policy status --json
	assert_success
	echo "$output" | jq -e '.compliant and
		(.bindings[0].checks | map(.state) == ["ok", "ok", "n/a"])'
	echo "$output" | jq -e --arg d "ublk$(dev_id "$DEV")" \
		'.bindings[0].checks[1].detail | startswith($d)'

	# and the kernel classifies the served disk's I/O under that policy
	local devnum
	devnum=$(cat "/sys/block/${DEV#/dev/}/dev")
	dd if="$DEV" of=/dev/null bs=4k count=16 iflag=direct status=none
	run "$SLUICE" policy counts --json
	assert_success
	echo "$output" | jq -e --arg d "$devnum" \
		'[.counts[] | select(.disk == $d) | .requests] | add >= 16'
}

@test "serve --policy NAME and the count built-in: the state file says which" {
	write_policy plain '{cache: false}'
	"$SLUICE" policy apply "$POL" >/dev/null
	serve_bg --backing "$IMG" --policy plain
	run "$SLUICE" disks --json
	echo "$output" | jq -e '.[0].policy == "plain" and .[0].filters == []'
	grep -qx "policy=plain" "$SLUICE_RUN_DIR/ublk$(dev_id "$DEV").state"
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"

	# a built-in name still works; count is not a data service, so no drift
	serve_bg --backing "$IMG" --policy count
	run "$SLUICE" disks --json
	echo "$output" | jq -e '.[0].policy == "count" and .[0].filters == ["count"]'
	dd if="$DEV" of=/dev/null bs=4k count=16 iflag=direct status=none
	"$SLUICE" policy apply "$POL" >/dev/null
	run "$SLUICE" policy status --json
	assert_success
	echo "$output" | jq -e '.bindings[0].checks[1].state == "ok"'
}

@test "a declared filter that is not attached is drift" {
	serve_bg --backing "$IMG"
	write_policy vault "{encrypt: {format: luks2, key_file: $BATS_TEST_TMPDIR/key}}"
	run "$SLUICE" policy apply "$POL"
	assert_success
	run -1 "$SLUICE" policy status --json
	echo "$output" | jq -e '(.compliant | not) and .bindings[0].checks[1].state == "drift"'
	echo "$output" | jq -e '.bindings[0].checks[1].detail | endswith("policy says '"'crypt'"'")'
	run -1 "$SLUICE" policy status
	assert_output --partial "drift"
}

@test "a policy requiring encrypt over a backing without a LUKS header: serve refuses by name and creates nothing" {
	write_policy vault "{encrypt: {format: luks2, key_file: $BATS_TEST_TMPDIR/key}}"
	"$SLUICE" policy apply "$POL" >/dev/null
	local before
	before=$(ublkc_count)
	run -1 "$SLUICE" serve --backing "$IMG"
	assert_output --partial "no LUKS header; format it with 'cryptsetup luksFormat'"
	assert_equal "$(ublkc_count)" "$before"
	run ls "$SLUICE_RUN_DIR"
	refute_output --partial ".state"
	run -1 "$SLUICE" serve --backing "$IMG" --policy vault
	assert_output --partial "no LUKS header"
	assert_equal "$(ublkc_count)" "$before"
}
