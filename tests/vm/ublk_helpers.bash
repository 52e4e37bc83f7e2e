# shellcheck shell=bash
# Helpers for the ublk suites in the test VM: start 'sluice serve' in the
# background, find its device, stop it, and clean up whatever a test left.
TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
SLUICE=${SLUICE:-$TOP/build/sluice}
export TOP SLUICE

bats_require_minimum_version 1.5.0

source "$TOP/tests/bats-libs.bash"

# Every test gets its own state directory so disks lists only its disks.
ublk_setup() {
	export SLUICE_RUN_DIR="$BATS_TEST_TMPDIR/run"
	mkdir -p "$SLUICE_RUN_DIR"
	SERVER_PIDS=()
	SERVE_PRE=()
}

# serve_bg ARGS...: start 'sluice serve ARGS' in the background; sets
# SERVER_PID and DEV (/dev/ublkbN) once the device is live, and SERVE_ERR,
# the file with the server's stderr. The server's stdout and stderr go to
# files: a pipe the test reads must not leak into it. SERVE_PRE (array):
# global options before 'serve', e.g. (-v).
serve_bg() {
	local out="$BATS_TEST_TMPDIR/serve.$$.$RANDOM" i
	SERVE_ERR=$out.err
	"$SLUICE" "${SERVE_PRE[@]}" serve "$@" >"$out.out" 2>"$out.err" 3>&- </dev/null &
	SERVER_PID=$!
	SERVER_PIDS+=("$SERVER_PID")
	for ((i = 0; i < 300; i++)); do
		if [[ -s $out.out ]]; then
			DEV=$(head -n1 "$out.out")
			[[ -b $DEV ]] && return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "serve did not come up: $(cat "$out.err")" >&2
	return 1
}

# The id N of /dev/ublkbN.
dev_id() {
	echo "${1#/dev/ublkb}"
}

