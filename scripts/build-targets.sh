#!/usr/bin/env bash
# Release builds of mcast for every ARM target that can link here, a table of
# what came out, and release tarballs with checksums.
set -euo pipefail

ALL_TARGETS=(
    aarch64-unknown-linux-gnu
    armv7-unknown-linux-gnueabihf
    aarch64-unknown-linux-musl
    aarch64-linux-android
    armv7-linux-androideabi
)

usage() {
    cat <<EOF
Usage: scripts/build-targets.sh [OPTIONS] [TARGET...]

Builds mcast in release mode for each TARGET (default: all of them):
$(printf '  %s\n' "${ALL_TARGETS[@]}")
then prints a table (target, file size, static or dynamic, the oldest glibc
or Android API level the binary needs) and writes release artifacts:
  DIST/mcast-VERSION-TARGET.tar.gz   the binary, README.md, CHANGELOG.md,
                                     LICENSE-MIT, LICENSE-APACHE, the man
                                     pages in man/ (mcast.1, mcast-SUB.1)
                                     and the shell completions in complete/
                                     (mcast.bash, _mcast, mcast.fish)
  DIST/SHA256SUMS                    sha256sum of those tarballs
The man pages and completions come from `cargo xtask dist --no-tarballs`
(generated from the binary's clap definition); `cargo xtask dist` runs this
script with --dist-dir and --docs target/dist.

Linux targets link with Debian's cross gcc (gnu) or rust-lld (static musl),
as set in .cargo/config.toml. Android targets need the NDK: when
ANDROID_NDK_HOME (or ANDROID_NDK_ROOT) is set they are built with
\$ANDROID_NDK_HOME/toolchains/llvm/prebuilt/linux-x86_64/bin/<triple>\$API-clang;
without an NDK they are checked instead (cargo clippy --all-targets
-D warnings and cargo doc, which need no linker) and not packaged.

Options:
  --dist-dir DIR   where artifacts go (default: <repo>/dist)
  --no-dist        build and report only; write no tarballs
  --docs DIR       take the man pages and completions from DIR (as written
                   by `cargo xtask dist --no-tarballs --out DIR`) instead
                   of generating them
  --skip-android   leave the Android targets out
  --strict         a target skipped for a missing toolchain is a failure
  -h, --help       show this help

Environment:
  ANDROID_NDK_HOME   the Android NDK (r25 or later)
  MCAST_ANDROID_API  Android API level for NDK builds (default 24: bionic
                     has getifaddrs from 24)
  SOURCE_DATE_EPOCH  timestamp for files inside the tarballs (default: the
                     last commit's time), for reproducible archives

Exit status: 0 when every requested target was built or checked (or
skipped for a missing toolchain, without --strict); 1 otherwise; 2 for
usage errors.
EOF
}

usage_error() { echo "build-targets: $*" >&2; echo "Try 'scripts/build-targets.sh --help'." >&2; exit 2; }
note() { echo "build-targets: $*" >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
dist_dir=$repo_root/dist
docs_dir=
make_dist=1
skip_android=0
strict=0
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --dist-dir)
            [[ $# -ge 2 && -n "$2" ]] || usage_error "--dist-dir needs a directory"
            dist_dir=$2; shift 2 ;;
        --dist-dir=*) dist_dir=${1#--dist-dir=}; shift ;;
        --docs)
            [[ $# -ge 2 && -n "$2" ]] || usage_error "--docs needs a directory"
            docs_dir=$2; shift 2 ;;
        --docs=*) docs_dir=${1#--docs=}; shift ;;
        --no-dist) make_dist=0; shift ;;
        --skip-android) skip_android=1; shift ;;
        --strict) strict=1; shift ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            known=0
            for t in "${ALL_TARGETS[@]}"; do [[ "$t" == "$1" ]] && known=1; done
            [[ $known -eq 1 ]] || usage_error "unknown target '$1' (known: ${ALL_TARGETS[*]})"
            targets+=("$1"); shift ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

cd "$repo_root"
cargo=${CARGO:-cargo}
api=${MCAST_ANDROID_API:-24}
ndk=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
target_dir=$("$cargo" metadata --no-deps --format-version 1 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n "$target_dir" ]] || target_dir=$repo_root/target
version=$("$cargo" pkgid -p mcast 2>/dev/null | sed 's/.*[#@]//')
[[ -n "$version" ]] || version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)
host=$(rustc -vV | sed -n 's/^host: //p')
sysroot=$(rustc --print sysroot)

