#!/usr/bin/env bats
# sluice policy on this machine's kernel: checking (every error, exact
# positions), apply/show/status/remove on a real loop device with real BPF,
# atomic failure, and a live apply under fio with no lost counts.

load helpers

BAD="$TOP/tests/host/policies-bad"

setup() {
	ensure_kernel_fs
	export SLUICE_RUN_DIR="$BATS_TEST_TMPDIR/run"
	"$SLUICE" policy remove >/dev/null 2>&1 || true
}

teardown() {
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	cleanup_loops
	local cg
	# mk_cgroup runs in $(...), so the names are fixed here rather than recorded
	for cg in sluice-test-gold sluice-test-silver sluice-test-live sluice-test-other; do
		cg="$(io_cgroup_root)/$cg"
		[ -d "$cg" ] || continue
		rmdir "$cg"/*/ 2>/dev/null || true
		rmdir "$cg" 2>/dev/null || true
	done
}

# The hierarchy that tags block I/O: blkio v1 on a hybrid host, else cgroup2.
io_cgroup_root() {
	if [ -e /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ]; then
		echo /sys/fs/cgroup/blkio
	else
		echo /sys/fs/cgroup
	fi
}

# mk_cgroup NAME: a cgroup under the I/O hierarchy (teardown removes the
# sluice-test-* ones).
mk_cgroup() {
	local d
	d="$(io_cgroup_root)/$1"
	mkdir -p "$d"
	echo "$d"
}

# Requests the classify probe counted on DEV (maj:min), all classes, or CLASS_ID.
probe_count() {
	local dev=$1 cls=${2:-}
	"$SLUICE" policy counts --json | jq --arg d "$dev" --arg c "$cls" \
		'[.counts[] | select(.disk == $d and ($c == "" or .class_id == ($c | tonumber))) | .requests] | add // 0'
}

devnum() {
	printf '%d:%d' "0x$(stat -c %t "$1")" "0x$(stat -c %T "$1")"
}

@test "policy --help has usage and examples" {
	run "$SLUICE" policy --help
	assert_success
	assert_output --partial "Usage: sluice policy check"
	assert_output --partial "Examples:"
}

@test "check: the shipped examples pass the schema check" {
	run "$SLUICE" policy check --no-resolve "$TOP"/policies/*.yaml
	assert_success
	assert_output --partial "5 policies, 5 bindings (selectors not resolved)"
}

@test "check: the examples' selectors do not resolve here, and check says so" {
	run -1 "$SLUICE" policy check "$TOP/policies/encrypted.yaml"
	assert_output --partial "encrypted.yaml:10:19: key file '/etc/sluice/keys/vault.key' is unreadable"
	assert_output --partial "encrypted.yaml:13:30: backing file '/srv/disks/vault.img' matches nothing"
}

@test "check: there are at least 20 malformed policy files, each with its expected error" {
	local n
	n=$(find "$BAD" -name '*.yaml' | wc -l)
	[ "$n" -ge 20 ] || fail "only $n malformed files"
	for f in "$BAD"/*.yaml; do
		grep -q "^$(basename "$f")	" "$BAD/EXPECTED" || fail "$f has no expectation"
	done
}

@test "check: every malformed file fails with exactly its error, file:line:col: message" {
	local name mode msg opt
	cd "$BAD"
	while IFS=$'\t' read -r name mode msg; do
		[[ $name == \#* ]] && continue
		opt=--no-resolve
		[ "$mode" = resolve ] && opt=
		run -1 "$SLUICE" policy check $opt "$name"
		assert_equal "${lines[0]}" "$name:$msg"
		assert_equal "${lines[1]}" "sluice: error: 1 error; nothing was applied"
		assert_equal "${#lines[@]}" 2
	done <EXPECTED
}

@test "check: all errors in all files are reported at once" {
	cd "$BAD"
	run -1 "$SLUICE" policy check --no-resolve 02-unknown-key-suggested.yaml 05-bad-unit.yaml \
		07-out-of-range.yaml 20-unknown-op.yaml
	assert_line "02-unknown-key-suggested.yaml:3:5: unknown key 'latncy_target' in policy; did you mean 'latency_target'?"
	assert_line "05-bad-unit.yaml:3:21: 'latency_target': bad unit in '30xs'; use ns, us, ms, s, m or h"
	assert_line "07-out-of-range.yaml:5:17: 'shares' 20000 is out of range (1..10000)"
	assert_line "20-unknown-op.yaml:5:28: unknown op 'wirte'; did you mean 'write'?"
	# each file defines a policy 'a': across files that is an error too
	assert_line "05-bad-unit.yaml:2:11: duplicate policy name 'a' (first defined at 02-unknown-key-suggested.yaml:2:5)"
	assert_line "sluice: error: 7 errors; nothing was applied"
}

@test "check: a disk bound twice across files, and an unreadable policy file" {
	local loop
	loop=$(make_loop 16)
	printf 'policies:\n  - name: a\nbindings:\n  - disk: %s\n    policy: a\n' "$loop" >"$BATS_TEST_TMPDIR/one.yaml"
	printf 'bindings:\n  - disk: {devnum: "%s"}\n    policy: a\n' "$(devnum "$loop")" >"$BATS_TEST_TMPDIR/two.yaml"
	cd "$BATS_TEST_TMPDIR"
	run -1 "$SLUICE" policy check one.yaml two.yaml missing.yaml
	assert_line "two.yaml:2:11: disk '$(devnum "$loop")' is already bound at one.yaml:4:11"
	assert_line "missing.yaml:1:1: cannot read policy file: No such file or directory"
}

# A three-class policy on LOOP, with gold limited in its cgroup's files.
write_tiers() {
	local loop=$1 out=$2
	cat >"$out" <<-EOF
	version: 1
	policies:
	  - name: tiers
	    latency_target: 30ms
	    classes:
	      - name: gold
	        match: {cgroup: sluice-test-gold}
	        shares: high
	        limits: {read_iops: 5000 iops, write_bps: 200MiB/s}
	      - name: silver
	        match: {cgroup: sluice-test-silver, op: [read, write], size: {min: 4KiB, max: 1MiB}}
	        reserve: 90% peak
	      - name: bronze
	        shares: low
	bindings:
	  - disk: $loop
	    policy: tiers
	EOF
}

@test "apply/show/status/remove round trip on a loop device" {
	local loop gold
	loop=$(make_loop 32)
	gold=$(mk_cgroup sluice-test-gold)
	mk_cgroup sluice-test-silver >/dev/null
	write_tiers "$loop" "$BATS_TEST_TMPDIR/tiers.yaml"

	run "$SLUICE" policy apply "$BATS_TEST_TMPDIR/tiers.yaml"
	assert_success
	assert_line --regexp '^applied generation [0-9]+: 1 policy, 1 binding, 1 cgroup limit$'
	[ -e /sys/fs/bpf/sluice/policy_gen ]
	[ -e /sys/fs/bpf/sluice/classify_probe_link ]

	# show reads the kernel's maps back in the same schema: it checks as a policy
	run "$SLUICE" policy show --json
	assert_success
	echo "$output" | jq -e '.policies[0].name == "tiers" and .policies[0].latency_target == "30ms"'
	echo "$output" | jq -e '.policies[0].classes | map(.name) == ["gold", "silver", "bronze"]'
	echo "$output" | jq -e '.policies[0].classes[0].limits == {"read_iops": "5000 iops", "write_bps": "200MiB/s"}'
	echo "$output" | jq -e '.policies[0].classes[1].match.size == {"min": "4KiB", "max": "1MiB"}'
	echo "$output" | jq -e '.policies[0].classes[1].reserve == "90% peak"'
	echo "$output" | jq -e --arg l "$loop" '.bindings == [{"disk": {"path": $l}, "policy": "tiers"}]'
	"$SLUICE" policy show >"$BATS_TEST_TMPDIR/shown.yaml"
	run "$SLUICE" policy check "$BATS_TEST_TMPDIR/shown.yaml"
	assert_success

	# the limits are in the cgroup's own files
	if [ -e "$gold/io.max" ]; then
		grep -q "^$(devnum "$loop") .*riops=5000" "$gold/io.max"
	else
		grep -qx "$(devnum "$loop") 5000" "$gold/blkio.throttle.read_iops_device"
	fi

	run "$SLUICE" policy status
	assert_success
	assert_line --regexp "^  policy +ok +'tiers' in force on $(devnum "$loop")$"
	assert_line --regexp '^  limits +ok +1 cgroup as declared$'
	assert_line "compliant: 1 of 1 binding"

	run "$SLUICE" policy remove
	assert_success
	[ ! -e /sys/fs/bpf/sluice/policy_gen ]
	[ ! -e /sys/fs/bpf/sluice/classify_probe_link ]
	run -1 "$SLUICE" policy show
	assert_output "sluice: error: no policy is in force; apply one with 'sluice policy apply FILE'"
	if [ -e "$gold/io.max" ]; then
		run ! grep -q "^$(devnum "$loop") .*riops=5000" "$gold/io.max"
	else
		run ! grep -q "^$(devnum "$loop") " "$gold/blkio.throttle.read_iops_device"
	fi
}

# Issue 19: show gives back every field of the schema a policy can carry
# (the data services have their own test in policy_serve.bats), written here
# in the form show prints, so what goes in is what comes out.
@test "show: every field round-trips, description included" {
	local loop
	loop=$(make_loop 32)
	mk_cgroup sluice-test-gold >/dev/null
	jq -n --arg l "$loop" '{"version": 1,
	  "policies": [{"name": "every",
	    "description": "every field: shown as written, # and : included",
	    "latency_target": "30ms", "meter": false, "throttle": true,
	    "throttle_interval": "2s",
	    "classes": [
	      {"name": "gold", "match": {"cgroup": ["sluice-test-gold"],
	         "op": ["read", "write"], "size": {"min": "4KiB", "max": "1MiB"}},
	       "shares": 2000, "reserve": "500 iops", "latency_target": "5ms",
	       "limits": {"read_iops": "5000 iops", "write_iops": "20% peak",
	         "read_bps": "100MiB/s", "write_bps": "200MiB/s"}},
	      {"name": "silver", "shares": 500, "reserve": "10% peak"}]}],
	  "bindings": [{"disk": {"path": $l}, "policy": "every"}]}' >"$BATS_TEST_TMPDIR/every.json"
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/every.json"
	run "$SLUICE" policy show --json
	assert_success
	diff <(jq -S . "$BATS_TEST_TMPDIR/every.json") <(echo "$output" | jq -S 'del(.generation)')
	# and the YAML show prints applies as the same policy
	"$SLUICE" policy show >"$BATS_TEST_TMPDIR/shown.yaml"
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/shown.yaml"
	diff <(jq -S . "$BATS_TEST_TMPDIR/every.json") \
		<("$SLUICE" policy show --json | jq -S 'del(.generation)')
	# a description too long for the map is refused, not cut
	jq '.policies[0].description = ("x" * 224)' "$BATS_TEST_TMPDIR/every.json" \
		>"$BATS_TEST_TMPDIR/long.json"
	run -1 "$SLUICE" policy check "$BATS_TEST_TMPDIR/long.json"
	assert_output --partial "'description' must be at most 223 bytes, got 224"
}

@test "status: a changed cgroup limit is drift, exit 1, per binding in JSON" {
	local loop gold dev
	loop=$(make_loop 32)
	dev=$(devnum "$loop")
	gold=$(mk_cgroup sluice-test-gold)
	mk_cgroup sluice-test-silver >/dev/null
	write_tiers "$loop" "$BATS_TEST_TMPDIR/tiers.yaml"
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/tiers.yaml"
	if [ -e "$gold/io.max" ]; then
		echo "$dev riops=max" >"$gold/io.max"
	else
		echo "$dev 0" >"$gold/blkio.throttle.read_iops_device"
	fi
	run -1 "$SLUICE" policy status --json
	echo "$output" | jq -e '.compliant == false'
	echo "$output" | jq -e '.bindings[0].checks[] | select(.check == "policy") | .state == "ok"'
	echo "$output" | jq -e '.bindings[0].checks[] | select(.check == "limits") | .state == "drift"'
	echo "$output" | jq -e '.bindings[0].checks[] | select(.check == "limits") | .detail | test("read_iops is 0, policy says 5000")'
}

@test "status: a policy replaced behind its back is drift" {
	local loop
	loop=$(make_loop 32)
	mk_cgroup sluice-test-gold >/dev/null
	mk_cgroup sluice-test-silver >/dev/null
	write_tiers "$loop" "$BATS_TEST_TMPDIR/tiers.yaml"
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/tiers.yaml"
	sed 's/latency_target: 30ms/latency_target: 50ms/' "$BATS_TEST_TMPDIR/tiers.yaml" >"$BATS_TEST_TMPDIR/changed.yaml"
	run -1 "$SLUICE" policy status "$BATS_TEST_TMPDIR/changed.yaml"
	assert_line --regexp "^  policy +drift +policy 'tiers' in force differs from the file; re-apply$"
	run "$SLUICE" policy status
	assert_success
}

@test "a failed apply leaves the previous policy in force" {
	local loop before gen
	loop=$(make_loop 32)
	mk_cgroup sluice-test-gold >/dev/null
	mk_cgroup sluice-test-silver >/dev/null
	write_tiers "$loop" "$BATS_TEST_TMPDIR/tiers.yaml"
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/tiers.yaml"
	before=$("$SLUICE" policy show --json)
	gen=$(echo "$before" | jq .generation)

	# 1: a file that does not check is never applied
	sed 's/name: tiers/name: other/; s/policy: tiers/policy: other/; s/shares: low/shares: 0/' \
		"$BATS_TEST_TMPDIR/tiers.yaml" >"$BATS_TEST_TMPDIR/bad.yaml"
	run -1 "$SLUICE" policy apply "$BATS_TEST_TMPDIR/bad.yaml"
	assert_output --partial "nothing was applied"

	# 2: a valid policy whose apply fails after its maps were built
	sed 's/name: tiers/name: other/; s/policy: tiers/policy: other/' \
		"$BATS_TEST_TMPDIR/tiers.yaml" >"$BATS_TEST_TMPDIR/other.yaml"
	touch "$BATS_TEST_TMPDIR/not-a-dir"
	SLUICE_RUN_DIR="$BATS_TEST_TMPDIR/not-a-dir/run" run -1 "$SLUICE" policy apply "$BATS_TEST_TMPDIR/other.yaml"
	assert_output --partial "the previous policy is still in force"

	run "$SLUICE" policy show --json
	assert_success
	assert_equal "$output" "$before"
	echo "$output" | jq -e --argjson g "$gen" '.generation == $g and .policies[0].name == "tiers"'
	run "$SLUICE" policy status
	assert_success
}

@test "classification: requests are counted per class, cgroup subtrees included" {
	local loop dev gold silver
	loop=$(make_loop 32)
	dev=$(devnum "$loop")
	gold=$(mk_cgroup sluice-test-gold)
	silver=$(mk_cgroup sluice-test-silver)
	mkdir "$silver/child"
	write_tiers "$loop" "$BATS_TEST_TMPDIR/tiers.yaml"
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/tiers.yaml"
	before=$(probe_count "$dev")

	sh -c "echo \$\$ >$gold/cgroup.procs; exec fio --name=g --filename=$loop --direct=1 --rw=randread --bs=4k --size=8M --io_size=1M --output-format=json" >"$BATS_TEST_TMPDIR/g.json"
	sh -c "echo \$\$ >$silver/child/cgroup.procs; exec fio --name=s --filename=$loop --direct=1 --rw=randread --bs=8k --size=8M --io_size=1M --output-format=json" >"$BATS_TEST_TMPDIR/s.json"
	# 512-byte requests are below silver's size range: they fall to bronze
	sh -c "echo \$\$ >$silver/child/cgroup.procs; exec fio --name=b --filename=$loop --direct=1 --rw=randread --bs=512 --size=8M --io_size=64k --output-format=json" >"$BATS_TEST_TMPDIR/b.json"
	assert_equal "$before" 0
	assert_equal "$(probe_count "$dev" 1)" "$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/g.json")"
	assert_equal "$(probe_count "$dev" 2)" "$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/s.json")"
	assert_equal "$(probe_count "$dev" 3)" "$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/b.json")"
	assert_equal "$(probe_count "$dev" 0)" 0
}

@test "classification: a cgroup created after the apply takes its ancestor's class" {
	local loop dev silver
	loop=$(make_loop 32)
	dev=$(devnum "$loop")
	mk_cgroup sluice-test-gold >/dev/null
	silver=$(mk_cgroup sluice-test-silver)
	write_tiers "$loop" "$BATS_TEST_TMPDIR/tiers.yaml"
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/tiers.yaml"
	# two levels below the rule's cgroup, and unknown to the applied maps
	mkdir -p "$silver/late/later"
	sh -c "echo \$\$ >$silver/late/later/cgroup.procs; exec fio --name=s --filename=$loop --direct=1 --rw=randread --bs=8k --size=8M --io_size=1M --output-format=json" >"$BATS_TEST_TMPDIR/s.json"
	assert_equal "$(probe_count "$dev" 2)" "$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/s.json")"
	assert_equal "$(probe_count "$dev" 3)" 0
	# the meter classifies the same way
	run "$SLUICE" hist --disk "$loop" --classes --json -- sh -c \
		"echo \$\$ >$silver/late/later/cgroup.procs; exec fio --name=s --filename=$loop --direct=1 --rw=randread --bs=8k --size=8M --io_size=256k --output=/dev/null"
	assert_success
	assert_equal "$(echo "$output" | jq '[.disks[0].streams[] | select(.class == 2 and .dir == "read") | .count] | add')" 32
	rmdir "$silver/late/later" "$silver/late"
}

@test "apply while fio runs: counts before and after add up exactly to fio's I/O count" {
	local loop dev cg pid total c1 c2 c3
	loop=$(make_loop 64)
	dev=$(devnum "$loop")
	cg=$(mk_cgroup sluice-test-live)
	mk_cgroup sluice-test-other >/dev/null
	cat >"$BATS_TEST_TMPDIR/a.yaml" <<-EOF
	policies:
	  - name: live
	    classes:
	      - {name: before, match: {cgroup: sluice-test-live}}
	      - {name: rest}
	bindings:
	  - {disk: $loop, policy: live}
	EOF
	cat >"$BATS_TEST_TMPDIR/b.yaml" <<-EOF
	policies:
	  - name: live
	    classes:
	      - {name: decoy, match: {cgroup: sluice-test-other}}
	      - {name: after, match: {cgroup: sluice-test-live}}
	      - {name: rest}
	bindings:
	  - {disk: $loop, policy: live}
	EOF
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/a.yaml"
	assert_equal "$(probe_count "$dev")" 0

	# rate-limited so the apply lands in the middle of the run
	sh -c "echo \$\$ >$cg/cgroup.procs; exec fio --name=live --filename=$loop --direct=1 --rw=randread --bs=4k --size=32M --io_size=12M --rate_iops=1000 --output-format=json" >"$BATS_TEST_TMPDIR/fio.json" 2>&1 3>&- &
	pid=$!
	for _ in $(seq 100); do
		[ "$(probe_count "$dev" 1)" -ge 300 ] && break
		sleep 0.1
	done
	run "$SLUICE" policy apply "$BATS_TEST_TMPDIR/b.yaml"
	assert_success
	wait "$pid"

	total=$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/fio.json")
	c1=$(probe_count "$dev" 1)
	c2=$(probe_count "$dev" 2)
	c3=$(probe_count "$dev" 3)
	echo "fio $total: before=$c1 after=$c2 rest=$c3 default=$(probe_count "$dev" 0)"
	[ "$c1" -gt 0 ] || fail "nothing counted before the apply"
	[ "$c2" -gt 0 ] || fail "nothing counted after the apply"
	assert_equal "$c3" 0
	assert_equal "$(probe_count "$dev" 0)" 0
	assert_equal "$((c1 + c2))" "$total"
}

@test "apply while fio runs, through the meter: every request in the old or the new class" {
	local loop dev cg script
	loop=$(make_loop 64)
	dev=$(devnum "$loop")
	cg=$(mk_cgroup sluice-test-live)
	mk_cgroup sluice-test-other >/dev/null
	cat >"$BATS_TEST_TMPDIR/a.yaml" <<-EOF
	policies:
	  - name: live
	    classes:
	      - {name: before, match: {cgroup: sluice-test-live}}
	      - {name: rest}
	bindings:
	  - {disk: $loop, policy: live}
	EOF
	cat >"$BATS_TEST_TMPDIR/b.yaml" <<-EOF
	policies:
	  - name: live
	    classes:
	      - {name: decoy, match: {cgroup: sluice-test-other}}
	      - {name: after, match: {cgroup: sluice-test-live}}
	      - {name: rest}
	bindings:
	  - {disk: $loop, policy: live}
	EOF
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/a.yaml"

	# The meter runs for the whole script: fio in the cgroup, and halfway
	# through (as the classify probe sees it) the new policy is applied.
	script="$BATS_TEST_TMPDIR/live.sh"
	cat >"$script" <<-EOF
	#!/bin/sh
	sh -c 'echo \$\$ >$cg/cgroup.procs; exec fio --name=live --filename=$loop --direct=1 --rw=randread --bs=4k --size=32M --io_size=8M --rate_iops=1000 --output-format=json' >$BATS_TEST_TMPDIR/fio.json &
	pid=\$!
	for _ in \$(seq 100); do
		n=\$("$SLUICE" policy counts --json | jq '[.counts[] | select(.disk == "$dev" and .class_id == 1) | .requests] | add // 0')
		[ "\$n" -ge 300 ] && break
		sleep 0.1
	done
	"$SLUICE" policy apply $BATS_TEST_TMPDIR/b.yaml >&2
	wait \$pid
	EOF
	chmod +x "$script"
	"$SLUICE" hist --disk "$loop" --classes --json -- "$script" >"$BATS_TEST_TMPDIR/hist.json"

	local total c1 c2 other
	total=$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/fio.json")
	c1=$(jq '[.disks[].streams[] | select(.class == 1 and .dir == "read") | .count] | add // 0' "$BATS_TEST_TMPDIR/hist.json")
	c2=$(jq '[.disks[].streams[] | select(.class == 2 and .dir == "read") | .count] | add // 0' "$BATS_TEST_TMPDIR/hist.json")
	other=$(jq '[.disks[].streams[] | select(.class != 1 and .class != 2) | .count] | add // 0' "$BATS_TEST_TMPDIR/hist.json")
	echo "fio $total: meter class 1 (before) $c1, class 2 (after) $c2, other $other"
	[ "$c1" -gt 0 ] || fail "the meter saw nothing classified before the apply"
	[ "$c2" -gt 0 ] || fail "the meter saw nothing classified after the apply"
	assert_equal "$other" 0
	# The meter at 73db3a3 drops about one completion in five runs of 2048
	# even with no apply at all (the probe test above, which counts at
	# issue, is exact every time). Until the meter is exact this allows its
	# own loss of at most 2 and nothing more; a swap that lost or misfiled
	# requests would show far more, or a class other than 1 and 2.
	local lost=$((total - c1 - c2))
	[ "$lost" -ge 0 ] || fail "the meter counted $((-lost)) more requests than fio issued"
	[ "$lost" -le 2 ] || fail "$lost requests missing from the meter's classes"
}
