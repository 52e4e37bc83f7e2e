#!/usr/bin/env bats
# The filter API on the real ublk driver: a chain with per-queue timers and
# background I/O (the tick filter) serves and stops cleanly.

load ublk_helpers

setup() {
	ublk_setup
	LOOPS=()
	IMG="$BATS_TEST_TMPDIR/backing.img"
}

teardown() {
	ublk_teardown
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

@test "tick: fio verify over 2 queues with background timers; SIGTERM drains them at once" {
	truncate -s 16M "$IMG"
	serve_bg --backing "$IMG" --policy tick --queues 2 --depth 32
	local id t0 took rc=0
	id=$(dev_id "$DEV")
	run fio_verify "$DEV" 4096 16
	assert_success
	# Each queue keeps a 100 ms timer in flight; the drain cancels it, so
	# the stop does not wait for the 5 s drain limit.
	sleep 0.3
	t0=$(now_ms)
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	took=$(($(now_ms) - t0))
	assert_equal "$rc" 0
	[ "$took" -lt 3000 ] || fail "stop took $took ms"
	[ ! -e "/dev/ublkc$id" ]
	[ ! -e "$SLUICE_RUN_DIR/ublk$id.state" ]
}
