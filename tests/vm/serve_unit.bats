#!/usr/bin/env bats
# sluice-serve@NAME.service on the real ublk driver, without systemd (the
# test VM has none): each test runs the unit's own ExecStart= command line,
# sends the signals systemd sends (KillSignal= for stop, RestartKillSignal=
# for restart, SIGKILL as a crash that Restart=on-failure answers) and runs
# ExecStart= again as systemd would.

load ublk_helpers
load unit_helpers

UNIT=$TOP/systemd/sluice-serve@.service.in

setup() {
	ublk_setup
	# shellcheck disable=SC2034 # ublk_teardown reads it
	LOOPS=()
	IMG="$BATS_TEST_TMPDIR/backing.img"
	export SLUICE_CONF_DIR="$BATS_TEST_TMPDIR/disks"
	mkdir -p "$SLUICE_CONF_DIR"
}

teardown() {
	local f
	for f in "$SLUICE_RUN_DIR"/disk-*.pid; do
		[[ -e $f ]] && SERVER_PIDS+=("$(cat "$f")")
	done
	ublk_teardown
}

# unit_key KEY: the value of KEY= in the serve unit.
unit_key() {
	sed -n "s/^$1=//p" "$UNIT"
}

# unit_start NAME [SLUICE]: ExecStart= of sluice-serve@NAME with @LIBEXECDIR@
# the checkout's systemd/ and the binary SLUICE (default build/sluice), as a
# Type=forking start: returns once the disk is live. Sets PID (PIDFile=)
# and DEV.
unit_start() {
	local name=$1 bin=${2:-$SLUICE} cmd
	cmd=$(unit_key ExecStart | sed "s|@LIBEXECDIR@|$TOP/systemd|; s|%i|$name|g")
	# shellcheck disable=SC2086 # the unit's command line, split as systemd does
	SLUICE=$bin $cmd >"$BATS_TEST_TMPDIR/start.out" 2>"$BATS_TEST_TMPDIR/start.err" 3>&- </dev/null ||
		{ cat "$BATS_TEST_TMPDIR/start.err" >&2; return 1; }
	PID=$(cat "$(unit_key PIDFile | sed "s|/run/sluice|$SLUICE_RUN_DIR|; s|%i|$name|g")")
	DEV=$(head -n1 "$BATS_TEST_TMPDIR/start.out")
	[[ -b $DEV ]]
}

# signal_and_wait SIG PID: what systemd does to stop the main process.
signal_and_wait() {
	local i
	kill -s "$1" "$2"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$2" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "pid $2 did not exit on $1" >&2
	return 1
}

@test "the unit stops with SIGTERM and restarts with SIGUSR2, on failure" {
	assert_equal "$(unit_key RestartKillSignal)" SIGUSR2
	assert_equal "$(unit_key Restart)" on-failure
	assert_equal "$(unit_key Type)" forking
	# KillSignal= unset: SIGTERM
	assert_equal "$(unit_key KillSignal)" ""
}

@test "ExecStart creates the disk from NAME.conf; stop (SIGTERM) deletes it" {
	truncate -s 32M "$IMG"
	printf '# a test disk\nbacking = %s\nblock-size=4096\nqueues=2\nread-only=no\n' "$IMG" \
		>"$SLUICE_CONF_DIR/db.conf"
	unit_start db
	assert_equal "$(blockdev --getsize64 "$DEV")" $((32 << 20))
	assert_equal "$(blockdev --getss "$DEV")" 4096
	local id
	id=$(dev_id "$DEV")
	assert_equal "$(sed -n 's/^queues=//p' "$SLUICE_RUN_DIR/ublk$id.state")" 2
	signal_and_wait TERM "$PID"
	[[ ! -e $DEV && ! -e /dev/ublkc$id ]]
	[[ ! -e $SLUICE_RUN_DIR/ublk$id.state && ! -e $SLUICE_RUN_DIR/disk-db.pid ]]
}