# --- Helpers ---------------------------------------------------------------
# Is the Rust standard library for $1 installed (rustup target add $1)?
have_std() {
    local libdir
    libdir=$(rustc --print target-libdir --target "$1" 2>/dev/null) || return 1
    compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

# The linker a Linux target uses here (see .cargo/config.toml).
linux_linker() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu-gcc ;;
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf-gcc ;;
        aarch64-unknown-linux-musl) echo "$sysroot/lib/rustlib/$host/bin/rust-lld" ;;
    esac
}

ndk_clang() {
    local bin=$ndk/toolchains/llvm/prebuilt/linux-x86_64/bin
    case "$1" in
        aarch64-linux-android) echo "$bin/aarch64-linux-android$api-clang" ;;
        armv7-linux-androideabi) echo "$bin/armv7a-linux-androideabi$api-clang" ;;
    esac
}

# "static" or "dynamic", from the program headers: a dynamically linked
# executable has PT_INTERP (the loader) and PT_DYNAMIC.
linkage() {
    local ph
    ph=$(readelf -lW "$1")
    if grep -qE '^[[:space:]]*(INTERP|DYNAMIC)[[:space:]]' <<<"$ph"; then
        if grep -qE '^[[:space:]]*INTERP[[:space:]]' <<<"$ph"; then echo dynamic; else echo static-pie; fi
    else
        echo static
    fi
}

