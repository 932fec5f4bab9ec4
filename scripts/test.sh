#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: installs what the
# tests need (Debian packages, two of them from bookworm-backports, rustup
# targets and components), builds the ARM VM images, then runs formatting
# and lint checks, the host tests (with the lab's ARM VMs: real aarch64 and
# armv7 kernels, real sshd and adbd), the same tests on the ARM builds
# under qemu-user, and cross in a local podman image. MCAST_TEST_STRICT=1
# turns every test that would skip (no root, no namespaces, a missing tool)
# into a failure, so a green run never hides a skipped test.
#
# Packages come through scripts/vm/apt.sh: the machine's Debian mirror plus
# bookworm-backports, in a private apt configuration under target/apt/, so
# /etc/apt is not changed. From backports only adb (34, with its Android
# libraries) and qemu-system-arm (10). The ARM packages of the VM images
# are downloaded there too (apt-get download) and unpacked under target/vm/.
#
# Tests create network namespaces, so they run as root: as root directly
# (CI), or, for a normal user, the test binaries run through `sudo -E` while
# cargo builds as you. Nothing is ever sent on this machine's real
# interfaces: only on `lo` and on veth links inside namespaces the tests make.
#
# Options: --host-only (skip the ARM suites under qemu-user and cross),
# -h/--help.
set -euo pipefail

cd "$(dirname "$0")/.."
host_only=0
for a in "$@"; do
    case $a in
        --host-only) host_only=1 ;;
        -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
    esac
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
fi

suite_started=$(date +%s)
step_started=$suite_started
step_name=""
step_times=()
step() {
    local now
    now=$(date +%s)
    [[ -z $step_name ]] || step_times+=("$(printf '%5d s  %s' $((now - step_started)) "$step_name")")
    step_name=$*
    step_started=$now
    [[ -z $step_name ]] || printf '\n==> %s\n' "$*"
}

# Labs left by a test that was killed (prefixes l<pid>x<n>, VMs included)
# are taken down on every exit, by PID (lab.sh down).
clean_labs() {
    local p
    for p in $($SUDO ip netns list 2>/dev/null | sed -n 's/^\(l[0-9a-f]*x[0-9]*\)-ap.*/\1/p') \
        $(ls /run/mcast-lab 2>/dev/null | grep -E '^l[0-9a-f]+x[0-9]+$'); do
        $SUDO scripts/lab.sh --prefix "$p" down >/dev/null 2>&1 || true
    done
}
trap clean_labs EXIT

# 1. Debian packages.
packages=(
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    qemu-user iproute2 nftables iperf socat tshark tcpdump
    iputils-ping util-linux bsdutils procps file binutils
    # The lab's relay for its dtim and mcast-rate switches.
    python3
    chromium fonts-dejavu-core
    # tests/dist.rs: the completions' syntax checks and the man pages' groff.
    zsh fish groff-base
    # The lab's ARM VMs and their images; adb for the phone VM; cross.
    qemu-system-arm kmod cpio openssh-client adb podman runc debootstrap
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# bookworm's own adb is 29; the tests use backports' 34 (as the adbd).
dpkg-query -W -f='${Version}' adb 2>/dev/null | grep -q '^1:34' || missing+=(adb)
if ((${#missing[@]})); then
    step "installing Debian packages: ${missing[*]}"
    # tshark asks whether non-root users may capture: keep the default (no).
    $SUDO env DEBIAN_FRONTEND=noninteractive scripts/vm/apt.sh host \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Rust targets and components (rust-toolchain.toml lists them too).
step "rustup targets and components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf \
    aarch64-unknown-linux-musl aarch64-linux-android armv7-linux-androideabi

# 3. The ARM VMs' images (scripts/vm/image.sh; cached under target/vm/),
# from the release builds, which board-run.sh and adb-run.sh copy too.
step "release builds for the boards and phones, and the VM images"
cargo build --release --bin mcast --target aarch64-unknown-linux-gnu \
    --target armv7-unknown-linux-gnueabihf --target aarch64-unknown-linux-musl
for arch in aarch64 armv7; do
    $SUDO scripts/vm/image.sh --no-build "$arch" >/dev/null
done

export MCAST_TEST_STRICT=1
export RUST_BACKTRACE=1
if [[ -n $SUDO ]]; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    runner_var="CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
    export "$runner_var=sudo -E"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (host, all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy and doc (Android targets: checked, not linked here)"
for t in aarch64-linux-android armv7-linux-androideabi; do
    cargo clippy --workspace --all-targets --target "$t" -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --target "$t" --quiet
done
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "cargo test (host)"
cargo test --workspace

if ((host_only == 0)); then
    step "tests on the ARM builds under qemu-user"
    scripts/test-arm.sh

    step "cross: build and test for aarch64 in a local podman image"
    # As root, with your toolchain (sudo would reset PATH and HOME).
    $SUDO env "PATH=$PATH" "RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}" \
        "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}" scripts/cross-test.sh
fi

step "no namespace or VM left behind"
left=$($SUDO ip netns list | grep -E '^(mt|l)[0-9a-f]+x' || true)
vms=$(ls /run/mcast-lab 2>/dev/null | grep -E '^l[0-9a-f]+x[0-9]+$' || true)
if [[ -n $left || -n $vms ]]; then
    echo "left behind by the tests: namespaces: ${left:-none}; labs with VMs: ${vms:-none}" >&2
    exit 1
fi
step "" # ends the timing of the last step
echo
echo "time per step:"
printf '%s\n' "${step_times[@]}"
printf '%5d s  in all\n' $(($(date +%s) - suite_started))
echo "all tests passed"
