#!/usr/bin/env bash
# lab.sh - a virtual phone / Wi-Fi / board network in Linux network
# namespaces, for trying and testing mcast without hardware.
# Run `scripts/lab.sh --help` for everything it does.
set -euo pipefail

PROG=${0##*/}
readonly PROG
readonly DEFAULT_PREFIX=mclab
readonly MAX_PREFIX_LEN=12
readonly HOSTS=(ap phone board pc cell)
readonly STATIONS=(phone board pc)          # hosts on the Wi-Fi segment
readonly FW_TABLE=lab_firewall              # nftables tables, inside the ap
readonly LOSS_TABLE=lab_loss

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
  up                 Build the lab. If a lab with this prefix already exists
                     (even half-built after a crash) it is torn down first.
                     Waits (at most ~5 s) until every link is up and has its
                     IPv6 link-local address, prints the status, exits 0.
                     If any step fails, the partial lab is removed (exit 1).
  down               Remove the lab: ends the processes still running inside
                     its namespaces (SIGTERM, then SIGKILL after 2 s) and
                     deletes every namespace named P-*, which deletes its
                     links, bridge and nftables tables. Keeps no state file.
                     Succeeds when there is nothing to remove.
  status             Print the prefix, each host's interfaces and addresses,
                     its default routes and the switch states. Exit 1 if the
                     lab is not (completely) up.
  exec HOST CMD...   Run CMD inside HOST's namespace: exec's
                     'ip netns exec P-HOST CMD...', arguments passed
                     unchanged; the exit status and signals are CMD's.
                     HOST is one of: ${HOSTS[*]}.

Switches (idempotent; each prints its new state; shown by 'status'):
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

Requirements: root, iproute2 ('ip', 'bridge'), sysctl, and nft for
'firewall', 'loss' (and for their lines in 'status'); veth and bridge
support in the kernel (no netem or dummy links needed).

Exit status: 0 success; 1 failure, or the lab is not up; 2 usage error;
3 a requirement is missing (not root, a command not installed).

Examples:
  sudo $PROG up
  sudo $PROG exec board mcast recv -c 3 &
  sudo $PROG exec phone mcast send -c 3 --interval 500ms
  sudo $PROG loss 20
  sudo $PROG --prefix lab2 up      # a second, independent lab
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
    while IFS= read -r name; do
        [[ -n $name ]] || continue
        end_processes "$name"
        ip netns del "$name" 2>/dev/null || ip netns del "$name"
    done < <(lab_namespaces)
    left=$(lab_namespaces | tr '\n' ' ')
    [[ -z ${left// /} ]] || die "$E_FAIL" "could not delete namespaces: $left"
}

cmd_down() {
    need_root
    need_cmd ip
    local had
    had=$(lab_namespaces | wc -l)
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
    local -a want=(ap:br0 ap:port-phone ap:port-board ap:port-pc phone:wlan0
        phone:rmnet_data0 board:wlan0 pc:wlan0 cell:rmnet0)
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
    if [[ -n $(lab_namespaces) ]]; then
        note "lab '$PREFIX' already exists; tearing it down first"
        do_down
    fi
    trap on_up_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local h
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
        nip ap link add "port-$h" address "02:6d:63:00:0f:$n" type veth \
            peer name wlan0 address "02:6d:63:00:01:$n" netns "$(ns "$h")"
        in_ns ap sysctl -qw "net.ipv6.conf.port-$h.disable_ipv6=1"
        nip ap link set "port-$h" master br0
        addr "$h" wlan0 "198.18.1.$n/24" "fd6d:6361:7374:1::$n/64"
    done

    # Mobile data: phone rmnet_data0 <-> cell rmnet0.
    nip phone link add rmnet_data0 address 02:6d:63:00:02:10 type veth \
        peer name rmnet0 address 02:6d:63:00:02:01 netns "$(ns cell)"
    addr phone rmnet_data0 198.18.2.10/24 fd6d:6361:7374:2::10/64
    addr cell rmnet0 198.18.2.1/24 fd6d:6361:7374:2::1/64

    # Links up (ports before the bridge, so the startup queries reach hosts).
    for h in "${STATIONS[@]}"; do
        nip ap link set "port-$h" up
        nip "$h" link set wlan0 up
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
    for h in board pc; do
        nip "$h" route add default via 198.18.1.1 dev wlan0
        nip "$h" -6 route add default via fd6d:6361:7374:1::1 dev wlan0
    done

    wait_ready
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

print_status() {
    local h
    echo "lab: $PREFIX (up)"
    echo "hosts:"
    for h in "${HOSTS[@]}"; do
        print_host "$h"
    done
    echo "switches:"
    printf '  %-17s %s\n' \
        isolate "$(port_flag_state isolated)" \
        firewall "$(firewall_state)" \
        loss "$(loss_state)" \
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
# Main

PREFIX=${MCAST_LAB_PREFIX:-$DEFAULT_PREFIX}
PREFIX_SET=0
COMMAND=
ARGS=()

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
    help) usage ;;
    *) usage_error "unknown command '$COMMAND'" ;;
esac
