#!/usr/bin/env bats
# The build itself: dependencies, incremental rebuilds, BPF pipeline.

load helpers

@test "make deps: every package is installed, and a second run is a no-op" {
	run "$TOP/scripts/deps" check
	assert_success
	run "$TOP/scripts/deps" install
	assert_success
	assert_output ""
}

@test "make: the tree is up to date after a build" {
	run make -C "$TOP" -q all
	assert_success
}

@test "make: changing one source rebuilds only that object and the link" {
	run make -C "$TOP" -n -W userspace/lib/json.c all
	assert_success
	assert_output --partial "userspace/lib/json.c"
	refute_output --partial "userspace/cmd/doctor.c"
	refute_output --partial "bpftool gen"
}

@test "make: every BPF program becomes a skeleton with BTF" {
	local src name
	for src in "$TOP"/bpf/*.bpf.c; do
		[ -e "$src" ] || continue
		name=$(basename "$src" .bpf.c)
		assert [ -s "$TOP/build/$name.skel.h" ]
		run bpftool btf dump file "$TOP/build/bpf/$name.bpf.o"
		assert_success
	done
}

@test "the binary carries the version from the VERSION file" {
	run "$SLUICE" --version
	assert_output "sluice $(cat "$TOP/VERSION")"
}
