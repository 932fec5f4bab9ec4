#!/usr/bin/env bash
# soak.sh - run an mcast receiver under a high probe rate for a long time in
# the lab and check that its memory (RSS) and open file descriptors stay flat.
# Not part of CI. Run `scripts/soak.sh --help` for everything it does.
set -euo pipefail

PROG=${0##*/}
readonly PROG
ROOT=$(cd "$(dirname "$0")/.." && pwd)
readonly ROOT
readonly E_FAIL=1 E_USAGE=2 E_NEED=3

usage() {
    cat <<EOF
Usage: $PROG [OPTIONS]

Soak test of 'mcast recv': builds mcast (cargo build --release), brings up
its own lab (scripts/lab.sh, with its own prefix), starts a receiver on the
board and a probe sender on the phone (both on wlan0, through the lab's
Wi-Fi bridge), samples the receiver's resident memory (VmRSS in
/proc/PID/status) and its open file descriptors (/proc/PID/fd) every few
seconds, then removes the lab.

It fails (exit 1) if, after the warm-up, either grows:
  - RSS: any later sample above the warm-up maximum by more than the
    larger of 64 KiB and 2 % of it. RSS moves in 4 KiB pages, and the
    allocator and the first run of rare code paths (the once-a-second
    stats line, a loss or reorder branch) touch a few more pages now and
    then; a real leak does not fit in that: one byte per packet at 50,000
    packets/s is 3 MB a minute, and even 110 bytes a second exceeds 64 KiB
    over 10 minutes.
  - file descriptors: any later count different from the count at the end
    of the warm-up (a receiver opens its sockets once; nothing may leak).
It also fails if the receiver got no probes, or if either side failed.

Prints the peak RSS, the packets sent and received, the loss (the
receiver's own count: sequence numbers never received, and sent minus
received), the kernel drops (SO_RXQ_OVFL: datagrams this host's receive
buffer dropped) and PASS or FAIL. The samples (TSV), the JSON output of both
sides and their stderr are kept in the output directory.

Options:
  --duration DUR   How long the sender sends: 600, 600s, 10m, 1h
                   [default: 10m].
  --rate PPS       Probes per second [default: 50000].
  --size N         Probe size in bytes (UDP payload), at least 32
                   [default: 64].
  --interval S     Seconds between samples [default: 5].
  --warmup S       Seconds from the start of sending before RSS and fds
                   must stop growing [default: 10 % of the duration, at
                   least 30 s, at most half of it].
  --prefix P       Lab prefix (1-12 characters from [a-z0-9]); it must not
                   be in use [default: soak<PID>].
  --group G        The group [default: 239.74.20.99:54399].
  --rcvbuf BYTES   The receiver's --rcvbuf [default: mcast's, 8 MiB].
  --bin PATH       Use this mcast binary instead of building one.
  --out DIR        Keep the results here [default: a new /tmp/mcast-soak.*].
  -h, --help       This text.

Requirements: root (network namespaces), iproute2 and the lab's other
requirements (see scripts/lab.sh --help), cargo (without --bin).

Exit status: 0 PASS; 1 FAIL (growth, no probes, a side failed, or the lab
could not be built); 2 usage error; 3 a requirement is missing.

Examples:
  sudo scripts/soak.sh                          # 10 minutes at 50,000 pps
  sudo scripts/soak.sh --duration 2m --warmup 20
  sudo scripts/soak.sh --rate 20000 --size 1200 --out /tmp/soak1
EOF
}

die() {
    local code=$1
    shift
    echo "$PROG: error: $*" >&2
    exit "$code"
}

usage_error() {
    echo "$PROG: $*" >&2
    echo "Try '$PROG --help'." >&2
    exit "$E_USAGE"
}

note() {
    echo "$PROG: $*" >&2
}

# A whole number, or usage error.
need_uint() {
    [[ $2 =~ ^[0-9]+$ ]] || usage_error "$1 needs a whole number, not '$2'"
}

