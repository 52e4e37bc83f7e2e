#!/usr/bin/env bats
# Replication (issue 15) on the real ublk driver: a journaled disk streams
# its records over TLS to 'sluice replica', on loopback and over a veth
# pair into a network namespace with netem delay; the replica's image
# equals the primary's backing once the stream drains. A wrong key and
# another disk are refused with nothing applied; the receiver killed mid
# stream resumes with no gap and no duplicate (its journal has every seq
# once); sync mode: every write acknowledged before the primary is killed
# is on the replica. Small images and short runs: this suite runs in TCG.

load ublk_helpers

setup() {
	ublk_setup
	# shellcheck disable=SC2034 # ublk_teardown reads it
	LOOPS=()
	REPLICA_PIDS=()
	IMG="$BATS_TEST_TMPDIR/primary.img"
	J="$BATS_TEST_TMPDIR/primary.journal"
	RIMG="$BATS_TEST_TMPDIR/replica.img"
	RJ="$BATS_TEST_TMPDIR/replica.journal"
	PSK="$BATS_TEST_TMPDIR/psk"
	openssl rand -hex 32 >"$PSK"
	truncate -s 32M "$IMG" "$RIMG"
}

teardown() {
	local pid
	for pid in "${REPLICA_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	ublk_teardown
	for pid in "${REPLICA_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	ip netns del sl-rep 2>/dev/null || true
	ip link del sl-va 2>/dev/null || true
}

# replica_bg ARGS...: 'sluice replica ARGS' in the background (in netns
# $REPLICA_NS when set), its log in $REPLICA_LOG; returns once it listens.
replica_bg() {
	local i pre=()
	[[ -n ${REPLICA_NS:-} ]] && pre=(ip netns exec "$REPLICA_NS")
	REPLICA_LOG="$BATS_TEST_TMPDIR/replica.$RANDOM.log"
	"${pre[@]}" "$SLUICE" replica "$@" >"$REPLICA_LOG" 2>&1 3>&- </dev/null &
	REPLICA_PID=$!
	REPLICA_PIDS+=("$REPLICA_PID")
	for ((i = 0; i < 100; i++)); do
		grep -q "listening on" "$REPLICA_LOG" && return 0
		kill -0 "$REPLICA_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "replica did not come up: $(cat "$REPLICA_LOG")" >&2
	return 1
}

# counters: the journal filter's counters of the served disk (JSON).
counters() {
	"$SLUICE" disks --json | jq -c '.[0].filter_stats.filters[] | select(.name == "journal") |
		.counters'
}

# drained: wait until the replica acknowledged every record written (60 s).
drained() {
	local i c
	sleep 1.5	# the server publishes its counters about every second
	for ((i = 0; i < 120; i++)); do
		c=$(counters)
		if jq -e '.replica_acked_seq > 0 and .replica_acked_seq == .durable_seq and
			.replica_lag_records == 0' <<<"$c" >/dev/null; then
			return 0
		fi
		sleep 0.5
	done
	echo "the stream did not drain: $c" >&2
	tail -5 "$REPLICA_LOG" >&2
	return 1
}

# rlist KEY: a field of 'sluice journal list --json' of the replica's journal.
rlist() {
	"$SLUICE" journal list "$RJ" --json | jq -r ".$1"
}

# The replica's journal holds seq 1..N, each once, chained, N the primary's
# last. A new replica is sent a full copy first, from the primary's
# checkpoint at the hello, and its journal begins after it: a test calling
# this waits for the hello before writing (over netem 5 ms one run's
# journal began at seq 10, as a hello after the journal's first fold gives).
assert_no_gap_no_duplicate() {
	local last
	last=$("$SLUICE" journal list "$J" --json | jq -r .last_seq)
	run "$SLUICE" journal verify "$RJ"
	assert_success
	assert_equal "$(rlist first_seq)" 1
	assert_equal "$(rlist last_seq)" "$last"
	assert_equal "$(rlist records)" "$last"
}

