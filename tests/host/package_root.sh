#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# package_root.sh DEB OUT SCRIPT: install DEB into a fresh root, run SCRIPT
# there with bash, purge the package, and write what the purge left to
# OUT.left (one path a line: files, and folders the host does not have).
# SCRIPT's output goes to OUT.out.
#
# The fresh root is an overlay over this machine's / with an empty upper
# layer on tmpfs, in a mount namespace of its own: the host's packages (the
# libraries sluice needs, man-db, systemd's tools) are there, and every
# change lands in the upper layer, which goes away with the namespace.
set -euo pipefail

if [ "${1:-}" != --inside ]; then
	exec unshare -m --propagation private "$0" --inside "$@"
fi
shift
deb=$1 out=$2 script=$3

tmp=$(mktemp -d /tmp/sluice-pkgroot.XXXXXX)
mount -t tmpfs tmpfs "$tmp"
mkdir "$tmp/upper" "$tmp/work" "$tmp/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$tmp/upper,workdir=$tmp/work" "$tmp/root"
root=$tmp/root
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"

cp "$deb" "$root/tmp/sluice.deb"
chroot "$root" dpkg -i /tmp/sluice.deb >"$out.install" 2>&1
chroot "$root" bash <"$script" >"$out.out" 2>&1 || echo "script exit $?" >>"$out.out"
chroot "$root" dpkg --purge sluice >"$out.purge" 2>&1
rm -f "$root/tmp/sluice.deb"
umount "$root/run" "$root/dev" "$root/proc"

# Left behind: any file, symlink or whiteout outside dpkg's own records, man's
# cache and logs, and any folder that is not the host's.
cd "$tmp/upper"
find . -mindepth 1 \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache/man \
	-o -path ./tmp \) -prune -o -print | sed 's|^\.||' | while read -r p; do
	if [ -d "$tmp/upper$p" ] && [ ! -L "$tmp/upper$p" ]; then
		[ -d "$p" ] || echo "$p"
	else
		echo "$p"
	fi
done >"$out.left"
