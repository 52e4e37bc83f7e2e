#!/usr/bin/env bats
# Installed like a system service: make install/uninstall, the Debian package
# (dpkg-buildpackage, lintian, install and purge in a fresh root), the man
# pages, the units and the bash completion. Nothing here loads BPF or uses
# /run/sluice: no host lock needed. The package is built once per source
# change (make deb) and shared by every test.

load helpers

setup_file() {
	export VERSION DEB
	VERSION=$(cat "$TOP/VERSION")
	DEB=$TOP/build/deb/sluice_${VERSION}_$(dpkg --print-architecture).deb
	make -C "$TOP" -s all man units deb >&2
	lintian --fail-on error "${DEB%.deb}.changes" >"$BATS_FILE_TMPDIR/lintian" 2>&1 ||
		echo "lintian exit $?" >>"$BATS_FILE_TMPDIR/lintian"
}

# in_root SCRIPT: run the bash SCRIPT in a fresh root with the package
# installed, then purge it (tests/host/package_root.sh). Sets ROOT_OUT
# (SCRIPT's output) and ROOT_LEFT (what the purge left, empty when clean).
in_root() {
	local out=$BATS_TEST_TMPDIR/root
	printf '%s\n' "$1" >"$out.sh"
	"$TOP/tests/host/package_root.sh" "$DEB" "$out" "$out.sh"
	ROOT_OUT=$(cat "$out.out")
	ROOT_LEFT=$(cat "$out.left")
	ROOT_INSTALL=$(cat "$out.install")
}

# The files 'make install' puts under DESTDIR $1 (PREFIX=/usr, Debian's unit
# folder), one path a line, folders left out.
make_install_list() {
	make -C "$TOP" -s install DESTDIR="$1" PREFIX=/usr UNITDIR=/lib/systemd/system >/dev/null
	(cd "$1" && find . ! -type d | sed 's|^\.||' | sort)
}

@test "the package is sluice_VERSION_ARCH.deb, its changelog at VERSION, lintian reports no error" {
	[ -s "$DEB" ]
	assert_equal "$(dpkg-deb -f "$DEB" Version)" "$VERSION"
	assert_equal "$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)" "$VERSION"
	run cat "$BATS_FILE_TMPDIR/lintian"
	refute_output --regexp "^E: |lintian exit"
}

@test "the package depends on the libraries the binary links (shlibs), not on fio" {
	local depends lib pkg path
	depends=$(dpkg-deb -f "$DEB" Depends)
	refute [ -z "$depends" ]
	[[ $depends != *fio* ]]
	# every library the packaged binary needs at run time is a dependency
	dpkg-deb -x "$DEB" "$BATS_TEST_TMPDIR/x"
	local libs
	libs=$(objdump -p "$BATS_TEST_TMPDIR/x/usr/sbin/sluice" | awk '$1 == "NEEDED" { print $2 }')
	grep -qx 'libbpf.so.1' <<<"$libs"
	for lib in $libs; do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|AArch64/ { print $NF; exit }')
		[ -n "$path" ] || fail "$lib: not found by ldconfig"
		# usrmerge: dpkg knows a library under /lib or /usr/lib, as shipped
		pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "/usr${path#/usr}" 2>/dev/null ||
			dpkg -S "${path#/usr}" 2>/dev/null || true)
		pkg=${pkg%%:*}
		[ -n "$pkg" ] || fail "$lib ($path): no package owns it"
		[[ $depends == *"$pkg"* ]] || fail "$lib ($pkg) is not in Depends: $depends"
	done
}

