#!/usr/bin/env bash
# cross for real, without cross's own images: builds a local image of the
# aarch64 toolchain from Debian packages and runs `cross build` and `cross
# test` in it with podman. Run `scripts/cross-test.sh --help` for details.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/cross-test.sh [--keep-going] [TEST...]

Runs cross (https://github.com/cross-rs/cross) for aarch64-unknown-linux-gnu
with podman as its engine and an image made here, since cross's own images
(ghcr.io) cannot be pulled on this machine:

  1. cross 0.2.5: cargo install --locked --root target/cross cross@0.2.5
     (once; about a minute);
  2. the image localhost/mcast-cross/aarch64-unknown-linux-gnu:debian12-HASH:
     debootstrap --variant=minbase bookworm with gcc, libc6-dev,
     gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user, then
     `podman import` with the environment cross's images set
     (CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER and _RUNNER, CC_...,
     QEMU_LD_PREFIX). Made once; HASH changes when this recipe does;
  3. cross build --release --target aarch64-unknown-linux-gnu, and a check
     that the result is an aarch64 ELF;
  4. cross test --target aarch64-unknown-linux-gnu --test TEST for each TEST
     (default: parsers_property, which needs no namespaces or root): built
     in the container, run there under qemu-user.

How cross is told (cross 0.2.5 reads these):
  CROSS_CONTAINER_ENGINE=podman
  CROSS_TARGET_AARCH64_UNKNOWN_LINUX_GNU_IMAGE=<the image above> (cross's
    per-target image variable; it wins over Cross.toml's image)
  CROSS_CONTAINER_OPTS="--runtime runc --ulimit nofile=20000:20000
    --ulimit nproc=32768:32768 --network none": podman runs containers on
    this machine only with runc (crun fails on its hybrid cgroups and on
    setrlimit) and these limits; cross adds the options to its `podman run`.
    No network: the build is offline (cargo's registry is cross's mount of
    CARGO_HOME).
  CONTAINERS_STORAGE_CONF: podman keeps this image and its containers under
    target/cross/storage, not in /var/lib/containers.
  CARGO_TARGET_DIR=target/cross/target, so cross's build (paths /project,
    /target inside the container) does not invalidate the native one.
  PATH: first a rustup wrapper that gives cross 0.2.5 `rustup toolchain
    list --quiet` (cross 0.2.5 misreads rustup 1.28's "(active, default)"
    and tries to install the toolchain: cross-rs/cross#1678).

Options:
  --keep-going  run every step even if one fails
  -h, --help    this text
Needs root (podman, debootstrap); scripts/test.sh installs podman, runc and
debootstrap. Exit status: 0 all passed, 1 a step failed, 2 usage error.
EOF
}

note() { printf '\ncross-test: %s\n' "$*" >&2; }
die() { echo "cross-test: error: $*" >&2; exit 1; }

keep_going=0
tests=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --keep-going) keep_going=1; shift ;;
        -*) echo "cross-test: unknown option '$1' (try --help)" >&2; exit 2 ;;
        *) tests+=("$1"); shift ;;
    esac
done
((${#tests[@]})) || tests=(parsers_property)

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
[[ $EUID -eq 0 ]] || die "needs root (podman and debootstrap); try: sudo scripts/cross-test.sh"
for c in podman runc debootstrap cargo; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed (scripts/test.sh installs it)"
done

target=aarch64-unknown-linux-gnu
dir=$repo_root/target/cross
mkdir -p "$dir"
started=$(date +%s)

# --- 1. cross -----------------------------------------------------------------
# cross 0.2.5 reads `rustup toolchain list` and does not know the
# "(active, default)" suffix of rustup 1.28 and later, so it tries to
# install the toolchain it runs with, even for --version (and would update
# it from the network where it can): cross-rs/cross#1678, fixed after 0.2.5
# with --quiet. A rustup first on PATH, for cross alone, adds --quiet.
real_rustup=$(command -v rustup) || die "rustup not found"
mkdir -p "$dir/shim"
cat >"$dir/shim/rustup" <<EOF
#!/bin/sh
if [ "\$1" = toolchain ] && [ "\$2" = list ]; then
    shift 2
    exec $real_rustup toolchain list --quiet "\$@"
fi
exec $real_rustup "\$@"
EOF
chmod 755 "$dir/shim/rustup"
export PATH=$dir/shim:$PATH
cross=$dir/bin/cross
if [[ ! -x $cross ]] || ! "$cross" --version 2>/dev/null | grep -q '^cross 0.2.5'; then
    note "cargo install --locked --root $dir cross@0.2.5"
    t=$(date +%s)
    cargo install --quiet --locked --root "$dir" cross@0.2.5
    note "cross installed in $(($(date +%s) - t)) s"
fi

# --- 2. the image ----------------------------------------------------------------
storage=$dir/storage
cat >"$dir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$storage/graph"
runroot = "$storage/run"
EOF
export CONTAINERS_STORAGE_CONF=$dir/storage.conf
podman=(podman --runtime runc)

packages=gcc,libc6-dev,gcc-aarch64-linux-gnu,libc6-dev-arm64-cross,qemu-user
# What cross's aarch64 image sets (docker/Dockerfile.aarch64-unknown-linux-gnu
# in cross-rs), with Debian's qemu-user as the runner.
image_env=(
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc"
    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64"
    "CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc"
    "QEMU_LD_PREFIX=/usr/aarch64-linux-gnu"
    "RUST_TEST_THREADS=1"
)
hash=$(printf '%s\n' "$packages" "${image_env[@]}" | sha256sum | cut -c1-12)
image=localhost/mcast-cross/$target:debian12-$hash
if "${podman[@]}" image exists "$image"; then
    note "image $image is there"
else
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
    rootfs=$dir/rootfs
    rm -rf "$rootfs"
    mkdir -p "$dir/debs"
    note "debootstrap --variant=minbase --include=$packages bookworm $rootfs $mirror"
    t=$(date +%s)
    debootstrap --variant=minbase --include="$packages" --cache-dir="$dir/debs" \
        bookworm "$rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
        { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    changes=()
    for e in "${image_env[@]}"; do changes+=(--change "ENV $e"); done
    tar -C "$rootfs" -c . | "${podman[@]}" import "${changes[@]}" - "$image" >/dev/null
    rm -rf "$rootfs"
    note "image $image made in $(($(date +%s) - t)) s"
fi

# --- 3. and 4. cross build, cross test -------------------------------------------
export CROSS_CONTAINER_ENGINE=podman
export CROSS_TARGET_AARCH64_UNKNOWN_LINUX_GNU_IMAGE=$image
export CROSS_CONTAINER_OPTS="--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --network none"
export CARGO_TARGET_DIR=$dir/target
failed=()
step() { # NAME COMMAND...
    local name=$1 t
    shift
    note "$name: $*"
    t=$(date +%s)
    if "$@"; then
        note "$name: ok ($(($(date +%s) - t)) s)"
    else
        note "$name: FAILED"
        failed+=("$name")
        ((keep_going)) || die "$name failed"
    fi
}
check_elf() {
    local what
    what=$(file "$CARGO_TARGET_DIR/$target/release/mcast")
    echo "$what" >&2
    grep -q 'ELF 64-bit LSB .*ARM aarch64' <<<"$what"
}
step "cross build" "$cross" build --release --target "$target" --bin mcast
step "aarch64 ELF" check_elf
for t in "${tests[@]}"; do
    step "cross test $t" "$cross" test --target "$target" --test "$t"
done

if ((${#failed[@]})); then
    note "failed: ${failed[*]}"
    exit 1
fi
note "cross: all passed in $(($(date +%s) - started)) s"
