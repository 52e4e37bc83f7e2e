#!/usr/bin/env bats
# A served disk's filter counters reach people (6.12 test VM): the server
# publishes its chain's counters about every second; after real fio I/O
# through the count filter they show in 'disks --json', 'top' (--json and
# text) and the exporter (promtool-clean). A killed server's counters are
# not shown as live, and stopping a disk removes its counters file.

load ublk_helpers

setup() {
	ublk_setup
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing
	IMG="$BATS_TEST_TMPDIR/backing.img"
	truncate -s 32M "$IMG"
	BG_PIDS=()
}

teardown() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	ublk_teardown
}

# bg CMD...: a daemon for this test (no inherited fd 3), stopped by pid.
bg() {
	"$@" >>"$BATS_TEST_TMPDIR/bg.log" 2>&1 3>&- </dev/null &
	BG_PIDS+=("$!")
}

# fio_n DEV RW N [ARGS...]: exactly N direct 4 KiB I/Os on the block device.
fio_n() {
	local dev=$1 rw=$2 n=$3
	shift 3
	[[ -b $dev ]] || { echo "$dev is not a block device" >&2; return 1; }
	fio --name=fs --filename="$dev" --direct=1 --ioengine=psync --bs=4k --rw="$rw" \
		--number_ios="$n" --size=16M --output=/dev/null "$@"
}

# counter ID NAME: the count filter's counter NAME of disk ID from
# 'disks --json' ("null" when no live counters).
counter() {
	"$SLUICE" disks --json |
		jq -r ".[] | select(.id == $1) | .filter_stats.filters[0].counters.$2"
}

# wait_counter ID NAME VALUE: up to 15 s for the published counter to be VALUE.
wait_counter() {
	local i
	for ((i = 0; i < 150; i++)); do
		[[ $(counter "$1" "$2") == "$3" ]] && return 0
		sleep 0.1
	done
	echo "counter $2 of disk $1 is $(counter "$1" "$2"), not $3" >&2
	return 1
}

# wait_http URL: up to 30 s for URL to answer (loading BPF is slow under TCG).
wait_http() {
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	return 1
}

@test "count filter: fio's I/O in disks --json, top and the exporter, promtool-clean" {
	serve_bg --backing "$IMG" --policy count
	local id name fio_pid mid=0 i j m port r0 b0
	id=$(dev_id "$DEV")
	name=ublkb$id
	# published once at start: a live chain of one filter, nothing written yet
	wait_counter "$id" writes 0
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e ".[0].filter_stats.filters | length == 1" >/dev/null
	echo "$output" | jq -e '.[0].filter_stats.filters[0] | .index == 0 and .name == "count"' \
		>/dev/null
	echo "$output" | jq -e '.[0].filter_stats.time_ns > 0 and .[0].server == "running"' >/dev/null

	# while fio runs, the queue threads count and the published value climbs
	fio_n "$DEV" randwrite 600 --rate_iops=100 3>&- &
	fio_pid=$!
	for ((i = 0; i < 200; i++)); do
		m=$(counter "$id" writes)
		if ((m > 0 && m < 600)); then
			mid=$m
			break
		fi
		sleep 0.1
	done
	wait "$fio_pid"
	((mid > 0)) || fail "no count between 0 and 600 seen while fio wrote"
	wait_counter "$id" writes 600
	wait_counter "$id" bytes_written $((600 * 4096))
	# the kernel's partition scan read the disk at start: count from here
	r0=$(counter "$id" reads)
	b0=$(counter "$id" bytes_read)
	fio_n "$DEV" randread 100
	wait_counter "$id" reads $((r0 + 100))
	wait_counter "$id" bytes_read $((b0 + 100 * 4096))
	j=$("$SLUICE" disks --json)
	echo "$j" | jq -e '.[0].filter_stats.filters[0].counters |
		.writes == 600 and .errors == 0 and .discards == 0' >/dev/null ||
		fail "counters: $j"

	run "$SLUICE" top --json --count 1 --interval 0.5 --disk "$DEV"
	assert_success
	echo "$output" | jq -e --arg n "$name" '.disks[0].name == $n and
		.disks[0].filter_stats.filters[0].name == "count" and
		.disks[0].filter_stats.filters[0].counters.writes == 600' >/dev/null ||
		fail "top --json: $output"
	run bash -c "'$SLUICE' top --count 1 --interval 0.5 --disk '$DEV' | cat"
	assert_success
	assert_line --regexp "^  filters: count reads [0-9.k]+ writes 600 "
	while IFS= read -r l; do [ "${#l}" -le 80 ] || fail "line too long: $l"; done <<<"$output"

	port=$((20000 + RANDOM % 20000))
	bg "$SLUICE" exporter --listen "127.0.0.1:$port"
	wait_http "http://127.0.0.1:$port/metrics" || fail "exporter did not answer: $(cat "$BATS_TEST_TMPDIR/bg.log")"
	curl -sf "http://127.0.0.1:$port/metrics" >"$BATS_TEST_TMPDIR/m.txt"
	run promtool check metrics <"$BATS_TEST_TMPDIR/m.txt"
	assert_success
	assert_output ""
	run grep -c "^sluice_filter_stat_total{disk=\"$name\",filter=\"count\",index=\"0\"," \
		"$BATS_TEST_TMPDIR/m.txt"
	assert_output "$(echo "$j" | jq '.[0].filter_stats.filters[0].counters | length')"
	run grep -x "sluice_filter_stat_total{disk=\"$name\",filter=\"count\",index=\"0\",counter=\"writes\"} 600" \
		"$BATS_TEST_TMPDIR/m.txt"
	assert_success
	run grep -x "sluice_filter_stat_total{disk=\"$name\",filter=\"count\",index=\"0\",counter=\"bytes_written\"} $((600 * 4096))" \
		"$BATS_TEST_TMPDIR/m.txt"
	assert_success
}