@test "loopback, async: fio crc32c verify on the primary, the replica equals its backing; restore works on the replica side" {
	replica_bg --listen 127.0.0.1:7301 --target "$RIMG" --journal "$RJ" --journal-size 64M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 64M \
		--replica 127.0.0.1:7301 --replica-psk-file "$PSK"
	wait_counters '.replica_state == 1'
	run fio_verify "$DEV" 4k 16
	assert_success
	drained
	cmp "$IMG" "$RIMG"
	assert_no_gap_no_duplicate
	run "$SLUICE" journal restore "$RJ" --seq "$(rlist last_seq)" --to "$BATS_TEST_TMPDIR/r"
	assert_success
	cmp "$IMG" "$BATS_TEST_TMPDIR/r"
	counters | jq -e '.replica_state == 1 and .replica_sent >= .replica_acked_seq' >/dev/null
}

@test "veth + netns, netem 5 ms, link cut then restored, receiver kill -9 mid-stream: resumes, no gap, no duplicate, images equal" {
	ip netns add sl-rep
	ip link add sl-va type veth peer name sl-vb netns sl-rep
	ip addr add 10.77.0.1/24 dev sl-va
	ip link set sl-va up
	ip -n sl-rep addr add 10.77.0.2/24 dev sl-vb
	ip -n sl-rep link set sl-vb up
	ip -n sl-rep link set lo up
	tc qdisc add dev sl-va root netem delay 5ms
	tc -n sl-rep qdisc add dev sl-vb root netem delay 5ms
	REPLICA_NS=sl-rep
	local rargs=(--listen 10.77.0.2:7302 --target "$RIMG" --journal "$RJ" --journal-size 64M
		--psk-file "$PSK")
	replica_bg "${rargs[@]}"
	local first_log=$REPLICA_LOG
	serve_bg --backing "$IMG" --journal "$J" --journal-size 64M \
		--replica 10.77.0.2:7302 --replica-psk-file "$PSK"
	wait_counters '.replica_state == 1'
	fio --name=w --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
		--iodepth=8 --size=8M --randrepeat=0 >/dev/null
	# the link cut (100% loss) for 2 s: TCP holds the stream, nothing is lost
	tc qdisc change dev sl-va root netem delay 5ms loss 100%
	dd if=/dev/urandom of="$DEV" bs=64k count=16 seek=200 oflag=direct status=none
	sleep 2
	tc qdisc change dev sl-va root netem delay 5ms
	# kill -9 the receiver while records stream, then start it again
	fio --name=w2 --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
		--iodepth=8 --size=8M --offset=16M --randrepeat=0 >/dev/null 2>&1 3>&- &
	local fio_pid=$!
	sleep 1
	kill -9 "$REPLICA_PID"
	wait "$REPLICA_PID" || true
	replica_bg "${rargs[@]}"
	wait "$fio_pid"
	drained
	cmp "$IMG" "$RIMG"
	assert_no_gap_no_duplicate
	run cat "$REPLICA_LOG"
	assert_output --regexp "resumed after seq [1-9][0-9]*"
	refute_output --partial "was expected"
	run cat "$first_log"
	refute_output --partial "was expected"
	counters | jq -e '.replica_reconnects >= 1' >/dev/null
}

