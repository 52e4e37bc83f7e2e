#!/usr/bin/env bats
# Per-class limits inside the ublk server (6.12 test VM, cgroup v2 io):
# the ublk_class BPF program records each request's policy class by
# (disk, queue, tag) at issue, and the server's throttle filter holds each
# class to its limits. Two fio jobs in two cgroups share one served disk;
# only the limited class is held. One enforcer per disk: neither 'policy
# apply' nor 'sluice throttle' writes io.max for a disk the server holds, so
# the server alone does the holding; a server without the throttle filter
# leaves the disk to io.max.
# shellcheck disable=SC2030,SC2031

load ublk_helpers

LIMIT=100	# read_iops of class "lim"

setup() {
	ublk_setup
	# shellcheck disable=SC2034 # ublk_teardown detaches these
	LOOPS=()
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	grep -qw io /sys/fs/cgroup/cgroup.subtree_control ||
		echo +io >/sys/fs/cgroup/cgroup.subtree_control
	mkdir -p /sys/fs/cgroup/ut-lim /sys/fs/cgroup/ut-free /sys/fs/cgroup/ut-other
	IMG="$BATS_TEST_TMPDIR/backing.img"
	truncate -s 64M "$IMG"
	POL="$BATS_TEST_TMPDIR/p.yaml"
	cat >"$POL" <<-EOF
	policies:
	  - name: tiers
	    classes:
	      - name: lim
	        match: {cgroup: /sys/fs/cgroup/ut-lim}
	        limits: {read_iops: $LIMIT iops}
	      - name: free
	        match: {cgroup: /sys/fs/cgroup/ut-free}
	bindings:
	  - disk: {served: {backing: $IMG}}
	    policy: tiers
	EOF
}

teardown() {
	ublk_teardown
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	rmdir /sys/fs/cgroup/ut-lim /sys/fs/cgroup/ut-free /sys/fs/cgroup/ut-other \
		2>/dev/null || true
}

# fio_in CGROUP NAME: 4k direct random reads, 15 s measured after 2 s of
# ramp (the burst credit a class starts with is not counted), in the
# background. fio's runtime includes draining its queue at the end, which
# for the limited class takes iodepth/limit (0.16 s): 1% of 15 s.
fio_in() {
	sh -c "echo \$\$ >/sys/fs/cgroup/$1/cgroup.procs; exec fio --name=$2 \
		--filename=$DEV --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
		--iodepth=16 --size=32M --time_based --ramp_time=2 --runtime=${RUNTIME:-15} --randrepeat=0 \
		--output-format=json" >"$BATS_TEST_TMPDIR/$2.json" 2>&1 3>&- &
	FIO_PIDS+=("$!")
}

# no_iomax MAJ:MIN CGROUP...: io.max of each CGROUP has no line for the disk.
no_iomax() {
	local mm=$1 cg
	shift
	for cg in "$@"; do
		if grep "^$mm " "/sys/fs/cgroup/$cg/io.max"; then
			echo "$cg/io.max holds a limit for $mm" >&2
			return 1
		fi
	done
}

# classes FIELD CLASS: FIELD of CLASS in the server's published counters.
classes() {
	jq --arg c "$2" ".classes[] | select(.name == \$c) | .$1" \
		"$SLUICE_RUN_DIR/ublk$(dev_id "$DEV").classes.json"
}