@test "a killed server's counters are not shown as live; stop removes them" {
	serve_bg --backing "$IMG" --policy count
	local id port
	id=$(dev_id "$DEV")
	fio_n "$DEV" randwrite 50
	wait_counter "$id" writes 50
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	# its file stays behind, but nobody shows it as live
	[ -e "$SLUICE_RUN_DIR/ublk$id.stats" ]
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e '.[0].server == "dead" and .[0].filter_stats == null' >/dev/null ||
		fail "disks --json: $output"
	run "$SLUICE" top --json --count 1 --interval 0.5
	assert_success
	echo "$output" | jq -e '[.disks[] | select(.filter_stats)] | length == 0' >/dev/null ||
		fail "top --json: $output"
	port=$((20000 + RANDOM % 20000))
	bg "$SLUICE" exporter --listen "127.0.0.1:$port"
	wait_http "http://127.0.0.1:$port/metrics" || fail "exporter did not answer"
	curl -sf "http://127.0.0.1:$port/metrics" >"$BATS_TEST_TMPDIR/m.txt"
	grep -q "^# TYPE sluice_filter_stat_total counter" "$BATS_TEST_TMPDIR/m.txt"
	run grep -c "^sluice_filter_stat_total{" "$BATS_TEST_TMPDIR/m.txt"
	assert_output 0
	# recovered, a new server publishes counters of its own from zero
	serve_bg --recover "$id"
	wait_counter "$id" writes 0
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	run "$SLUICE" stop "$id"
	assert_success
	[ ! -e "$SLUICE_RUN_DIR/ublk$id.stats" ]
}

@test "passthrough publishes an empty chain; SIGTERM removes the counters file" {
	serve_bg --backing "$IMG"
	local id i
	id=$(dev_id "$DEV")
	for ((i = 0; i < 150; i++)); do
		[ -e "$SLUICE_RUN_DIR/ublk$id.stats" ] && break
		sleep 0.1
	done
	run "$SLUICE" disks --json
	assert_success
	echo "$output" | jq -e '.[0].filter_stats.filters == []' >/dev/null ||
		fail "disks --json: $output"
	run "$SLUICE" disks
	assert_success
	while IFS= read -r l; do [ "${#l}" -le 80 ] || fail "line too long: $l"; done <<<"$output"
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	[ ! -e "$SLUICE_RUN_DIR/ublk$id.stats" ]
	[ ! -e "$SLUICE_RUN_DIR/ublk$id.state" ]
}
