# shellcheck shell=bash
# Shared helpers for the BATS suites that run inside the test VM
# (tests/vm/*.bats, through tests/vm/suite) and for host suites that drive
# tests/vm/run. Load with: load helpers   (or load ../vm/helpers)
#
# A VM suite's setup and teardown should call vm_setup and vm_teardown: they
# refuse to run outside the VM and fail a test whose kernel log gained a
# WARNING, BUG or Oops while it ran.
TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd -P)
SLUICE=${SLUICE:-$TOP/build/sluice}
VM_RUN=$TOP/tests/vm/run
export TOP SLUICE VM_RUN

bats_require_minimum_version 1.5.0

source "$TOP/tests/bats-libs.bash"

# What a kernel warning looks like in dmesg; tests/vm/init greps the same.
KERNEL_WARNING_RE='WARNING:|BUG:|Oops|general protection'

in_vm() {
	[[ ${SLUICE_VM:-} == 1 ]]
}

vm_setup() {
	in_vm || fail "this suite runs in the test VM: tests/vm/suite $BATS_TEST_FILENAME"
	vm_dmesg_mark
}

vm_teardown() {
	vm_cleanup
	vm_tmp_clean
	vm_assert_dmesg_clean
}

# Empties this test's BATS_TEST_TMPDIR. bats 1.8 removes the test
# directories only when the whole run ends, and one boot runs every suite:
# the disk images, journals and caches of 100 tests fill the guest's /tmp
# (a tmpfs of half its memory) long before that.
vm_tmp_clean() {
	[[ -n ${BATS_TEST_TMPDIR:-} && -d $BATS_TEST_TMPDIR ]] || return 0
	find "$BATS_TEST_TMPDIR" -mindepth 1 -delete 2>/dev/null || true
}

# Writes a marker into the kernel log, so that vm_assert_dmesg_clean looks
# only at what this test caused and build/vm/dmesg-*.log reads per test.
vm_dmesg_mark() {
	VM_DMESG_MARK="sluice-test: begin #${BATS_SUITE_TEST_NUMBER:-0} $BATS_TEST_NAME"
	echo "$VM_DMESG_MARK" >/dev/kmsg
}

vm_assert_dmesg_clean() {
	local warnings
	[[ -n ${VM_DMESG_MARK:-} ]] || return 0
	warnings=$(dmesg | awk -v m="$VM_DMESG_MARK" 'index($0, m) { on = 1 } on' |
		grep -E "$KERNEL_WARNING_RE" || true)
	[[ -z $warnings ]] || fail "kernel log during this test:"$'\n'"$warnings"
}

# ublk arrived in 5.19 and Debian's 6.1 kernel does not build it, so tests
# that need it skip there. On any other kernel a missing ublk is a failure:
# the VM is supposed to have it.
require_ublk() {
	[[ -c /dev/ublk-control ]] && return 0
	if [[ ${SLUICE_VM_KERNEL:-} == 6.1 ]]; then
		skip "no ublk in the 6.1 kernel"
	fi
	fail "/dev/ublk-control is missing on $(uname -r)"
}

# Remembers a cleanup command; vm_cleanup runs them in reverse order.
vm_defer() {
	printf '%q ' "$@" >>"$BATS_TEST_TMPDIR/cleanup"
	echo >>"$BATS_TEST_TMPDIR/cleanup"
}

vm_cleanup() {
	local f=$BATS_TEST_TMPDIR/cleanup cmd
	[[ -f $f ]] || return 0
	while IFS= read -r cmd; do
		eval "$cmd" >/dev/null 2>&1 || true
	done < <(tac "$f")
	rm -f "$f"
}

# vm_loop SIZE_MB: a loop device over a fresh file in /tmp; prints it.
# Direct I/O keeps the page cache from hiding requests, but /tmp is tmpfs,
# which has O_DIRECT only since 6.6 ("tmpfs: trivial support for direct
# IO"), so on 6.1 the loop device does buffered I/O.
vm_loop() {
	local img dev
	img=$(mktemp "$BATS_TEST_TMPDIR/loop.XXXXXX") || return
	truncate -s "${1:-64}M" "$img" || return
	dev=$(losetup --find --show --direct-io=on "$img" 2>/dev/null) ||
		dev=$(losetup --find --show "$img") || return
	vm_defer losetup -d "$dev"
	echo "$dev"
}

# vm_dm_linear NAME DEV: a linear device-mapper target over all of DEV.
# There is no udev in the VM: dmsetup mknodes makes /dev/mapper/NAME.
vm_dm_linear() {
	local name=$1 dev=$2 sectors
	sectors=$(blockdev --getsz "$dev") || return
	dmsetup create "$name" --table "0 $sectors linear $dev 0" || return
	vm_defer dmsetup remove --retry "$name"
	dmsetup mknodes "$name" || return
	echo "/dev/mapper/$name"
}

# fio_verify DEV [SIZE]: write, then read back and check with crc32c.
fio_verify() {
	fio --name=verify --filename="$1" --size="${2:-8M}" --rw=randwrite --bs=4k \
		--direct=1 --ioengine=libaio --iodepth=8 --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output-format=terse >/dev/null
}

# A daemon must not inherit bats' fd 3, or bats waits for it forever.
start_bg() {
	"$@" 3>&- &
	echo $!
}
