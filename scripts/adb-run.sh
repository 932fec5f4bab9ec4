#!/usr/bin/env bash
# Run mcast on an Android phone over adb: pick the binary that matches the
# phone's ABI, push it to /data/local/tmp, and run it with your arguments.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/adb-run.sh [-s SERIAL] [--binary FILE] [--] MCAST_ARGS...

Runs mcast on an Android phone attached with adb (USB or `adb connect`):

  1. asks the phone for its ABI (adb shell getprop ro.product.cpu.abi);
  2. picks the matching binary:
       arm64-v8a:   target/aarch64-linux-android/release/mcast (NDK build)
                    else target/aarch64-unknown-linux-musl/release/mcast
                    (static, needs no NDK)
       armeabi-v7a: target/armv7-linux-androideabi/release/mcast (NDK build;
                    there is no static armv7 build)
  3. pushes it to /data/local/tmp/mcast and makes it executable;
  4. runs `/data/local/tmp/mcast MCAST_ARGS...`, streaming its output and
     exiting with its exit code. Ctrl-C (or SIGTERM) stops mcast on the
     phone, which prints its summary and leaves its groups: with a
     terminal, through `adb shell -t` (the phone's terminal gets the
     Ctrl-C); without one (output piped or redirected), the script sends
     the signal to mcast's PID on the phone (kept in REMOTE_PATH.pid).

Before `recv` it checks `adb shell dumpsys wifi` for a held Wi-Fi multicast
lock and warns if there is none: Android's Wi-Fi driver drops incoming
multicast unless an app holds a WifiManager.MulticastLock, and a program
started from `adb shell` cannot take one itself. Sending is not affected.

Options:
  -s SERIAL      the device to use (see `adb devices`); required when several
                 are attached, unless ANDROID_SERIAL is set
  --binary FILE  push FILE instead of choosing a build
  -h, --help     show this help
  --             end of options; everything after it goes to mcast

Environment:
  MCAST_TARGET_DIR   cargo's target directory (default: <repo>/target)
  MCAST_REMOTE_PATH  where the binary goes on the phone
                     (default: /data/local/tmp/mcast)
  ADB                the adb program (default: adb)
  ANDROID_SERIAL     default device, as for adb itself

Examples:
  scripts/build-targets.sh                      # builds the static musl binary
  scripts/adb-run.sh ifaces
  scripts/adb-run.sh -s R58M123ABC recv 239.1.2.3:5000
  scripts/adb-run.sh send 239.1.2.3:5000 "hello from the phone"

Logs: the Android (NDK) build also logs to logcat; read them with
  adb logcat -s mcast
Exit codes: mcast's own exit code; 2 for usage errors; 1 for other failures
(no device, no binary for the phone's ABI, adb failure).
EOF
}

die() { echo "adb-run: error: $*" >&2; exit 1; }
usage_error() { echo "adb-run: $*" >&2; echo "Try 'scripts/adb-run.sh --help'." >&2; exit 2; }
note() { echo "adb-run: $*" >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
target_dir=${MCAST_TARGET_DIR:-$repo_root/target}
remote_path=${MCAST_REMOTE_PATH:-/data/local/tmp/mcast}
adb_cmd=${ADB:-adb}

serial=${ANDROID_SERIAL:-}
serial_from_option=0
binary=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        -s)
            [[ $# -ge 2 && -n "$2" ]] || usage_error "-s needs a device serial"
            serial=$2; serial_from_option=1; shift 2 ;;
        -s*) serial=${1#-s}; serial_from_option=1; shift ;;
        --binary)
            [[ $# -ge 2 && -n "$2" ]] || usage_error "--binary needs a file"
            binary=$2; shift 2 ;;
        --binary=*) binary=${1#--binary=}; shift ;;
        --) shift; break ;;
        -*) break ;;   # an mcast option such as --version: hand it over
        *) break ;;
    esac
