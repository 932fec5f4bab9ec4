#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs what the tests
# need (Debian packages, rustup targets and components), then runs formatting
# and lint checks, the host tests, and the same tests on the ARM builds under
# qemu-user. MCAST_TEST_STRICT=1 turns every test that would skip (no root, no
# namespaces, a missing tool) into a failure, so a green run never hides a
# skipped test.
#
# Tests create network namespaces, so they run as root: as root directly
# (CI), or, for a normal user, the test binaries run through `sudo -E` while
# cargo builds as you. Nothing is ever sent on this machine's real
# interfaces: only on `lo` and on veth links inside namespaces the tests make.
#
# Options: --host-only (skip the ARM suites), -h/--help.
set -euo pipefail

cd "$(dirname "$0")/.."
host_only=0
for a in "$@"; do
    case $a in
        --host-only) host_only=1 ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
    esac
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
fi

step() { printf '\n==> %s\n' "$*"; }

# 1. Debian packages.
packages=(
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    qemu-user iproute2 nftables iperf socat tshark tcpdump
    iputils-ping util-linux bsdutils procps file binutils
    chromium fonts-dejavu-core
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    step "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    # tshark asks whether non-root users may capture: keep the default (no).
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Rust targets and components (rust-toolchain.toml lists them too).
step "rustup targets and components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf \
    aarch64-unknown-linux-musl aarch64-linux-android armv7-linux-androideabi

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
fi

step "no namespace left behind"
left=$($SUDO ip netns list | grep -E '^(mt|l)[0-9a-f]+x' || true)
if [[ -n $left ]]; then
    echo "namespaces left behind by the tests:" >&2
    echo "$left" >&2
    exit 1
fi
echo "all tests passed"
