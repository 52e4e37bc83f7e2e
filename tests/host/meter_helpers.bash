# shellcheck shell=bash
# Helpers for the metering suites, on the host (hybrid cgroups, blkio on v1)
# and in the VM (cgroup v2 only). Load after helpers: load meter_helpers

# The hierarchy where the block layer charges bios (blkcg): v1 blkio when
# it is mounted, else the cgroup2 root.
cg_io_root() {
	if mountpoint -q /sys/fs/cgroup/blkio 2>/dev/null; then
		echo /sys/fs/cgroup/blkio
	elif [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		echo /sys/fs/cgroup
	else
		echo /sys/fs/cgroup/unified
	fi
}

# make_cgroup NAME: a fresh cgroup under the io root, io controller enabled
# on cgroup2 so the child gets its own blkcg. Prints its path.
make_cgroup() {
	local root path
	root=$(cg_io_root)
	path="$root/sluice-test-$1-$$"
	if [ -f "$root/cgroup.subtree_control" ]; then
		echo +io >"$root/cgroup.subtree_control"
	fi
	mkdir -p "$path"
	echo "$path" >>"${BATS_TEST_TMPDIR:-/tmp}/cgroups"
	echo "$path"
}

cleanup_cgroups() {
	local f="${BATS_TEST_TMPDIR:-/tmp}/cgroups" cg
	[ -f "$f" ] || return 0
	while read -r cg; do
		rmdir "$cg" 2>/dev/null || true
	done <"$f"
	rm -f "$f"
}

# cgroup_id PATH: the kernfs id sluice reports (the directory's inode).
cgroup_id() {
	stat -c %i "$1"
}

# in_cgroup PATH CMD...: run CMD inside the cgroup.
in_cgroup() {
	local cg=$1
	shift
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# fio_n DEV RW N [ARGS...]: exactly N direct 4 KiB synchronous I/Os.
fio_n() {
	local dev=$1 rw=$2 n=$3
	shift 3
	fio --name=sluice --filename="$dev" --direct=1 --ioengine=psync --bs=4k \
		--rw="$rw" --number_ios="$n" --size=16M --output=/dev/null "$@"
}

# run_ok CMD...: bats' run, failing with the command's output if it fails.
# shellcheck disable=SC2154 # status and output are set by bats' run
run_ok() {
	run "$@"
	[ "$status" -eq 0 ] || fail "exit $status from $*: $output"
}

# make_meter_loop SIZE_MB: like make_loop, but where the kernel refuses
# direct I/O on the backing file (6.1 on tmpfs, the VM's /tmp) fall back to
# buffered backing: the meter counts the loop device's own requests, which
# fio still issues with O_DIRECT.
make_meter_loop() {
	local size_mb=${1:-64} img dev
	img=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/loop.XXXXXX")
	truncate -s "${size_mb}M" "$img"
	dev=$(losetup --find --show --direct-io=on "$img" 2>/dev/null) ||
		dev=$(losetup --find --show "$img")
	echo "$dev" >>"${BATS_TEST_TMPDIR:-/tmp}/loops"
	echo "$dev"
}

# attached PROG: a program of that name is attached (has a link), not just loaded.
attached() {
	local id
	for id in $(bpftool prog show -j | jq --arg n "$1" '.[] | select(.name == $n) | .id'); do
		bpftool link show -j | jq -e --argjson id "$id" 'any(.[]; .prog_id == $id)' >/dev/null &&
			return 0
	done
	return 1
}

# bg CMD...: start a daemon for this test, stopped by pid in stop_bg_all.
bg() {
	"$@" >>"$BATS_TEST_TMPDIR/bg.log" 2>&1 3>&- &
	echo $! >>"$BATS_TEST_TMPDIR/bg.pids"
	BG_PID=$!
}

# stop_bg_all: SIGTERM what bg started, by pid, and reap it.
stop_bg_all() {
	local pid f="$BATS_TEST_TMPDIR/bg.pids"
	[ -f "$f" ] || return 0
	while read -r pid; do
		kill -TERM "$pid" 2>/dev/null || true
	done <"$f"
	while read -r pid; do
		wait "$pid" 2>/dev/null || true
	done <"$f"
}

# wait_http URL: up to 10 s for URL to answer.
wait_http() {
	local _
	for _ in $(seq 100); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	return 1
}
