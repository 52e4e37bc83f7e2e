#!/usr/bin/env bats
# 'sluice serve' against applied policies on the host (no ublk driver): the
# chain of the policy bound to a backing is chosen, or refused by name,
# before anything is created. The VM suite tests/vm/policy_serve.bats
# serves for real.

load helpers

setup() {
	ensure_kernel_fs
	export SLUICE_RUN_DIR="$BATS_TEST_TMPDIR/run"
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	IMG="$BATS_TEST_TMPDIR/disk.img"
	IMG2="$BATS_TEST_TMPDIR/other.img"
	truncate -s 16M "$IMG" "$IMG2"
	printf 'not a real key\n' >"$BATS_TEST_TMPDIR/key"
	chmod 600 "$BATS_TEST_TMPDIR/key"
	POL="$BATS_TEST_TMPDIR/p.yaml"
}

teardown() {
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	[ -z "${LOOP:-}" ] || losetup -d "$LOOP"
}

# apply_policy NAME SERVICES [BACKING]
apply_policy() {
	cat >"$POL" <<-EOF
	policies:
	  - name: $1
	    services: $2
	bindings:
	  - disk: {served: {backing: ${3:-$IMG}}}
	    policy: $1
	EOF
	"$SLUICE" policy apply "$POL" >/dev/null
}

@test "serve: an encrypt policy over a backing without a LUKS header is refused by the crypt filter, before the driver" {
	apply_policy vault "{encrypt: {format: luks2, key_file: $BATS_TEST_TMPDIR/key}}"
	run -1 "$SLUICE" serve --backing "$IMG"
	assert_output --partial "no LUKS header; format it with 'cryptsetup luksFormat', give the detached one with header, or use format plain; nothing was created"
	refute_output --partial "ublk-control"
	run ls "$SLUICE_RUN_DIR"
	refute_output --partial ".state"
}

@test "serve: a policy's journal and cache filters are set up before the driver is asked" {
	# (a filter this build lacks is refused by name: tests/unit/test_ublk_state.c)
	apply_policy cdp "{journal: {path: $BATS_TEST_TMPDIR/j.journal, size: 64MiB}, encrypt: false}"
	# no ublk on the host: reaching the driver means the journal was set up
	run -1 "$SLUICE" serve --backing "$IMG"
	assert_output --partial "/dev/ublk-control: no ublk driver here"
	# the same journal bound to another backing: refused by name, as --journal is
	apply_policy cdp "{journal: {path: $BATS_TEST_TMPDIR/j.journal, size: 64MiB}, encrypt: false}" "$IMG2"
	run -1 "$SLUICE" serve --backing "$IMG2"
	assert_output "sluice: error: journal $BATS_TEST_TMPDIR/j.journal belongs to another disk (backing $IMG), not $IMG2; give this disk's journal, or a new path (--journal, or the policy's journal path)"
	LOOP=$(losetup --find --show "$IMG2")
	apply_policy fast "{cache: {device: $LOOP, mode: writeback}}"
	run -1 "$SLUICE" serve --backing "$IMG"
	assert_output --partial "/dev/ublk-control: no ublk driver here"
}

@test "serve: --policy lists the applied policies and what the backing is bound to" {
	apply_policy plain '{encrypt: false}'
	run -1 "$SLUICE" serve --backing "$IMG" --policy nosuch
	assert_output "sluice: error: --policy 'nosuch': no such policy for $IMG; applied policies: plain ($IMG is bound to 'plain': leave --policy out to serve it so); built in: passthrough, count, tick"
	# an applied policy is only for the backing it is bound to
	run -1 "$SLUICE" serve --backing "$IMG2" --policy plain
	assert_output "sluice: error: --policy 'plain': no such policy for $IMG2; applied policies: plain; built in: passthrough, count, tick (an applied policy needs a binding served: {backing: $IMG2})"
}

@test "serve: the bound policy and the built-ins get as far as the driver" {
	apply_policy plain '{encrypt: false}'
	# no ublk on the host: reaching the driver means the policy was accepted
	run -1 "$SLUICE" serve --backing "$IMG"
	assert_output --partial "/dev/ublk-control: no ublk driver here"
	run -1 "$SLUICE" serve --backing "$IMG" --policy plain
	assert_output --partial "/dev/ublk-control: no ublk driver here"
	run -1 "$SLUICE" serve --backing "$IMG" --policy count
	assert_line --index 0 "sluice: warning: $IMG is bound to applied policy 'plain'; serving with built-in 'count' instead ('sluice policy status' shows any drift)"
	assert_output --partial "/dev/ublk-control: no ublk driver here"
}

