#!/usr/bin/env bash
# lab.sh - a virtual phone / Wi-Fi / board network in Linux network
# namespaces, for trying and testing mcast without hardware.
# Run `scripts/lab.sh --help` for everything it does.
set -euo pipefail

PROG=${0##*/}
readonly PROG
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly DEFAULT_PREFIX=mclab
readonly MAX_PREFIX_LEN=12
readonly HOSTS=(ap phone board pc cell)
readonly STATIONS=(phone board pc)          # hosts on the Wi-Fi segment
readonly FW_TABLE=lab_firewall              # nftables tables, inside the ap
readonly LOSS_TABLE=lab_loss
readonly GROUP_TABLE=lab_group              # feeds the relay (dtim, mcast-rate)
readonly RELAY=$SCRIPT_DIR/lab/group-relay.py
readonly NFLOG_GROUP=15                     # as in group-relay.py
readonly PS_BUFFER=128                      # as in group-relay.py (frames)
readonly AIR_WAIT_MS=20                     # as in group-relay.py
readonly DEFAULT_BEACON_US=102400           # 100 TU of 1024 us
readonly VM_HOSTS=(phone board)             # stations that can be ARM VMs
readonly RUN_ROOT=${MCAST_LAB_RUN:-/run/mcast-lab} # VM state (PID, console), per lab
readonly VM_BOOT_LIMIT=${MCAST_LAB_VM_BOOT_LIMIT:-180} # seconds

# Bridge multicast timers, in centiseconds (the kernel's unit for them).
# The kernel clamps the query and startup-query intervals to at least 1 s.
readonly BR_QUERY_INTERVAL=100              # a general query every 1 s
readonly BR_QUERY_RESPONSE_INTERVAL=50      # hosts answer within 0.5 s
readonly BR_STARTUP_QUERY_INTERVAL=100      # 1 s between startup queries
readonly BR_STARTUP_QUERY_COUNT=3
readonly BR_LAST_MEMBER_INTERVAL=20         # group-specific queries after a leave
readonly BR_LAST_MEMBER_COUNT=2
readonly BR_MEMBERSHIP_INTERVAL=400         # a group expires 4 s after its last report
readonly BR_QUERIER_INTERVAL=300            # another querier counts as gone after 3 s

# Exit codes.
readonly E_FAIL=1 E_USAGE=2 E_NEED=3

usage() {
    cat <<EOF
Usage: $PROG [--prefix P] COMMAND [ARGS...]

A virtual network for mcast: an Android phone that is on Wi-Fi and on mobile
data at once, a board and a PC on the same Wi-Fi, all in Linux network
namespaces. Nothing is ever created in, or sent on, this machine's own network:
every link is made directly inside the lab's namespaces.

                     mobile data                     Wi-Fi (bridge br0 in ap)
  [cell] rmnet0 ----------------- rmnet_data0 [phone] wlan0 --- port-phone [ap]
   198.18.2.1                     198.18.2.10         198.18.1.10      br0 198.18.1.1
                                                                   port-board --- wlan0 [board] 198.18.1.20
                                                                   port-pc    --- wlan0 [pc]    198.18.1.30

Commands:
  up [--board KIND] [--phone KIND]
                     Build the lab. If a lab with this prefix already exists
                     (even half-built after a crash) it is torn down first.
                     Waits (at most ~5 s) until every link is up and has its
                     IPv6 link-local address, and every VM has booted (see
                     "ARM VMs" below), prints the status, exits 0.
                     If any step fails, the partial lab is removed (exit 1).
                     --board ns|aarch64|armv7 and --phone ns|aarch64 choose
                     what the station is: ns (the default) a namespace
                     running this machine's programs, or an ARM VM.
  down               Remove the lab: stops its VMs (by the PID qemu wrote)
                     and the relay of dtim and mcast-rate (by its PID),
                     ends the processes still running inside its namespaces
                     (SIGTERM, then SIGKILL after 2 s) and deletes every
                     namespace named P-*, which deletes its links, bridge,
                     taps and nftables tables, and $RUN_ROOT/P.
                     Succeeds when there is nothing to remove.
  status             Print the prefix, each host's interfaces and addresses,
                     its default routes and the switch states. Exit 1 if the
                     lab is not (completely) up.
  exec HOST CMD...   Run CMD inside HOST's namespace: exec's
                     'ip netns exec P-HOST CMD...', arguments passed
                     unchanged; the exit status and signals are CMD's.
                     HOST is one of: ${HOSTS[*]}. If HOST is a VM, CMD runs
                     there as root over ssh (from the ap, with the lab's
                     key): its output and exit status come back (255 if ssh
                     itself fails); with a terminal on stdin and stdout it
                     gets one on the VM too (ssh -t), so Ctrl-C reaches it.

Switches (idempotent; each prints its new state; shown by 'status'):
  link HOST down|up         HOST's Wi-Fi link (${STATIONS[*]}), as when it goes
                            out of range and comes back: its bridge port goes
                            down and the station loses its carrier (a VM's NIC
                            too, through qemu's set_link). The bridge forgets
                            the station's groups; up brings both back.
  isolate on|off            Client isolation on the ap: 'isolated' on every
                            bridge port, so stations cannot reach each other
                            (unicast, broadcast or multicast); each can still
                            reach the ap itself.
  firewall on|off           nftables table '$FW_TABLE' (family bridge, hook
                            forward) in the ap: drops multicast frames crossing
                            the bridge, except IGMP and ICMPv6 (MLD, neighbour
                            discovery), so snooping keeps learning and IPv6
                            keeps working. ARP and other broadcasts pass.
  loss PCT|off              nftables table '$LOSS_TABLE' (family bridge, hook
                            forward) in the ap: drops PCT % (0-100) of UDP
                            frames crossing the bridge, at random, each copy
                            of a multicast frame on its own. ARP, IGMP, MLD
                            and ND are never dropped. 'loss 0' = 'loss off'.
  dtim N [beacon MS]|off    Power save: the ap holds every group-addressed
                            data frame (multicast and broadcast) for the
                            stations and sends it only after every Nth
                            beacon (the DTIM beacon; N 1-255), as an access
                            point does while any of its stations is in power
                            save. Beacons every MS ms (1-10000, default 102.4:
                            100 TU), on a fixed schedule without drift, so a
                            steady stream arrives in bursts every N x MS ms
                            (204.8 ms at 'dtim 2'). The buffer holds $PS_BUFFER
                            frames; when it is full the oldest is dropped
                            (mac80211's AP_MAX_BC_BUFFER and its policy).
                            ARP, IGMP, MLD and ND are never held, and
                            unicast (mcast-to-unicast's too) is untouched.
  mcast-rate RATE|off       Multicast at the basic rate: the ap sends
                            group-addressed data at most at RATE bit/s
                            (decimal: 1M, 6M, 5.5M, 500k, 64000), one frame at
                            a time and once for all its stations (the air is
                            shared), and drops a frame that would wait more
                            than $AIR_WAIT_MS ms for the air (mac80211's CoDel target),
                            or, after a DTIM beacon, one not sent by the next:
                            no retries, no backlog. A frame counts with its
                            14-byte Ethernet header; no 802.11 overhead.
                            ARP, IGMP, MLD, ND and unicast are not limited.
                            How both work: nftables table '$GROUP_TABLE' (family
                            bridge, hooks forward and output, after firewall
                            and loss) in the ap takes each copy of a group-
                            addressed data frame that the bridge forwards
                            (to the ports snooping, isolation and the other
                            switches chose; never back to its own port) out
                            of the bridge and gives it (nflog group $NFLOG_GROUP) to
                            a relay in the ap, scripts/lab/group-relay.py
                            (python3), which sends it on that port when the
                            access point would. Its PID, log and counters
                            are in $RUN_ROOT/P/group-relay.*;
                            'status' shows the counters (since the relay
                            started). With both off the relay is stopped.
  mcast-to-unicast on|off   'mcast_to_unicast' on every bridge port: a
                            multicast frame for a group goes to each member
                            station as a unicast frame (destination MAC =
                            the station's). Works only on top of snooping,
                            for groups that have members; unregistered
                            groups are still flooded as multicast.
  querier on|off            The bridge's own IGMP/MLD querier (mcast_querier).
                            Off, with no other querier, the bridge floods
                            all multicast to every port (see below).
  snooping on|off           IGMP/MLD snooping on br0 (mcast_snooping). Off
                            floods all multicast to every port; turning it
                            off forgets the learned groups. 'on' sends a
                            query at once, and members are known again from
                            their answers (within ~0.5 s); until then their
                            groups reach nobody.
  igmp-version 2|3          Version of the querier's IGMP queries (default 3).
  mld-version 1|2           Version of the querier's MLD queries (default 2).
                            Hosts answer an older query with the older
                            protocol (IGMPv2 reports 0x16 and leaves 0x17 to
                            224.0.0.2; MLDv1 reports 131 and dones 132), and
                            go back to the newer one ~2 s after the last
                            older query (their 'older version querier
                            present' timeout, short with 1 s queries).

Options:
  --prefix P, --prefix=P    Name prefix of the lab: its namespaces are P-ap,
                            P-phone, P-board, P-pc and P-cell, so labs with
                            different prefixes coexist. 1 to $MAX_PREFIX_LEN characters
                            from [a-z0-9]. Default: \$MCAST_LAB_PREFIX, else
                            '$DEFAULT_PREFIX'. Options go before the command, or
                            after it for every command but exec.
  -h, --help                This text.

Addresses:
  Wi-Fi segment   198.18.1.0/24   fd6d:6361:7374:1::/64
    ap br0          198.18.1.1      fd6d:6361:7374:1::1    02:6d:63:00:01:01
    phone wlan0     198.18.1.10     fd6d:6361:7374:1::10   02:6d:63:00:01:10
    board wlan0     198.18.1.20     fd6d:6361:7374:1::20   02:6d:63:00:01:20
    pc wlan0        198.18.1.30     fd6d:6361:7374:1::30   02:6d:63:00:01:30
  Cell link       198.18.2.0/24   fd6d:6361:7374:2::/64
    cell rmnet0     198.18.2.1      fd6d:6361:7374:2::1    02:6d:63:00:02:01
    phone rmnet_data0 198.18.2.10   fd6d:6361:7374:2::10   02:6d:63:00:02:10
  Fixed MACs give fixed link-local addresses (EUI-64, e.g. phone wlan0 is
  fe80::6d:63ff:fe00:110). DAD is off in every namespace, so addresses are
  usable at once. Bridge ports (port-*) have IPv6 disabled.

Routes:
  phone   default via 198.18.2.1 and fd6d:6361:7374:2::1 dev rmnet_data0, like
          a real phone whose mobile data is the default route, plus
          'multicast ff00::/8 dev rmnet_data0 table local metric 100': a
          multicast sender that does not choose an interface goes out the
          cell link, for IPv4 and IPv6 alike.
  board, pc  default via 198.18.1.1 and fd6d:6361:7374:1::1 dev wlan0.
  ap, cell   connected routes only; nothing forwards between the segments.

The bridge (br0 in ap):
  IGMP/MLD snooping on, its own querier on (IGMPv3 and MLDv2 queries, sent
  from 198.18.1.1 and br0's link-local address), a general query every 1 s
  (the kernel's minimum), answers within 0.5 s, $BR_STARTUP_QUERY_COUNT startup queries 1 s
  apart, groups expire 4 s after their last report, and group-specific
  queries 0.2 s apart after a leave. Hosts report a join at once, so the
  bridge learns a member as soon as it joins; the fast queries relearn lost
  state within ~1.5 s. How the Linux bridge then forwards multicast:
  - a group with members goes only to their ports;
  - a group without members goes to no station at all (only to multicast
    router ports, and there are none), except 224.0.0.0/24 and ff02::1,
    which are flooded (other ff02:: groups, mDNS ff02::fb included, are
    snooped like any other group);
  - while no querier is active ('querier off', and no other querier on the
    segment) snooping state is not trusted and every group is flooded to
    every port; after 'querier on' that lasts one query response interval
    (0.5 s). 'up' waits that out before it returns.

ARM VMs (--board aarch64|armv7, --phone aarch64):
  The station is a qemu-system VM (TCG, 1 CPU, no KVM needed) booting a
  Debian 12 ARM kernel with an initramfs built by scripts/vm/image.sh
  (cached under target/vm/, rebuilt when an input changes; the first build
  downloads 30 MB (aarch64) or 48 MB (armv7) of Debian packages). aarch64: qemu-system-aarch64 -M virt
  -cpu cortex-a57, linux-image-cloud-arm64; armv7: qemu-system-arm -M virt
  -cpu cortex-a15, linux-image-armmp-lpae. Its only NIC is a virtio-net
  whose backend is a tap, port-HOST of br0 in the ap, so it is a station of
  the Wi-Fi like the others, with the same MAC and addresses; in the VM the
  NIC is named wlan0. qemu runs inside the ap's namespace with no other
  network (-nodefaults: no user-mode network, no vsock device). The VM runs
  dropbear (ssh, key login as root; exec uses it) and the mcast release
  build in /usr/bin; the phone VM also runs adbd on TCP 5555 with stand-ins
  for Android's getprop and dumpsys. adbd would also listen on vsock:5555,
  which namespaces do not confine; the phone VM has no vsock (no device, no
  module), and 'up' checks that before anything talks to adbd: nothing
  listens on vsock here (ss --vsock -l) and adbd holds no vsock socket in
  the VM; if a check fails, the phone VM is stopped and 'up' fails. The
  namespace P-HOST stays, empty; a phone VM has no mobile data
  (rmnet_data0 stays in the namespace, unused). The VM's NIC also carries
  exec's ssh: while its link is down, exec's output waits.
  Runtime files in $RUN_ROOT/P/: HOST.pid, HOST.console (the serial
  console), HOST.monitor (qemu's monitor socket), and ssh_config, which
  gives the VMs' host names to ssh and scp:
    ssh -F $RUN_ROOT/P/ssh_config board uname -m   (from a lab namespace)
  Boot: ~2 s (aarch64) to ~5 s (armv7) on an idle 2-core x86 machine; 'up'
  waits at most $VM_BOOT_LIMIT s (MCAST_LAB_VM_BOOT_LIMIT).

Requirements: root, iproute2 ('ip', 'bridge'), sysctl, and nft for
'firewall', 'loss', 'dtim' and 'mcast-rate' (and for their lines in
'status'), python3 for 'dtim' and 'mcast-rate'; veth and bridge support in
the kernel, nftables with nflog (no netem or dummy links needed). VMs also need
qemu-system-arm, ssh (openssh-client) and socat, and what
scripts/vm/image.sh needs (scripts/test.sh installs all of it).

Exit status: 0 success; 1 failure, or the lab is not up; 2 usage error;
3 a requirement is missing (not root, a command not installed).

Examples:
  sudo $PROG up
  sudo $PROG exec board mcast recv -c 3 &
  sudo $PROG exec phone mcast send -c 3 --interval 500ms
  sudo $PROG loss 20
  sudo $PROG dtim 2                # multicast in bursts every 204.8 ms
  sudo $PROG mcast-rate 1M         # multicast at a 1 Mbit/s basic rate
  sudo $PROG --prefix lab2 up      # a second, independent lab
  sudo $PROG up --board aarch64    # the board is an arm64 VM
  sudo $PROG exec board uname -m   # aarch64, over ssh
  sudo $PROG link board down
  sudo $PROG down
EOF
}

# ---------------------------------------------------------------------------
# Messages and checks

err() { printf '%s: error: %s\n' "$PROG" "$*" >&2; }
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    local code=$1
    shift
    err "$*"
    exit "$code"
}
usage_error() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    printf "Try '%s --help'.\n" "$PROG" >&2
    exit "$E_USAGE"
}

need_root() {
    [[ $EUID -eq 0 ]] || die "$E_NEED" "must run as root (network namespaces need it); try: sudo $PROG ..."
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 ||
            die "$E_NEED" "'$c' is not installed (needed here; on Debian: apt-get install $(pkg_of "$c"))"
    done
}

pkg_of() {
    case $1 in
        ip | bridge) echo iproute2 ;;
        nft) echo nftables ;;
        sysctl) echo procps ;;
        *) echo "$1" ;;
    esac
}

validate_prefix() {
    local p=$1
    [[ -n $p ]] || usage_error "the prefix is empty"
    ((${#p} <= MAX_PREFIX_LEN)) || usage_error "prefix '$p' is longer than $MAX_PREFIX_LEN characters"
    [[ $p =~ ^[a-z0-9]+$ ]] || usage_error "prefix '$p' may contain only a-z and 0-9"
}

# ---------------------------------------------------------------------------
# Namespaces

ns() { printf '%s-%s' "$PREFIX" "$1"; }

# Runs a command inside a host's namespace.
in_ns() {
    local host=$1
    shift
    ip netns exec "$(ns "$host")" "$@"
}

# `ip -n P-HOST ARGS...`
nip() {
    local host=$1
    shift
    ip -n "$(ns "$host")" "$@"
}

# Every namespace named P-*, one per line (P only has [a-z0-9], and the dash
# keeps 'lab' from matching 'lab2-ap').
lab_namespaces() {
    ip netns list 2>/dev/null | awk -v p="$PREFIX-" 'index($1, p) == 1 { print $1 }'
}

ns_exists() {
    [[ -e /run/netns/$(ns "$1") ]] || lab_namespaces | grep -qx "$(ns "$1")"
}

lab_is_up() {
    local h
    for h in "${HOSTS[@]}"; do
        ns_exists "$h" || return 1
    done
}

need_lab() {
    lab_is_up || die "$E_FAIL" "lab '$PREFIX' is not up (run: $PROG --prefix $PREFIX up)"
}

# ---------------------------------------------------------------------------
# ARM VMs: a station whose Wi-Fi port is a tap, with qemu in the ap

run_dir() { printf '%s/%s' "$RUN_ROOT" "$PREFIX"; }

station_n() {
    case $1 in
        phone) echo 10 ;;
        board) echo 20 ;;
        pc) echo 30 ;;
    esac
}

is_vm() { [[ -f $(run_dir)/$1.arch ]]; }

vm_arch() { cat "$(run_dir)/$1.arch"; }

# The PID in the PID file FILE, if that process is the lab's own: its
# command line names FILE after -pidfile (qemu) or --pidfile (the relay), so
# a reused PID is never taken for it.
owned_pid() {
    local f=$1 pid
    # The process removes its PID file as it exits: it may go between the
    # test and the read.
    pid=$(cat -- "$f" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-pidfile $f " || return 1
    echo "$pid"
}

# Stops the process of the PID file FILE, if it is the lab's (owned_pid):
# SIGTERM, SIGKILL after 2 s.
stop_owned() {
    local f=$1 pid i
    pid=$(owned_pid "$f") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        owned_pid "$f" >/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# The PID of this lab's qemu for HOST.
vm_pid() { owned_pid "$(run_dir)/$1.pid"; }

vm_kinds_ok() { # HOST KIND
    case $1:$2 in
        board:ns | board:aarch64 | board:armv7 | phone:ns | phone:aarch64) return 0 ;;
    esac
    return 1
}

# Where scripts/vm/image.sh puts the images and the lab's ssh key.
vm_target_dir() { printf '%s' "${MCAST_TARGET_DIR:-$SCRIPT_DIR/../target}"; }

# The ssh client configuration for the lab's VMs: their names, root, the
# lab's key, and no host key checks (the VMs make new host keys at each
# boot, on a network only the lab reaches).
write_ssh_config() {
    local key h
    key=$(cd "$(vm_target_dir)/vm/ssh" && pwd)/id_ed25519
    {
        for h in "${VM_HOSTS[@]}"; do
            printf 'Host %s\n    HostName 198.18.1.%s\n' "$h" "$(station_n "$h")"
        done
        cat <<EOF
Host *
    User root
    IdentityFile $key
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    BatchMode yes
    ConnectTimeout 5
EOF
    } >"$(run_dir)/ssh_config"
}

# ssh to HOST's VM from the ap: vm_ssh HOST [SSH-OPTIONS...] -- COMMAND.
vm_ssh() {
    local h=$1
    shift
    in_ns ap ssh -F "$(run_dir)/ssh_config" "$h" "$@"
}

# Builds (or finds cached) the image for ARCH and prints its directory.
vm_image() {
    "$SCRIPT_DIR/vm/image.sh" "$1" || die "$E_FAIL" "cannot make the $1 VM image (scripts/vm/image.sh $1)"
}

# Starts HOST's VM from the image in IMG, on the tap port-HOST in the ap.
vm_start() {
    local h=$1 arch=$2 img=$3 n dir qemu cpu adbd=0
    n=$(station_n "$h")
    dir=$(run_dir)
    case $arch in
        aarch64) qemu=qemu-system-aarch64 cpu=cortex-a57 ;;
        armv7) qemu=qemu-system-arm cpu=cortex-a15 ;;
    esac
    [[ $h != phone ]] || adbd=1
    date +%s.%N >"$dir/$h.started"
    # -nodefaults: no NIC, serial, monitor or other device but those named
    # here (so no user-mode network and no vsock device); -no-reboot with
    # panic=-1: a kernel panic ends qemu. The serial console goes to a file.
    in_ns ap "$qemu" -M virt -cpu "$cpu" -smp 1 -m 384 \
        -nodefaults -no-user-config -display none -no-reboot \
        -kernel "$img/vmlinuz" -initrd "$img/initrd.gz" \
        -append "console=ttyAMA0 quiet panic=-1 mcast.host=$h mcast.ip4=198.18.1.$n/24 mcast.gw4=198.18.1.1 mcast.ip6=fd6d:6361:7374:1::$n/64 mcast.gw6=fd6d:6361:7374:1::1 mcast.sshd=1 mcast.adbd=$adbd" \
        -netdev "tap,id=wifi,ifname=port-$h,script=no,downscript=no" \
        -device "virtio-net-device,netdev=wifi,mac=02:6d:63:00:01:$n" \
        -serial "file:$dir/$h.console" \
        -monitor "unix:$dir/$h.monitor,server=on,wait=off" \
        -pidfile "$dir/$h.pid" -daemonize
}

# Waits until HOST's VM has booted and its sshd answers.
vm_wait() {
    local h=$1 dir i started
    dir=$(run_dir)
    for ((i = 0; i < VM_BOOT_LIMIT * 10; i++)); do
        if ! vm_pid "$h" >/dev/null; then
            err "the $h VM stopped while booting; the end of its console ($dir/$h.console):"
            tail -n 20 "$dir/$h.console" >&2 || true
            exit "$E_FAIL"
        fi
        if grep -q '^mcast-vm: .* ready' "$dir/$h.console" 2>/dev/null &&
            vm_ssh "$h" -T -- true </dev/null >/dev/null 2>&1; then
            started=$(<"$dir/$h.started")
            awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", e - s }' >"$dir/$h.boot"
            return 0
        fi
        sleep 0.1
    done
    err "the $h VM did not answer ssh within $VM_BOOT_LIMIT s; the end of its console ($dir/$h.console):"
    tail -n 20 "$dir/$h.console" >&2 || true
    exit "$E_FAIL"
}

# adbd also listens on vsock:5555 where it can, and network namespaces do
# not confine vsock: on a machine with a vsock device, that listener would
# offer a root shell to the hypervisor side. The phone VM cannot have it:
# qemu gives it no vsock device, and its initramfs has no vsock module, so
# its kernel has no AF_VSOCK (adbd still logs "listening on vsock:5555";
# the check below shows it holds no such socket). This checks all of that
# before anything talks to adbd, and stops the phone VM if a check fails: nothing
# listens on vsock on this machine (ss --vsock -l), the VM's kernel has no
# vsock module loaded, and every socket adbd holds is TCP, UDP, unix or
# netlink (its inode is listed in /proc/net/{tcp,tcp6,udp,udp6,unix,netlink}).
vsock_check() {
    local listeners guest
    if listeners=$(ss --vsock -l -n -p -H 2>&1); then
        :
    elif [[ ! -e /dev/vsock && ! -e /proc/sys/net/vsock ]]; then
        listeners=
    else
        listeners="ss --vsock -l failed: $listeners"
    fi
    # shellcheck disable=SC2016 # for the VM's shell
    guest=$(vm_ssh phone -T -- '
        p=$(pidof adbd) || { echo "adbd is not running"; exit 0; }
        [ ! -e /sys/module/vsock ] || echo "the vsock module is loaded"
        known=$({ awk "NR > 1 { print \$10 }" /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 /proc/net/netlink
                  awk "NR > 1 { print \$7 }" /proc/net/unix; } 2>/dev/null)
        for fd in /proc/$p/fd/*; do
            l=$(readlink "$fd") || continue
            case $l in socket:*) ;; *) continue ;; esac
            i=${l#socket:[}; i=${i%]}
            echo "$known" | grep -qx "$i" || echo "adbd holds socket $i, which is not TCP, UDP, unix or netlink"
        done' </dev/null 2>&1) || guest="cannot check the phone VM over ssh: $guest"
    if [[ -n $listeners || -n $guest ]]; then
        err "vsock check failed; stopping the phone VM:"
        [[ -z $listeners ]] || printf '  ss --vsock -l: %s\n' "$listeners" >&2
        [[ -z $guest ]] || printf '  in the phone VM: %s\n' "$guest" >&2
        local pid
        pid=$(vm_pid phone) && kill -KILL "$pid"
        exit "$E_FAIL"
    fi
    note "vsock check: nothing listens on vsock here (ss --vsock -l), the phone VM's kernel has no vsock, adbd holds only TCP, unix and netlink sockets"
}

# Sends one command to HOST's qemu monitor.
vm_monitor() {
    printf '%s\n' "$2" | socat -t 1 - "UNIX-CONNECT:$(run_dir)/$1.monitor" >/dev/null
}

# Stops every VM of the lab by its PID (SIGTERM, SIGKILL after 2 s).
stop_vms() {
    local h
    for h in "${VM_HOSTS[@]}"; do
        stop_owned "$(run_dir)/$h.pid"
    done
}

# exec on a VM: each argument single-quoted for the remote shell; a
# terminal there only if there is one here.
vm_exec() {
    local h=$1 cmd="" a q="'\\''" tty=-T
    shift
    for a in "$@"; do
        cmd+=" '${a//\'/$q}'"
    done
    [[ ! -t 0 || ! -t 1 ]] || tty=-t
    exec ip netns exec "$(ns ap)" ssh -F "$(run_dir)/ssh_config" "$tty" "$h" -- "$cmd"
}

# ---------------------------------------------------------------------------
# up / down

# Ends the processes inside one namespace: SIGTERM, then SIGKILL after ~2 s.
# These can only be processes started inside the lab (lab.sh exec, tests).
end_processes() {
    local name=$1 pids i
    pids=$(ip netns pids "$name" 2>/dev/null | tr '\n' ' ') || pids=
    [[ -n ${pids// /} ]] || return 0
    # shellcheck disable=SC2086 # a list of PIDs
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        pids=$(ip netns pids "$name" 2>/dev/null | tr '\n' ' ') || pids=
        [[ -n ${pids// /} ]] || return 0
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

do_down() {
    local name left
    stop_relay
    stop_vms
    while IFS= read -r name; do
        [[ -n $name ]] || continue
        end_processes "$name"
        ip netns del "$name" 2>/dev/null || ip netns del "$name"
    done < <(lab_namespaces)
    left=$(lab_namespaces | tr '\n' ' ')
    [[ -z ${left// /} ]] || die "$E_FAIL" "could not delete namespaces: $left"
    rm -rf "$(run_dir)"
}

cmd_down() {
    need_root
    need_cmd ip
    local had
    had=$(lab_namespaces | wc -l)
    [[ ! -d $(run_dir) ]] || had=$((had + 1))
    do_down
    if ((had > 0)); then
        note "lab '$PREFIX' is down"
    else
        note "lab '$PREFIX' was not up; nothing to remove"
    fi
}

UP_DONE=0
on_up_exit() {
    local rc=$?
    if [[ $UP_DONE != 1 ]]; then
        err "'up' failed; removing the partial lab '$PREFIX'"
        do_down || true
        ((rc != 0)) || rc=$E_FAIL
    fi
    exit "$rc"
}

# Makes one namespace: no DAD, loopback up.
make_host() {
    local host=$1
    ip netns add "$(ns "$host")"
    in_ns "$host" sysctl -qw \
        net.ipv6.conf.all.accept_dad=0 \
        net.ipv6.conf.default.accept_dad=0
    nip "$host" link set lo up
}

# Adds an IPv4 and an IPv6 address to HOST's DEV.
addr() {
    local host=$1 dev=$2 v4=$3 v6=$4
    nip "$host" addr add "$v4" brd + dev "$dev"
    nip "$host" -6 addr add "$v6" dev "$dev" nodad
}

# Waits (at most ~5 s) until every lab link is up with a usable link-local
# address.
wait_ready() {
    local i h dev missing
    local -a want=(ap:br0 ap:port-phone ap:port-board ap:port-pc
        phone:rmnet_data0 cell:rmnet0)
    for h in "${STATIONS[@]}"; do
        is_vm "$h" || want+=("$h:wlan0")
    done
    for ((i = 0; i < 50; i++)); do
        missing=
        for h in "${want[@]}"; do
            dev=${h#*:}
            h=${h%%:*}
            if [[ $(in_ns "$h" cat "/sys/class/net/$dev/operstate" 2>/dev/null) != up ]]; then
                missing+=" $h:$dev(down)"
                continue
            fi
            [[ $dev == port-* ]] && continue # IPv6 is off on bridge ports
            if ! nip "$h" -6 -o addr show dev "$dev" scope link 2>/dev/null |
                grep -v tentative | grep -q 'inet6 fe80:'; then
                missing+=" $h:$dev(no link-local)"
            fi
        done
        [[ -n $missing ]] || return 0
        sleep 0.1
    done
    die "$E_FAIL" "links not ready after 5 s:$missing"
}

cmd_up() {
    need_root
    need_cmd ip bridge sysctl
    local h vms=()
    declare -A img=()
    for h in "${VM_HOSTS[@]}"; do
        [[ ${KIND[$h]} == ns ]] || vms+=("$h")
    done
    if ((${#vms[@]})); then
        need_cmd ssh socat
        for h in "${vms[@]}"; do
            case ${KIND[$h]} in
                aarch64) need_cmd qemu-system-aarch64 ;;
                armv7) need_cmd qemu-system-arm ;;
            esac
        done
    fi
    if [[ -n $(lab_namespaces) || -d $(run_dir) ]]; then
        note "lab '$PREFIX' already exists; tearing it down first"
        do_down
    fi
    # The images first: the first build downloads packages.
    for h in "${vms[@]+"${vms[@]}"}"; do
        img[$h]=$(vm_image "${KIND[$h]}")
    done
    trap on_up_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    if ((${#vms[@]})); then
        mkdir -p "$(run_dir)"
        write_ssh_config
        for h in "${vms[@]}"; do
            echo "${KIND[$h]}" >"$(run_dir)/$h.arch"
        done
    fi
    for h in "${HOSTS[@]}"; do
        make_host "$h"
    done

    # The access point: a bridge with snooping and a fast querier.
    nip ap link add br0 address 02:6d:63:00:01:01 type bridge \
        stp_state 0 \
        mcast_snooping 1 \
        mcast_querier 0 \
        mcast_query_use_ifaddr 1 \
        mcast_igmp_version 3 \
        mcast_mld_version 2 \
        mcast_query_interval "$BR_QUERY_INTERVAL" \
        mcast_query_response_interval "$BR_QUERY_RESPONSE_INTERVAL" \
        mcast_startup_query_interval "$BR_STARTUP_QUERY_INTERVAL" \
        mcast_startup_query_count "$BR_STARTUP_QUERY_COUNT" \
        mcast_last_member_interval "$BR_LAST_MEMBER_INTERVAL" \
        mcast_last_member_count "$BR_LAST_MEMBER_COUNT" \
        mcast_membership_interval "$BR_MEMBERSHIP_INTERVAL" \
        mcast_querier_interval "$BR_QUERIER_INTERVAL"
    addr ap br0 198.18.1.1/24 fd6d:6361:7374:1::1/64

    # Stations: wlan0 in the station, port-STATION on the bridge. Each veth is
    # created inside the ap and its peer directly inside the station.
    local n
    for h in "${STATIONS[@]}"; do
        case $h in
            phone) n=10 ;;
            board) n=20 ;;
            pc) n=30 ;;
        esac
        if is_vm "$h"; then
            # The VM's NIC: qemu attaches to this tap, a port of the bridge.
            nip ap tuntap add dev "port-$h" mode tap
            nip ap link set "port-$h" address "02:6d:63:00:0f:$n"
        else
            nip ap link add "port-$h" address "02:6d:63:00:0f:$n" type veth \
                peer name wlan0 address "02:6d:63:00:01:$n" netns "$(ns "$h")"
        fi
        in_ns ap sysctl -qw "net.ipv6.conf.port-$h.disable_ipv6=1"
        nip ap link set "port-$h" master br0
        is_vm "$h" || addr "$h" wlan0 "198.18.1.$n/24" "fd6d:6361:7374:1::$n/64"
    done

    # Mobile data: phone rmnet_data0 <-> cell rmnet0.
    nip phone link add rmnet_data0 address 02:6d:63:00:02:10 type veth \
        peer name rmnet0 address 02:6d:63:00:02:01 netns "$(ns cell)"
    addr phone rmnet_data0 198.18.2.10/24 fd6d:6361:7374:2::10/64
    addr cell rmnet0 198.18.2.1/24 fd6d:6361:7374:2::1/64

    # Links up (ports before the bridge, so the startup queries reach hosts).
    for h in "${STATIONS[@]}"; do
        nip ap link set "port-$h" up
        is_vm "$h" || nip "$h" link set wlan0 up
    done
    nip ap link set br0 up
    nip phone link set rmnet_data0 up
    nip cell link set rmnet0 up

    # The querier goes on last, in a command of its own: enabling it makes the
    # bridge flood all multicast for one query response interval ("delay
    # timer") before it filters by group. Enabled in the same command as the
    # timers, the kernel would use the default interval (10 s) instead.
    nip ap link set br0 type bridge mcast_querier 1

    # Routes.
    nip phone route add default via 198.18.2.1 dev rmnet_data0
    nip phone -6 route add default via fd6d:6361:7374:2::1 dev rmnet_data0
    # IPv6 multicast without an interface follows the first 'multicast
    # ff00::/8' route of the local table, which would be the first interface
    # brought up (wlan0). Prefer mobile data, as for IPv4.
    nip phone -6 route add multicast ff00::/8 dev rmnet_data0 table local metric 100

    # The VMs boot while the rest settles.
    for h in "${vms[@]+"${vms[@]}"}"; do
        vm_start "$h" "${KIND[$h]}" "${img[$h]}"
    done
    for h in board pc; do
        is_vm "$h" && continue # the VM sets its own routes
        nip "$h" route add default via 198.18.1.1 dev wlan0
        nip "$h" -6 route add default via fd6d:6361:7374:1::1 dev wlan0
    done

    wait_ready
    for h in "${vms[@]+"${vms[@]}"}"; do
        vm_wait "$h"
        note "$h: ${KIND[$h]} VM booted in $(<"$(run_dir)/$h.boot") s"
    done
    [[ ${KIND[phone]} == ns ]] || vsock_check
    # Let the delay timer run out (0.5 s) so snooping filters from now on.
    sleep "$(awk -v cs="$BR_QUERY_RESPONSE_INTERVAL" 'BEGIN { printf "%.2f", cs / 100 + 0.1 }')"
    UP_DONE=1
    trap - EXIT INT TERM
    note "lab '$PREFIX' is up"
    print_status
}

# ---------------------------------------------------------------------------
# status

# "on", "off", or "mixed (on: PORTS)" for a bridge port flag.
port_flag_state() {
    local flag=$1 h on=() details
    details=$(bridge -n "$(ns ap)" -d link show 2>/dev/null) || details=
    for h in "${STATIONS[@]}"; do
        if awk -v dev="port-$h" -v flag="$flag" '
            $2 ~ "^" dev "(@|:)" { mine = 1; next }
            /^[0-9]+:/ { mine = 0 }
            mine { for (i = 1; i < NF; i++) if ($i == flag && $(i + 1) == "on") found = 1 }
            END { exit !found }' <<<"$details"; then
            on+=("port-$h")
        fi
    done
    if ((${#on[@]} == 0)); then
        echo off
    elif ((${#on[@]} == ${#STATIONS[@]})); then
        echo on
    else
        echo "mixed (on: ${on[*]})"
    fi
}

# The value of a bridge option of br0 (e.g. mcast_querier -> 1).
br_opt() {
    nip ap -d link show br0 | awk -v opt="$1" '{ for (i = 1; i < NF; i++) if ($i == opt) { print $(i + 1); exit } }'
}

onoff() { if [[ $1 == 1 ]]; then echo on; else echo off; fi; }

nft_table_exists() {
    in_ns ap nft list table bridge "$1" >/dev/null 2>&1
}

firewall_state() {
    command -v nft >/dev/null 2>&1 || { echo "unknown (nft not installed)"; return; }
    if nft_table_exists "$FW_TABLE"; then echo on; else echo off; fi
}

loss_state() {
    command -v nft >/dev/null 2>&1 || { echo "unknown (nft not installed)"; return; }
    local pct
    pct=$(in_ns ap nft list table bridge "$LOSS_TABLE" 2>/dev/null |
        sed -n 's/.*comment "loss \([0-9]*\)%".*/\1/p' | head -n 1) || pct=
    if [[ -n $pct ]]; then echo "$pct%"; else echo off; fi
}

print_host() {
    local h=$1 line routes
    if is_vm "$h"; then
        print_vm_host "$h"
        return
    fi
    printf '  %-6s %s\n' "$h" "$(ns "$h")"
    while IFS= read -r line; do
        printf '         %s\n' "$line"
    done < <(nip "$h" -br addr show | awk '$1 != "lo" {
        sub(/@.*/, "", $1)
        line = sprintf("%-12s %-5s", $1, $2)
        for (i = 3; i <= NF; i++) line = line " " $i
        if ($1 ~ /^port-/) line = line " (port of br0)"
        print line
    }')
    routes=$( {
        nip "$h" route show default
        nip "$h" -6 route show default
    } | awk '{ print $1, $2, $3, $4, $5 }' | paste -sd ';' | sed 's/;/; /g')
    [[ -z $routes ]] || printf '         routes: %s\n' "$routes"
}

# A VM station: what runs where, and its addresses and routes as the VM
# sees them (asked over ssh).
print_vm_host() {
    local h=$1 pid boot
    pid=$(vm_pid "$h") || pid=
    boot=$(cat "$(run_dir)/$h.boot" 2>/dev/null) || boot=?
    if [[ -z $pid ]]; then
        printf '  %-6s %s VM, NOT RUNNING (console: %s)\n' "$h" "$(vm_arch "$h")" "$(run_dir)/$h.console"
        return
    fi
    printf '  %-6s %s VM: qemu PID %s in %s, booted in %s s; NIC on port-%s; console %s\n' \
        "$h" "$(vm_arch "$h")" "$pid" "$(ns ap)" "$boot" "$h" "$(run_dir)/$h.console"
    vm_ssh "$h" -T -- 'echo "wlan0        $(cat /sys/class/net/wlan0/operstate | tr a-z A-Z) $(ip -o addr show dev wlan0 | awk "{ printf \"%s \", \$4 }")"
        echo "routes: $( { ip route show; ip -6 route show; } | grep "^default" | awk "{ print \$1, \$2, \$3, \$4, \$5 }" | paste -sd ";" | sed "s/;/; /g")"' \
        </dev/null 2>/dev/null | sed 's/^/         /' || printf '         (ssh to the VM failed)\n'
}

print_status() {
    local h
    echo "lab: $PREFIX (up)"
    echo "hosts:"
    for h in "${HOSTS[@]}"; do
        print_host "$h"
    done
    echo "switches:"
    printf '  %-17s %s\n' \
        link "$(link_states)" \
        isolate "$(port_flag_state isolated)" \
        firewall "$(firewall_state)" \
        loss "$(loss_state)" \
        dtim "$(dtim_state counters)" \
        mcast-rate "$(rate_state counters)" \
        mcast-to-unicast "$(port_flag_state mcast_to_unicast)" \
        querier "$(onoff "$(br_opt mcast_querier)")" \
        snooping "$(onoff "$(br_opt mcast_snooping)")" \
        igmp-version "$(br_opt mcast_igmp_version)" \
        mld-version "$(br_opt mcast_mld_version)"
}

cmd_status() {
    need_root
    need_cmd ip bridge
    local h missing=()
    for h in "${HOSTS[@]}"; do
        ns_exists "$h" || missing+=("$(ns "$h")")
    done
    if ((${#missing[@]} == ${#HOSTS[@]})); then
        echo "lab: $PREFIX (not up)"
        exit "$E_FAIL"
    elif ((${#missing[@]} > 0)); then
        echo "lab: $PREFIX (broken: missing ${missing[*]}; run '$PROG --prefix $PREFIX down' or 'up')"
        exit "$E_FAIL"
    fi
    print_status
}

# ---------------------------------------------------------------------------
# exec

cmd_exec() {
    (($# >= 1)) || usage_error "exec: missing HOST (one of: ${HOSTS[*]})"
    local host=$1
    shift
    is_host "$host" || usage_error "exec: unknown host '$host' (one of: ${HOSTS[*]})"
    (($# >= 1)) || usage_error "exec: missing the command to run in $host"
    need_root
    need_cmd ip
    ns_exists "$host" || die "$E_FAIL" "namespace $(ns "$host") does not exist (run: $PROG --prefix $PREFIX up)"
    if is_vm "$host"; then
        need_cmd ssh
        vm_pid "$host" >/dev/null || die "$E_FAIL" "the $host VM is not running (see $(run_dir)/$host.console; run: $PROG --prefix $PREFIX down)"
        vm_exec "$host" "$@"
    fi
    exec ip netns exec "$(ns "$host")" "$@"
}

is_host() {
    local h
    for h in "${HOSTS[@]}"; do
        [[ $h == "$1" ]] && return 0
    done
    return 1
}

# ---------------------------------------------------------------------------
# Switches

# Parses on|off (also 1|0, yes|no, true|false) into 1 or 0.
parse_onoff() {
    local name=$1
    shift
    (($# == 1)) || usage_error "$name: expected one argument: on or off"
    case $1 in
        on | 1 | yes | true) echo 1 ;;
        off | 0 | no | false) echo 0 ;;
        *) usage_error "$name: expected on or off, not '$1'" ;;
    esac
}

switch_port_flag() {
    local name=$1 flag=$2 v h
    shift 2
    v=$(parse_onoff "$name" "$@")
    need_root
    need_cmd ip bridge
    need_lab
    for h in "${STATIONS[@]}"; do
        bridge -n "$(ns ap)" link set dev "port-$h" "$flag" "$(onoff "$v")"
    done
    echo "$name: $(port_flag_state "$flag")"
}

switch_br_opt() {
    local name=$1 opt=$2 v
    shift 2
    v=$(parse_onoff "$name" "$@")
    need_root
    need_cmd ip
    need_lab
    nip ap link set br0 type bridge "$opt" "$v"
    echo "$name: $(onoff "$(br_opt "$opt")")"
}

switch_version() {
    local name=$1 opt=$2 lo=$3 hi=$4
    shift 4
    (($# == 1)) || usage_error "$name: expected one argument: $lo or $hi"
    [[ $1 == "$lo" || $1 == "$hi" ]] || usage_error "$name: expected $lo or $hi, not '$1'"
    need_root
    need_cmd ip
    need_lab
    nip ap link set br0 type bridge "$opt" "$1"
    echo "$name: $(br_opt "$opt")"
}

# "phone up, board up, pc up": each station's Wi-Fi port.
link_states() {
    local h out=()
    for h in "${STATIONS[@]}"; do
        if nip ap -o link show "port-$h" 2>/dev/null | grep -q '[<,]UP[,>]'; then
            out+=("$h up")
        else
            out+=("$h down")
        fi
    done
    local IFS=,
    echo "${out[*]}" | sed 's/,/, /g'
}

switch_link() {
    (($# == 2)) || usage_error "link: expected a station and down or up (link board down)"
    local h=$1 state
    is_station "$h" || usage_error "link: '$h' is not a station (one of: ${STATIONS[*]})"
    case $2 in
        down | off) state=down ;;
        up | on) state=up ;;
        *) usage_error "link: expected down or up, not '$2'" ;;
    esac
    need_root
    need_cmd ip
    need_lab
    if [[ $state == up ]]; then
        nip ap link set "port-$h" up
        ! is_vm "$h" || vm_monitor "$h" "set_link wifi on"
    else
        ! is_vm "$h" || vm_monitor "$h" "set_link wifi off"
        nip ap link set "port-$h" down
    fi
    echo "link: $(link_states)"
}

is_station() {
    local h
    for h in "${STATIONS[@]}"; do
        [[ $h == "$1" ]] && return 0
    done
    return 1
}

# Replaces (or creates) an nftables table in the ap atomically: an
# 'add table; delete table; table {...}' batch is a single transaction.
nft_replace() {
    local table=$1 body=$2
    in_ns ap nft -f - <<EOF
add table bridge $table
delete table bridge $table
table bridge $table {
$body
}
EOF
}

nft_remove() {
    if nft_table_exists "$1"; then
        in_ns ap nft delete table bridge "$1"
    fi
}

switch_firewall() {
    local v
    v=$(parse_onoff firewall "$@")
    need_root
    need_cmd ip nft
    need_lab
    if [[ $v == 1 ]]; then
        nft_replace "$FW_TABLE" '
    comment "mcast lab: drop multicast data crossing the bridge"
    chain forward {
        type filter hook forward priority filter; policy accept;
        meta pkttype multicast ether type ip ip protocol != igmp counter drop comment "IPv4 multicast data"
        meta pkttype multicast ether type ip6 meta l4proto != ipv6-icmp counter drop comment "IPv6 multicast data"
    }'
    else
        nft_remove "$FW_TABLE"
    fi
    echo "firewall: $(firewall_state)"
}

switch_loss() {
    (($# == 1)) || usage_error "loss: expected one argument: a percentage 0-100, or off"
    local pct=$1
    case $pct in
        off) pct=0 ;;
        *%) pct=${pct%\%} ;;
    esac
    if ! [[ $pct =~ ^[0-9]{1,3}$ ]] || ((10#$pct > 100)); then
        usage_error "loss: expected a percentage 0-100 or off, not '$1'"
    fi
    pct=$((10#$pct))
    need_root
    need_cmd ip nft
    need_lab
    if ((pct > 0)); then
        # numgen random mod 100 gives 0..99; nft refuses '< 100', so 100 %
        # is a plain drop.
        local match="numgen random mod 100 < $pct"
        ((pct < 100)) || match=
        nft_replace "$LOSS_TABLE" "
    comment \"mcast lab: random loss of forwarded UDP\"
    chain forward {
        type filter hook forward priority filter - 10; policy accept;
        meta l4proto udp $match counter drop comment \"loss $pct%\"
    }"
    else
        nft_remove "$LOSS_TABLE"
    fi
    echo "loss: $(loss_state)"
}

# ---------------------------------------------------------------------------
# dtim and mcast-rate: the ap's transmitter of group-addressed frames
#
# Both switches share one relay (scripts/lab/group-relay.py, in the ap) and
# one nftables table, which hands it every group-addressed data frame the
# bridge forwards (one copy per port, after snooping and the other
# switches) and drops it from the bridge's path; the relay sends it on that
# port when the access point would. Its configuration is in
# $(run_dir)/group-relay.conf (dtim, beacon_us, rate; 0 = off).

group_file() { printf '%s/group-relay.%s' "$(run_dir)" "$1"; }

# A key of the relay's configuration, or DEFAULT.
group_conf() { # KEY DEFAULT
    local v
    v=$(sed -n "s/^$1=//p" "$(group_file conf)" 2>/dev/null | tail -n 1) || v=
    echo "${v:-$2}"
}

# A counter from the relay's statistics file ('?' if there is none).
relay_stat() {
    local v
    v=$(awk -v k="$1" '$1 == k { print $2 }' "$(group_file stats)" 2>/dev/null) || v=
    echo "${v:-?}"
}

relay_pid() { owned_pid "$(group_file pid)"; }

# What the relay never sees: unicast, ARP, IGMP, and the ICMPv6 of MLD and
# neighbour discovery, so that snooping, address resolution and IPv6 keep
# working. Everything else that is group-addressed (multicast and
# broadcast) goes to the relay.
readonly GROUP_RULES="
    comment \"mcast lab: group-addressed data goes through the ap's relay (dtim, mcast-rate)\"
    chain to_relay {
        ether daddr & 01:00:00:00:00:00 == 00:00:00:00:00:00 return comment \"unicast\"
        ether type arp return comment \"ARP\"
        ip protocol igmp return comment \"IGMP\"
        icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } return comment \"MLD and ND\"
        counter log group $NFLOG_GROUP drop comment \"group-addressed data: to the relay\"
    }
    chain forward {
        type filter hook forward priority filter + 10; policy accept;
        jump to_relay
    }
    chain output {
        type filter hook output priority filter + 10; policy accept;
        jump to_relay
    }"

start_relay() {
    local i pid
    rm -f "$(group_file pid)" "$(group_file stats)"
    # setsid: the relay outlives this script and its terminal.
    setsid ip netns exec "$(ns ap)" python3 -u "$RELAY" --conf "$(group_file conf)" \
        --stats "$(group_file stats)" --pidfile "$(group_file pid)" \
        </dev/null >>"$(group_file log)" 2>&1 &
    pid=$!
    for ((i = 0; i < 50; i++)); do
        relay_pid >/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            err "the relay ($RELAY) stopped at once; the end of its log ($(group_file log)):"
            tail -n 5 "$(group_file log)" >&2 || true
            exit "$E_FAIL"
        fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    die "$E_FAIL" "the relay ($RELAY) did not start within 5 s (see $(group_file log))"
}

stop_relay() {
    stop_owned "$(group_file pid)"
    rm -f "$(group_file pid)"
}

# Sets the relay's configuration and waits (at most 5 s) until it runs
# with it; with both switches off, stops it and removes its table.
apply_group() { # DTIM BEACON_US RATE
    local dtim=$1 beacon=$2 rate=$3 pid i
    if [[ $dtim == 0 && $rate == 0 ]]; then
        # The table first: from then on the bridge forwards by itself, and
        # the relay sends what it still holds as it stops.
        nft_remove "$GROUP_TABLE"
        stop_relay
        rm -f "$(group_file conf)" "$(group_file stats)"
        return
    fi
    mkdir -p "$(run_dir)"
    printf 'dtim=%s\nbeacon_us=%s\nrate=%s\n' "$dtim" "$beacon" "$rate" >"$(group_file conf).tmp"
    mv -f "$(group_file conf).tmp" "$(group_file conf)"
    if pid=$(relay_pid); then
        kill -HUP "$pid"
    else
        start_relay
    fi
    for ((i = 0; i < 50; i++)); do
        [[ $(relay_stat dtim):$(relay_stat beacon_us):$(relay_stat rate) != "$dtim:$beacon:$rate" ]] || break
        sleep 0.1
    done
    ((i < 50)) || die "$E_FAIL" "the relay did not take its new configuration within 5 s (see $(group_file log))"
    # Only now, so that no frame is taken from the bridge without a relay.
    nft_replace "$GROUP_TABLE" "$GROUP_RULES"
}

# '; relay NOT RUNNING...' when the relay should run and does not.
relay_health() {
    relay_pid >/dev/null ||
        printf '; relay NOT RUNNING: group traffic is dropped (see %s; set the switch again to restart it)' "$(group_file log)"
}

# 102400 (us) -> 102.4 (ms)
us_ms() { awk -v us="$1" 'BEGIN { printf "%g\n", us / 1000 }'; }

dtim_state() { # [counters]
    local dtim beacon
    dtim=$(group_conf dtim 0)
    if [[ $dtim == 0 ]]; then
        echo off
        return
    fi
    beacon=$(group_conf beacon_us "$DEFAULT_BEACON_US")
    printf '%s, beacon %s ms (group traffic released every %s ms)' \
        "$dtim" "$(us_ms "$beacon")" "$(us_ms $((dtim * beacon)))"
    if [[ -n ${1-} ]]; then
        printf '; %s frames held, %s dropped by the full %s-frame buffer%s' \
            "$(relay_stat held)" "$(relay_stat dropped_buffer)" "$PS_BUFFER" "$(relay_health)"
    fi
    echo
}

# 1000000 -> "1 Mbit/s"
rate_human() {
    awk -v r="$1" 'BEGIN {
        if (r >= 1e9) printf "%g Gbit/s\n", r / 1e9
        else if (r >= 1e6) printf "%g Mbit/s\n", r / 1e6
        else if (r >= 1e3) printf "%g kbit/s\n", r / 1e3
        else printf "%d bit/s\n", r
    }'
}

rate_state() { # [counters]
    local rate
    rate=$(group_conf rate 0)
    if [[ $rate == 0 ]]; then
        echo off
        return
    fi
    printf '%s' "$(rate_human "$rate")"
    if [[ -n ${1-} ]]; then
        printf '; %s frames sent, %s dropped (over the rate)%s' \
            "$(relay_stat sent_frames)" "$(relay_stat dropped_rate)" "$(relay_health)"
    fi
    echo
}

switch_dtim() {
    local dtim beacon=$DEFAULT_BEACON_US
    local form="expected N [beacon MS] (a DTIM period 1-255, e.g. 'dtim 2' or 'dtim 3 beacon 100') or off"
    (($# == 1 || $# == 3)) || usage_error "dtim: $form"
    if [[ $1 == off ]]; then
        (($# == 1)) || usage_error "dtim: 'off' takes no beacon"
        dtim=0
    elif [[ $1 =~ ^[0-9]{1,3}$ ]] && ((10#$1 >= 1 && 10#$1 <= 255)); then
        dtim=$((10#$1))
    else
        usage_error "dtim: $form, not '$1'"
    fi
    if (($# == 3)); then
        [[ $2 == beacon ]] || usage_error "dtim: $form, not '$2'"
        beacon=$(awk -v ms="$3" 'BEGIN { if (ms ~ /^[0-9]+(\.[0-9]+)?$/ && ms >= 1 && ms <= 10000) printf "%.0f\n", ms * 1000 }')
        [[ -n $beacon ]] || usage_error "dtim: the beacon interval is in ms, 1-10000 (e.g. 102.4), not '$3'"
    fi
    need_root
    need_cmd ip nft
    ((dtim == 0)) || need_cmd python3
    need_lab
    apply_group "$dtim" "$beacon" "$(group_conf rate 0)"
    echo "dtim: $(dtim_state)"
}

switch_mcast_rate() {
    local form="expected a rate in bit/s (decimal: 1M, 6M, 5.5M, 500k, 64000; 1k-10G) or off"
    (($# == 1)) || usage_error "mcast-rate: $form"
    local rate=0
    if [[ $1 != off ]]; then
        rate=$(awk -v r="$1" 'BEGIN {
            if (r !~ /^[0-9]+(\.[0-9]+)?[kKmMgG]?$/) exit
            m = 1
            if (r ~ /[kK]$/) m = 1e3
            else if (r ~ /[mM]$/) m = 1e6
            else if (r ~ /[gG]$/) m = 1e9
            sub(/[kKmMgG]$/, "", r)
            if (r * m >= 1000 && r * m <= 1e10) printf "%.0f\n", r * m
        }')
        [[ -n $rate ]] || usage_error "mcast-rate: $form, not '$1'"
    fi
    need_root
    need_cmd ip nft
    ((rate == 0)) || need_cmd python3
    need_lab
    apply_group "$(group_conf dtim 0)" "$(group_conf beacon_us "$DEFAULT_BEACON_US")" "$rate"
    echo "mcast-rate: $(rate_state)"
}

# ---------------------------------------------------------------------------
# Main

PREFIX=${MCAST_LAB_PREFIX:-$DEFAULT_PREFIX}
PREFIX_SET=0
COMMAND=
ARGS=()
declare -A KIND=([phone]=ns [board]=ns)
KIND_SET=0

set_kind() { # HOST KIND
    vm_kinds_ok "$1" "$2" || case $1 in
        board) usage_error "--board: expected ns, aarch64 or armv7, not '$2'" ;;
        phone) usage_error "--phone: expected ns or aarch64, not '$2'" ;;
    esac
    KIND[$1]=$2
    KIND_SET=1
}

set_prefix() {
    [[ $PREFIX_SET == 0 ]] || usage_error "--prefix given twice"
    PREFIX=$1
    PREFIX_SET=1
}

while (($# > 0)); do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --prefix)
            (($# >= 2)) || usage_error "--prefix needs a value"
            set_prefix "$2"
            shift 2
            ;;
        --prefix=*)
            set_prefix "${1#--prefix=}"
            shift
            ;;
        --board | --phone)
            (($# >= 2)) || usage_error "$1 needs a value"
            set_kind "${1#--}" "$2"
            shift 2
            ;;
        --board=* | --phone=*)
            h=${1%%=*}
            set_kind "${h#--}" "${1#*=}"
            shift
            ;;
        --)
            shift
            break
            ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            if [[ -z $COMMAND ]]; then
                COMMAND=$1
                shift
                if [[ $COMMAND == exec ]]; then
                    break # everything after 'exec' is HOST CMD..., unchanged
                fi
            else
                ARGS+=("$1")
                shift
            fi
            ;;
    esac
done
# Whatever is left (after 'exec' or '--') is taken as is.
if (($# > 0)); then
    ARGS+=("$@")
fi

[[ -n $COMMAND ]] || usage_error "missing command (up, down, status, exec, or a switch)"
validate_prefix "$PREFIX"

no_args() {
    ((${#ARGS[@]} == 0)) || usage_error "$COMMAND takes no arguments (got: ${ARGS[*]})"
}
[[ $KIND_SET == 0 || $COMMAND == up ]] || usage_error "--board and --phone go with up"

case $COMMAND in
    up)
        no_args
        cmd_up
        ;;
    down)
        no_args
        cmd_down
        ;;
    status)
        no_args
        cmd_status
        ;;
    exec) cmd_exec "${ARGS[@]}" ;;
    isolate) switch_port_flag isolate isolated "${ARGS[@]}" ;;
    mcast-to-unicast) switch_port_flag mcast-to-unicast mcast_to_unicast "${ARGS[@]}" ;;
    querier) switch_br_opt querier mcast_querier "${ARGS[@]}" ;;
    snooping) switch_br_opt snooping mcast_snooping "${ARGS[@]}" ;;
    igmp-version) switch_version igmp-version mcast_igmp_version 2 3 "${ARGS[@]}" ;;
    mld-version) switch_version mld-version mcast_mld_version 1 2 "${ARGS[@]}" ;;
    firewall) switch_firewall "${ARGS[@]}" ;;
    loss) switch_loss "${ARGS[@]}" ;;
    dtim) switch_dtim "${ARGS[@]}" ;;
    mcast-rate) switch_mcast_rate "${ARGS[@]}" ;;
    link) switch_link "${ARGS[@]}" ;;
    help) usage ;;
    *) usage_error "unknown command '$COMMAND'" ;;
esac