@test "ublk: a class's static read_iops is held by the server, the other class runs free" {
	local mm pid lim_iops free_iops lim_ios free_ios
	"$SLUICE" policy apply "$POL" >/dev/null
	# two queues on two vCPUs: the class is found by (disk, queue, tag)
	serve_bg --backing "$IMG" --queues 2
	# the policy limits a class: the server put its class throttle first
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e '.[0].policy == "tiers" and .[0].filters == ["throttle:policy=tiers"]'
	[ -e /sys/fs/bpf/sluice/ublk_class_link ]

	# no second apply: serve re-applied the policy once the disk existed, so
	# the kernel classifies its requests (the class counters below prove it);
	# that apply saw the server's throttle filter and left io.max alone
	mm=$(cat "/sys/block/${DEV#/dev/}/dev")
	no_iomax "$mm" ut-lim ut-free
	# a second apply does the same, says so, and status knows why io.max
	# is empty
	run "$SLUICE" policy apply "$POL"
	assert_success
	assert_line "1 cgroup limit held by sluice's ublk server instead of io.max"
	no_iomax "$mm" ut-lim ut-free
	run "$SLUICE" policy status --json
	assert_success
	echo "$output" | jq -e '.bindings[0].checks[2] | .state == "ok" and
		(.detail | startswith("held by the ublk server"))'

	FIO_PIDS=()
	fio_in ut-lim lim
	fio_in ut-free free
	for pid in "${FIO_PIDS[@]}"; do
		wait "$pid"
	done
	lim_iops=$(jq '.jobs[0].read.iops' "$BATS_TEST_TMPDIR/lim.json")
	free_iops=$(jq '.jobs[0].read.iops' "$BATS_TEST_TMPDIR/free.json")
	echo "# lim $lim_iops IOPS (limit $LIMIT), free $free_iops IOPS" >&3
	# the limited class within 5% of its limit; the other well above it
	jq -en "$lim_iops <= 1.05 * $LIMIT and $lim_iops >= 0.95 * $LIMIT"
	jq -en "$free_iops >= 3 * $LIMIT"
	# ... with io.max still empty: the server alone held it
	no_iomax "$mm" ut-lim ut-free

	# the counters are published at most once a second while I/O flows
	sleep 1.5
	dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none
	cat "$SLUICE_RUN_DIR/ublk$(dev_id "$DEV").classes.json" >&3
	lim_ios=$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/lim.json")
	free_ios=$(jq '.jobs[0].read.total_ios' "$BATS_TEST_TMPDIR/free.json")
	# every request of each cgroup was classified into its own class: at
	# least what fio measured, and for lim no more than its limit lets
	# through during the 2 s ramp fio does not count (+ burst, + in flight)
	jq -en "$(classes reads lim) >= $lim_ios and \
		$(classes reads lim) <= $lim_ios + 2 * $LIMIT + 6 + 16"
	jq -en "$(classes reads free) >= $free_ios"
	jq -en "$(classes reads default) <= 4"
	assert_equal "$(classes riops lim)" "$LIMIT"
	assert_equal "$(classes riops free)" 0
	jq -en "$(classes delayed_reads lim) > 0"
	assert_equal "$(classes delayed_reads free)" 0
}

@test "ublk: a policy without class limits gets no throttle filter" {
	sed -i '/limits:/d' "$POL"
	"$SLUICE" policy apply "$POL" >/dev/null
	serve_bg --backing "$IMG"
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e '.[0].policy == "tiers" and .[0].filters == []'
}

@test "ublk: a server without the throttle filter leaves the limits to io.max" {
	local mm
	cp "$POL" "$BATS_TEST_TMPDIR/limited.yaml"
	sed -i '/limits:/d' "$POL"
	"$SLUICE" policy apply "$POL" >/dev/null
	serve_bg --backing "$IMG"
	run "$SLUICE" disks --json
	echo "$output" | jq -e '.[0].filters == []'
	mm=$(cat "/sys/block/${DEV#/dev/}/dev")
	# the limit comes after the server started: its chain cannot hold it
	"$SLUICE" policy apply "$BATS_TEST_TMPDIR/limited.yaml" >/dev/null
	grep -qx "$mm rbps=max wbps=max riops=$LIMIT wiops=max" /sys/fs/cgroup/ut-lim/io.max
	no_iomax "$mm" ut-free
}

@test "ublk: a killed server's disk stays the server's; recovered, it holds the limit" {
	local mm id
	"$SLUICE" policy apply "$POL" >/dev/null
	serve_bg --backing "$IMG"
	id=$(dev_id "$DEV")
	mm=$(cat "/sys/block/${DEV#/dev/}/dev")
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" || true
	rm -f "$SLUICE_RUN_DIR/ublk$id.classes.json"	# the dead server's last word
	# the disk waits for --recover, which brings the same chain back and
	# applies nothing: an apply now must not put the limit in io.max too
	"$SLUICE" policy apply "$POL" >/dev/null
	no_iomax "$mm" ut-lim ut-free
	serve_bg --recover "$id"
	dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none
	wait_classes ".classes[] | select(.name == \"lim\") | .riops == $LIMIT"
	no_iomax "$mm" ut-lim ut-free
}

# wait_classes JQ: until the server's published counters satisfy JQ (60 s).
wait_classes() {
	local f _
	f="$SLUICE_RUN_DIR/ublk$(dev_id "$DEV").classes.json"
	for _ in $(seq 120); do
		[ -s "$f" ] && jq -e "$1" "$f" >/dev/null && return 0
		sleep 0.5
	done
	cat "$f" >&3
	return 1
}