ublk_teardown() {
	local pid id f
	for pid in "${SERVER_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${SERVER_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# Anything left (a killed server's disk) is deleted through sluice stop.
	for f in "$SLUICE_RUN_DIR"/ublk*.state; do
		[[ -e $f ]] || continue
		id=${f##*/ublk}
		"$SLUICE" stop "${id%.state}" >/dev/null 2>&1 || true
	done
	for pid in "${LOOPS[@]}"; do
		losetup -d "$pid" 2>/dev/null || true
	done
	LOOPS=()
	# bats 1.8 keeps every test's directory until the run ends, and one boot
	# runs every suite: images, journals and caches would fill the guest's
	# /tmp (helpers.bash: vm_tmp_clean)
	find "$BATS_TEST_TMPDIR" -mindepth 1 -delete 2>/dev/null || true
}

# ublkc_count: how many ublk char devices exist (orphans show up here).
ublkc_count() {
	local n=0 f
	for f in /dev/ublkc*; do
		[[ -e $f ]] && n=$((n + 1))
	done
	echo "$n"
}

# fio_verify DEV BS QD [extra fio args]: random writes then a crc32c verify,
# two jobs on disjoint halves of the first 16 MiB.
fio_verify() {
	local dev=$1 bs=$2 qd=$3
	shift 3
	fio --name=v --filename="$dev" --ioengine=io_uring --direct=1 \
		--rw=randwrite --bs="$bs" --iodepth="$qd" --numjobs=2 --size=8M \
		--offset_increment=8M --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
		--randrepeat=0 --group_reporting "$@"
}

# served_copy: the copy mode the last serve_bg started with -v said it uses.
served_copy() {
	sed -n 's/.*, copy \([a-z]*\)[,)].*/\1/p' "$SERVE_ERR"
}

# disks_copy_line: what 'sluice disks' says of the copy path of the only disk.
disks_copy_line() {
	"$SLUICE" disks | sed -n 's/^ *copy: //p'
}

# serve_copy MODE ARGS...: serve_bg -v ... --copy MODE ARGS; with a MODE
# other than auto, check the server says it serves with it (ublk/copy.h).
serve_copy() {
	local mode=$1 got
	shift
	SERVE_PRE=(-v)
	serve_bg --copy "$mode" "$@" || return 1
	SERVE_PRE=()
	got=$(served_copy)
	[[ $mode == auto || $got == "$mode" ]] ||
		{ echo "not serving with copy $mode: $(cat "$SERVE_ERR")" >&2; return 1; }
}

# bind_long_chain BACKING: an applied chain file (as 'sluice policy apply'
# writes it) binding BACKING to policy "longchain": four count filters with
# long parameters, a spec well over 300 bytes, the length a chain with
# encryption, a journal with a replica and a cache reaches. The data
# services themselves are not filters of this version; count stands in.
bind_long_chain() {
	local dir="$SLUICE_RUN_DIR/policy/current/chains" f k
	mkdir -p "$dir"
	{
		printf 'version=1\ngeneration=1\npolicy=longchain\nselector=served:%s\nbacking=%s\n' \
			"$1" "$1"
		for f in crypt journal replica cache; do
			printf 'filter=count label=%s' "$f"
			for k in path key_file header target; do
				printf ' %s=/var/lib/sluice/a-rather-long-directory-name/%s-%s.bin' \
					"$k" "$f" "$k"
			done
			printf '\n'
		done
	} >"$dir/b000.chain"
}

# state_filters ID: the filters= line of disk ID's state file.
state_filters() {
	sed -n 's/^filters=//p' "$SLUICE_RUN_DIR/ublk$1.state"
}

# crash_during_fio SIZE: start a fio crc32c verify write of SIZE on $DEV,
# kill -9 the server while fio is still writing. Sets CRASH_FIO_PID; the
# log is $BATS_TEST_TMPDIR/fio.log. Recover the disk, then crash_fio_passes.
crash_during_fio() {
	fio --name=crash --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite \
		--bs=4k --iodepth=16 --size="$1" --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--verify_state_save=0 --randrepeat=0 >"$BATS_TEST_TMPDIR/fio.log" 2>&1 3>&- &
	CRASH_FIO_PID=$!
	sleep 1
	kill -0 "$CRASH_FIO_PID"	# still writing when the server dies
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
}

# crash_fio_passes: the fio of crash_during_fio ended without an I/O error
# and every block verified.
crash_fio_passes() {
	local rc=0
	wait "$CRASH_FIO_PID" || rc=$?
	run cat "$BATS_TEST_TMPDIR/fio.log"
	assert_equal "$rc" 0
	assert_output --partial "err= 0"
	refute_output --regexp "bad magic|verify failed|crc32c: |[Ii]/?O error"
}

# kernel_has_ublk_zero_copy: the running kernel's ublk driver has zero copy
# (UBLK_F_SUPPORT_ZERO_COPY works from 6.15): what a test expects of it.
kernel_has_ublk_zero_copy() {
	local major minor
	IFS=. read -r major minor _ <<<"$(uname -r)"
	((major > 6 || (major == 6 && minor >= 15)))
}

# snapshot ID: wait for a stats file written after now (the server writes
# it every second), so what is read next counts everything done before.
snapshot() {
	local f="$SLUICE_RUN_DIR/ublk$1.stats" t0 t i
	t0=$(date +%s%N)
	for ((i = 0; i < 50; i++)); do
		t=$(sed -n 's/^time_ns=//p' "$f" 2>/dev/null)
		[[ -n $t && $t -gt $t0 ]] && return 0
		sleep 0.1
	done
	echo "no fresh stats for disk $1" >&2
	return 1
}

# cstat ID NAME: one counter of the cache filter of disk ID (take a snapshot first).
cstat() {
	"$SLUICE" cache stats "$1" --json | jq -r ".$2"
}

# cache_verify_every_mode SERVE...: in each cache mode, a fresh 64 MiB
# $IMG served by SERVE... (serve_bg, or serve_copy MODE) over 2 queues with
# a 32 MiB cache at $CACHE (the queues share its blocks: writes to one
# block from both wait in turn); fio crc32c verify of 4 KiB writes, then of
# 28 KiB ones, unaligned to the cache's blocks (partial hits).
cache_verify_every_mode() {
	local mode
	for mode in writethrough writeback writearound; do
		rm -f "$IMG" "$CACHE"
		truncate -s 64M "$IMG"
		"$@" --backing "$IMG" --block-size 4096 --queues 2 --cache "$CACHE" \
			--cache-mode "$mode" --cache-size 32M
		run fio_verify "$DEV" 4096 16
		assert_success
		run fio_verify "$DEV" 28k 8
		assert_success
		kill -TERM "$SERVER_PID"
		wait "$SERVER_PID"
		SERVER_PIDS=()
	done
}
