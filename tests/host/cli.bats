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
