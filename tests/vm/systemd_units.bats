#!/usr/bin/env bats
# The units under a real systemd in the test VM: Debian's systemd from the
# host root runs as PID 1 of a PID namespace (as in a container), with the
# units of systemd/*.service.in in /run/systemd/system and /etc/sluice on an
# overlay. It "boots" with sluice-policy and sluice-serve@db enabled: the
# policy is applied before the disk is served, kill -9 of the server is
# recovered by Restart=, 'systemctl restart' keeps the device node and its
# data under fio crc32c verify, 'systemctl stop' deletes the disk.

load ublk_helpers
load unit_helpers

RUNTIME=/run/systemd/system

# systemctl ARGS: systemctl run inside systemd's namespaces; from outside
# its PID namespace the private socket's peer has no pid there and systemd
# drops calls now and then ("Transport endpoint is not connected").
systemctl() {
	nsenter -t "$SD_PID" -p -m -C -r -w -- env SYSTEMD_IGNORE_CHROOT=1 /bin/systemctl "$@"
}

journalctl() {
	nsenter -t "$SD_PID" -p -m -C -r -w -- /bin/journalctl "$@"
}

# sd_wait_active UNIT: until systemd says UNIT is active (30 s).
sd_wait_active() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(systemctl show -P ActiveState "$1" 2>/dev/null)" = active ] && return 0
		sleep 0.1
	done
	systemctl --no-pager status "$1" >&2 || true
	return 1
}

# sd_pid UNIT: the main process of UNIT, as this namespace numbers it.
sd_pid() {
	local cg
	cg=$(systemctl show -P ControlGroup "$1")
	head -n1 "$SD_CGROUP$cg/cgroup.procs"
}

# served_dev: /dev/ublkbN of the disk over $IMG, from its state file.
served_dev() {
	local f
	for f in /run/sluice/ublk*.state; do
		grep -qx "backing=$IMG" "$f" && { echo "/dev/ublkb$(sed -n 's/^id=//p' "$f")"; return 0; }
	done
	return 1
}

setup_file() {
	export IMG=/run/sluice-test/db.img SD_CGROUP=/sys/fs/cgroup
	mkdir -p /run/sluice-test "$RUNTIME/sysinit.target.wants" "$RUNTIME/multi-user.target.wants"
	truncate -s 64M "$IMG"
	# /etc is the host's, read-only (and the VM has no overlayfs): a copy
	# on tmpfs takes its place, with /etc/sluice
	cp -a /etc /run/etc-copy
	mount --bind /run/etc-copy /etc
	mkdir -p /etc/sluice/disks
	cat >/etc/sluice/policy.yaml <<-EOF
	policies:
	  - name: booted
	    services: {cache: false}
	bindings:
	  - disk: {served: {backing: $IMG}}
	    policy: booted
	EOF
	printf 'backing=%s\nblock-size=4096\n' "$IMG" >/etc/sluice/disks/db.conf
	# the units as make install writes them, for this checkout's binaries
	local u
	for u in "$TOP"/systemd/*.service.in; do
		sed "s|@SBINDIR@|$TOP/build|g; s|@LIBEXECDIR@|$TOP/systemd|g" "$u" \
			>"$RUNTIME/$(basename "$u" .in)"
	done
	# PrivateTmp= gives a unit its own /tmp: a checkout under /tmp (a CI
	# clone) would hide this checkout's binaries from it
	if [[ $TOP == /tmp/* ]]; then
		for u in $(grep -l '^PrivateTmp=yes' "$RUNTIME"/sluice-*.service); do
			mkdir -p "$u.d"
			printf '[Service]\nBindReadOnlyPaths=%s\n' "$TOP" >"$u.d/checkout.conf"
		done
	fi
	ln -s ../sluice-policy.service "$RUNTIME/sysinit.target.wants/"
	# what would reach past this systemd into the guest that runs the suite:
	# tmpfiles' boot clean-up empties the shared /tmp (bats' own files),
	# udev and sysctl act on the one kernel, getty and logind want a seat
	for u in systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service \
		systemd-tmpfiles-clean.timer systemd-udevd.service systemd-udev-trigger.service \
		systemd-udev-settle.service systemd-sysctl.service systemd-modules-load.service \
		systemd-remount-fs.service tmp.mount console-getty.service getty.target \
		systemd-logind.service systemd-random-seed.service; do
		ln -sf /dev/null "$RUNTIME/$u"
	done
	ln -s ../sluice-serve@.service "$RUNTIME/multi-user.target.wants/sluice-serve@db.service"
	# systemd refuses to be driven from what it takes for a chroot (the
	# guest chroots into the host root)
	export SYSTEMD_IGNORE_CHROOT=1
	container=sluice-vm unshare --pid --fork --mount-proc --cgroup \
		/lib/systemd/systemd --unit=multi-user.target >/run/sluice-test/systemd.log 2>&1 3>&- &
	local unshare_pid=$! i
	for ((i = 0; i < 100; i++)); do
		SD_PID=$(pgrep -P "$unshare_pid" -x systemd) && break
		sleep 0.1
	done
	export SD_PID
	for ((i = 0; i < 300; i++)); do
		[ "$(systemctl show -P ActiveState multi-user.target 2>/dev/null)" = active ] && break
		sleep 0.2
	done
}

teardown_file() {
	systemctl stop 'sluice-serve@*.service' sluice-throttle.service 2>/dev/null || true
	"$SLUICE" policy remove >/dev/null 2>&1 || true
	systemctl poweroff 2>/dev/null || true
	# Until systemd is gone: its last act trims the cgroup tree it sees,
	# which its cgroup namespace makes the guest's whole tree. Two seconds
	# of sleep were enough while each exec cost the guest 0.1 s; with
	# faster execs the next file's setup_file made thr_a and thr_b, and a
	# still-exiting systemd removed the empty one.
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$SD_PID" 2>/dev/null || break
		sleep 0.1
	done
	umount /etc || umount -l /etc || true
	rm -rf "$RUNTIME" /run/sluice-test /run/etc-copy
	# the cgroups systemd made under the guest's root
	find /sys/fs/cgroup -mindepth 1 -depth -type d \( -path '*/init.scope*' \
		-o -path '*/system.slice*' -o -path '*/user.slice*' \) -exec rmdir {} + 2>/dev/null || true
}