# DUR (600, 600s, 10m, 1h) in seconds.
parse_duration() {
    local d=$1 n unit
    [[ $d =~ ^([0-9]+)(s|m|h)?$ ]] || usage_error "--duration: '$d' is not a duration (e.g. 600s, 10m, 1h)"
    n=$((10#${BASH_REMATCH[1]}))
    unit=${BASH_REMATCH[2]:-s}
    case $unit in
        s) echo "$n" ;;
        m) echo $((n * 60)) ;;
        h) echo $((n * 3600)) ;;
    esac
}

DURATION=600
RATE=50000
SIZE=64
INTERVAL=5
WARMUP=
PREFIX=soak$$
GROUP=239.74.20.99:54399
RCVBUF=
BIN=
OUT=

while (($# > 0)); do
    opt=$1
    case $opt in
        -h | --help)
            usage
            exit 0
            ;;
        --*=*)
            set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
            continue
            ;;
        --duration | --rate | --size | --interval | --warmup | --prefix | --group | --rcvbuf | --bin | --out)
            (($# >= 2)) || usage_error "$opt needs a value"
            val=$2
            shift 2
            ;;
        *) usage_error "unknown argument '$opt'" ;;
    esac
    case $opt in
        --duration) DURATION=$(parse_duration "$val") ;;
        --rate) need_uint "$opt" "$val" && RATE=$((10#$val)) ;;
        --size) need_uint "$opt" "$val" && SIZE=$((10#$val)) ;;
        --interval) need_uint "$opt" "$val" && INTERVAL=$((10#$val)) ;;
        --warmup) need_uint "$opt" "$val" && WARMUP=$((10#$val)) ;;
        --prefix) PREFIX=$val ;;
        --group) GROUP=$val ;;
        --rcvbuf) need_uint "$opt" "$val" && RCVBUF=$val ;;
        --bin) BIN=$val ;;
        --out) OUT=$val ;;
    esac
done

((DURATION >= 10)) || usage_error "--duration must be at least 10 s"
((RATE >= 1)) || usage_error "--rate must be at least 1"
((SIZE >= 32 && SIZE <= 65507)) || usage_error "--size must be 32-65507"
((INTERVAL >= 1)) || usage_error "--interval must be at least 1 s"
[[ $PREFIX =~ ^[a-z0-9]{1,12}$ ]] || usage_error "--prefix '$PREFIX': 1 to 12 characters from [a-z0-9]"
if [[ -z $WARMUP ]]; then
    WARMUP=$((DURATION / 10))
    ((WARMUP >= 30)) || WARMUP=30
    ((WARMUP <= DURATION / 2)) || WARMUP=$((DURATION / 2))
fi
((WARMUP < DURATION)) || usage_error "--warmup ($WARMUP s) must be shorter than --duration ($DURATION s)"
((DURATION - WARMUP >= 2 * INTERVAL)) ||
    usage_error "after the warm-up ($WARMUP s) there must be room for 2 samples (--interval $INTERVAL s)"
readonly DURATION RATE SIZE INTERVAL WARMUP PREFIX GROUP RCVBUF

[[ $EUID -eq 0 ]] || die "$E_NEED" "must run as root (the lab uses network namespaces); try: sudo $PROG ..."
command -v ip >/dev/null || die "$E_NEED" "'ip' is not installed (apt-get install iproute2)"
LAB=$ROOT/scripts/lab.sh
[[ -x $LAB ]] || die "$E_NEED" "$LAB is missing or not executable"
if ip netns list | grep -q "^$PREFIX-"; then
    die "$E_USAGE" "a lab with prefix '$PREFIX' exists; choose another --prefix (or remove it: $LAB --prefix $PREFIX down)"
fi