@test "a wrong key is refused and logged, nothing applied; a replica given another disk's records refuses them" {
	local other="$BATS_TEST_TMPDIR/other.img" wrong="$BATS_TEST_TMPDIR/wrong.psk" sum
	openssl rand -hex 32 >"$wrong"
	replica_bg --listen 127.0.0.1:7303 --target "$RIMG" --journal "$RJ" --journal-size 16M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 16M \
		--replica 127.0.0.1:7303 --replica-psk-file "$wrong"
	dd if=/dev/urandom of="$DEV" bs=64k count=16 oflag=direct status=none
	sleep 3
	run cat "$REPLICA_LOG"
	assert_output --partial "refused: the TLS handshake failed"
	assert_output --partial "nothing of it was applied"
	cmp -n 32M "$RIMG" /dev/zero
	[[ ! -e $RJ ]]
	counters | jq -e '.replica_acked_seq == 0 and .replica_last_errno == 13' >/dev/null
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true

	# the right key: the replica takes this disk, then refuses another one
	rm -f "$J" "$J.base"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 16M \
		--replica 127.0.0.1:7303 --replica-psk-file "$PSK"
	dd if=/dev/urandom of="$DEV" bs=64k count=4 oflag=direct status=none
	drained
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	sum=$(md5sum <"$RIMG")
	truncate -s 32M "$other"
	serve_bg --backing "$other" --journal "$BATS_TEST_TMPDIR/other.journal" \
		--journal-size 16M --replica 127.0.0.1:7303 --replica-psk-file "$PSK"
	dd if=/dev/urandom of="$DEV" bs=64k count=4 oflag=direct status=none
	sleep 3
	run cat "$REPLICA_LOG"
	assert_output --partial "refused: the primary's disk is not the one this replica serves"
	assert_equal "$(md5sum <"$RIMG")" "$sum"
	counters | jq -e '.replica_state == 3 and .replica_last_errno == 18' >/dev/null
}

@test "sync: kill -9 the primary mid-write; every acknowledged write is on the replica" {
	replica_bg --listen 127.0.0.1:7304 --target "$RIMG" --journal "$RJ" --journal-size 64M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --block-size 4096 --journal "$J" --journal-size 64M \
		--replica 127.0.0.1:7304 --replica-mode sync --replica-psk-file "$PSK"
	local acked="$BATS_TEST_TMPDIR/acked" src="$BATS_TEST_TMPDIR/src" off sum n=0
	head -c 4M /dev/urandom >"$src"
	# held while the replica cannot acknowledge (stopped, less than the 5 s timeout)
	kill -STOP "$REPLICA_PID"
	run timeout 2 dd if="$src" of="$DEV" bs=4k count=1 seek=8191 oflag=direct \
		conv=notrunc status=none
	kill -CONT "$REPLICA_PID"
	assert_equal "$status" 124
	# the writer: block i of src to block (i * 37) % 8192 of the disk, one direct
	# write at a time (no block twice), logged only once the write returned
	(
		for ((i = 0; i < 1024; i++)); do
			dd if="$src" of="$DEV" bs=4k skip="$i" seek=$(((i * 37) % 8192)) count=1 \
				oflag=direct conv=notrunc status=none 2>/dev/null || break
			echo "$i" >>"$acked"
		done
	) 3>&- &
	local writer=$!
	sleep 6
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" || true
	# the disk waits for a --recover; delete it, so the writer's next write fails
	"$SLUICE" stop "$(dev_id "$DEV")" >/dev/null 2>&1 || true
	wait "$writer" || true
	kill -TERM "$REPLICA_PID"
	wait "$REPLICA_PID" || true
	n=$(wc -l <"$acked")
	echo "# acknowledged writes: $n" >&3
	[[ $n -ge 3 ]]
	while read -r i; do
		off=$(((i * 37) % 8192))
		sum=$(dd if="$src" bs=4k skip="$i" count=1 status=none | md5sum)
		assert_equal "$(dd if="$RIMG" bs=4k skip="$off" count=1 status=none | md5sum)" \
			"$sum"
	done <"$acked"
}

# wait_counters JQ: until the journal's counters satisfy JQ (10 s).
wait_counters() {
	local i c
	for ((i = 0; i < 40; i++)); do
		c=$(counters)
		jq -e "$1" <<<"$c" >/dev/null && return 0
		sleep 0.25
	done
	echo "counters never matched $1: $c" >&2
	return 1
}

