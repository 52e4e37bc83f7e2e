# shellcheck shell=bash
# Shared helpers for the host BATS suites: real loop devices on this
# machine's kernel, as root. Load with: load helpers
TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
SLUICE=${SLUICE:-$TOP/build/sluice}
export TOP SLUICE

bats_require_minimum_version 1.5.0

source "$TOP/tests/bats-libs.bash"

# Filesystems the BPF parts need; a fresh machine may not have them mounted.
ensure_kernel_fs() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing
}

# make_loop SIZE_MB: a loop device over a fresh file in $BATS_TEST_TMPDIR,
# direct I/O so the page cache does not hide requests from the meter.
# Prints the device path and remembers it for cleanup_loops.
make_loop() {
	local size_mb=${1:-64} img dev
	img=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/loop.XXXXXX")
	truncate -s "${size_mb}M" "$img"
	dev=$(losetup --find --show --direct-io=on "$img")
	echo "$dev" >>"${BATS_TEST_TMPDIR:-/tmp}/loops"
	echo "$dev"
}

cleanup_loops() {
	local f="${BATS_TEST_TMPDIR:-/tmp}/loops" dev
	[ -f "$f" ] || return 0
	while read -r dev; do
		losetup -d "$dev" 2>/dev/null || true
	done <"$f"
	rm -f "$f"
}

# A daemon must not inherit bats' fd 3, or bats waits for it forever.
start_bg() {
	"$@" 3>&- &
	echo $!
}