if [[ -z $BIN ]]; then
    command -v cargo >/dev/null || die "$E_NEED" "cargo is not installed (or give --bin PATH)"
    note "building: cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet) || die "$E_FAIL" "cargo build --release failed"
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/mcast
    [[ $BIN == /* ]] || BIN=$ROOT/$BIN
fi
[[ -x $BIN ]] || die "$E_NEED" "no mcast binary at $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
readonly BIN

if [[ -z $OUT ]]; then
    OUT=$(mktemp -d /tmp/mcast-soak.XXXXXX)
else
    mkdir -p "$OUT"
fi
readonly OUT
SAMPLES=$OUT/samples.tsv

RX_PID=
TX_PID=
LAB_UP=0

# Ends our own processes (by PID) and removes our lab, whatever happened.
cleanup() {
    local pid
    for pid in $TX_PID $RX_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in $TX_PID $RX_PID; do
        wait "$pid" 2>/dev/null || true
    done
    if ((LAB_UP)); then
        "$LAB" --prefix "$PREFIX" down >>"$OUT/lab.log" 2>&1 || note "removing lab '$PREFIX' failed; see $OUT/lab.log"
        LAB_UP=0
    fi
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM

note "bringing up lab '$PREFIX'"
LAB_UP=1
"$LAB" --prefix "$PREFIX" up >"$OUT/lab.log" 2>&1 || die "$E_FAIL" "the lab did not come up; see $OUT/lab.log"

# The receiver ends by itself at the timeout if we could not stop it.
RX_TIMEOUT=$((DURATION + 60))
rx_args=(recv --json -c 0 --timeout "${RX_TIMEOUT}s" -i wlan0)
[[ -z $RCVBUF ]] || rx_args+=(--rcvbuf "$RCVBUF")
"$LAB" --prefix "$PREFIX" exec board "$BIN" "${rx_args[@]}" "$GROUP" \
    >"$OUT/recv.jsonl" 2>"$OUT/recv.err" &
RX_PID=$!    # lab.sh exec and ip netns exec both exec: this is mcast's PID

# Wait (at most 10 s) until it has joined.
for _ in $(seq 1 100); do
    grep -q '"type":"joined"' "$OUT/recv.jsonl" 2>/dev/null && break
    kill -0 "$RX_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q '"type":"joined"' "$OUT/recv.jsonl" ||
    die "$E_FAIL" "the receiver did not join within 10 s: $(tail -3 "$OUT/recv.err")"
[[ $(cat "/proc/$RX_PID/comm" 2>/dev/null) == mcast ]] ||
    die "$E_FAIL" "PID $RX_PID is not the receiver (lab.sh exec should exec mcast)"
# The bridge learns the member from its report at once; give it a moment.
sleep 1

# RSS (KiB) and open fds of PID, tab-separated; nothing once it is gone.
sample() {
    local rss fds
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n $rss ]] || return 1
    fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || return 1
    printf '%s\t%s\n' "$rss" "$fds"
}

printf 't_s\tphase\trss_kib\tfds\n' >"$SAMPLES"
idle=$(sample "$RX_PID") || die "$E_FAIL" "the receiver exited early: $(tail -3 "$OUT/recv.err")"
printf '%s\t%s\t%s\n' -1 idle "$idle" >>"$SAMPLES"

note "sending $RATE probes/s of $SIZE bytes for ${DURATION}s (warm-up ${WARMUP}s, a sample every ${INTERVAL}s); results in $OUT"
"$LAB" --prefix "$PREFIX" exec phone "$BIN" send --json -q --probe --rate "$RATE" --size "$SIZE" \
    --duration "${DURATION}s" -i wlan0 "$GROUP" >"$OUT/send.jsonl" 2>"$OUT/send.err" &
TX_PID=$!
START=$SECONDS

# Sample until the sender is done; bounded by the duration plus a minute.
max_samples=$(((DURATION + 60) / INTERVAL + 1))
for ((i = 0; i < max_samples; i++)); do
    t=$((SECONDS - START))
    s=$(sample "$RX_PID") || die "$E_FAIL" "the receiver exited during the run: $(tail -3 "$OUT/recv.err")"
    phase=run
    ((t > WARMUP)) || phase=warmup
    printf '%s\t%s\t%s\n' "$t" "$phase" "$s" >>"$SAMPLES"
    kill -0 "$TX_PID" 2>/dev/null || break
    # Sleep in small steps, to stop sampling soon after the sender ends.
    for ((j = 0; j < INTERVAL * 10; j++)); do
        kill -0 "$TX_PID" 2>/dev/null || break
        sleep 0.1
    done
done

tx_status=0
wait "$TX_PID" || tx_status=$?
TX_PID=
# Let the last probes drain, then stop the receiver (it prints its summary).
sleep 2
kill -INT "$RX_PID" 2>/dev/null || true
for _ in $(seq 1 100); do
    kill -0 "$RX_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$RX_PID" 2>/dev/null && kill -KILL "$RX_PID" 2>/dev/null
rx_status=0
wait "$RX_PID" || rx_status=$?
RX_PID=
cleanup

# ---- Results.

# The value of numeric field NAME in the JSON text on stdin (first match).
field() {
    awk -v key="\"$1\":" '{
        i = index($0, key)
        if (i == 0) exit
        rest = substr($0, i + length(key))
        if (match(rest, /^[-0-9.e+]+/)) print substr(rest, 1, RLENGTH)
        exit
    }'
}

rx_summary=$(grep '"type":"summary"' "$OUT/recv.jsonl" | tail -1 || true)
tx_summary=$(grep '"type":"summary"' "$OUT/send.jsonl" | tail -1 || true)
received=$(field packets <<<"$rx_summary")
kernel_drops=$(field kernel_drops <<<"$rx_summary")
groups_part=${rx_summary#*\"groups\":}
lost=$(field lost <<<"$groups_part")
expected=$(field expected <<<"$groups_part")
loss_pct=$(field loss_pct <<<"$groups_part")
sent=$(field packets <<<"$tx_summary")
slipped=$(field slipped_s <<<"$tx_summary")

# Peak RSS, and the growth checks over the samples.
read -r peak warm_max warm_fds run_max run_min_fds run_max_fds run_last n_run < <(
    awk -F'\t' 'NR > 1 {
        if ($3 > peak) peak = $3
        if ($2 != "run") { if ($3 > wmax) wmax = $3; wfds = $4; next }
        n++
        if ($3 > rmax) rmax = $3
        if (n == 1 || $4 < fmin) fmin = $4
        if ($4 > fmax) fmax = $4
        last = $3
    } END { print peak + 0, wmax + 0, wfds + 0, rmax + 0, fmin + 0, fmax + 0, last + 0, n + 0 }' "$SAMPLES"
)
tolerance=$((warm_max / 50))
((tolerance >= 64)) || tolerance=64

verdict=PASS
reasons=()
fail() {
    verdict=FAIL
    reasons+=("$1")
}
((n_run >= 2)) || fail "only $n_run samples after the warm-up"
((run_max <= warm_max + tolerance)) ||
    fail "RSS grew after the warm-up: $run_max KiB > $warm_max KiB + $tolerance KiB"
((run_min_fds == warm_fds && run_max_fds == warm_fds)) ||
    fail "open fds changed after the warm-up: $warm_fds at its end, $run_min_fds-$run_max_fds after"
[[ -n $rx_summary ]] || fail "no receiver summary (exit $rx_status): $(tail -3 "$OUT/recv.err")"
((rx_status == 0 || rx_status == 130)) || fail "the receiver exited with $rx_status"
((tx_status == 0)) || fail "the sender exited with $tx_status: $(tail -3 "$OUT/send.err")"
[[ -n $expected && $expected -gt 0 ]] || fail "the receiver counted no probes"

sent_minus_received=
if [[ -n $sent && -n $received ]] && ((sent > 0)); then
    sent_minus_received="$((sent - received)) ($(awk -v s="$sent" -v r="$received" 'BEGIN { printf "%.4f", (s - r) * 100 / s }') %)"
fi

cat <<EOF
soak: $DURATION s at $RATE probes/s of $SIZE bytes, warm-up $WARMUP s, sample every $INTERVAL s
machine: $(uname -srm), $(nproc) CPUs; mcast: $BIN
peak RSS: $peak KiB (warm-up max $warm_max KiB, after warm-up max $run_max KiB, last $run_last KiB; tolerance $tolerance KiB)
open fds: $warm_fds at the end of the warm-up, $run_min_fds-$run_max_fds after ($n_run samples)
sent: ${sent:-?} (pacer slipped ${slipped:-?} s)
received: ${received:-?} packets
loss: ${lost:-?} of ${expected:-?} probes (${loss_pct:-?} %); sent - received: ${sent_minus_received:-?}
kernel drops: ${kernel_drops:-?}
samples: $SAMPLES
$verdict
EOF
if [[ $verdict == FAIL ]]; then
    for r in "${reasons[@]}"; do
        echo "  - $r"
    done
    exit "$E_FAIL"
fi
exit 0