@test "sync, replica stalled: released at --replica-timeout as async; top, disks and the log say degraded and over the RPO, then cleared" {
	replica_bg --listen 127.0.0.1:7310 --target "$RIMG" --journal "$RJ" --journal-size 64M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --block-size 4096 --journal "$J" --journal-size 64M \
		--replica 127.0.0.1:7310 --replica-mode sync --replica-psk-file "$PSK" \
		--replica-timeout 1s --replica-rpo 1s
	dd if=/dev/urandom of="$DEV" bs=4k count=4 oflag=direct status=none
	drained
	kill -STOP "$REPLICA_PID"
	# connected but silent: the write waits for its ack at most the 1 s timeout (before,
	# the link's own 10 s ack wait came first), then completes as async would
	run timeout 8 dd if=/dev/urandom of="$DEV" bs=4k count=1 seek=100 oflag=direct \
		status=none
	assert_success
	wait_counters '.replica_state == 2 and .replica_rpo_ms == 1000 and
		.replica_rpo_exceeded == 1 and .replica_writes_failing == 0'
	run bash -c "'$SLUICE' top --count 1 --interval 0.5 --disk '$DEV' | cat"
	assert_success
	assert_line "  ! sync replica unreachable past its timeout: writes go on as async (when_down: async)"
	assert_line --regexp '^  ! replica [0-9]+\.[0-9]s behind, over the RPO target of 1\.0s$'
	grep -q "ublkb$(dev_id "$DEV"): sync replica unreachable past its timeout" "$SERVE_ERR"
	grep -q "over the RPO target of 1.0s" "$SERVE_ERR"
	kill -CONT "$REPLICA_PID"
	drained
	wait_counters '.replica_state == 1 and .replica_rpo_exceeded == 0'
	sleep 1.5	# the next snapshot the server logs from
	grep -q "sync replication no longer degraded" "$SERVE_ERR"
	grep -q "replica back within the RPO target of 1.0s" "$SERVE_ERR"
	cmp "$IMG" "$RIMG"
}

# certs DIR NAME: a CA in DIR/NAME-ca.* and a certificate it signed, DIR/NAME.{crt,key}
certs() {
	local d=$1 n=$2
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj "/CN=$n-ca" -keyout "$d/$n-ca.key" -out "$d/$n-ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
		-keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null
	openssl x509 -req -in "$d/$n.csr" -CA "$d/$n-ca.crt" -CAkey "$d/$n-ca.key" \
		-CAcreateserial -days 1 -out "$d/$n.crt" 2>/dev/null
}

@test "certificates: a peer signed by the CA streams; one signed by another CA is refused, nothing applied" {
	local d=$BATS_TEST_TMPDIR
	certs "$d" good
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=replica" \
		-keyout "$d/replica.key" -out "$d/replica.csr" 2>/dev/null
	openssl x509 -req -in "$d/replica.csr" -CA "$d/good-ca.crt" -CAkey "$d/good-ca.key" \
		-CAcreateserial -days 1 -out "$d/replica.crt" 2>/dev/null
	certs "$d" evil
	replica_bg --listen 127.0.0.1:7305 --target "$RIMG" --journal "$RJ" --journal-size 16M \
		--tls-cert "$d/replica.crt" --tls-key "$d/replica.key" --tls-ca "$d/good-ca.crt"
	# signed by another CA: refused by the replica
	serve_bg --backing "$IMG" --journal "$J" --journal-size 16M --replica 127.0.0.1:7305 \
		--replica-tls-cert "$d/evil.crt" --replica-tls-key "$d/evil.key" \
		--replica-tls-ca "$d/good-ca.crt"
	dd if=/dev/urandom of="$DEV" bs=64k count=8 oflag=direct status=none
	sleep 2
	run cat "$REPLICA_LOG"
	assert_output --partial "refused: the TLS handshake failed"
	cmp -n 32M "$RIMG" /dev/zero
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	# the CA's own: the stream goes through, images equal
	serve_bg --backing "$IMG" --journal "$J" --journal-size 16M --replica 127.0.0.1:7305 \
		--replica-tls-cert "$d/good.crt" --replica-tls-key "$d/good.key" \
		--replica-tls-ca "$d/good-ca.crt"
	dd if=/dev/urandom of="$DEV" bs=64k count=8 seek=100 oflag=direct status=none
	drained
	cmp "$IMG" "$RIMG"
}