@test "policy status: a served binding with no server is drift" {
	apply_policy plain '{encrypt: false}'
	run -1 "$SLUICE" policy status --json
	echo "$output" | jq -e '(.compliant | not) and
		(.bindings[0].checks | map(.state) == ["drift", "drift", "n/a"])'
	echo "$output" | jq -e '.bindings[0].checks[1].detail | startswith("not served")'
}

@test "show: the data services under their YAML names, as the chain file has them" {
	LOOP=$(losetup --find --show "$IMG2")
	apply_policy all "{encrypt: {sector_size: 4096, key_file: $BATS_TEST_TMPDIR/key}, journal: {path: $BATS_TEST_TMPDIR/j.journal, retention: 90m, replica: {target: 'standby:7070', psk_file: $BATS_TEST_TMPDIR/link.psk}}, cache: {device: $LOOP, mode: writeback}}"
	local chain="$SLUICE_RUN_DIR/policy/current/chains/b000.chain"
	# one name and one spelling per concept, defaults written out
	grep -qx "filter=crypt format=luks2 sector_size=4KiB iv_offset=0 key_file=$BATS_TEST_TMPDIR/key" "$chain"
	grep -qx "filter=journal path=$BATS_TEST_TMPDIR/j.journal size=1GiB retention=90m commit=sync replica.target=standby:7070 replica.mode=async replica.failover=manual replica.psk_file=$BATS_TEST_TMPDIR/link.psk" "$chain"
	grep -qx "filter=cache device=$LOOP mode=writeback block_size=64KiB sequential_cutoff=4MiB writeback_interval=20ms" "$chain"

	run "$SLUICE" policy show --json
	assert_success
	echo "$output" | jq -e --arg k "$BATS_TEST_TMPDIR/key" '.policies[0].services.encrypt ==
		{"format": "luks2", "sector_size": "4KiB", "iv_offset": "0", "key_file": $k}'
	echo "$output" | jq -e --arg j "$BATS_TEST_TMPDIR/j.journal" '.policies[0].services.journal ==
		{"path": $j, "size": "1GiB", "retention": "90m", "commit": "sync",
		 "replica": {"target": "standby:7070", "mode": "async", "failover": "manual",
			     "psk_file": ($j | sub("j.journal$"; "link.psk"))}}'
	echo "$output" | jq -e --arg d "$LOOP" '.policies[0].services.cache ==
		{"device": $d, "mode": "writeback", "block_size": "64KiB",
		 "sequential_cutoff": "4MiB", "writeback_interval": "20ms"}'
	# and what show prints is a policy that checks, here, to the same chain
	"$SLUICE" policy show >"$BATS_TEST_TMPDIR/shown.yaml"
	cp "$chain" "$BATS_TEST_TMPDIR/before.chain"
	run "$SLUICE" policy apply "$BATS_TEST_TMPDIR/shown.yaml"
	assert_success
	diff <(grep '^filter=' "$BATS_TEST_TMPDIR/before.chain") <(grep '^filter=' "$chain")

	apply_policy none '{encrypt: false, cache: false}'
	run "$SLUICE" policy show --json
	echo "$output" | jq -e '.policies[0].services == {"encrypt": false, "cache": false}'
}

@test "policy status: a served filter whose parameters differ from the policy is drift" {
	local chain="$SLUICE_RUN_DIR/policy/current/chains/b000.chain" spec
	apply_policy cdp "{journal: {path: $BATS_TEST_TMPDIR/j.journal, retention: 12h}}"
	# a server's state file as 'serve' writes it: the chain's line as a filter spec
	spec=$(sed -n 's/^filter=journal /journal:/p' "$chain" | tr ' ' ',')
	printf 'id=3\nbacking=%s\nsize=16777216\nqueues=1\ndepth=64\nblock_size=512\nread_only=0\npolicy=cdp\nfilters=count %s\npid=%d\nflags=0x58\n' \
		"$IMG" "$spec" $$ >"$SLUICE_RUN_DIR/ublk3.state"
	run -1 "$SLUICE" policy status --json
	echo "$output" | jq -e '.bindings[0].checks[1] == {"check": "filters", "state": "ok", "detail": "ublk3 attaches journal"}'

	# the policy changes under a running server: its filter still runs the old chain
	apply_policy cdp "{journal: {path: $BATS_TEST_TMPDIR/j.journal, retention: 24h}}"
	run -1 "$SLUICE" policy status --json
	echo "$output" | jq -e '.bindings[0].checks[1] == {"check": "filters", "state": "drift", "detail": "ublk3'"'"'s journal runs retention=12h, policy says retention=24h; serve it again to take the applied chain"}'
}
