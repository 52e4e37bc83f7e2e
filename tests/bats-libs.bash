# shellcheck shell=bash
# bats-support and bats-assert, for every helper file of the BATS suites.
# Their load.bash files (Debian 12's bats-assert 2.1, bats-support 0.3) run
# dirname once per file they source, 15 execs that cost 2.5 s a test in the
# test VM's TCG guest, where bats re-sources a suite's helpers for every
# test: over 10 minutes of a whole run. Sourcing the files themselves does
# the same in 0.1 s. Sourced once per test even when two helpers ask.
if ! declare -F assert_equal >/dev/null; then
	for _bats_lib in /usr/lib/bats/bats-support/src/*.bash /usr/lib/bats/bats-assert/src/*.bash; do
		# shellcheck disable=SC1090
		source "$_bats_lib"
	done
	unset _bats_lib
fi