setup() {
	export SYSTEMD_IGNORE_CHROOT=1
}

@test "at boot the policy is applied, then the disk is served under it" {
	sd_wait_active sluice-policy.service
	sd_wait_active sluice-serve@db.service
	local dev
	dev=$(served_dev)
	[[ -b $dev ]]
	# served after the policy: the disk got the policy bound to its backing
	grep -qx "policy=booted" "/run/sluice/ublk${dev#/dev/ublkb}.state"
	run "$SLUICE" policy show
	assert_success
	assert_output --partial booted
}

@test "reload with a bad file fails with the policy's message; the policy in force stays" {
	sd_wait_active sluice-policy.service
	cp /etc/sluice/policy.yaml /run/sluice-test/good.yaml
	printf 'policies:\n  - name: booted\n    speed: 11\n' >/etc/sluice/policy.yaml
	run systemctl reload sluice-policy.service
	cp /run/sluice-test/good.yaml /etc/sluice/policy.yaml
	assert_failure
	run journalctl -u sluice-policy.service --no-pager -o cat
	assert_output --partial "/etc/sluice/policy.yaml:3:5: unknown key 'speed'"
	# the previous policy stays in force
	run "$SLUICE" policy show
	assert_success
	assert_output --partial booted
}

@test "reload with the file fixed applies it again" {
	sd_wait_active sluice-policy.service
	run systemctl reload sluice-policy.service
	[ "$status" -eq 0 ] || journalctl -u sluice-policy.service --no-pager -o cat | tail -n 8 >&2
	assert_success
}

@test "kill -9 of the server: Restart= recovers the same disk, fio verify passes across it" {
	sd_wait_active sluice-serve@db.service
	local dev old restarts
	dev=$(served_dev)
	# shellcheck disable=SC2034 # fio_during_bg writes on $DEV
	DEV=$dev
	old=$(sd_pid sluice-serve@db.service)
	restarts=$(systemctl show -P NRestarts sluice-serve@db.service)
	fio_during_bg 48M
	systemctl kill -s KILL sluice-serve@db.service
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(systemctl show -P NRestarts sluice-serve@db.service)" -gt "$restarts" ] && break
		sleep 0.1
	done
	sd_wait_active sluice-serve@db.service
	[ "$(sd_pid sluice-serve@db.service)" != "$old" ]
	assert_equal "$(served_dev)" "$dev"
	fio_passed
}

@test "systemctl restart keeps the device node and its data: the new server takes the disk over" {
	sd_wait_active sluice-serve@db.service
	local dev old seq
	dev=$(served_dev)
	# shellcheck disable=SC2034 # fio_during_bg writes on $DEV
	DEV=$dev
	old=$(sd_pid sluice-serve@db.service)
	seq=$(cat "/sys/block/${dev#/dev/}/diskseq")
	fio_during_bg 48M
	systemctl restart sluice-serve@db.service
	sd_wait_active sluice-serve@db.service
	[ "$(sd_pid sluice-serve@db.service)" != "$old" ]
	assert_equal "$(served_dev)" "$dev"
	[[ -b $dev ]]
	fio_passed
	# the same disk, never deleted and made again: the kernel numbers every
	# new disk (diskseq)
	assert_equal "$(cat "/sys/block/${dev#/dev/}/diskseq")" "$seq"
	# the old server left on the restart job's SIGUSR2, it did not crash
	run journalctl -u sluice-serve@db.service --no-pager -o cat
	assert_output --partial "sluice-serve@db.service: Deactivated successfully."
	# and said so itself: a detached server keeps journald's stream as stderr
	assert_output --partial "${dev}: left for the next server: sluice serve --recover"
}

@test "systemctl stop drains and deletes the disk" {
	sd_wait_active sluice-serve@db.service
	local dev
	dev=$(served_dev)
	systemctl stop sluice-serve@db.service
	[[ ! -e $dev ]]
	run served_dev
	assert_failure
}
