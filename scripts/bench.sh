#!/usr/bin/env bash
# bench.sh - mcast against iperf 2 and sockperf on a veth pair between two
# network namespaces: sender rate, receiver loss and CPU per packet, RTT,
# rate accuracy, peak RSS and time to the first packet.
# Run `scripts/bench.sh --help` for everything it does.
#
# A benchmark, not a test: it prints PASS/MISS against the project's goals
# but exits 0 whenever the benchmark itself ran. Not part of CI.
set -Eeuo pipefail

PROG=${0##*/}
readonly PROG
readonly ORIG_PWD=$PWD
cd "$(dirname "$0")/.."
readonly ROOT=$PWD

# --- Options ------------------------------------------------------------------
runs=3
duration=5
sizes="64 1400"
quick=0
build=1
out=""
keep=0
idle_wait=60
fixed_rate=150000
max_others=10
retries=2

usage() {
    cat <<EOF
Usage: $PROG [--runs N] [--duration S] [--sizes "64 1400"] [--quick]
            [--no-build] [--out FILE.tsv] [--keep] [--idle-wait S]
            [--fixed-rate P] [--max-others P] [--retries N]

Benchmarks mcast against iperf 2 and sockperf over one link: a veth pair
between two network namespaces that this script creates (named mb<pid>-tx and
mb<pid>-rx, addresses 198.18.0.1 and 198.18.0.2, group 239.77.0.1). Nothing is
sent on this machine's own interfaces. The namespaces are deleted on exit,
also on Ctrl-C. Needs root (ip netns).

For every size, N alternating runs (mcast, iperf 2, sockperf, mcast, ...) of
D seconds each, the sender pinned to CPU 0 (taskset -c 0), the receiver to
CPU 1:
  mcast     send --probe --size S --rate max    / recv -c 0 (default settings)
  iperf 2   iperf -c G -u -b 10G -l S -T 1      / iperf -s -u -B G
  sockperf  sockperf tp --mps=max -m S          / sockperf sr
Measured the same way for every tool:
  sent pps         the sender's own count / its own duration
  loss             1 - received/sent, received = InDatagrams delta of the
                   receiver namespace's /proc/net/snmp; RcvbufErrors delta
                   (datagrams the receiving socket's buffer dropped) shown too
  rx CPU/packet    utime+stime of the receiver (/proc/PID/stat, read just
                   before it is stopped) / packets received
  peak RSS         VmHWM of /proc/PID/status, polled every 200 ms
  others' CPU      CPU used by other processes before (background_cpu_pct)
                   and during (others_cpu_pct) each run, from /proc/stat:
                   this machine may be shared, and contention shows as loss
mcast's receiver also reports its own loss and kernel_drops (SO_RXQ_OVFL).
Where mcast has 'send --gso', each round also runs it (figures *_gso, in the
mcast column; ratios against the default-settings iperf 2 and sockperf runs).
Then the same with all three senders at one fixed rate (--fixed-rate), to
compare the receivers' CPU per packet at the same load (each tool still uses
its own sender: mcast sends sendmmsg(2) bursts of 64, iperf one datagram per
write, sockperf paces by busy-waiting; burstier arrivals mean fewer wake-ups
per packet at the receiver).
Then, N times each: RTT p50 (mcast ping --interval 1ms against recv --echo;
sockperf pp --mps=1000, i.e. the same pacing, and --mps=max; for both at
1 ms also the round trip on the wire, from tcpdump on the sender's veth, the
same measure for both tools), rate accuracy
(send --rate 1000 for 10 s, --rate 100000 for 5 s), time from start to the
first packet (tcpdump's kernel timestamp on the sender's veth; mcast recv's
message time: the kernel receive time) and the ip-netns-exec + taskset
overhead.

Prints a table (median [min-max] per tool, ratios, PASS/MISS per goal) and
writes it as TSV (and Markdown) files whose paths it prints.

Options:
  --runs N        runs per size and per figure (default $runs)
  --duration S    seconds per throughput run (default $duration)
  --sizes "A B"   UDP payload sizes in bytes (default "$sizes")
  --quick         smoke check: 1 run, 2 s, 64 B, shorter rate tests
  --no-build      do not run 'cargo build --release' (MCAST=path overrides
                  the binary, default target/release/mcast)
  --out FILE.tsv  where to write the summary (default
                  target/bench/bench-DATE.tsv; samples go to *-samples.tsv)
  --fixed-rate P  also run every sender at P packets/s (default $fixed_rate;
                  0 skips it), to compare the receivers at the same load
                  (figures *_fixed)
  --max-others P  a throughput or rate run during which other processes used
  --retries N     more than P% of the CPUs (default $max_others) is repeated, at
                  most N times (default $retries); the last attempt is kept
  --keep          keep the work directory with every tool's output
  --idle-wait S   before each run, wait up to S s (default $idle_wait) for other
                  processes to use < 10% CPU; the load seen is recorded
                  (figure background_cpu_pct)
  -h, --help      this help

Installs sockperf with apt-get if it is missing (iperf and tcpdump too).
Exit status: 0 when the benchmark ran (whatever the results), 1 if it could
not run, 2 on bad usage.
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG --help'." >&2; exit 2; }
note() { echo "$PROG: $*" >&2; }

while (($#)); do
    case $1 in
        --runs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage_error "--runs needs a positive integer"; runs=$2; shift 2 ;;
        --duration) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage_error "--duration needs whole seconds"; duration=$2; shift 2 ;;
        --sizes) [[ ${2:-} =~ ^[0-9\ ]+$ && -n ${2// /} ]] || usage_error "--sizes needs sizes in bytes, e.g. \"64 1400\""; sizes=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --no-build) build=0; shift ;;
        --out) [[ -n ${2:-} ]] || usage_error "--out needs a file name"; out=$2; shift 2
            [[ $out == /* ]] || out=$ORIG_PWD/$out ;;
        --keep) keep=1; shift ;;
        --max-others) [[ ${2:-} =~ ^[0-9]+$ ]] || usage_error "--max-others needs a percentage"; max_others=$2; shift 2 ;;
        --retries) [[ ${2:-} =~ ^[0-9]+$ ]] || usage_error "--retries needs a count"; retries=$2; shift 2 ;;
        --fixed-rate) [[ ${2:-} =~ ^[0-9]+$ ]] || usage_error "--fixed-rate needs packets per second (0: skip)"; fixed_rate=$2; shift 2 ;;
        --idle-wait) [[ ${2:-} =~ ^[0-9]+$ ]] || usage_error "--idle-wait needs seconds"; idle_wait=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
done
if ((quick)); then runs=1; duration=2; sizes=64; fi
for s in $sizes; do
    ((s >= 32 && s <= 1472)) || usage_error "size $s: use 32..1472 (a probe needs 32 bytes; 1472 fills a 1500-byte MTU)"
done
# Rate-accuracy runs: the goals are stated for 10 s at 1000/s and 5 s at 100000/s.
if ((quick)); then rate1k_s=2; rate100k_s=2; else rate1k_s=10; rate100k_s=5; fi
ping_count=2500          # probes per RTT run, 1 ms apart
first_trials=$((runs < 5 ? 5 : runs))

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces); try: sudo $0"

# --- Tools --------------------------------------------------------------------
need_pkg() { # command package: install the package with apt-get if missing
    command -v "$1" >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || die "'$1' is missing and there is no apt-get: install $2"
    note "'$1' is missing: installing Debian package $2 (apt-get install -y $2)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
            die "could not install $2 (apt-get install -y $2 failed)"
    fi
    command -v "$1" >/dev/null 2>&1 || die "$2 installed but '$1' is still not found"
}
for c in ip taskset timeout pgrep getconf awk; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed (iproute2, util-linux, coreutils, procps, gawk/mawk)"
done
need_pkg sockperf sockperf
need_pkg iperf iperf
have_tcpdump=1
command -v tcpdump >/dev/null 2>&1 || need_pkg tcpdump tcpdump || have_tcpdump=0

if ((build)); then
    note "cargo build --release"
    cargo build --release --quiet || die "cargo build --release failed (use --no-build with MCAST=/path/to/mcast to benchmark another build)"
fi
MCAST=${MCAST:-$ROOT/target/release/mcast}
[[ -x $MCAST ]] || die "$MCAST not found: build it (cargo build --release) or set MCAST=/path/to/mcast"
CLK_TCK=$(getconf CLK_TCK)
readonly MCAST CLK_TCK
# Also measure `send --gso` (UDP segmentation offload) where this mcast has it.
with_gso=""
if "$MCAST" send --help 2>/dev/null | grep -q -- '--gso'; then with_gso=1; fi

# --- Namespaces and cleanup -----------------------------------------------------
readonly P=mb$$
readonly NS_TX=$P-tx NS_RX=$P-rx
readonly TX_IF=tx0 RX_IF=rx0 TX_ADDR=198.18.0.1 RX_ADDR=198.18.0.2
readonly GROUP=239.77.0.1
readonly GROUP_HEX=01004DEF   # 239.77.0.1 as /proc/net/igmp lists it
work=$(mktemp -d "${TMPDIR:-/tmp}/mcast-bench.XXXXXX")
started=()   # PIDs of the `timeout` processes this script started

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${started[@]+"${started[@]}"}"; do
        # `timeout` passes the signal on to the tool it runs.
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${started[@]+"${started[@]}"}"; do
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$NS_TX" 2>/dev/null || true
    ip netns del "$NS_RX" 2>/dev/null || true
    if ((keep)); then note "tool outputs kept in $work"; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM
# Tools run from the work directory: whatever they write stays there.
cd "$work"

for ns in "$NS_TX" "$NS_RX"; do
    [[ ! -e /run/netns/$ns ]] || die "namespace $ns already exists (left by an earlier run with the same PID?): remove it with ip netns del $ns"
done
ip netns add "$NS_TX"
ip netns add "$NS_RX"
# The pair is created inside the namespaces: never on this machine's own network.
ip -n "$NS_TX" link add "$TX_IF" type veth peer name "$RX_IF" netns "$NS_RX"
ip -n "$NS_TX" addr add "$TX_ADDR/24" dev "$TX_IF"
ip -n "$NS_RX" addr add "$RX_ADDR/24" dev "$RX_IF"
for ns in "$NS_TX" "$NS_RX"; do
    ip -n "$ns" link set lo up
    # No IPv6 chatter (router solicitations, MLD) on the measured link.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
done
ip -n "$NS_TX" link set "$TX_IF" up
ip -n "$NS_RX" link set "$RX_IF" up
# Sockets without an interface option (iperf) route multicast via the veth.
ip -n "$NS_TX" route add 224.0.0.0/4 dev "$TX_IF"
ip -n "$NS_RX" route add 224.0.0.0/4 dev "$RX_IF"

# --- Helpers ------------------------------------------------------------------
in_tx() { ip netns exec "$NS_TX" "$@"; }
in_rx() { ip netns exec "$NS_RX" "$@"; }

# start NAME SECONDS NS CPU CMD...: runs CMD in NS on CPU under `timeout`, in
# the background, output to $work/NAME.{out,err}; sets LAST_TIMEOUT (the
# timeout process) and LAST_PID (the tool itself: ip netns exec and taskset
# exec into it).
start() {
    local name=$1 secs=$2 ns=$3 cpu=$4
    shift 4
    timeout -s TERM -k 3 "$secs" ip netns exec "$ns" taskset -c "$cpu" "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    LAST_TIMEOUT=$!
    started+=("$LAST_TIMEOUT")
    LAST_PID=""
    local _
    for _ in $(seq 100); do
        LAST_PID=$(pgrep -P "$LAST_TIMEOUT" 2>/dev/null | head -n1) || true
        [[ -n $LAST_PID ]] && break
        sleep 0.01
    done
}

# finish TIMEOUT_PID: waits for it; never fails (the tool's exit code is
# checked through its output).
finish() {
    local pid=$1 p keep_pids=()
    wait "$pid" 2>/dev/null || true
    for p in "${started[@]}"; do [[ $p == "$pid" ]] || keep_pids+=("$p"); done
    started=("${keep_pids[@]+"${keep_pids[@]}"}")
}

# stop PID TIMEOUT_PID: SIGTERM to the tool (mcast prints its summary), then
# wait for it.
stop() {
    kill -TERM "$1" 2>/dev/null || true
    finish "$2"
}

# wait_joined: until the receiver namespace is a member of the group on the
# veth (at most 3 s).
wait_joined() {
    local _
    for _ in $(seq 60); do
        if in_rx grep -q "$GROUP_HEX" /proc/net/igmp 2>/dev/null; then
            sleep 0.1
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# udp_counters: "InDatagrams RcvbufErrors" of the receiver namespace.
udp_counters() {
    # shellcheck disable=SC2016 # awk's own $ fields
    in_rx awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1 }
                         else { print $col["InDatagrams"], $col["RcvbufErrors"]; exit } }' /proc/net/snmp
}

# cpu_ticks PID: utime + stime (all threads).
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo ""; return; }
    stat=${stat##*) }
    # Fields after "(comm) ": 3=state ... utime is field 14, stime 15 overall,
    # i.e. the 12th and 13th here.
    awk '{ print $12 + $13 }' <<<"$stat"
}

# hwm_kib PID: VmHWM in KiB (empty if gone).
hwm_kib() {
    local k v _
    while read -r k v _; do
        if [[ $k == VmHWM: ]]; then echo "$v"; return; fi
    done 2>/dev/null <"/proc/$1/status" || true
}

# watch PID TIMEOUT_PID: polls the tool every 200 ms until it ends, then
# waits for it; sets WATCH_HWM (its VmHWM, KiB: it only grows, so the last
# reading is the peak), WATCH_TICKS (its last utime+stime) and WATCH_SECS
# (wall time from the call to its end).
watch() {
    local pid=$1 to=$2 h t t0=${EPOCHREALTIME/./}
    WATCH_HWM="" WATCH_TICKS=""
    while kill -0 "$to" 2>/dev/null; do
        h=$(hwm_kib "$pid"); [[ -n $h ]] && WATCH_HWM=$h
        t=$(cpu_ticks "$pid"); [[ -n $t ]] && WATCH_TICKS=$t
        sleep 0.2
    done
    finish "$to"
    WATCH_SECS=$(calc "(${EPOCHREALTIME/./} - $t0) / 1e6")
}

# busy_pct: how busy the whole machine is over 0.3 s, in % of all CPUs
# (this script is asleep meanwhile, so it is everyone else's load).
busy_pct() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat)
    sleep 0.3
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        d = y[2] - x[2]; v = 0; if (d > 0) v = 100 * (y[1] - x[1]) / d; printf "%.1f", v }'
}

# quiet FIGURE SIZE TOOL RUN: waits (at most --idle-wait seconds) until other
# processes use less than 10% of the machine, then records how busy it was.
quiet() {
    local b waited=0
    b=$(busy_pct)
    while awk -v b="$b" 'BEGIN { exit !(b >= 10) }' && ((waited < idle_wait)); do
        ((waited == 0)) && note "machine busy (${b}% CPU used by other processes): waiting up to ${idle_wait} s"
        sleep 1
        waited=$((waited + 1))
        b=$(busy_pct)
    done
    BUSY=$b
    [[ -z $1 ]] || sample "$1" "$2" "$3" "$4" "$b"
}

samples=$work/samples.tsv
: >"$samples"
# sample FIGURE SIZE TOOL RUN VALUE
sample() { [[ -n $5 ]] && printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$samples"; return 0; }

json_num() { # FILE KEY [type]: the first number for "KEY": (in the line of that "type")
    local line
    if [[ -n ${3:-} ]]; then
        line=$(grep "\"type\":\"$3\"" "$1" | tail -n1) || true
    else
        line=$(cat "$1")
    fi
    grep -o "\"$2\":-\{0,1\}[0-9.e+-]*" <<<"$line" | head -n1 | cut -d: -f2 || true
}
calc() { awk "BEGIN { v = ($1); printf \"%.6g\", v }"; }

# --- One throughput run -----------------------------------------------------------
# stat_busy: "busy total" ticks of the whole machine from /proc/stat (busy =
# user + nice + system + irq + softirq: without IRQ time accounting, softirq
# ticks are also charged to the task they interrupted).
stat_busy() {
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}

# contended OTHERS TAG: true (and says so) when other processes used more
# than --max-others % CPU during the run and a retry is left: the run is
# then repeated. ATTEMPT and MAX_ATTEMPTS are set by `measure`.
contended() {
    [[ -n $1 ]] || return 1
    awk -v o="$1" -v m="$max_others" 'BEGIN { exit !(o > m) }' || return 1
    if ((ATTEMPT < MAX_ATTEMPTS)); then
        note "$2: other processes used $(printf '%.1f' "$1")% CPU during the run (> $max_others%): repeating it"
        return 0
    fi
    note "$2: other processes used $(printf '%.1f' "$1")% CPU during the run; kept (no retry left)"
    return 1
}

# measure CMD ARGS...: runs CMD until it succeeds (it fails when the run was
# disturbed by other processes), at most 1 + --retries times.
measure() {
    MAX_ATTEMPTS=$((retries + 1))
    for ((ATTEMPT = 1; ATTEMPT <= MAX_ATTEMPTS; ATTEMPT++)); do
        if "$@"; then return 0; fi
        sleep 1
    done
    return 0
}

# others_pct "BUSY0 TOTAL0" "BUSY1 TOTAL1" OUR_TICKS: CPU used by everything
# but our tools between the two stat_busy readings, % of all CPUs.
others_pct() {
    local b0 t0 b1 t1
    read -r b0 t0 <<<"$1"
    read -r b1 t1 <<<"$2"
    ((t1 > t0)) || { echo ""; return; }
    calc "(($b1 - $b0 - $3) > 0) ? 100 * ($b1 - $b0 - $3) / ($t1 - $t0) : 0"
}

# run_tp TOOL SIZE RUN RATE: RATE is "max" (each sender as fast as it can) or
# packets per second for all three senders (figures get the suffix _fixed).
run_tp() {
    local tool=$1 size=$2 run=$3 rate=$4 port tag rx_pid rx_to tx_pid tx_to sfx="" gso=()
    [[ $rate == max ]] || sfx=_fixed
    # mcast-gso: mcast's sender with --gso (UDP segmentation offload), shown
    # in the mcast column as the *_gso figures.
    if [[ $tool == mcast-gso ]]; then tool=mcast sfx=_gso gso=(--gso); fi
    tag=$tool$sfx-$size-$rate-$run
    quiet "" "$size" "$tool" "$run"
    case $tool in
        mcast) port=5001
            start "$tag-rx" $((duration + 30)) "$NS_RX" 1 "$MCAST" -q --json recv -c 0 \
                --timeout "$((duration + 25))s" -i "$RX_IF" "$GROUP:$port" ;;
        iperf2) port=5002
            start "$tag-rx" $((duration + 30)) "$NS_RX" 1 iperf -s -u -B "$GROUP" -p "$port" ;;
        sockperf) port=5003
            start "$tag-rx" $((duration + 30)) "$NS_RX" 1 sockperf sr -i "$GROUP" -p "$port" \
                --mc-rx-if "$RX_ADDR" ;;
    esac
    rx_pid=$LAST_PID rx_to=$LAST_TIMEOUT
    if [[ -z $rx_pid ]] || ! wait_joined; then
        note "$tag: the receiver did not start or join (see $work/$tag-rx.err)"
        stop "$rx_pid" "$rx_to"
        return 0
    fi
    local c0 c1 in0 drop0 in1 drop1 st0 st1 rxt0
    c0=$(udp_counters)
    st0=$(stat_busy)
    rxt0=$(cpu_ticks "$rx_pid")
    local mrate=$rate irate=10G srate=max
    if [[ $rate != max ]]; then irate=${rate}pps srate=$rate; fi
    case $tool in
        mcast) start "$tag-tx" $((duration + 10)) "$NS_TX" 0 "$MCAST" -q --json send --probe \
                --size "$size" --rate "$mrate" --duration "${duration}s" ${gso[@]+"${gso[@]}"} \
                -i "$TX_IF" "$GROUP:$port" ;;
        iperf2) start "$tag-tx" $((duration + 10)) "$NS_TX" 0 iperf -c "$GROUP" -u -b "$irate" \
                -l "$size" -T 1 -t "$duration" -p "$port" -e ;;
        sockperf) start "$tag-tx" $((duration + 10)) "$NS_TX" 0 sockperf tp -i "$GROUP" -p "$port" \
                --mc-tx-if "$TX_ADDR" -m "$size" -t "$duration" --mps="$srate" ;;
    esac
    tx_pid=$LAST_PID tx_to=$LAST_TIMEOUT
    watch "$tx_pid" "$tx_to"
    local tx_hwm=$WATCH_HWM tx_ticks=${WATCH_TICKS:-0} rx_hwm
    sleep 0.5   # let the receiver drain its socket
    local ticks
    ticks=$(cpu_ticks "$rx_pid")
    rx_hwm=$(hwm_kib "$rx_pid")
    c1=$(udp_counters)
    st1=$(stat_busy)
    stop "$rx_pid" "$rx_to"
    read -r in0 drop0 <<<"$c0"
    read -r in1 drop1 <<<"$c1"
    # CPU used by everything but the two tools during the run.
    local others=""
    if [[ -n $ticks && -n $rxt0 ]]; then
        others=$(others_pct "$st0" "$st1" "$((tx_ticks + ticks - rxt0))")
    fi
    local received=$((in1 - in0)) drops=$((drop1 - drop0)) sent="" secs=""
    if contended "$others" "$tag"; then return 1; fi
    sample "background_cpu_pct$sfx" "$size" "$tool" "$run" "$BUSY"
    case $tool in
        mcast)
            sent=$(json_num "$work/$tag-tx.out" packets summary)
            secs=$(json_num "$work/$tag-tx.out" duration_s summary) ;;
        iperf2)
            sent=$(grep -o 'Sent [0-9]* datagrams' "$work/$tag-tx.out" | awk '{ print $2 }' | tail -n1) || true
            secs=$(grep -o '0\.0*-[0-9.]* sec' "$work/$tag-tx.out" | tail -n1 | sed 's/^[0-9.]*-//; s/ sec//') || true ;;
        sockperf)
            sent=$(grep -o 'Total of [0-9]* messages sent in [0-9.]* sec' "$work/$tag-tx.out" "$work/$tag-tx.err" 2>/dev/null |
                awk '{ print $3 }' | tail -n1) || true
            secs=$(grep -o 'Total of [0-9]* messages sent in [0-9.]* sec' "$work/$tag-tx.out" "$work/$tag-tx.err" 2>/dev/null |
                awk '{ print $7 }' | tail -n1) || true ;;
    esac
    if [[ -z $sent || -z $secs || $sent -eq 0 ]]; then
        note "$tag: no sender report (see $work/$tag-tx.out, .err)"
        return 0
    fi
    local pps loss cpu_us=""
    pps=$(calc "$sent / $secs")
    # A few extra datagrams (iperf's FIN, sockperf's warm-up) can make
    # received > sent: loss is then 0.
    loss=$(calc "($sent > $received) ? 100 * ($sent - $received) / $sent : 0")
    if [[ -n $ticks && $received -gt 0 ]]; then
        cpu_us=$(calc "$ticks / $CLK_TCK * 1e6 / $received")
    fi
    sample "send_pps$sfx" "$size" "$tool" "$run" "$pps"
    sample "loss_pct$sfx" "$size" "$tool" "$run" "$loss"
    sample "rcvbuf_errors$sfx" "$size" "$tool" "$run" "$drops"
    sample "rx_cpu_us_per_pkt$sfx" "$size" "$tool" "$run" "$cpu_us"
    sample "others_cpu_pct$sfx" "$size" "$tool" "$run" "$others"
    if [[ -z $sfx ]]; then
        sample rss_send_kib "$size" "$tool" "$run" "$tx_hwm"
        sample rss_recv_kib "$size" "$tool" "$run" "$rx_hwm"
    fi
    local extra=""
    if [[ $tool == mcast ]]; then
        local kd own
        kd=$(json_num "$work/$tag-rx.out" kernel_drops summary)
        own=$(json_num "$work/$tag-rx.out" loss_pct summary)
        sample "mcast_kernel_drops$sfx" "$size" "$tool" "$run" "$kd"
        sample "mcast_own_loss_pct$sfx" "$size" "$tool" "$run" "$own"
        extra=", mcast says loss ${own:-?}% kernel_drops ${kd:-?}"
    fi
    printf '  %-12s %4s B %6s run %d: sent %s (%.0f pps), received %s, loss %.3f%%, RcvbufErrors %s, rx CPU %.2f us/pkt, RSS tx %s rx %s KiB%s; others used %s%% CPU before, %.1f%% during\n' \
        "$tool${gso[*]:+ ${gso[*]}}" "$size" "$rate" "$run" "$sent" "$pps" "$received" "$loss" "$drops" "${cpu_us:-0}" \
        "${tx_hwm:-?}" "${rx_hwm:-?}" "$extra" "$BUSY" "${others:-0}"
}

# --- RTT ----------------------------------------------------------------------------
# wire_start TAG PORT: tcpdump on the sender's veth for the RTT runs (both
# directions, kernel timestamps); sets WIRE_TO (empty without tcpdump).
wire_start() {
    WIRE_TO=""
    ((have_tcpdump)) || return 0
    start "$1-wire" 30 "$NS_TX" 0 tcpdump -i "$TX_IF" -n -l -tt --time-stamp-precision=nano \
        "udp port $2 and less 1000"
    WIRE_TO=$LAST_TIMEOUT WIRE_PID=$LAST_PID
    local _
    for _ in $(seq 100); do
        grep -q 'listening on' "$work/$1-wire.err" 2>/dev/null && break
        sleep 0.03
    done
}

# wire_p50 TAG: stops the capture; p50 (us) of the time from a probe leaving
# the sender's veth ($TX_ADDR > ...) to the next reply arriving on it: the
# round trip without either client's own wake-up and timestamping.
wire_p50() {
    [[ -n $WIRE_TO ]] || return 0
    stop "$WIRE_PID" "$WIRE_TO"
    awk -v me="$TX_ADDR" '{ split($3, a, "."); src = a[1] "." a[2] "." a[3] "." a[4] }
        src == me { q = $1; next }
        q != "" { printf "%.1f\n", ($1 - q) * 1e6; q = "" }' "$work/$1-wire.out" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR > 10) printf "%.1f", v[int((NR + 1) / 2)] }'
}

run_rtt() {
    local run=$1 tag rx_pid rx_to wire
    # mcast ping against recv --echo.
    tag=rtt-mcast-$run
    quiet background_cpu_pct_rtt 64 mcast "$run"
    start "$tag-rx" 30 "$NS_RX" 1 "$MCAST" -q --json recv --echo -c 0 --timeout 25s -i "$RX_IF" "$GROUP:5004"
    rx_pid=$LAST_PID rx_to=$LAST_TIMEOUT
    if wait_joined; then
        wire_start "$tag" 5004
        start "$tag-tx" 30 "$NS_TX" 0 "$MCAST" -q --json ping "$GROUP:5004" -i "$TX_IF" \
            -c "$ping_count" --interval 1ms --wait 300ms --size 64
        watch "$LAST_PID" "$LAST_TIMEOUT"
        wire=$(wire_p50 "$tag")
        sample rtt_wire_p50_us 64 mcast "$run" "$wire"
        if [[ -n $WATCH_TICKS ]]; then
            sample rtt_client_cpu_pct 64 mcast "$run" "$(calc "100 * $WATCH_TICKS / $CLK_TCK / $WATCH_SECS")"
        fi
        local p50
        p50=$(grep '"type":"reply"' "$work/$tag-tx.out" | grep -o '"rtt_ms":[0-9.]*' | cut -d: -f2 |
            sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", 1000 * v[int((NR + 1) / 2)] }') || true
        sample rtt_p50_us 64 mcast "$run" "$p50"
        printf '  RTT run %d: mcast ping p50 %s us (%s replies); on the wire %s us\n' "$run" "${p50:-?}" \
            "$(grep -c '"type":"reply"' "$work/$tag-tx.out" || true)" "${wire:-?}"
    else
        note "$tag: recv --echo did not join"
    fi
    stop "$rx_pid" "$rx_to"
    # sockperf ping-pong: its server answers to the group, so the client
    # joins it too (--mc-rx-if); multicast loop stays off (its default).
    local mps
    for mps in 1000 max; do
        tag=rtt-sockperf-$mps-$run
        if [[ $mps == 1000 ]]; then quiet background_cpu_pct_rtt 64 sockperf "$run"; else quiet background_cpu_pct_pingpong 64 sockperf "$run"; fi
        start "$tag-rx" 30 "$NS_RX" 1 sockperf sr -i "$GROUP" -p 5005 --mc-rx-if "$RX_ADDR" --mc-tx-if "$RX_ADDR"
        rx_pid=$LAST_PID rx_to=$LAST_TIMEOUT
        if wait_joined; then
            WIRE_TO=""
            [[ $mps == max ]] || wire_start "$tag" 5005
            start "$tag-tx" 30 "$NS_TX" 0 sockperf pp -i "$GROUP" -p 5005 --mc-rx-if "$TX_ADDR" \
                --mc-tx-if "$TX_ADDR" -m 64 -t 3 --mps="$mps" --full-rtt
            watch "$LAST_PID" "$LAST_TIMEOUT"
            wire=$(wire_p50 "$tag")
            [[ $mps == max ]] || sample rtt_wire_p50_us 64 sockperf "$run" "$wire"
            if [[ $mps == 1000 && -n $WATCH_TICKS ]]; then
                sample rtt_client_cpu_pct 64 sockperf "$run" "$(calc "100 * $WATCH_TICKS / $CLK_TCK / $WATCH_SECS")"
            fi
            local p50
            p50=$(grep -ho 'percentile 50.000 = *[0-9.]*' "$work/$tag-tx.out" "$work/$tag-tx.err" 2>/dev/null |
                awk '{ printf "%.1f", $NF; exit }') || true
            if [[ $mps == max ]]; then
                sample rtt_p50_us_pingpong 64 sockperf "$run" "$p50"
            else
                sample rtt_p50_us 64 sockperf "$run" "$p50"
            fi
            printf '  RTT run %d: sockperf pp --mps=%s p50 %s us%s\n' "$run" "$mps" "${p50:-?}" \
                "${wire:+; on the wire $wire us}"
        else
            note "$tag: sockperf sr did not join"
        fi
        stop "$rx_pid" "$rx_to"
    done
}

# --- Rate accuracy ----------------------------------------------------------------
run_rate() {
    local run=$1 rate=$2 secs=$3 fig=$4 tag rx_pid rx_to
    tag=rate-$rate-$run
    quiet "" 64 mcast "$run"
    start "$tag-rx" $((secs + 30)) "$NS_RX" 1 "$MCAST" -q --json recv -c 0 --timeout "$((secs + 25))s" \
        -i "$RX_IF" "$GROUP:5006"
    rx_pid=$LAST_PID rx_to=$LAST_TIMEOUT
    if ! wait_joined; then note "$tag: receiver did not join"; stop "$rx_pid" "$rx_to"; return 0; fi
    local c0 c1 in0 in1 _ st0 st1 rxt0 rxt1 others
    c0=$(udp_counters)
    st0=$(stat_busy)
    rxt0=$(cpu_ticks "$rx_pid")
    start "$tag-tx" $((secs + 10)) "$NS_TX" 0 "$MCAST" -q --json send --probe --size 64 \
        --rate "$rate" --duration "${secs}s" -i "$TX_IF" "$GROUP:5006"
    watch "$LAST_PID" "$LAST_TIMEOUT"
    sleep 0.3
    c1=$(udp_counters)
    st1=$(stat_busy)
    rxt1=$(cpu_ticks "$rx_pid")
    stop "$rx_pid" "$rx_to"
    others=$(others_pct "$st0" "$st1" "$((${WATCH_TICKS:-0} + ${rxt1:-0} - ${rxt0:-0}))")
    if contended "$others" "$tag"; then return 1; fi
    sample "others_cpu_pct_rate_$rate" 64 mcast "$run" "$others"
    sample "background_cpu_pct_rate_$rate" 64 mcast "$run" "$BUSY"
    read -r in0 _ <<<"$c0"
    read -r in1 _ <<<"$c1"
    local sent expected err rx_err
    sent=$(json_num "$work/$tag-tx.out" packets summary)
    expected=$((rate * secs))
    [[ -n $sent ]] || { note "$tag: no send summary"; return 0; }
    err=$(calc "100 * ($sent - $expected) / $expected")
    rx_err=$(calc "100 * ($in1 - $in0 - $expected) / $expected")
    sample "$fig" 64 mcast "$run" "$err"
    sample "${fig}_received" 64 mcast "$run" "$rx_err"
    local slipped
    slipped=$(json_num "$work/$tag-tx.out" slipped_s summary)
    printf '  rate run %d: --rate %s for %s s: sent %s (%+.3f%%), received %s (%+.3f%%) of %s; mcast slipped_s %s; others used %s%% CPU before, %.1f%% during\n' \
        "$run" "$rate" "$secs" "$sent" "$err" "$((in1 - in0))" "$rx_err" "$expected" "${slipped:-?}" "$BUSY" "${others:-0}"
}

# --- Time to first packet -----------------------------------------------------------
run_first() {
    local trial=$1 tag rx_pid rx_to dump_to="" t0 _
    tag=first-$trial
    if ((have_tcpdump)); then
        start "$tag-dump" 15 "$NS_TX" 1 tcpdump -i "$TX_IF" -n -l -c 1 -tt \
            --time-stamp-precision=nano udp dst port 5007
        dump_to=$LAST_TIMEOUT
        for _ in $(seq 100); do
            grep -q 'listening on' "$work/$tag-dump.err" 2>/dev/null && break
            sleep 0.03
        done
    fi
    start "$tag-rx" 15 "$NS_RX" 1 "$MCAST" -q --json recv -c 1 --timeout 10s -i "$RX_IF" "$GROUP:5007"
    rx_pid=$LAST_PID rx_to=$LAST_TIMEOUT
    if ! wait_joined; then note "$tag: receiver did not join"; fi
    sleep 0.2
    t0=${EPOCHREALTIME/./}   # microseconds, no fork
    timeout 10 ip netns exec "$NS_TX" taskset -c 0 "$MCAST" -q send -c 1 -m first -i "$TX_IF" \
        "$GROUP:5007" >"$work/$tag-tx.out" 2>"$work/$tag-tx.err" || true
    finish "$rx_to"
    [[ -n $dump_to ]] && finish "$dump_to"
    local wire="" recv="" ns
    if [[ -n $dump_to ]]; then
        ns=$(awk 'NR == 1 { print $1 }' "$work/$tag-dump.out") || true
        [[ $ns =~ ^[0-9]+\.[0-9]+$ ]] && wire=$(calc "(${ns%.*} - ${t0:0:10}) * 1000 + (${ns#*.} / 1e6) - (${t0:10} / 1e3)")
    fi
    ns=$(json_num "$work/$tag-rx.out" unix_ns message)
    [[ -n $ns ]] && recv=$(calc "(${ns:0:10} - ${t0:0:10}) * 1000 + (${ns:10} / 1e6) - (${t0:10} / 1e3)")
    sample first_packet_wire_ms 0 mcast "$trial" "$wire"

    sample first_packet_recv_ms 0 mcast "$trial" "$recv"
    printf '  first packet trial %d: on the wire (tcpdump, tx0) %s ms, received (mcast recv message time) %s ms after start\n' \
        "$trial" "${wire:-?}" "${recv:-?}"
}

run_exec_overhead() {
    local trial=$1 t0 t1
    t0=${EPOCHREALTIME/./}
    ip netns exec "$NS_TX" taskset -c 0 true
    t1=${EPOCHREALTIME/./}
    sample exec_overhead_ms 0 mcast "$trial" "$(calc "($t1 - $t0) / 1000")"
}

# --- Run --------------------------------------------------------------------------------
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[[ -n $cpu_model ]] || cpu_model=$(awk -F': ' '/^(Hardware|CPU part)/ { print $2; exit }' /proc/cpuinfo)
header="mcast benchmark: $(nproc) CPUs (${cpu_model:-unknown CPU}), Linux $(uname -r)
link: a plain veth pair between namespaces $NS_TX ($TX_IF $TX_ADDR) and $NS_RX ($RX_IF $RX_ADDR),
      the same link as the reference figures (not lab.sh's bridge: one hop less, no snooping);
      sender on CPU 0, receiver on CPU 1; group $GROUP
runs: $runs per size, ${duration} s each, sizes: $sizes; alternating mcast, iperf 2, sockperf;
      each sender at its max rate$( ((fixed_rate > 0)) && echo ", then all at $fixed_rate packets/s (*_fixed figures)")$([[ -n $with_gso ]] && echo "; mcast also with send --gso (*_gso)")
load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on this machine; see background_cpu_pct)
tools: $("$MCAST" --version 2>/dev/null || echo mcast) ($MCAST, source $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)); $(iperf -v 2>&1 | head -n1); sockperf $(sockperf --version 2>&1 | awk '/version/ { print $NF; exit }')"
echo "$header"
echo

echo "== throughput: each sender at its max rate; receiver loss and CPU"
for size in $sizes; do
    for run in $(seq "$runs"); do
        for tool in mcast iperf2 sockperf ${with_gso:+mcast-gso}; do
            measure run_tp "$tool" "$size" "$run" max
            sleep 0.3
        done
    done
done
if ((fixed_rate > 0)); then
    echo "== throughput: every sender at $fixed_rate packets/s (receiver CPU at the same load)"
    for size in $sizes; do
        for run in $(seq "$runs"); do
            for tool in mcast iperf2 sockperf; do
                measure run_tp "$tool" "$size" "$run" "$fixed_rate"
                sleep 0.3
            done
        done
    done
fi
echo "== RTT (64 B)"
for run in $(seq "$runs"); do run_rtt "$run"; done
echo "== rate accuracy"
for run in $(seq "$runs"); do
    measure run_rate "$run" 1000 "$rate1k_s" rate_1000_err_pct
    measure run_rate "$run" 100000 "$rate100k_s" rate_100000_err_pct
done
echo "== time to first packet"
for trial in $(seq "$first_trials"); do
    run_exec_overhead "$trial"
    run_first "$trial"
done
echo

# --- Summary ---------------------------------------------------------------------------
stamp=$(date +%Y%m%d-%H%M%S)
if [[ -z $out ]]; then
    mkdir -p "$ROOT/target/bench"
    out=$ROOT/target/bench/bench-$stamp.tsv
fi
samples_out=${out%.tsv}-samples.tsv
md_out=${out%.tsv}.md
cp "$samples" "$samples_out"

# Figures in table order: name|unit|ratios shown (y/n)|goal kind|goal text.
# Goal kinds:
#   ratio_ge A B    mcast/iperf2 >= A and mcast/sockperf >= B (medians)
#   zero_loss       mcast 0 in every run; iperf2 and sockperf > 0 (medians)
#   iperf_le A      mcast/iperf2 <= A (medians)
#   sock_le A       mcast/sockperf <= A (medians)
#   max_le A        mcast <= A in every run
#   absmax_le A     |mcast| <= A in every run
#   med_le A        mcast median <= A
figures='send_pps|pps|y|ratio_ge 1.4 1.15|>=1.4x iperf2, >=1.15x sockperf
loss_pct|%|n|zero_loss|mcast 0.00% (every run), others >0
rcvbuf_errors|datagrams|n|-|-
mcast_own_loss_pct|%|n|-|-
mcast_kernel_drops|datagrams|n|-|-
rx_cpu_us_per_pkt|us|y|iperf_le 0.75|<=0.75x iperf2
others_cpu_pct|%|n|-|-
send_pps_gso|pps|y|-|- (ratios: vs their max-rate runs)
loss_pct_gso|%|n|-|-
rcvbuf_errors_gso|datagrams|n|-|-
mcast_kernel_drops_gso|datagrams|n|-|-
rx_cpu_us_per_pkt_gso|us|y|-|-
others_cpu_pct_gso|%|n|-|-
send_pps_fixed|pps|n|-|-
loss_pct_fixed|%|n|-|-
rcvbuf_errors_fixed|datagrams|n|-|-
rx_cpu_us_per_pkt_fixed|us|y|iperf_le 0.75|<=0.75x iperf2
others_cpu_pct_fixed|%|n|-|-
rss_send_kib|KiB|y|max_le 4096|<=4096 KiB (every run)
rss_recv_kib|KiB|y|max_le 4096|<=4096 KiB (every run)
rtt_p50_us|us|y|sock_le 1.1|<=1.1x sockperf (same 1 ms pacing)
rtt_wire_p50_us|us|y|-|-
rtt_p50_us_pingpong|us|n|-|-
rtt_client_cpu_pct|%|y|-|-
rate_1000_err_pct|%|n|absmax_le 0.5|+-0.5% (every run)
rate_1000_err_pct_received|%|n|-|-
rate_100000_err_pct|%|n|absmax_le 1|+-1% (every run)
rate_100000_err_pct_received|%|n|-|-
first_packet_wire_ms|ms|n|med_le 10|<=10 ms
first_packet_recv_ms|ms|n|med_le 10|<=10 ms
exec_overhead_ms|ms|n|-|-
background_cpu_pct|%|n|-|-
background_cpu_pct_fixed|%|n|-|-
background_cpu_pct_gso|%|n|-|-
background_cpu_pct_rtt|%|n|-|-
background_cpu_pct_pingpong|%|n|-|-
background_cpu_pct_rate_1000|%|n|-|-
background_cpu_pct_rate_100000|%|n|-|-
others_cpu_pct_rate_1000|%|n|-|-
others_cpu_pct_rate_100000|%|n|-|-'

awk -F'\t' -v figures="$figures" -v out="$out" -v md="$md_out" '
function fmt(x) {
    if (x == "") return "-"
    if (x == int(x)) return sprintf("%d", x)
    if (x >= 1000 || x <= -1000) return sprintf("%.0f", x)
    if (x >= 10 || x <= -10) return sprintf("%.1f", x)
    if (x >= 1 || x <= -1) return sprintf("%.2f", x)
    return sprintf("%.3f", x)
}
function cell(k) { return (k in med) ? fmt(med[k]) " [" fmt(lo[k]) "-" fmt(hi[k]) "]" : "-" }
function ratio(a, b) { return ((a in med) && (b in med) && med[b] != 0) ? med[a] / med[b] : "" }
{
    k = $1 SUBSEP $2 SUBSEP $3
    n[k]++; v[k, n[k]] = $5 + 0
    if (!((k) in lo) || $5 + 0 < lo[k]) lo[k] = $5 + 0
    if (!((k) in hi) || $5 + 0 > hi[k]) hi[k] = $5 + 0
    if ($5 + 0 < 0 ? -$5 > absmax[k] : $5 > absmax[k]) absmax[k] = ($5 < 0 ? -$5 : $5) + 0
    if (!(($1 SUBSEP $2) in seen)) { seen[$1, $2] = 1; sizes_of[$1] = sizes_of[$1] " " $2 }
}
END {
    for (k in n) {
        m = n[k]
        for (i = 1; i <= m; i++) s[i] = v[k, i]
        for (i = 2; i <= m; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
        med[k] = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
    }
    print "figure\tsize\tunit\tmcast_median\tmcast_min\tmcast_max\tiperf2_median\tiperf2_min\tiperf2_max\tsockperf_median\tsockperf_min\tsockperf_max\tmcast_per_iperf2\tmcast_per_sockperf\tgoal\tresult" > out
    print "| figure | size (B) | mcast | iperf 2 | sockperf | mcast/iperf2 | mcast/sockperf | goal | result |" > md
    print "|---|---|---|---|---|---|---|---|---|" > md
    printf "%-36s %5s  %-26s %-26s %-26s %7s %7s  %-34s %s\n", "figure", "size", "mcast", "iperf2", "sockperf", "m/iperf", "m/sock", "goal", "result"
    nf = split(figures, lines, "\n")
    for (f = 1; f <= nf; f++) {
        split(lines[f], p, "|"); fig = p[1]; unit = p[2]; showr = (p[3] == "y"); kind = p[4]; goal = p[5]
        ns = split(sizes_of[fig], sz, " ")
        for (z = 1; z <= ns; z++) {
            size = sz[z]
            km = fig SUBSEP size SUBSEP "mcast"; ki = fig SUBSEP size SUBSEP "iperf2"; ks = fig SUBSEP size SUBSEP "sockperf"
            ri = ratio(km, ki); rs = ratio(km, ks)
            if (fig ~ /_gso$/) {
                # Only mcast has a --gso run: compare with the default runs of the others.
                base = substr(fig, 1, length(fig) - 4)
                ri = ratio(km, base SUBSEP size SUBSEP "iperf2"); rs = ratio(km, base SUBSEP size SUBSEP "sockperf")
            }
            split(kind, g, " "); res = ""
            if (g[1] == "ratio_ge") res = (ri != "" && rs != "") ? ((ri >= g[2] && rs >= g[3]) ? "PASS" : "MISS") : "n/a"
            else if (g[1] == "zero_loss") res = (km in med && ki in med && ks in med) ? ((hi[km] == 0 && med[ki] > 0 && med[ks] > 0) ? "PASS" : "MISS") : "n/a"
            else if (g[1] == "iperf_le") res = (ri != "") ? (ri <= g[2] ? "PASS" : "MISS") : "n/a"
            else if (g[1] == "sock_le") res = (rs != "") ? (rs <= g[2] ? "PASS" : "MISS") : "n/a"
            else if (g[1] == "max_le") res = (km in med) ? (hi[km] <= g[2] ? "PASS" : "MISS") : "n/a"
            else if (g[1] == "absmax_le") res = (km in med) ? (absmax[km] <= g[2] ? "PASS" : "MISS") : "n/a"
            else if (g[1] == "med_le") res = (km in med) ? (med[km] <= g[2] ? "PASS" : "MISS") : "n/a"
            else res = "-"
            sizecol = (size == 0) ? "-" : size
            if (!showr) { ri = ""; rs = "" }
            rif = (ri == "") ? "-" : sprintf("%.2f", ri); rsf = (rs == "") ? "-" : sprintf("%.2f", rs)
            printf "%-36s %5s  %-26s %-26s %-26s %7s %7s  %-34s %s\n", fig " (" unit ")", sizecol, cell(km), cell(ki), cell(ks), rif, rsf, goal, res
            printf "%s\t%s\t%s", fig, sizecol, unit > out
            for (t = 0; t < 3; t++) {
                kk = (t == 0) ? km : (t == 1) ? ki : ks
                if (kk in med) printf "\t%s\t%s\t%s", med[kk], lo[kk], hi[kk] > out
                else printf "\t\t\t" > out
            }
            printf "\t%s\t%s\t%s\t%s\n", (ri == "" ? "" : sprintf("%.3f", ri)), (rs == "" ? "" : sprintf("%.3f", rs)), goal, res > out
            printf "| %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s |\n", fig, unit, sizecol, cell(km), cell(ki), cell(ks), rif, rsf, goal, res > md
        }
    }
}' "$samples"

echo
echo "median [min-max] over $runs run(s) ($first_trials trials for the first-packet figures)."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); background_cpu_pct: CPU used by other"
echo "processes (% of all CPUs) just before each run."
echo "rtt_p50_us: each tool's own figure (mcast ping: send time to the kernel's receive time of"
echo "the reply where mcast has it; sockperf: user space to user space). rtt_wire_p50_us: probe"
echo "leaving to reply arriving on the sender's veth (tcpdump), the same for both tools."
echo "first_packet_wire_ms: tcpdump's kernel timestamp on $TX_IF minus the time just before"
echo "'ip netns exec ... taskset ... mcast send -c 1' was started (includes exec_overhead_ms);"
echo "first_packet_recv_ms: mcast recv's 'message' unix_ns: the kernel receive time (SO_TIMESTAMPNS)"
echo "where the kernel gives one, else the time it printed the message (an upper bound)."
echo "Summary TSV: $out"
echo "Samples TSV: $samples_out"
echo "Markdown:    $md_out"
