#!/usr/bin/env bash
# Builds the boot image of an ARM VM for the lab: a Debian kernel and an
# initramfs with busybox, dropbear, sftp-server, adbd (aarch64) and mcast.
# Run `scripts/vm/image.sh --help` for the details.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/vm/image.sh [--no-build] [--force] ARCH

Builds the boot image of the lab's ARM VM for ARCH (aarch64 or armv7) under
target/vm/ARCH/ and prints that directory:
  vmlinuz     the kernel of Debian 12's linux-image-cloud-arm64 (aarch64) or
              linux-image-armmp-lpae (armv7) package
  initrd.gz   the root file system (an initramfs, in RAM: nothing persists):
                busybox (busybox-static), the virtio network modules in the
                order their dependencies need, dropbear (sshd) with
                sftp-server (for scp), mcast in /usr/bin, and on aarch64
                adbd with stand-ins for Android's getprop and dumpsys;
                the libraries these programs need, found from their ELF
                headers
  ssh/        (in target/vm/) the key pair the lab logs in with as root

Everything comes from Debian packages of the guest's architecture
(arm64/armhf), fetched with `apt-get download` through a private apt
configuration (scripts/vm/apt.sh; nothing on this machine changes) into
target/vm/debs/, and unpacked with dpkg-deb -x. mcast is the release build
of aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf, built first
with cargo unless --no-build is given.

The image is rebuilt only when an input changed: a package version, a file
under scripts/vm/, this script, the mcast binary or the key. Otherwise the
run takes about a second and says "up to date".

Options:
  --no-build  do not run cargo; use the mcast binary already built (also
              with MCAST_VM_NO_BUILD=1, as the tests set it: a cargo build
              inside `cargo test` would wait for its lock)
  --force     rebuild even if nothing changed
  -h, --help  this text

Needs: apt-get, dpkg-deb, depmod and modprobe (kmod), cpio, gzip,
readelf (binutils), ssh-keygen (openssh-client); cargo unless --no-build.
Exit status: 0 done, 1 failure, 2 usage error.
EOF
}

die() { echo "vm-image: error: $*" >&2; exit 1; }
note() { echo "vm-image: $*" >&2; }

build=1
[[ ${MCAST_VM_NO_BUILD:-0} != 1 ]] || build=0
force=0
arch=""
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --no-build) build=0; shift ;;
        --force) force=1; shift ;;
        -*) echo "vm-image: unknown option '$1' (try --help)" >&2; exit 2 ;;
        *)
            [[ -z $arch ]] || { echo "vm-image: one ARCH only (try --help)" >&2; exit 2; }
            arch=$1; shift ;;
    esac
done
case $arch in
    aarch64)
        deb_arch=arm64 flavour=cloud-arm64 triplet=aarch64-linux-gnu
        rust_target=aarch64-unknown-linux-gnu with_adbd=1 ;;
    armv7)
        deb_arch=armhf flavour=armmp-lpae triplet=arm-linux-gnueabihf
        rust_target=armv7-unknown-linux-gnueabihf with_adbd=0 ;;
    "") echo "vm-image: missing ARCH: aarch64 or armv7 (try --help)" >&2; exit 2 ;;
    *) echo "vm-image: unknown ARCH '$arch': aarch64 or armv7" >&2; exit 2 ;;
esac

vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$vm_dir/../.." && pwd)
target_dir=${MCAST_TARGET_DIR:-$repo_root/target}
out=$target_dir/vm/$arch
debs=$target_dir/vm/debs/$deb_arch
key=$target_dir/vm/ssh/id_ed25519
apt=("$vm_dir/apt.sh" "$deb_arch")
for c in apt-get dpkg-deb depmod modprobe cpio gzip readelf ssh-keygen sha256sum flock; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed (scripts/test.sh installs what is needed)"
done
mkdir -p "$out" "$debs" "${key%/*}"

# One build per architecture at a time (tests may start labs in parallel).
exec 9>"$out/.lock"
flock 9

started=$(date +%s.%N)

# --- Inputs ----------------------------------------------------------------
if ((build)); then
    cargo=${CARGO:-cargo}
    if command -v "$cargo" >/dev/null 2>&1; then
        note "cargo build --release --target $rust_target --bin mcast"
        (cd "$repo_root" && "$cargo" build --quiet --release --target "$rust_target" --bin mcast) ||
            die "cargo build --release --target $rust_target failed"
    else
        note "cargo not found: using the mcast already built for $rust_target"
    fi
