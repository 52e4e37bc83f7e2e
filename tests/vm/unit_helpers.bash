# shellcheck shell=bash
# Helpers for the suites of the systemd units (serve_unit, systemd_units):
# fio writing on a served disk while its server is taken down.

# fio_during_bg SIZE: a crc32c verify write of SIZE on $DEV in the
# background, still writing when this returns; FIO_PID, $BATS_TEST_TMPDIR/fio.log.
fio_during_bg() {
	fio --name=upg --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite \
		--bs=4k --iodepth=16 --size="$1" --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--verify_state_save=0 --randrepeat=0 >"$BATS_TEST_TMPDIR/fio.log" 2>&1 3>&- &
	FIO_PID=$!
	sleep 1
	kill -0 "$FIO_PID"
}

fio_passed() {
	local rc=0
	wait "$FIO_PID" || rc=$?
	run cat "$BATS_TEST_TMPDIR/fio.log"
	assert_equal "$rc" 0
	assert_output --partial "err= 0"
	refute_output --regexp "bad magic|verify failed|crc32c: |[Ii]/?O error"
}
