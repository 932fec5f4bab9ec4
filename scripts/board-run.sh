#!/usr/bin/env bash
# Run mcast on an ARM board over ssh: detect the board's architecture, copy
# the matching binary to a temporary directory there, and run it.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/board-run.sh [--target TRIPLE] [--binary FILE] [--] HOST [MCAST_ARGS...]

Runs mcast on a Linux board reachable with ssh (HOST as for ssh: name,
user@name, or an alias from ~/.ssh/config):

  1. asks the board for its architecture (ssh HOST uname -m);
  2. picks the matching binary from cargo's target directory:
       aarch64, arm64  aarch64-unknown-linux-gnu/release/mcast, else the
                       static aarch64-unknown-linux-musl/release/mcast
       armv7l, armv8l  armv7-unknown-linux-gnueabihf/release/mcast
       armv6l          not supported (Raspberry Pi Zero/1: the armv7 build
                       uses ARMv7 instructions)
       x86_64          release/mcast (the host build)
  3. copies it with scp to a fresh temporary directory on the board;
  4. runs it there with MCAST_ARGS, streams the output, removes the
     directory and exits with mcast's exit code. Ctrl-C (or SIGTERM) stops
     mcast on the board, which prints its summary and leaves its groups:
     with a terminal, over `ssh -t` (the board's terminal gets the Ctrl-C);
     without one (output piped or redirected), over `ssh -T`, and the
     script sends the signal to mcast's PID on the board.

Options:
  --target TRIPLE  use target/TRIPLE/release/mcast whatever the board says
  --binary FILE    copy FILE instead of choosing a build
  -h, --help       show this help

Environment:
  SSH_OPTS          extra options for both ssh and scp, split on spaces, e.g.
                    SSH_OPTS="-i ~/.ssh/board -o Port=2222" (use -o Port=N:
                    ssh's -p and scp's -P differ)
  MCAST_TARGET_DIR  cargo's target directory (default: <repo>/target)
  SSH, SCP          the ssh and scp programs (default: ssh, scp)

Examples:
  scripts/board-run.sh pi@raspberrypi.local ifaces
  scripts/board-run.sh pi@raspberrypi.local recv 239.1.2.3:5000
  SSH_OPTS="-o Port=2222" scripts/board-run.sh board send 239.1.2.3:5000 hi

Exit codes: mcast's own exit code; 2 for usage errors; 1 for other failures
(unsupported architecture, missing build, ssh/scp failure).
EOF
}

die() { echo "board-run: error: $*" >&2; exit 1; }
usage_error() { echo "board-run: $*" >&2; echo "Try 'scripts/board-run.sh --help'." >&2; exit 2; }
note() { echo "board-run: $*" >&2; }

# ssh hands one string to the board's shell: single-quote every argument.
quote() {
    local s=$1 q="'\\''"
    printf "'%s'" "${s//\'/$q}"
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
target_dir=${MCAST_TARGET_DIR:-$repo_root/target}
ssh_cmd=${SSH:-ssh}
scp_cmd=${SCP:-scp}
# shellcheck disable=SC2206 # SSH_OPTS is documented as split on spaces
ssh_opts=(${SSH_OPTS:-})

target=""
binary=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --target)
            [[ $# -ge 2 && -n "$2" ]] || usage_error "--target needs a target triple"
            target=$2; shift 2 ;;
        --target=*) target=${1#--target=}; shift ;;
        --binary)
            [[ $# -ge 2 && -n "$2" ]] || usage_error "--binary needs a file"
            binary=$2; shift 2 ;;
        --binary=*) binary=${1#--binary=}; shift ;;
        --) shift; break ;;
        -*) usage_error "unknown option '$1'" ;;
        *) break ;;
    esac