# wait_follows MM IDS: until the server holds read limits on exactly the
# class ids IDS (a JSON array) and the throttle publishes dynamic limits for
# exactly those of disk MM's server-held classes (60 s). The ids, not the
# values: the allowances move every interval and the server takes them at
# its own refresh, on its I/O path.
wait_follows() {
	local f _ s t
	f="$SLUICE_RUN_DIR/ublk$(dev_id "$DEV").classes.json"
	for _ in $(seq 120); do
		s=$(jq -c '[.classes[] | select(.riops > 0) | .class_id] | sort' \
			"$f" 2>/dev/null) || s=
		t=$(jq -c --arg mm "$1" '[.disks[] | select(.dev == $mm) | .classes[]
			| select(.enforced_by == "server" and .dynamic and .riops > 0)
			| .class_id] | sort' /run/sluice/throttle.json 2>/dev/null) || t=
		[ "$s" = "$2" ] && [ "$t" = "$2" ] && return 0
		sleep 0.5
	done
	echo "server holds $s, the throttle publishes $t, want $2" >&3
	cat "$BATS_TEST_TMPDIR/thr.log" >&3
	return 1
}

@test "ublk: the server follows a live 'sluice throttle' and drops its limits when it stops" {
	local state=/run/sluice/throttle.json thr pid mm _
	# no static limit; throttle: true alone puts the class throttle in the chain
	sed -i -e '/limits:/d' -e 's/^\(  - name: tiers\)$/\1\n    throttle: true/' "$POL"
	"$SLUICE" policy apply "$POL" >/dev/null
	serve_bg --backing "$IMG"
	run "$SLUICE" disks --json
	echo "$output" | jq -e '.[0].filters == ["throttle:policy=tiers"]'
	"$SLUICE" policy apply "$POL" >/dev/null

	FIO_PIDS=()
	mm=$(cat "/sys/block/${DEV#/dev/}/dev")
	# a threshold any I/O crosses: the disk is congested, allowances appear.
	# The cgroups in another order than the policy's classes (lim 1, free 2),
	# and first one of no class, whose position (1) is lim's class id;
	# unequal shares, so that no two classes are given the same allowance
	rm -f "$state"
	"$SLUICE" throttle --disk "$DEV" --threshold 1us --cgroup ut-other:shares=100 \
		--cgroup ut-free:shares=200 --cgroup ut-lim:shares=100 \
		--record "$BATS_TEST_TMPDIR/record" >"$BATS_TEST_TMPDIR/thr.log" 2>&1 3>&- &
	thr=$!
	# the load once the daemon measures (its first state): loading the
	# meter took 25 s of the 30 s of load on the 7.3 guest
	for _ in $(seq 240); do
		[ -s "$state" ] && break
		sleep 0.5
	done
	RUNTIME=30 fio_in ut-lim lim
	RUNTIME=30 fio_in ut-free free
	wait_classes '.dynamic'
	# holding the shares: free (class 2, the busiest) runs free and lim
	# (class 1) is held; swapped ids would show the server holding 2
	wait_follows "$mm" '[1]'
	# what the server holds is what the throttle published for this disk,
	# under the policy's class ids; the server holds the disk, io.max only
	# the cgroup the server cannot tell apart
	jq -e --arg mm "$mm" '.running and (.disks[] | select(.dev == $mm) |
		.enforced_by == "server" and
		([.classes[] | select(.dynamic)] | length > 0) and
		([.classes[] | [.name, .class_id, .enforced_by]] ==
		 [["ut-other", 1, "kernel"], ["ut-free", 2, "server"],
		  ["ut-lim", 1, "server"]]))' "$state"
	no_iomax "$mm" ut-lim ut-free
	grep -q "/sys/fs/cgroup/ut-other is in no class of policy 'tiers'" \
		"$BATS_TEST_TMPDIR/thr.log"
	grep -q "enforced by its ublk server" "$BATS_TEST_TMPDIR/thr.log"

	# The disk idle first (fio may have ended already): the limiter's own
	# refresh, not the next request, must drop what a stopped throttle
	# published.
	kill -TERM "${FIO_PIDS[@]}" 2>/dev/null || true
	for pid in "${FIO_PIDS[@]}"; do
		wait "$pid" || true
	done
	kill -TERM "$thr"
	wait "$thr"
	# running: false: the next refresh drops every dynamic limit (fail-open)
	wait_classes '(.dynamic | not) and ([.classes[] | .riops + .wiops + .rbps + .wbps]
		      | add == 0)'
}
