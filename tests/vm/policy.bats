#!/usr/bin/env bats
# sluice policy in the test VM: a pure cgroup v2 host with the io controller
# (io.max) and null_blk, i.e. what the hybrid host cannot show.

load helpers

setup() {
	vm_setup
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	export SLUICE_RUN_DIR="$BATS_TEST_TMPDIR/run"
	grep -qw io /sys/fs/cgroup/cgroup.subtree_control ||
		echo +io >/sys/fs/cgroup/cgroup.subtree_control
	if [ ! -b /dev/nullb0 ]; then
		modprobe null_blk nr_devices=1 queue_mode=2 irqmode=0 gb=1
	fi
	[ -b /dev/nullb0 ] || fail "null_blk did not create /dev/nullb0"
	mkdir -p /sys/fs/cgroup/sl-db/child /sys/fs/cgroup/sl-web
	echo +io >/sys/fs/cgroup/sl-db/cgroup.subtree_control
}

teardown() {
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	rmdir /sys/fs/cgroup/sl-db/child /sys/fs/cgroup/sl-db /sys/fs/cgroup/sl-web 2>/dev/null || true
	vm_teardown
}

write_policy() {
	cat >"$BATS_TEST_TMPDIR/p.yaml" <<-EOF
	policies:
	  - name: v2
	    classes:
	      - name: db
	        match: {cgroup: sl-db}
	        limits: {read_iops: 20000 iops, write_bps: 100MiB/s}
	      - name: web
	        match: {cgroup: /sys/fs/cgroup/sl-web}
	      - name: rest
	bindings:
	  - disk: {devnum: "$(printf '%d:%d' "0x$(stat -c %t /dev/nullb0)" "0x$(stat -c %T /dev/nullb0)")"}
	    policy: v2
	EOF
}

count() {
	"$SLUICE" policy counts --json | jq --arg d "$1" --argjson c "$2" \
		'[.counts[] | select(.disk == $d and .class_id == $c) | .requests] | add // 0'
}

@test "v2: limits land in io.max, classification follows the cgroup subtree" {
	local dev
	dev=$(printf '%d:%d' "0x$(stat -c %t /dev/nullb0)" "0x$(stat -c %T /dev/nullb0)")
	write_policy
	run "$SLUICE" policy apply "$BATS_TEST_TMPDIR/p.yaml"
	assert_success
	grep -qx "$dev rbps=max wbps=104857600 riops=20000 wiops=max" /sys/fs/cgroup/sl-db/io.max

	sh -c "echo \$\$ >/sys/fs/cgroup/sl-db/child/cgroup.procs; exec fio --name=d --filename=/dev/nullb0 --direct=1 --rw=randread --bs=4k --size=64M --io_size=2M --output-format=json" >"$BATS_TEST_TMPDIR/d.json"
	sh -c "echo \$\$ >/sys/fs/cgroup/sl-web/cgroup.procs; exec fio --name=w --filename=/dev/nullb0 --direct=1 --rw=randread --bs=4k --size=64M --io_size=1M --output-format=json" >"$BATS_TEST_TMPDIR/w.json"
	assert_equal "$(count "$dev" 1)" "$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/d.json")"
	assert_equal "$(count "$dev" 2)" "$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/w.json")"

	run "$SLUICE" policy status --json
	assert_success
	echo "$output" | jq -e '.compliant and (.bindings[0].checks | map(.state) == ["ok", "n/a", "ok"])'

	echo "$dev riops=max" >/sys/fs/cgroup/sl-db/io.max
	run -1 "$SLUICE" policy status
	assert_output --partial "class db: /sys/fs/cgroup/sl-db read_iops is 0, policy says 20000"

	run "$SLUICE" policy remove
	assert_success
	run ! grep -q "^$dev " /sys/fs/cgroup/sl-db/io.max
}