# The newest GLIBC_x.y symbol version the binary needs, i.e. the oldest glibc
# it runs on ("" if it needs no glibc).
min_glibc() {
    { readelf -VW "$1" 2>/dev/null || true; } | { grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' || true; } |
        sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n1
}

# The API level recorded by the NDK in .note.android.ident ("" if none).
android_api() {
    local hex
    hex=$(readelf -x .note.android.ident "$1" 2>/dev/null |
        awk '/^ +0x/ { for (i = 2; i <= 5 && i <= NF; i++) if ($i ~ /^[0-9a-f]+$/) printf "%s", $i }') || true
    # The note is namesz(4) descsz(4) type(4) "Android\0"(8), then the
    # descriptor, whose first little-endian word is the API level: byte 20.
    [[ ${#hex} -ge 48 ]] || return 0
    local w=${hex:40:8}
    echo $((16#${w:6:2}${w:4:2}${w:2:2}${w:0:2}))
}

machine() { readelf -hW "$1" | sed -n 's/^ *Machine: *//p'; }

human_size() {
    awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.2f MiB", b / 1048576; else printf "%.0f KiB", b / 1024 }'
}

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo_root" log -1 --format=%ct 2>/dev/null || true)}
[[ -n "$epoch" ]] || epoch=$(date +%s)

# The man pages and completions, once, before any tarball needs them.
docs() {
    [[ -z "$docs_dir" ]] || return 0
    docs_dir=$(mktemp -d)
    trap 'rm -rf "$docs_dir"' EXIT
    note "man pages and completions: cargo xtask dist --no-tarballs"
    "$cargo" run -q --package xtask -- dist --no-tarballs --out "$docs_dir" >/dev/null
}

# The one place that decides what a release tarball holds.
package() {
    local t=$1 bin=$2 name stage f
    docs
    name=mcast-$version-$t
    stage=$(mktemp -d)
    mkdir -p "$stage/$name/man" "$stage/$name/complete"
    cp "$bin" "$stage/$name/mcast"
    chmod 755 "$stage/$name/mcast"
    for f in README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE; do
        cp "$repo_root/$f" "$stage/$name/$f"
    done
    cp "$docs_dir"/mcast.1 "$docs_dir"/mcast-*.1 "$stage/$name/man/"
    for f in mcast.bash _mcast mcast.fish; do
        cp "$docs_dir/$f" "$stage/$name/complete/$f"
    done
    chmod 644 "$stage/$name"/*.md "$stage/$name"/LICENSE-* "$stage/$name"/man/* "$stage/$name"/complete/*
    mkdir -p "$dist_dir"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
        -C "$stage" -cf - "$name" | gzip -n -9 >"$dist_dir/$name.tar.gz"
    rm -rf "$stage"
    packaged+=("$name.tar.gz")
}

# --- Build ------------------------------------------------------------------
rows=()
packaged=()
failed=0
row() { rows+=("$(printf '%s\t%s\t%s\t%s\t%s' "$@")"); }

for t in "${targets[@]}"; do
    case "$t" in
        *-android*)
            if [[ $skip_android -eq 1 ]]; then
                row "$t" "-" "-" "-" "skipped (--skip-android)"; continue
            fi
            if ! have_std "$t"; then
                note "$t: Rust standard library not installed (rustup target add $t)"
                row "$t" "-" "-" "-" "skipped: rustup target add $t"
                if [[ $strict -eq 1 ]]; then failed=1; fi
                continue
            fi
            clang=""
            [[ -n "$ndk" ]] && clang=$(ndk_clang "$t")
            if [[ -n "$clang" && -x "$clang" ]]; then
                note "$t: building with the NDK ($clang)"
                up=$(tr 'a-z-' 'A-Z_' <<<"$t")
                low=${t//-/_}
                llvm_bin=$(dirname "$clang")
                if env "CARGO_TARGET_${up}_LINKER=$clang" "CC_${low}=$clang" "AR_${low}=$llvm_bin/llvm-ar" \
                    "$cargo" build --release --target "$t"; then
                    bin=$target_dir/$t/release/mcast
                    size=$(stat -c %s "$bin")
                    lv=$(android_api "$bin")
                    row "$t" "$size ($(human_size "$size"))" "$(linkage "$bin")" "Android API ${lv:-$api}+" "built ($(machine "$bin"))"
                    if [[ $make_dist -eq 1 ]]; then package "$t" "$bin"; fi
                else
                    row "$t" "-" "-" "-" "FAILED: cargo build"; failed=1
                fi
            else
                if [[ -n "$ndk" ]]; then
                    note "$t: ANDROID_NDK_HOME=$ndk has no $clang; checking only"
                else
                    note "$t: no ANDROID_NDK_HOME: checking (clippy, doc) without linking"
                fi
                status="checked: clippy -D warnings, doc (not linked: no NDK)"
                if ! "$cargo" clippy --target "$t" --workspace --all-targets -- -D warnings; then
                    status="FAILED: cargo clippy"; failed=1
                elif ! RUSTDOCFLAGS="-D warnings" "$cargo" doc --target "$t" --workspace --no-deps; then
                    status="FAILED: cargo doc"; failed=1
                fi
                row "$t" "-" "-" "-" "$status"
            fi
            ;;
        *)
            if ! have_std "$t"; then
                note "$t: Rust standard library not installed (rustup target add $t)"
                row "$t" "-" "-" "-" "skipped: rustup target add $t"
                if [[ $strict -eq 1 ]]; then failed=1; fi
                continue
            fi
            linker=$(linux_linker "$t")
            if ! command -v "$linker" >/dev/null 2>&1; then
                case "$t" in
                    *-gnu*) hint="apt-get install gcc-${linker%-gcc}" ;;
                    *) hint="rust-lld ships with rustc; reinstall the toolchain" ;;
                esac
                note "$t: linker $linker not found ($hint)"
                row "$t" "-" "-" "-" "skipped: no $(basename "$linker") ($hint)"
                if [[ $strict -eq 1 ]]; then failed=1; fi
                continue
            fi
            note "$t: cargo build --release --target $t"
            if "$cargo" build --release --target "$t"; then
                bin=$target_dir/$t/release/mcast
                size=$(stat -c %s "$bin")
                link=$(linkage "$bin")
                glibc=$(min_glibc "$bin")
                if [[ -n "$glibc" ]]; then needs="glibc >= $glibc"; else needs="no libc (static)"; fi
                row "$t" "$size ($(human_size "$size"))" "$link" "$needs" "built ($(machine "$bin"))"
                if [[ $make_dist -eq 1 ]]; then package "$t" "$bin"; fi
            else
                row "$t" "-" "-" "-" "FAILED: cargo build"; failed=1
            fi
            ;;
    esac
done

if [[ $make_dist -eq 1 && ${#packaged[@]} -gt 0 ]]; then
    (cd "$dist_dir" && sha256sum "${packaged[@]}" >SHA256SUMS)
fi

# --- Report ------------------------------------------------------------------
echo
echo "mcast $version release builds:"
{
    printf 'TARGET\tSIZE (bytes)\tLINKAGE\tNEEDS\tSTATUS\n'
    printf '%s\n' "${rows[@]}"
} | column -t -s $'\t' 2>/dev/null || {
    printf 'TARGET\tSIZE (bytes)\tLINKAGE\tNEEDS\tSTATUS\n'
    printf '%s\n' "${rows[@]}"
}
if [[ $make_dist -eq 1 && ${#packaged[@]} -gt 0 ]]; then
    echo
    echo "Artifacts in $dist_dir:"
    (cd "$dist_dir" && cat SHA256SUMS)
fi
exit "$failed"