@test "the package holds what make install puts, docs aside; a page per docs/cmd page" {
	local want got md name
	want=$(make_install_list "$BATS_TEST_TMPDIR/destdir" |
		sed 's|^\(/usr/share/man/.*\)$|\1.gz|')
	got=$(dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { print substr($6, 2) }' |
		grep -v '^/usr/share/doc/' | sort)
	assert_equal "$got" "$want"
	grep -qx /usr/sbin/sluice <<<"$got"
	grep -qx /usr/share/bash-completion/completions/sluice <<<"$got"
	for md in "$TOP"/docs/cmd/*.md; do
		name=$(basename "$md" .md)
		grep -qE "^/usr/share/man/man[17]/sluice-$name\.[17]\.gz$" <<<"$got" ||
			fail "no man page for $md"
	done
	for name in "$TOP"/policies/*.yaml "$TOP"/systemd/*.service.in; do
		name=$(basename "$name" .in)
		grep -qE "/(policies|system)/$name$" <<<"$got" || fail "$name is not in the package"
	done
	# the BPF objects are built into the binary: no .bpf.o ships
	refute grep -q '\.bpf\.o$' <<<"$got"
}

@test "in a fresh root: installed, man sluice-serve renders, units verify clean, purge leaves nothing" {
	in_root '
		set -e
		dpkg -s sluice | grep "^Status:"
		MANWIDTH=200 man sluice-serve | head -n 8
		man -w sluice sluice-policy sluice-arguments
		sluice --version
		/usr/libexec/sluice/sluice-disk 2>&1 || true
		systemd-analyze verify /lib/systemd/system/sluice-policy.service \
			/lib/systemd/system/sluice-throttle.service \
			/lib/systemd/system/sluice-exporter.service \
			/lib/systemd/system/sluice-serve@db.service && echo "verify: clean"
	'
	run echo "$ROOT_OUT"
	assert_line "Status: install ok installed"
	assert_line --regexp '^ +sluice-serve - serve a file or block device as /dev/ublkbN through a filter chain$'
	assert_line "/usr/share/man/man1/sluice.1.gz"
	assert_line "/usr/share/man/man7/sluice-arguments.7.gz"
	assert_line "sluice $VERSION"
	assert_line --partial "usage: sluice-disk NAME"
	assert_line "verify: clean"
	refute_output --partial "script exit"
	# the policy and the throttle are enabled, the exporter is not
	run echo "$ROOT_INSTALL"
	assert_line --partial "sysinit.target.wants/sluice-policy.service"
	assert_line --partial "multi-user.target.wants/sluice-throttle.service"
	refute_output --partial "sluice-exporter.service"
	assert_equal "$ROOT_LEFT" ""
}

@test "make uninstall removes exactly what make install put" {
	local d=$BATS_TEST_TMPDIR/destdir files
	files=$(make_install_list "$d")
	refute [ -z "$files" ]
	make -C "$TOP" -s uninstall DESTDIR="$d" PREFIX=/usr UNITDIR=/lib/systemd/system
	run find "$d" ! -type d
	assert_output ""
	run find "$d" -name '*sluice*'
	assert_output ""
}

@test "make install PREFIX=/usr/local: the units call the binaries where they went" {
	local d=$BATS_TEST_TMPDIR/local
	make -C "$TOP" -s install DESTDIR="$d" PREFIX=/usr/local >/dev/null
	run grep -h '^ExecStart=' "$d"/usr/local/lib/systemd/system/*.service
	assert_line "ExecStart=/usr/local/libexec/sluice/sluice-disk %i"
	assert_line "ExecStart=/usr/local/sbin/sluice policy apply /etc/sluice/policy.yaml"
	refute_output --partial "@"
	[ -x "$d/usr/local/sbin/sluice" ]
	make -C "$TOP" -s uninstall DESTDIR="$d" PREFIX=/usr/local
}

@test "man pages and completion follow the docs and sluice --help, without a list to keep" {
	local md=$BATS_TEST_TMPDIR/newcmd.md
	# a page for a command the binary does not have is refused, by name
	printf '# sluice frobnicate\n\nFrobnicates.\n' >"$md"
	run -1 "$TOP/scripts/mkman" page "$SLUICE" "$md" "$BATS_TEST_TMPDIR/x.1"
	assert_output "mkman: $md: 'frobnicate' is not in '$SLUICE --help'; add the command or retitle the page"
	# every command in --help has its page, with its summary as NAME
	run "$SLUICE" --help
	local cmd sum
	# shellcheck disable=SC2013 # command names are single words
	for cmd in $(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' <<<"$output"); do
		[ -e "$TOP/build/man/man1/sluice-$cmd.1" ] || fail "no page for '$cmd'"
		sum=$("$SLUICE" --help | sed -n "s/^  $cmd  *//p")
		MANWIDTH=200 man -l "$TOP/build/man/man1/sluice-$cmd.1" | grep -qF "sluice-$cmd - $sum" ||
			fail "sluice-$cmd.1 does not name '$sum'"
	done
}

@test "bash completion: commands, a command's verbs and options, from the binary" {
	complete_words() {
		bash -c '
			[ -e /usr/share/bash-completion/bash_completion ] &&
				source /usr/share/bash-completion/bash_completion
			source "$1"; shift
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
			COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
			_sluice; printf "%s\n" "${COMPREPLY[@]}"' _ "$TOP/completion/sluice.bash" "$@"
	}
	run complete_words "$SLUICE" s
	assert_output "$(printf 'stat\nserve\nstop\nstages')"
	run complete_words "$SLUICE" serve --rec
	assert_output "--recover"
	run complete_words "$SLUICE" policy a
	assert_output "apply"
	run complete_words "$SLUICE" -v help thr
	assert_output "throttle"
}