@test "promote: the replica's image is the disk; the old primary coming back is refused (split brain)" {
	replica_bg --listen 127.0.0.1:7306 --target "$RIMG" --journal "$RJ" --journal-size 16M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 16M \
		--replica 127.0.0.1:7306 --replica-psk-file "$PSK"
	dd if=/dev/urandom of="$DEV" bs=64k count=16 oflag=direct status=none
	drained
	# promote refuses while the receiver has the journal
	run "$SLUICE" replica promote --target "$RIMG" --journal "$RJ"
	assert_failure
	assert_output --partial "stop it first"
	kill -TERM "$REPLICA_PID"
	wait "$REPLICA_PID" || true
	run "$SLUICE" replica promote --target "$RIMG" --journal "$RJ"
	assert_success
	assert_output --partial "generation 2"
	cmp "$IMG" "$RIMG"
	# the old primary writes on and reconnects: refused, nothing applied
	replica_bg --listen 127.0.0.1:7306 --target "$RIMG" --journal "$RJ" --psk-file "$PSK"
	local sum
	sum=$(md5sum <"$RIMG")
	dd if=/dev/urandom of="$DEV" bs=64k count=4 oflag=direct status=none
	sleep 7	# the sender's backoff reaches 5 s
	run cat "$REPLICA_LOG"
	assert_output --partial "this replica was promoted"
	assert_equal "$(md5sum <"$RIMG")" "$sum"
	counters | jq -e '.replica_state == 3 and .replica_last_errno == 116' >/dev/null
	# the promoted image serves
	kill -TERM "$REPLICA_PID"
	wait "$REPLICA_PID" || true
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	serve_bg --backing "$RIMG"
	cmp -n 1M "$DEV" "$RIMG"
}

@test "failback: the old primary comes back as the replica; only the blocks written on either side since the split move; images equal" {
	local split out bs b
	replica_bg --listen 127.0.0.1:7307 --target "$RIMG" --journal "$RJ" --journal-size 16M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 16M \
		--replica 127.0.0.1:7307 --replica-psk-file "$PSK"
	dd if=/dev/urandom of="$DEV" bs=64k count=16 oflag=direct status=none
	drained
	# the link stalls: the primary acknowledges writes the replica never gets
	# (5 distinct 4 KiB blocks, 302 twice), then the primary goes down
	kill -STOP "$REPLICA_PID"
	for b in 300 301 302 302 310 400; do
		dd if=/dev/urandom of="$DEV" bs=4k seek="$b" count=1 oflag=direct status=none
	done
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	kill -KILL "$REPLICA_PID"
	wait "$REPLICA_PID" || true
	# failover: the replica is the disk from its last record on
	run "$SLUICE" replica promote --target "$RIMG" --journal "$RJ"
	assert_success
	split=$(sed -n 's/.*promoted at seq \([0-9]*\),.*/\1/p' <<<"$output")
	[[ $split -gt 0 ]]
	run cmp -s "$IMG" "$RIMG"
	assert_failure	# the old primary's unshipped writes
	# failback: the old primary, on its own image and journal, is the replica
	# of the promoted one, which serves journaled and streams to it
	replica_bg --listen 127.0.0.1:7308 --target "$IMG" --journal "$J" --psk-file "$PSK"
	serve_bg --backing "$RIMG" --journal "$RJ" \
		--replica 127.0.0.1:7308 --replica-psk-file "$PSK"
	# the new primary writes 3 blocks, one of them also written on the old side
	for b in 302 500 501; do
		dd if=/dev/urandom of="$DEV" bs=4k seek="$b" count=1 oflag=direct status=none
	done
	drained
	cmp "$IMG" "$RIMG"
	# the resync moved the old side's 5 distinct blocks (3 ranges), no more
	out=$(grep "failback: discarded records $((split + 1))\.\." "$REPLICA_LOG")
	bs=$(sed -n 's/.* blocks of \([0-9]*\) bytes in .*/\1/p' <<<"$out")
	[[ $bs -gt 0 ]]
	assert_equal "$(sed -n 's/.*resynchronised \([0-9]*\) blocks of.*/\1/p' <<<"$out")" \
		$((5 * 4096 / bs))
	assert_equal "$(sed -n 's/.* in \([0-9]*\) ranges.*/\1/p' <<<"$out")" 3
	counters | jq -e ".replica_resync_blocks == $((5 * 4096 / bs)) and .replica_state == 1" \
		>/dev/null
	# the stream after it carried the new side's 3 blocks from seq split+1 on
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	for ((b = 0; b < 50; b++)); do
		grep -q "applied records" "$REPLICA_LOG" && break
		sleep 0.1
	done
	run grep "applied records $((split + 1))\.\." "$REPLICA_LOG"
	assert_success
	assert_output --partial "$((3 * 4096 / bs)) blocks of data"
	# the old side's journal holds the new lineage: restore at its last seq is the disk
	run "$SLUICE" journal verify "$J"
	assert_success
	run "$SLUICE" journal restore "$J" --seq "$("$SLUICE" journal list "$J" --json | jq -r .last_seq)" \
		--to "$BATS_TEST_TMPDIR/r"
	assert_success
	cmp "$RIMG" "$BATS_TEST_TMPDIR/r"
}

