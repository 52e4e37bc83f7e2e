#!/usr/bin/env bats
# The sluice binary's front door: help, version, unknown input.

load helpers

@test "--version prints the version" {
	run "$SLUICE" --version
	assert_success
	assert_output --regexp '^sluice [0-9a-zA-Z.-]+'
}

@test "help lists every command with a summary" {
	run "$SLUICE" help
	assert_success
	assert_output --partial "doctor"
	assert_output --partial "Run 'sluice COMMAND --help'"
}

@test "no command is a usage error on stderr" {
	run -2 "$SLUICE"
	assert_output --partial "Usage: sluice"
}

@test "an unknown command names itself and the fix" {
	run -2 "$SLUICE" frobnicate
	assert_output "sluice: error: unknown command 'frobnicate'; see 'sluice help'"
}

@test "every command has --help with usage and examples" {
	local cmd
	for cmd in $("$SLUICE" help | awk '/^Commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
		run "$SLUICE" "$cmd" --help
		assert_success
		assert_output --partial "Usage: sluice $cmd"
		assert_output --partial "Examples:"
	done
}

@test "help COMMAND is COMMAND --help" {
	run "$SLUICE" help doctor
	assert_success
	assert_output --partial "Usage: sluice doctor"
}

# cmd/args.h: one grammar and one error voice on every command. These fail
# before anything is loaded, so they need no root and touch nothing.
@test "a bad duration is refused in the same words by every command" {
	local expect="expected a duration (500ms, 2s, 1m; a bare number is seconds)"

	run -2 "$SLUICE" top --interval 5x
	assert_output "sluice: error: --interval '5x': $expect"
	run -2 "$SLUICE" throttle --interval 5x
	assert_output "sluice: error: --interval '5x': $expect"
	run -2 "$SLUICE" stages --interval 5x
	assert_output "sluice: error: --interval '5x': $expect"
	run -2 "$SLUICE" stop --timeout 5x 3
	assert_output "sluice: error: --timeout '5x': $expect"
	run -2 "$SLUICE" hist --duration 5x
	assert_output "sluice: error: --duration '5x': $expect"
	run -2 "$SLUICE" trace --min-lat 5x
	assert_output "sluice: error: --min-lat '5x': $expect"
}

@test "a duration means the same to top and throttle: a bare number is seconds" {
	# throttle refused '--interval 1' before; now both read it as 1s, and
	# both refuse what is below their floor in one sentence.
	run -2 "$SLUICE" throttle --interval 1ms
	assert_output --partial "--interval '1ms': expected a duration of at least 10ms"
	run -2 "$SLUICE" top --interval 0.01
	assert_output --partial "--interval '0.01': expected a duration of at least 50ms"
	# accepted: the error is the next one (no disk), not the interval
	run -2 "$SLUICE" throttle --interval 1 --disk /nonexistent
	assert_output --partial "/nonexistent: no such disk"
	refute_output --partial "--interval"
}

@test "counts are whole numbers: atoi's '2x' and '-1' are refused" {
	run -2 "$SLUICE" stages --count 2x
	assert_output "sluice: error: --count '2x': expected a whole number of at least 1"
	run -2 "$SLUICE" top --count -1
	assert_output "sluice: error: --count '-1': expected a whole number of at least 1"
	run -2 "$SLUICE" trace --count 0
	assert_output "sluice: error: --count '0': expected a whole number of at least 1"
}

@test "a choice names every word it takes" {
	run -2 "$SLUICE" throttle --latency queue
	assert_output "sluice: error: --latency 'queue': expected total or device"
	run -2 "$SLUICE" top --sort speed
	assert_output "sluice: error: --sort 'speed': expected iops, tput, lat, util or name"
	run -2 "$SLUICE" hist --lat wall
	assert_output "sluice: error: --lat 'wall': expected queue, device or total"
}