done
[[ $# -gt 0 ]] || usage_error "no HOST given"
host=$1; shift
[[ $# -gt 0 ]] || usage_error "no mcast arguments given (for example: scripts/board-run.sh $host ifaces)"
mcast_args=("$@")

command -v "$ssh_cmd" >/dev/null 2>&1 || die "'$ssh_cmd' not found (apt-get install openssh-client)"
command -v "$scp_cmd" >/dev/null 2>&1 || die "'$scp_cmd' not found (apt-get install openssh-client)"

ssh_=("$ssh_cmd" "${ssh_opts[@]+"${ssh_opts[@]}"}")
scp_=("$scp_cmd" "${ssh_opts[@]+"${ssh_opts[@]}"}")

# --- Which binary ------------------------------------------------------------
arch=$("${ssh_[@]}" -T "$host" uname -m | tr -d '\r[:space:]') ||
    die "could not reach $host (ssh $host uname -m failed)"
[[ -n "$arch" ]] || die "$host did not report its architecture (uname -m printed nothing)"

if [[ -n "$binary" ]]; then
    [[ -f "$binary" ]] || die "--binary $binary: no such file"
    choice="$binary (given with --binary)"
else
    candidates=()
    if [[ -n "$target" ]]; then
        candidates=("$target")
    else
        case "$arch" in
            aarch64|arm64|aarch64_be)
                [[ "$arch" == aarch64_be ]] && die "$host is big-endian aarch64 ($arch); mcast is built for little-endian only"
                candidates=(aarch64-unknown-linux-gnu aarch64-unknown-linux-musl) ;;
            armv7l|armv7|armv8l)
                # armv8l: a 64-bit CPU running a 32-bit ARM userland.
                candidates=(armv7-unknown-linux-gnueabihf) ;;
            armv6l|armv5tel|armv5tejl|armv4tl)
                die "$host is $arch: not supported. The armv7 build uses ARMv7 instructions that a Raspberry Pi Zero/1 (ARMv6) lacks; an arm-unknown-linux-gnueabihf build would be needed (not set up here)." ;;
            x86_64|amd64)
                candidates=(host) ;;
            *)
                die "$host has an unsupported architecture '$arch'; pass --binary FILE to copy a build yourself" ;;
        esac
    fi
    looked=()
    for t in "${candidates[@]}"; do
        if [[ "$t" == host ]]; then f=$target_dir/release/mcast; else f=$target_dir/$t/release/mcast; fi
        looked+=("$f")
        if [[ -f "$f" ]]; then binary=$f; choice="$f ($t build)"; break; fi
    done
    if [[ -z "$binary" ]]; then
        t=${candidates[0]}
        if [[ "$t" == host ]]; then hint="cargo build --release"; else hint="cargo build --release --target $t"; fi
        die "no binary for $host ($arch). Build one with: $hint  (or scripts/build-targets.sh). Looked for: ${looked[*]}"
    fi
fi
note "board $host, architecture $arch"
note "binary $choice"

# --- Copy ----------------------------------------------------------------------
# shellcheck disable=SC2016 # ${TMPDIR:-/tmp} is for the board's shell
remote_dir=$("${ssh_[@]}" -T "$host" 'mktemp -d "${TMPDIR:-/tmp}/mcast.XXXXXX"' | tr -d '\r') ||
    die "could not create a temporary directory on $host"
[[ "$remote_dir" == /* ]] || die "unexpected temporary directory from $host: '$remote_dir'"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup_remote() { "${ssh_[@]}" -T "$host" "rm -rf $(quote "$remote_dir")" >/dev/null 2>&1 || true; }
trap cleanup_remote EXIT
"${scp_[@]}" -q "$binary" "$host:$remote_dir/mcast" || die "scp $binary $host:$remote_dir/mcast failed"

# --- Run -----------------------------------------------------------------------
pid_file=$(quote "$remote_dir/pid")
mcast_cmd=$(quote "$remote_dir/mcast")
for a in "${mcast_args[@]}"; do
    mcast_cmd+=" $(quote "$a")"
done
# The shell writes its PID and execs mcast, so the PID is mcast's.
remote_cmd="chmod 755 $(quote "$remote_dir/mcast") && echo \$\$ >$pid_file && exec $mcast_cmd"

note "running on $host: $mcast_cmd"
if [[ -t 0 && -t 1 ]]; then
    # A terminal on the board: Ctrl-C travels as a keystroke and the
    # board's terminal turns it into SIGINT for mcast.
    set +e
    "${ssh_[@]}" -t "$host" "$remote_cmd"
    rc=$?
    set -e
    exit "$rc"
fi
# No terminal here: -T keeps stdout and stderr apart, and this script
# forwards SIGINT and SIGTERM to mcast's PID on the board, then waits for
# mcast to finish (its summary comes back over the first connection).
# The background ssh ignores SIGINT (a non-interactive shell's background
# jobs do), so only mcast's own exit ends it.
forward() {
    note "stopping mcast on $host (SIG$1)"
    "${ssh_[@]}" -T "$host" "kill -$1 \$(cat $pid_file)" </dev/null >/dev/null 2>&1 ||
        note "could not signal mcast on $host"
}
"${ssh_[@]}" -T "$host" "$remote_cmd" &
ssh_pid=$!
trap 'forward INT' INT
trap 'forward TERM' TERM
while true; do
    set +e
    wait "$ssh_pid"
    rc=$?
    set -e
    # wait returns early (status > 128) when a trapped signal arrives.
    kill -0 "$ssh_pid" 2>/dev/null || break
done
exit "$rc"
