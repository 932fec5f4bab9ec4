#!/usr/bin/env bash
# Run mcast's tests on the ARM builds, under qemu-user.
set -euo pipefail

ALL_TARGETS=(
    aarch64-unknown-linux-gnu
    armv7-unknown-linux-gnueabihf
    aarch64-unknown-linux-musl
)
# Test files that check scripts, builds and the VMs (which run their own
# mcast) rather than drive MCAST_BIN.
NOT_BINARY_SUITES=(adb_run board_run board_vm build_targets lab_script)

usage() {
    cat <<EOF
Usage: scripts/test-arm.sh [OPTIONS] [TARGET...]

For each TARGET (default: all of them):
$(printf '  %s\n' "${ALL_TARGETS[@]}")
  1. unit tests: cargo test --target TARGET --workspace --lib --bins
     (the ARM test binaries run under qemu-user, the runner from
     .cargo/config.toml);
  2. integration suite: cargo build --target TARGET, then the host-built
     tests in tests/*.rs drive the ARM binary through the emulator:
       MCAST_BIN=target/TARGET/debug/mcast \\
       MCAST_RUNNER="/usr/bin/qemu-aarch64 -L /usr/aarch64-linux-gnu" \\
       cargo test --test NAME...
     (every tests/*.rs except ${NOT_BINARY_SUITES[*]}, which do not run mcast).
Then it prints a pass/fail summary per target and exits non-zero if any
step failed.

When an aarch64 build and the armv7 build both come out of this run, the
integration runs also get, for tests that use two architectures at once:
  MCAST_BIN_AARCH64, MCAST_RUNNER_AARCH64   (gnu build, else musl)
  MCAST_BIN_ARMV7,   MCAST_RUNNER_ARMV7

The integration tests create network namespaces: run as root (or they are
skipped; MCAST_TEST_STRICT=1 turns skips into failures).

Options:
  --release           test release builds (default: debug)
  --unit-only         only step 1
  --integration-only  only step 2
  -h, --help          show this help

Needs: rustup target add TARGET; apt-get install qemu-user
gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf. A target whose toolchain is
missing is reported as skipped (a failure under MCAST_TEST_STRICT=1).
EOF
}

usage_error() { echo "test-arm: $*" >&2; echo "Try 'scripts/test-arm.sh --help'." >&2; exit 2; }
note() { printf '\ntest-arm: %s\n' "$*" >&2; }

profile=debug
do_unit=1
do_integration=1
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --release) profile=release; shift ;;
        --unit-only) do_integration=0; shift ;;
        --integration-only) do_unit=0; shift ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            known=0
            for t in "${ALL_TARGETS[@]}"; do [[ "$t" == "$1" ]] && known=1; done
            [[ $known -eq 1 ]] || usage_error "unknown target '$1' (known: ${ALL_TARGETS[*]})"
            targets+=("$1"); shift ;;
    esac
done
[[ $do_unit -eq 1 || $do_integration -eq 1 ]] || usage_error "--unit-only and --integration-only exclude each other"
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
cd "$repo_root"
cargo=${CARGO:-cargo}
strict=0
case "${MCAST_TEST_STRICT:-}" in 1|true|yes) strict=1 ;; esac
target_dir=$("$cargo" metadata --no-deps --format-version 1 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n "$target_dir" ]] || target_dir=$repo_root/target
release_flag=()
[[ "$profile" == release ]] && release_flag=(--release)

# --- Per-target facts ---------------------------------------------------------
qemu_for() {
    case "$1" in
        aarch64-*) echo qemu-aarch64 ;;
        armv7-*) echo qemu-arm ;;
    esac
}
sysroot_for() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo /usr/aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo /usr/arm-linux-gnueabihf ;;
        *) echo "" ;;  # static musl: no loader, no libraries
    esac
}
linker_for() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu-gcc ;;
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf-gcc ;;
        aarch64-unknown-linux-musl) echo rust-lld ;;
    esac
}
have_std() {
    local libdir
    libdir=$(rustc --print target-libdir --target "$1" 2>/dev/null) || return 1
    compgen -G "$libdir/libstd-*.rlib" >/dev/null
}
# The runner as one string, with the emulator's full path (the integration
# tests exec it through `ip netns exec`, whose PATH may differ).
runner_for() {
    local qemu sysroot
    qemu=$(command -v "$(qemu_for "$1")")
    sysroot=$(sysroot_for "$1")
    if [[ -n "$sysroot" ]]; then echo "$qemu -L $sysroot"; else echo "$qemu"; fi
}
# Why TARGET cannot be tested here ("" if it can).
missing_for() {
    local t=$1 linker sysroot
    have_std "$t" || { echo "Rust std for $t not installed (rustup target add $t)"; return; }
    command -v "$(qemu_for "$t")" >/dev/null 2>&1 ||
        { echo "$(qemu_for "$t") not found (apt-get install qemu-user)"; return; }
    linker=$(linker_for "$t")
    if [[ "$linker" != rust-lld ]] && ! command -v "$linker" >/dev/null 2>&1; then
        echo "$linker not found (apt-get install gcc-${linker%-gcc})"; return
    fi
    sysroot=$(sysroot_for "$t")
    if [[ -n "$sysroot" && ! -d "$sysroot/lib" ]]; then
        echo "no target libraries in $sysroot (apt-get install gcc-${linker%-gcc})"; return
    fi
    echo ""
}
env_name() { tr 'a-z-' 'A-Z_' <<<"$1"; }

# The integration test files to run against the ARM binary.
suites=()
for f in tests/*.rs; do
    [[ -e "$f" ]] || continue
    name=$(basename "$f" .rs)
    skip=0
    for n in "${NOT_BINARY_SUITES[@]}"; do [[ "$n" == "$name" ]] && skip=1; done
    [[ $skip -eq 1 ]] || suites+=("$name")
done

# --- Step 1: unit tests and builds ----------------------------------------------
declare -A unit_result build_result integ_result bin_of runner_of
for t in "${targets[@]}"; do
    unit_result[$t]="-"; build_result[$t]="-"; integ_result[$t]="-"
    why=$(missing_for "$t")
    if [[ -n "$why" ]]; then
        note "$t: SKIPPED: $why"
        unit_result[$t]="skipped ($why)"
        continue
    fi
    runner=$(runner_for "$t")
    runner_of[$t]=$runner
    # Set the runner explicitly (full path), whatever the config says.
    runner_var=CARGO_TARGET_$(env_name "$t")_RUNNER
    if [[ $do_unit -eq 1 ]]; then
        note "$t: unit tests: cargo test --target $t --workspace --lib --bins (runner: $runner)"
        if env "$runner_var=$runner" "$cargo" test --target "$t" --workspace --lib --bins "${release_flag[@]+"${release_flag[@]}"}"; then
            unit_result[$t]=pass
        else
            unit_result[$t]=FAIL
        fi
    fi
    if [[ $do_integration -eq 1 ]]; then
        note "$t: cargo build --target $t ${release_flag[*]+"${release_flag[*]}"}"
        if "$cargo" build --target "$t" --bin mcast "${release_flag[@]+"${release_flag[@]}"}"; then
            build_result[$t]=pass
            bin_of[$t]=$target_dir/$t/$profile/mcast
        else
            build_result[$t]=FAIL
        fi
    fi
done

# --- Step 2: the integration suite against each ARM binary ------------------------
if [[ $do_integration -eq 1 ]]; then
    # Two architectures for cross-architecture tests.
    a64=""
    for t in aarch64-unknown-linux-gnu aarch64-unknown-linux-musl; do
        if [[ -n "${bin_of[$t]:-}" ]]; then a64=$t; break; fi
    done
    a32=""
    [[ -n "${bin_of[armv7-unknown-linux-gnueabihf]:-}" ]] && a32=armv7-unknown-linux-gnueabihf
    if [[ -n "$a64" && -n "$a32" ]]; then
        export MCAST_BIN_AARCH64=${bin_of[$a64]} MCAST_RUNNER_AARCH64=${runner_of[$a64]}
        export MCAST_BIN_ARMV7=${bin_of[$a32]} MCAST_RUNNER_ARMV7=${runner_of[$a32]}
        note "cross-architecture: MCAST_BIN_AARCH64=$MCAST_BIN_AARCH64 MCAST_RUNNER_AARCH64='$MCAST_RUNNER_AARCH64' MCAST_BIN_ARMV7=$MCAST_BIN_ARMV7 MCAST_RUNNER_ARMV7='$MCAST_RUNNER_ARMV7'"
    fi

    test_args=()
    for s in "${suites[@]+"${suites[@]}"}"; do test_args+=(--test "$s"); done
    for t in "${targets[@]}"; do
        [[ -n "${bin_of[$t]:-}" ]] || continue
        if [[ ${#test_args[@]} -eq 0 ]]; then
            integ_result[$t]="none (no tests/*.rs drive MCAST_BIN)"
            continue
        fi
        note "$t: integration suite (${suites[*]}): MCAST_BIN=${bin_of[$t]} MCAST_RUNNER='${runner_of[$t]}' cargo test ${test_args[*]}"
        if MCAST_BIN=${bin_of[$t]} MCAST_RUNNER=${runner_of[$t]} "$cargo" test "${test_args[@]}"; then
            integ_result[$t]=pass
        else
            integ_result[$t]=FAIL
        fi
    done
fi

# --- Summary ----------------------------------------------------------------------
failed=0
passed_targets=0
failed_targets=0
skipped_targets=0
lines=()
for t in "${targets[@]}"; do
    u=${unit_result[$t]}; b=${build_result[$t]}; i=${integ_result[$t]}
    if [[ "$u" == skipped* ]]; then
        skipped_targets=$((skipped_targets + 1))
        result=SKIPPED
        if [[ $strict -eq 1 ]]; then result="FAIL (MCAST_TEST_STRICT=1 forbids skipping)"; failed=1; fi
    elif [[ "$u" == FAIL || "$b" == FAIL || "$i" == FAIL ]]; then
        result=FAIL; failed=1; failed_targets=$((failed_targets + 1))
    else
        result=PASS; passed_targets=$((passed_targets + 1))
    fi
    lines+=("$(printf '%s\t%s\t%s\t%s\t%s' "$t" "$u" "$b" "$i" "$result")")
done
echo
echo "ARM test summary ($profile builds, under qemu-user):"
printf 'TARGET\tUNIT (lib, platform)\tBUILD\tINTEGRATION\tRESULT\n%s\n' "$(printf '%s\n' "${lines[@]}")" |
    column -t -s $'\t'
echo "targets: $passed_targets passed, $failed_targets failed, $skipped_targets skipped"
exit "$failed"
