#!/usr/bin/env bash
# apt-get and apt-cache with a private configuration under target/apt/: the
# machine's own sources (the URIs of /etc/apt/sources.list.d/debian.sources
# or /etc/apt/sources.list) plus bookworm-backports, for the host or for a
# foreign architecture, without changing anything in /etc/apt or in dpkg's
# list of architectures.
#
#   scripts/vm/apt.sh host  apt-get install -t bookworm-backports adb
#   scripts/vm/apt.sh arm64 apt-get install --download-only dropbear-bin
#   scripts/vm/apt.sh armhf apt-cache depends busybox-static
#
# ARCH "host" installs into this machine (dpkg's own database); a foreign
# ARCH (arm64, armhf) sees an empty package database and is only good for
# downloading: apt-get download, or apt-get install --download-only, which
# resolves the dependencies and leaves the .deb files in
# target/apt/ARCH/archives/ (unpack them with dpkg-deb -x). The package
# lists are fetched once a day at most (apt-get update inside).
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
[[ $# -ge 2 ]] || { usage >&2; exit 2; }
[[ $1 != -h && $1 != --help ]] || { usage; exit 0; }
arch=$1
shift

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
base=${MCAST_APT_DIR:-$repo_root/target/apt}/$arch
suite=bookworm

# The Debian mirror this machine uses, and its security mirror.
mirror_of() {
    local want=$1 uri=""
    if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
        uri=$(awk -v want="$want" '
            /^URIs:/ { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want) { print u; exit } }
            /^$/ { u = "" }' /etc/apt/sources.list.d/debian.sources)
    fi
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        uri=$(awk -v want="$want" '$1 == "deb" && $0 !~ /\[/ && $3 == want { print $2; exit }
            $1 == "deb" && $3 ~ /\]$/ && $4 == want { print $3; exit }' /etc/apt/sources.list)
    fi
    echo "$uri"
}

# The configuration is written anew each time (it is cheap); the lists and
# downloaded files are kept.
main=$(mirror_of "$suite")
[[ -n $main ]] || main=http://deb.debian.org/debian
security=$(mirror_of "$suite-security")
[[ -n $security ]] || security=${main%/debian}/debian-security
mkdir -p "$base"/{lists/partial,archives/partial,cache,etc/preferences.d}
cat >"$base/sources.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $main $suite main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $main $suite-updates main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $main $suite-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security $suite-security main
LIST
# From backports only what the plain suites lack or have too old: adb
# 34 and its Android libraries (bookworm has adb 29 and no adbd), and
# qemu-system 10 (bookworm's 7.2 conflicts with the qemu-utils 10 that
# some Debian 12 images carry). qemu-user stays bookworm's 7.2, whose
# missing socket options the fallback tests rely on.
cat >"$base/etc/preferences.d/backports" <<PREF
Package: adb adbd android-* qemu-system-arm qemu-system-common qemu-system-data
Pin: release n=$suite-backports
Pin-Priority: 990
PREF
{
    echo "Dir::Etc::SourceList \"$base/sources.list\";"
    echo 'Dir::Etc::SourceParts "/nonexistent";'
    echo "Dir::Etc::PreferencesParts \"$base/etc/preferences.d\";"
    echo "Dir::State::Lists \"$base/lists\";"
    echo "Dir::Cache \"$base/cache\";"
    echo "Dir::Cache::Archives \"$base/archives\";"
    echo 'APT::Install-Recommends "false";'
    echo 'APT::Get::Assume-Yes "true";'
    # The files land under target/, which the _apt user may not reach.
    echo 'APT::Sandbox::User "root";'
    if [[ $arch != host ]]; then
        : >"$base/status"
        echo "Dir::State::status \"$base/status\";"
        echo "APT::Architecture \"$arch\";"
        echo "APT::Architectures { \"$arch\"; };"
    fi
} >"$base/apt.conf.new"
mv "$base/apt.conf.new" "$base/apt.conf"
export APT_CONFIG=$base/apt.conf

# Fetch the lists when they are missing or older than a day.
stamp=$base/lists/.updated
if [[ ! -f $stamp || -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
    apt-get -qq update
    touch "$stamp"
fi
exec "$@"
