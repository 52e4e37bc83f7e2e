#!/usr/bin/env bats
# The exporter read by a real Prometheus: rate() over its counters follows
# what the kernel counted. Host only: the exposition format does not depend
# on the kernel, and meter.bats' promtool test checks the counters on every
# kernel the VM boots (tests/vm/portable.list), so a Prometheus in each VM
# would prove nothing more for 40 s a boot.

load helpers
load meter_helpers

setup() {
	ensure_kernel_fs
}

teardown() {
	stop_bg_all
	cleanup_loops
}

@test "exporter: a real Prometheus computes the fio IOPS with rate()" {
	port=$((20000 + RANDOM % 20000))
	pport=$((port + 1))
	bg "$SLUICE" exporter --listen "127.0.0.1:$port"
	wait_http "http://127.0.0.1:$port/metrics" || fail "exporter did not answer"
	cat >"$BATS_TEST_TMPDIR/prom.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ['127.0.0.1:$port']
EOC
	bg prometheus --config.file="$BATS_TEST_TMPDIR/prom.yml" \
		--storage.tsdb.path="$BATS_TEST_TMPDIR/prom-data" \
		--web.listen-address="127.0.0.1:$pport"
	wait_http "http://127.0.0.1:$pport/-/ready" || fail "prometheus did not start"
	# a loop device over memory: a disk that stalls (the host's virtio disk
	# under writeback) would make fio miss its rate, not sluice
	shm=/dev/shm
	[ -d "$shm" ] && [ -w "$shm" ] || shm=$BATS_TEST_TMPDIR
	img=$(mktemp "$shm/sluice-rate.XXXXXX")
	truncate -s 64M "$img"
	L=$(losetup --find --show "$img")
	rm -f "$img"
	echo "$L" >>"$BATS_TEST_TMPDIR/loops"
	D=$(basename "$L")
	bg fio --name=rate --filename="$L" --direct=1 --ioengine=psync --bs=4k --rw=randread \
		--time_based --runtime=120 --size=16M --rate_iops=200 --output=/dev/null
	promq() {
		curl -s "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" \
			${2:+--data-urlencode "time=$2"} | jq -r '.data.result[0].value[1] // empty'
	}
	v=
	for _ in $(seq 60); do
		sleep 1
		v=$(promq "sum(sluice_io_total{disk=\"$D\",op=\"read\"})")
		[ -n "$v" ] && [ "$v" != 0 ] && break
	done
	[ -n "$v" ] || fail "prometheus has no sample for $D"
	# The reference is the reads the kernel counted in the same window, not
	# fio's nominal 200: under TCG fio misses its rate when the guest's CPU
	# is short (173/s seen on 6.1), and rate() must follow what happened.
	reads() { awk '{ print $1 }' "/sys/block/$D/stat"; }
	t1=$(date +%s.%N)
	r1=$(reads)
	sleep 15
	t2=$(date +%s.%N)
	r2=$(reads)
	# let the scrape that follows t2 land; the query is evaluated at t2
	sleep 2
	ms=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%d", (b - a) * 1000 }')
	want=$(awk -v a="$t1" -v b="$t2" -v n=$((r2 - r1)) 'BEGIN { print n / (b - a) }')
	v=$(promq "sum(rate(sluice_io_total{disk=\"$D\",op=\"read\"}[${ms}ms]))" "$t2")
	[ -n "$v" ] || fail "prometheus has no rate for $D"
	echo "rate() = $v, the kernel counted $want reads/s (fio asked 200)"
	awk -v v="$v" -v w="$want" 'BEGIN { exit !(w > 50 && v >= 0.9 * w && v <= 1.1 * w) }' ||
		fail "rate() = $v, want $want +- 10%"
}