@test "full copy: a disk with data before its journal and folded records, a new empty replica gets its data blocks, then the stream; images equal" {
	local out bs blocks s0 data c i
	# data on the disk before it was ever journaled
	dd if=/dev/urandom of="$IMG" bs=64k count=16 seek=100 conv=notrunc status=none
	# journaled, no replica: more than the ring holds, so records fold into its base
	serve_bg --backing "$IMG" --journal "$J" --journal-size 4M
	dd if=/dev/urandom of="$DEV" bs=64k count=96 oflag=direct status=none
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	[[ $("$SLUICE" journal list "$J" --json | jq -r .base_seq) -gt 0 ]]
	# restarted with a replica that has nothing: a full copy, then the stream
	replica_bg --listen 127.0.0.1:7309 --target "$RIMG" --journal "$RJ" --journal-size 16M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --journal "$J" --journal-size 4M \
		--replica 127.0.0.1:7309 --replica-psk-file "$PSK"
	# writes during or after the copy, over blocks that hold data already
	dd if=/dev/urandom of="$DEV" bs=4k count=64 seek=1600 oflag=direct status=none
	dd if=/dev/urandom of="$DEV" bs=4k count=8 seek=10 oflag=direct status=none
	drained
	cmp "$IMG" "$RIMG"
	c=$(counters)
	# the receiver logs the copy at the session's end
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	for ((i = 0; i < 50; i++)); do
		grep -q "full copy: " "$REPLICA_LOG" && break
		sleep 0.1
	done
	out=$(grep "full copy: " "$REPLICA_LOG")
	bs=$(sed -n 's/.* blocks of \([0-9]*\) bytes .*/\1/p' <<<"$out")
	blocks=$(sed -n 's/.*full copy: \([0-9]*\) blocks of.*/\1/p' <<<"$out")
	s0=$(sed -n 's/.*begins anew after seq \([0-9]*\).*/\1/p' <<<"$out")
	[[ $bs -gt 0 && $s0 -gt 0 ]]
	# the copy moved the disk's data blocks (holes skipped): what it allocates
	data=$(du -B1 "$IMG" | cut -f1)
	assert_equal "$blocks" $((data / bs))
	echo "# full copy: $blocks blocks of $bs bytes, S0 $s0" >&3
	jq -e ".replica_resync_blocks == $blocks and .replica_state == 1" <<<"$c" >/dev/null
	# the replica's journal begins after the copy's seq and verifies
	kill -TERM "$REPLICA_PID"
	wait "$REPLICA_PID" || true
	run "$SLUICE" journal verify "$RJ"
	assert_success
	assert_equal "$(rlist first_seq)" $((s0 + 1))
	assert_equal "$(rlist last_seq)" "$(jq -r .replica_acked_seq <<<"$c")"
	run "$SLUICE" journal restore "$RJ" --seq "$(rlist last_seq)" --to "$BATS_TEST_TMPDIR/r"
	assert_success
	cmp "$IMG" "$BATS_TEST_TMPDIR/r"
	run "$SLUICE" journal restore "$RJ" --seq $((s0 - 1)) --to "$BATS_TEST_TMPDIR/r2"
	assert_failure
}