fi
mcast_bin=$target_dir/$rust_target/release/mcast
[[ -f $mcast_bin ]] || die "no $mcast_bin: build it with: cargo build --release --target $rust_target"
if ((!build)) && [[ -n $(cd "$repo_root" && find src platform Cargo.toml Cargo.lock -newer "$mcast_bin" -print -quit 2>/dev/null) ]]; then
    note "warning: $mcast_bin is older than the sources; the VM gets it as it is (build it with: cargo build --release --target $rust_target)"
fi

[[ -f $key ]] || ssh-keygen -q -t ed25519 -N '' -C mcast-lab -f "$key"

# The packages: the kernel, the programs, and the library packages they
# depend on (only libraries: the programs' other dependencies, such as
# openssh-client for sftp-server, are not needed to run them). The ELF check
# below makes sure nothing is missing.
resolve_packages() {
    local kernel top want next p
    kernel=$("${apt[@]}" apt-cache depends "linux-image-$flavour" |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [[ -n $kernel ]] || die "cannot find the kernel package behind linux-image-$flavour"
    top=("$kernel" busybox-static dropbear-bin openssh-sftp-server libc6 libgcc-s1)
    ((with_adbd)) && top+=(adbd)
    declare -A seen=()
    want=("${top[@]}")
    while ((${#want[@]})); do
        for p in "${want[@]}"; do seen[$p]=1; done
        next=()
        while read -r p; do
            [[ -n ${seen[$p]:-} ]] || next+=("$p")
        done < <("${apt[@]}" apt-cache depends --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances "${want[@]}" |
            awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ && $2 ~ /^(lib|android-lib|zlib1g|gcc-[0-9]+-base)/ { print $2 }' |
            sort -u)
        want=("${next[@]+"${next[@]}"}")
    done
    printf '%s\n' "${!seen[@]}" | sort
}

# The package list is resolved again only when apt's lists were refreshed
# (or this script changed).
pkg_list=$out/packages
lists_stamp=$target_dir/apt/$deb_arch/lists/.updated
"${apt[@]}" true
if ((force)) || [[ ! -s $pkg_list || $lists_stamp -nt $pkg_list || $0 -nt $pkg_list ]]; then
    resolve_packages >"$pkg_list.new"
    "${apt[@]}" apt-cache show --no-all-versions $(cat "$pkg_list.new") |
        awk '/^Package:/ { p = $2 } /^Version:/ { v = $2 } /^Architecture:/ { a = $2 }
             /^$/ && p != "" { gsub(/:/, "%3a", v); print p "_" v "_" a ".deb"; p = "" }' |
        sort >"$out/debs.new"
    mv "$pkg_list.new" "$pkg_list"
    mv "$out/debs.new" "$out/debs"
fi

inputs=$(
    {
        sha256sum "$0" "$vm_dir"/init "$vm_dir"/getprop "$vm_dir"/dumpsys "$mcast_bin" "$key.pub" |
            sed "s|$repo_root/||; s|$target_dir/||"
        cat "$out/debs"
    } | sha256sum | cut -d' ' -f1
)
if ((!force)) && [[ -f $out/vmlinuz && -f $out/initrd.gz && $(cat "$out/inputs" 2>/dev/null) == "$inputs" ]]; then
    note "$arch image up to date ($out)"
    echo "$out"
    exit 0
fi

# --- Download ------------------------------------------------------------------
missing=()
while read -r f; do
    [[ -f $debs/$f ]] || missing+=("$f")
done <"$out/debs"
if ((${#missing[@]})); then
    note "downloading ${#missing[@]} $deb_arch packages into $debs"
    # apt-get download names the files PACKAGE_VERSION_ARCH.deb (":" as %3a).
    (cd "$debs" && "${apt[@]}" apt-get download -q $(printf '%s\n' "${missing[@]}" | sed 's/_.*//')) >&2 ||
        die "apt-get download failed"
fi

# --- Unpack ----------------------------------------------------------------
work=$out/work
rm -rf "$work"
mkdir -p "$work/pkgs" "$work/root"
while read -r f; do
    dpkg-deb -x "$debs/$f" "$work/pkgs"
done <"$out/debs"
pk=$work/pkgs
root=$work/root

kver=$(basename "$(ls -d "$pk"/lib/modules/*/ | head -n 1)")
[[ -n $kver && -f $pk/boot/vmlinuz-$kver ]] || die "no kernel found in the packages"

# --- Root file system --------------------------------------------------------
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,usr/lib,etc/dropbear,root/.ssh,proc,sys,dev,tmp,run,var/log,data/local/tmp,system/bin}
chmod 700 "$root/root" "$root/root/.ssh"
chmod 1777 "$root/tmp"
cp "$pk/bin/busybox" "$root/bin/busybox"
cp "$vm_dir/init" "$root/init"
cp "$mcast_bin" "$root/usr/bin/mcast"
cp "$pk/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
mkdir -p "$root/usr/lib/openssh"
cp "$pk/usr/lib/openssh/sftp-server" "$root/usr/lib/openssh/sftp-server"
# Where Debian's dropbear looks for it.
ln -s openssh/sftp-server "$root/usr/lib/sftp-server"
if ((with_adbd)); then
    mkdir -p "$root/usr/lib/android-sdk/platform-tools"
    cp "$pk/usr/lib/android-sdk/platform-tools/adbd" "$root/usr/lib/android-sdk/platform-tools/adbd"
    ln -s ../lib/android-sdk/platform-tools/adbd "$root/usr/sbin/adbd"
    # Android's property and service tools do not exist on Linux: stand-ins
    # that answer in Android's formats (see the scripts).
    cp "$vm_dir/getprop" "$vm_dir/dumpsys" "$root/system/bin/"
    ln -s ../../system/bin/getprop "$root/usr/bin/getprop"
    ln -s ../../system/bin/dumpsys "$root/usr/bin/dumpsys"
fi
ln -s ../../bin/busybox "$root/system/bin/sh"
cp "$key.pub" "$root/root/.ssh/authorized_keys"
chmod 600 "$root/root/.ssh/authorized_keys"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
shell:x:2000:2000:shell:/data/local/tmp:/bin/sh
EOF
echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
printf 'root:x:0:\nshell:x:2000:\n' >"$root/etc/group"
echo /bin/sh >"$root/etc/shells"
echo "$arch" >"$root/etc/mcast-vm-arch"

# Libraries: follow DT_NEEDED from every program, looking where the
# dynamic loader would (the RUNPATH, then the multiarch and plain lib
# directories), and copy each library with the name it is asked by.
lib_dirs=("/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib)
copy_lib() { # NAME RUNPATH
    local name=$1 d src
    for d in ${2//:/ } "${lib_dirs[@]}"; do
        src=$pk$d/$name
        if [[ -e $src ]]; then
            mkdir -p "$root$d"
            [[ -e $root$d/$name ]] || cp -L "$src" "$root$d/$name"
            echo "$root$d/$name"
            return 0
        fi
    done
    return 1
}
queue=("$root/bin/busybox" "$root/usr/bin/mcast" "$root/usr/sbin/dropbear" "$root/usr/lib/openssh/sftp-server")
((with_adbd)) && queue+=("$root/usr/lib/android-sdk/platform-tools/adbd")
declare -A done_elf=()
unresolved=()
while ((${#queue[@]})); do
    elf=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -z ${done_elf[$elf]:-} ]] || continue
    done_elf[$elf]=1
    interp=$(readelf -l "$elf" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    if [[ -n $interp ]]; then
        mkdir -p "$root${interp%/*}"
        [[ -e $root$interp ]] || cp -L "$pk$interp" "$root$interp" || die "no program interpreter $interp"
    fi
    dyn=$(readelf -d "$elf" 2>/dev/null || true)
    runpath=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p' <<<"$dyn")
    while read -r lib; do
        [[ -n $lib ]] || continue
        if found=$(copy_lib "$lib" "$runpath"); then
            queue+=("$found")
        else
            unresolved+=("$lib (needed by ${elf#"$root"})")
        fi
    done < <(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dyn")
done
((${#unresolved[@]} == 0)) || die "libraries not found in the packages: ${unresolved[*]}"

# Kernel modules: virtio-mmio and virtio-net with their dependencies, in
# load order (the package has no modules.dep: depmod makes one here).
depmod -b "$pk" "$kver"
: >"$root/etc/modules"
while read -r kind path _; do
    [[ $kind == insmod ]] || continue
    rel=${path#"$pk"}
    grep -qxF "$rel" "$root/etc/modules" && continue
    mkdir -p "$root$(dirname "$rel")"
    cp "$path" "$root$rel"
    echo "$rel" >>"$root/etc/modules"
done < <(modprobe -d "$pk" -S "$kver" --show-depends -a virtio_mmio virtio_net)

# No vsock in the VM: adbd must not get its vsock listener (see lab.sh).
if find "$root" -name '*vsock*' | grep -q .; then
    die "a vsock module got into the image: $(find "$root" -name '*vsock*' | head -n 3)"
fi

# --- Pack ----------------------------------------------------------------------
cp "$pk/boot/vmlinuz-$kver" "$out/vmlinuz.new"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -1 >"$out/initrd.gz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initrd.gz.new" "$out/initrd.gz"
echo "$kver" >"$out/kernel-version"
echo "$inputs" >"$out/inputs"
rm -rf "$work"
elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
note "$arch image built in ${elapsed} s: kernel $kver, initramfs $(du -k "$out/initrd.gz" | cut -f1) KiB ($out)"
echo "$out"