@test "restart (SIGUSR2, then ExecStart) is a live upgrade: same device, fio verify passes across it" {
	truncate -s 64M "$IMG"
	printf 'backing=%s\nblock-size=4096\n' "$IMG" >"$SLUICE_CONF_DIR/db.conf"
	# the "old" binary is a copy: the new one takes the disk over
	cp "$SLUICE" "$BATS_TEST_TMPDIR/sluice-old"
	unit_start db "$BATS_TEST_TMPDIR/sluice-old"
	local dev=$DEV id old=$PID
	id=$(dev_id "$DEV")
	fio_during_bg 48M
	signal_and_wait USR2 "$old"
	# left, not deleted: the node and the state file stay, no pid file
	[[ -b $dev && -e $SLUICE_RUN_DIR/ublk$id.state && ! -e $SLUICE_RUN_DIR/disk-db.pid ]]
	grep -q "left for the next server: sluice serve --recover $id" "$BATS_TEST_TMPDIR/start.err"
	unit_start db
	assert_equal "$DEV" "$dev"
	[ "$PID" != "$old" ]
	assert_equal "$(readlink /proc/"$PID"/exe)" "$SLUICE"
	fio_passed
	run "$SLUICE" disks --json
	assert_equal "$(echo "$output" | jq -r ".[] | select(.id == $id) | .server")" running
}

@test "a mounted file system stays mounted across a live upgrade" {
	truncate -s 64M "$IMG"
	printf 'backing=%s\n' "$IMG" >"$SLUICE_CONF_DIR/fs.conf"
	unit_start fs
	local dev=$DEV mnt="$BATS_TEST_TMPDIR/mnt"
	mkfs.ext4 -q -F "$DEV"
	mkdir -p "$mnt"
	mount "$DEV" "$mnt"
	cp -a /usr/include/linux "$mnt/a"
	signal_and_wait USR2 "$PID"
	unit_start fs
	assert_equal "$DEV" "$dev"
	cp -a /usr/include/linux "$mnt/b"
	sync
	run diff -r /usr/include/linux "$mnt/a"
	assert_success
	run diff -r /usr/include/linux "$mnt/b"
	assert_success
	umount "$mnt"
	run fsck.ext4 -fn "$DEV"
	assert_success
}

@test "a crash (kill -9) and Restart=on-failure: ExecStart recovers the same disk, fio verify passes" {
	truncate -s 64M "$IMG"
	printf 'backing=%s\nblock-size=4096\n' "$IMG" >"$SLUICE_CONF_DIR/db.conf"
	unit_start db
	local dev=$DEV
	fio_during_bg 48M
	signal_and_wait KILL "$PID"
	unit_start db
	assert_equal "$DEV" "$dev"
	fio_passed
}

@test "ExecStart refuses a disk whose server still runs, and a bad NAME.conf, naming the line" {
	truncate -s 32M "$IMG"
	printf 'backing=%s\n' "$IMG" >"$SLUICE_CONF_DIR/db.conf"
	unit_start db
	run -1 "$TOP/systemd/sluice-disk" db
	assert_output --partial "still served by pid $PID"
	printf 'backing=%s\nsize 10G\n' "$IMG" >"$SLUICE_CONF_DIR/bad.conf"
	run -1 "$TOP/systemd/sluice-disk" bad
	assert_output "sluice-disk: error: $SLUICE_CONF_DIR/bad.conf:2: 'size 10G' is not key=value"
	printf 'backing=%s\nsizes=10G\n' "$IMG" >"$SLUICE_CONF_DIR/bad.conf"
	run -1 "$TOP/systemd/sluice-disk" bad
	assert_output --partial "bad.conf:2: unknown key 'sizes'"
	run -1 "$TOP/systemd/sluice-disk" nosuch
	assert_output --partial "nosuch.conf: no such file"
}