# veth_pair: the host's sl-va (10.77.0.1) and sl-vb (10.77.0.2) in netns sl-rep.
veth_pair() {
	ip netns add sl-rep
	ip link add sl-va type veth peer name sl-vb netns sl-rep
	ip addr add 10.77.0.1/24 dev sl-va
	ip link set sl-va up
	ip -n sl-rep addr add 10.77.0.2/24 dev sl-vb
	ip -n sl-rep link set sl-vb up
	ip -n sl-rep link set lo up
	tc qdisc add dev sl-va root netem delay 1ms
	tc -n sl-rep qdisc add dev sl-vb root netem delay 1ms
}

# first_write: auto failover fences the disk until the replica answers, and
# through its first full copy (the lease is renewed by acks only): retry one
# write until it is acknowledged (30 s), then wait for the stream to drain.
first_write() {
	local i
	for ((i = 0; i < 150; i++)); do
		dd if=/dev/urandom of="$DEV" bs=4k count=1 seek=8190 oflag=direct status=none \
			2>/dev/null && break
		sleep 0.2
	done
	((i < 150))
	drained
	wait_counters '.replica_state == 1 and .replica_fenced == 0'
}

@test "auto failover: the link cut, the primary's writes fail with EIO after its lease, the replica promotes itself holding every acknowledged write" {
	veth_pair
	REPLICA_NS=sl-rep
	local marker="$BATS_TEST_TMPDIR/promoted"
	replica_bg --listen 10.77.0.2:7320 --target "$RIMG" --journal "$RJ" --journal-size 64M \
		--psk-file "$PSK" --on-promote "echo \"\$SLUICE_PROMOTED_IMAGE\" >'$marker'"
	serve_bg --backing "$IMG" --block-size 4096 --journal "$J" --journal-size 64M \
		--replica 10.77.0.2:7320 --replica-psk-file "$PSK" --replica-mode sync \
		--replica-failover auto --replica-timeout 1s
	# fenced until the replica first answers (and its first copy is over); then writes flow
	first_write
	wait_counters '.replica_lease_ms == 1000'
	grep -q "failover_lease_ms=1000" "$RJ.replica"
	local acked="$BATS_TEST_TMPDIR/acked" src="$BATS_TEST_TMPDIR/src" err="$BATS_TEST_TMPDIR/dd.err"
	local off sum n i before
	head -c 4M /dev/urandom >"$src"
	(
		for ((i = 0; i < 1024; i++)); do
			dd if="$src" of="$DEV" bs=4k skip="$i" seek=$(((i * 37) % 8192)) count=1 \
				oflag=direct conv=notrunc status=none 2>"$err" || break
			echo "$i" >>"$acked"
		done
	) 3>&- &
	local writer=$!
	sleep 3
	[[ $(wc -l <"$acked") -ge 3 ]]
	before=$(wc -l <"$SERVE_ERR")
	# the link cut both ways: no frame, no ack
	tc qdisc change dev sl-va root netem delay 1ms loss 100%
	tc -n sl-rep qdisc change dev sl-vb root netem delay 1ms loss 100%
	# the writer stops at its first failed write: EIO, the fence
	for ((i = 0; i < 300; i++)); do
		kill -0 "$writer" 2>/dev/null || break
		sleep 0.1
	done
	run kill -0 "$writer"
	assert_failure
	wait "$writer" || true
	run cat "$err"
	assert_output --partial "Input/output error"
	# new writes fail too, reads go on
	run dd if=/dev/zero of="$DEV" bs=4k count=1 seek=8100 oflag=direct status=none
	assert_failure
	assert_output --partial "Input/output error"
	dd if="$DEV" of=/dev/null bs=4k count=16 iflag=direct status=none
	wait_counters '.replica_fenced == 1'
	# the replica, silent for more than 2 s, promotes itself and runs --on-promote
	for ((i = 0; i < 150; i++)); do
		[[ -s $marker ]] && break
		sleep 0.1
	done
	assert_equal "$(cat "$marker")" "$RIMG"
	wait "$REPLICA_PID"
	run cat "$REPLICA_LOG"
	assert_output --regexp "failover: no word from the primary for [0-9.]+s .*; promoted $RIMG at seq [0-9]+, generation 2"
	grep -qx "generation=2" "$RJ.replica"
	grep -q "^split=" "$RJ.replica"
	sleep 1.5	# the server's next snapshot
	run tail -n +$((before + 1)) "$SERVE_ERR"
	assert_output --partial "fenced: no word from the replica for 1.0s; it may promote itself"
	refute_output --partial "fence lifted"
	# every acknowledged write is on the promoted image
	n=$(wc -l <"$acked")
	echo "# acknowledged writes: $n" >&3
	while read -r i; do
		off=$(((i * 37) % 8192))
		sum=$(dd if="$src" bs=4k skip="$i" count=1 status=none | md5sum)
		assert_equal "$(dd if="$RIMG" bs=4k skip="$off" count=1 status=none | md5sum)" \
			"$sum"
	done <"$acked"
	# the link back: the promoted side refuses the old primary, which stays fenced
	REPLICA_NS=sl-rep replica_bg --listen 10.77.0.2:7320 --target "$RIMG" --journal "$RJ" \
		--psk-file "$PSK"
	tc qdisc change dev sl-va root netem delay 1ms
	tc -n sl-rep qdisc change dev sl-vb root netem delay 1ms
	wait_counters '.replica_state == 3 and .replica_last_errno == 116 and .replica_fenced == 1'
	run dd if=/dev/zero of="$DEV" bs=4k count=1 seek=8100 oflag=direct status=none
	assert_failure
	sleep 1.5
	grep -q "this disk lost the failover" "$SERVE_ERR"
}