done
[[ $# -gt 0 ]] || usage_error "no mcast arguments given (for example: scripts/adb-run.sh ifaces)"
mcast_args=("$@")

command -v "$adb_cmd" >/dev/null 2>&1 ||
    die "'$adb_cmd' not found: install the Android platform tools (Debian: apt-get install adb) or set ADB=/path/to/adb"

# --- Which device -----------------------------------------------------------
# `adb devices` prints "List of devices attached" then "SERIAL<TAB>STATE".
devices_out=$("$adb_cmd" devices) || die "'adb devices' failed"
ready=()
others=()
while IFS=$'\t' read -r dev state _; do
    dev=${dev%$'\r'}; state=${state%$'\r'}
    [[ -n "$dev" && -n "$state" ]] || continue
    case "$dev" in List*|\**) continue ;; esac
    if [[ "$state" == device ]]; then ready+=("$dev"); else others+=("$dev ($state)"); fi
done <<<"$devices_out"

if [[ -n "$serial" ]]; then
    found=0
    for d in "${ready[@]+"${ready[@]}"}"; do [[ "$d" == "$serial" ]] && found=1; done
    if [[ $found -eq 0 ]]; then
        how="-s $serial"; [[ $serial_from_option -eq 1 ]] || how="ANDROID_SERIAL=$serial"
        msg="device '$serial' ($how) is not attached and ready."
        [[ ${#ready[@]} -gt 0 ]] && msg+=" Ready: ${ready[*]}."
        [[ ${#others[@]} -gt 0 ]] && msg+=" Not ready: ${others[*]}."
        die "$msg"
    fi
else
    if [[ ${#ready[@]} -eq 0 ]]; then
        msg="no device attached and ready (see 'adb devices')."
        [[ ${#others[@]} -gt 0 ]] &&
            msg+=" Not ready: ${others[*]} (unauthorized: accept the USB debugging prompt on the phone)."
        die "$msg"
    fi
    if [[ ${#ready[@]} -gt 1 ]]; then
        usage_error "several devices are attached (${ready[*]}); choose one with -s SERIAL"
    fi
    serial=${ready[0]}
fi
adb=("$adb_cmd" -s "$serial")

# --- Which binary ------------------------------------------------------------
abi=$("${adb[@]}" shell getprop ro.product.cpu.abi | tr -d '\r' | tr -d '[:space:]') ||
    die "could not read the ABI of $serial (adb shell getprop ro.product.cpu.abi)"
[[ -n "$abi" ]] || die "$serial reported no ABI (ro.product.cpu.abi is empty)"

if [[ -n "$binary" ]]; then
    [[ -f "$binary" ]] || die "--binary $binary: no such file"
    choice="$binary (given with --binary)"
else
    case "$abi" in
        arm64-v8a)
            android_bin=$target_dir/aarch64-linux-android/release/mcast
            musl_bin=$target_dir/aarch64-unknown-linux-musl/release/mcast
            if [[ -f "$android_bin" ]]; then
                binary=$android_bin; choice="$binary (Android NDK build)"
            elif [[ -f "$musl_bin" ]]; then
                binary=$musl_bin; choice="$binary (static musl build; logs go to stderr, not logcat)"
            else
                die "no binary for $abi. Build one:
  cargo build --release --target aarch64-unknown-linux-musl    # static, no NDK needed
  or, with an NDK: cargo ndk -t arm64-v8a --platform 24 build --release
(looked for $android_bin and $musl_bin)"
            fi
            ;;
        armeabi-v7a|armeabi)
            android_bin=$target_dir/armv7-linux-androideabi/release/mcast
            if [[ -f "$android_bin" ]]; then
                binary=$android_bin; choice="$binary (Android NDK build)"
            else
                die "no binary for $abi: there is no static armv7 build (the armv7 musl target is not set up here), so a 32-bit phone needs the Android NDK build:
  cargo ndk -t armeabi-v7a --platform 24 build --release
  or: CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_LINKER=\$ANDROID_NDK_HOME/toolchains/llvm/prebuilt/linux-x86_64/bin/armv7a-linux-androideabi24-clang cargo build --release --target armv7-linux-androideabi
(looked for $android_bin)"
            fi
            ;;
        x86_64|x86)
            die "$serial is an $abi device (an emulator?): mcast is only built for ARM here. Use an arm64-v8a system image or a phone, or pass --binary FILE."
            ;;
        *)
            die "$serial has an unknown ABI '$abi'; pass --binary FILE to push a build yourself"
            ;;
    esac
fi
note "device $serial, ABI $abi"
note "binary $choice"

# --- Push --------------------------------------------------------------------
"${adb[@]}" push "$binary" "$remote_path" >&2 || die "adb push $binary $remote_path failed"
"${adb[@]}" shell chmod 755 "$remote_path" >&2 || die "could not chmod 755 $remote_path on $serial"

# --- Multicast lock check before receiving ------------------------------------
# The subcommand is the first argument that is not an option.
subcommand=""
for a in "${mcast_args[@]}"; do
    case "$a" in -*) ;; *) subcommand=$a; break ;; esac
done

# Counts the entries under "Multicast Locks held:" in `dumpsys wifi` output
# (WifiMulticastLockManager.dump / older WifiServiceImpl.dump print that line
# followed by one indented "Multicaster{TAG uid=N}" per held lock).
# Prints the count, or "unknown" if the section is missing.
count_multicast_locks() {
    awk '
        { sub(/\r$/, "") }
        /^[[:space:]]*Multicast Locks held:/ { seen = 1; inside = 1; next }
        inside && /^[[:space:]]+Multicaster\{/ { n++; next }
        inside { inside = 0 }
        END { if (seen) print n + 0; else print "unknown" }
    '
}

if [[ "$subcommand" == recv ]]; then
    dump=$("${adb[@]}" shell dumpsys wifi 2>/dev/null || true)
    locks=$(count_multicast_locks <<<"$dump")
    case "$locks" in
        unknown)
            note "warning: could not find 'Multicast Locks held:' in 'adb shell dumpsys wifi'; cannot tell whether Wi-Fi multicast filtering is off."
            note "warning: if nothing arrives over Wi-Fi, start an app that holds a WifiManager.MulticastLock while mcast receives."
            ;;
        0)
            note "warning: no app holds a Wi-Fi multicast lock (adb shell dumpsys wifi: 'Multicast Locks held:' is empty)."
            note "warning: Android's Wi-Fi filters incoming multicast unless some app holds a WifiManager.MulticastLock,"
            note "warning: and a program started from adb shell cannot take one itself. recv may see nothing over Wi-Fi:"
            note "warning: keep an app that holds the lock running (many mDNS/UPnP/Chromecast apps do). Sending is not affected."
            ;;
        *)
            note "Wi-Fi multicast lock held by $locks app(s): incoming multicast is not filtered."
            ;;
    esac
fi

if [[ "$binary" == *aarch64-unknown-linux-musl* ]]; then
    note "log: this static musl build writes its log to stderr (below); the Android NDK build logs to logcat: adb -s $serial logcat -s mcast"
else
    note "log: read it with: adb -s $serial logcat -s mcast"
fi

# --- Run ---------------------------------------------------------------------
# adb shell hands one string to the phone's /system/bin/sh: quote each
# argument in single quotes ('"'"' for a quote inside one).
quote() {
    local s=$1 q="'\\''"
    printf "'%s'" "${s//\'/$q}"
}
mcast_cmd=$(quote "$remote_path")
for a in "${mcast_args[@]}"; do
    mcast_cmd+=" $(quote "$a")"
done
pid_file=$(quote "$remote_path.pid")
# The shell writes its PID and execs mcast, so the PID is mcast's.
remote_cmd="echo \$\$ >$pid_file && exec $mcast_cmd"

# adb >= 7.0 (shell protocol v2) passes the remote exit code through, with
# or without a terminal.
note "running: $mcast_cmd"
if [[ -t 0 && -t 1 ]]; then
    # -t gives mcast a terminal on the phone, so Ctrl-C stops it there.
    set +e
    "${adb[@]}" shell -t "$remote_cmd"
    rc=$?
    set -e
    exit "$rc"
fi
# No terminal: -T keeps stdout and stderr apart, and this script forwards
# SIGINT and SIGTERM to mcast's PID on the phone, then waits for mcast to
# finish (its summary comes back through the first adb shell). The
# background adb ignores SIGINT (a non-interactive shell's background jobs
# do), so only mcast's own exit ends it.
forward() {
    note "stopping mcast on $serial (SIG$1)"
    "${adb[@]}" shell "kill -$1 \$(cat $pid_file)" </dev/null >/dev/null 2>&1 ||
        note "could not signal mcast on $serial"
}
"${adb[@]}" shell -T "$remote_cmd" &
adb_pid=$!
trap 'forward INT' INT
trap 'forward TERM' TERM
while true; do
    set +e
    wait "$adb_pid"
    rc=$?
    set -e
    # wait returns early (status > 128) when a trapped signal arrives.
    kill -0 "$adb_pid" 2>/dev/null || break
done
exit "$rc"