@test "auto failover: a primary stopped on purpose is not failed over; a short cut lifts the fence" {
	replica_bg --listen 127.0.0.1:7321 --target "$RIMG" --journal "$RJ" --journal-size 64M \
		--psk-file "$PSK"
	serve_bg --backing "$IMG" --block-size 4096 --journal "$J" --journal-size 64M \
		--replica 127.0.0.1:7321 --replica-psk-file "$PSK" --replica-failover auto \
		--replica-timeout 1s
	first_write
	dd if=/dev/urandom of="$DEV" bs=4k count=8 oflag=direct status=none
	# the replica stalled: the primary fences, then lifts it (a stalled receiver
	# reads the pings waiting for it first: no failover)
	local before
	before=$(wc -l <"$SERVE_ERR")
	kill -STOP "$REPLICA_PID"
	wait_counters '.replica_fenced == 1'
	run dd if=/dev/zero of="$DEV" bs=4k count=1 seek=50 oflag=direct status=none
	assert_failure
	kill -CONT "$REPLICA_PID"
	wait_counters '.replica_fenced == 0 and .replica_state == 1'
	dd if=/dev/urandom of="$DEV" bs=4k count=8 seek=100 oflag=direct status=none
	sleep 1.5
	run tail -n +$((before + 1)) "$SERVE_ERR"
	assert_output --partial "fenced: no word from the replica for 1.0s"
	assert_output --partial "fence lifted: the replica answers again"
	drained
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	sleep 3		# more than 2 leases
	kill -0 "$REPLICA_PID"
	run cat "$REPLICA_LOG"
	assert_output --partial "stopped on purpose (no failover)"
	refute_output --partial "promoted"
	run grep -c "failover_lease_ms\|split=" "$RJ.replica"
	assert_output 0
	cmp "$IMG" "$RIMG"
}
