#!/usr/bin/env python3
"""group-relay.py - the lab access point's transmitter of group-addressed frames.

scripts/lab.sh starts this inside the ap's namespace for its `dtim` and
`mcast-rate` switches; it is not meant to be run by hand. The nftables table
lab_group (family bridge, hooks forward and output) takes every
group-addressed data frame out of the bridge's forwarding path (its copy for
each port the bridge chose, after snooping, isolation and the other
switches) and hands it to this relay through nflog group NFLOG_GROUP. The
relay transmits it on that port (an AF_PACKET socket) when the access point
would put it on the air:

- dtim N: frames wait in the power-save buffer, a station being in power
  save, and leave at every Nth beacon (the DTIM beacon). Beacons are on a
  fixed schedule: beacon k at start + k * interval, so there is no drift.
  The buffer holds BUFFER frames; when it is full the oldest frame is
  dropped, as mac80211 does with its AP_MAX_BC_BUFFER (128) frames.
- mcast-rate R: the air carries group frames at R bit/s, one frame at a
  time, each frame once for all its stations (copies of a frame count once).
  A frame is delivered when its transmission ends. A frame that would wait
  longer than AIR_WAIT_NS for the air is dropped: 20 ms (mac80211's CoDel
  target), or, for frames released at a DTIM beacon, until the next DTIM.

Configuration comes from the file --conf (key=value lines: dtim, beacon_us,
rate; 0 means off), read at start and on SIGHUP. The counters go to --stats
(key value lines), rewritten at most every STATS_EVERY_NS. SIGTERM or SIGINT:
every frame still held is sent at once and the relay exits. The PID file is
written once the relay listens, and removed at exit.
"""

import argparse
import array
import collections
import errno
import os
import select
import signal
import socket
import struct
import sys
import time

NFLOG_GROUP = 15
BUFFER = 128
AIR_WAIT_NS = 20_000_000
STATS_EVERY_NS = 200_000_000

# linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nfnetlink_log.h
NETLINK_NETFILTER = 12
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
NFULA_CFG_CMD = 1
NFULA_CFG_MODE = 2
NFULA_CFG_QTHRESH = 5
NFULNL_CFG_CMD_BIND = 1
NFULNL_COPY_PACKET = 2
NFULA_PHYSINDEV = 6
NFULA_PHYSOUTDEV = 7
NFULA_PAYLOAD = 9
NFULA_L2HDR = 21

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = (0x8100, 0x88A8)
IPPROTO_UDP = 17
IPV6_EXT_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options


def log(msg):
    print(f"group-relay: {msg}", file=sys.stderr, flush=True)


def now_ns():
    return time.monotonic_ns()


# ---------------------------------------------------------------------------
# nflog over netlink


def nl_attr(kind, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, kind) + data + b"\0" * (-n % 4)


class Nflog:
    """A netlink socket bound to one nflog group, copying whole packets."""

    def __init__(self, group):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        # A DTIM's worth of copies arrives while the relay sleeps; a large
        # buffer keeps them (SO_RCVBUFFORCE: root, above rmem_max).
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))
        self.seq = 0
        self.group = group
        self.config(nl_attr(NFULA_CFG_CMD, struct.pack("B", NFULNL_CFG_CMD_BIND)))
        self.config(nl_attr(NFULA_CFG_MODE, struct.pack(">IBB", 0xFFFF, NFULNL_COPY_PACKET, 0)))
        # Each packet at once, not in batches (the default waits up to 1 s).
        self.config(nl_attr(NFULA_CFG_QTHRESH, struct.pack(">I", 1)))
        self.sock.setblocking(False)

    def config(self, attrs):
        self.seq += 1
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(self.group)) + attrs
        msg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG
        flags = NLM_F_REQUEST | NLM_F_ACK
        self.sock.send(struct.pack("=IHHII", 16 + len(body), msg_type, flags, self.seq, 0) + body)
        reply = self.sock.recv(65536)
        _, kind, _, _, _ = struct.unpack_from("=IHHII", reply)
        if kind == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", reply, 16)
            if code:
                raise OSError(-code, f"nflog group {self.group}: {os.strerror(-code)}")

    def packets(self):
        """Yields (in ifindex, out ifindex, frame) for every queued packet;
        raises BlockingIOError when there is none left."""
        data = self.sock.recv(1 << 17)
        off = 0
        while off + 16 <= len(data):
            length, kind, _, _, _ = struct.unpack_from("=IHHII", data, off)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
                attrs = {}
                p, end = off + 20, off + length
                while p + 4 <= end:
                    alen, akind = struct.unpack_from("=HH", data, p)
                    if alen < 4:
                        break
                    attrs[akind & 0x7FFF] = data[p + 4 : p + alen]
                    p += (alen + 3) & ~3
                out = attrs.get(NFULA_PHYSOUTDEV)
                if out and NFULA_L2HDR in attrs and NFULA_PAYLOAD in attrs:
                    inp = attrs.get(NFULA_PHYSINDEV)
                    yield (
                        struct.unpack(">I", inp)[0] if inp else 0,
                        struct.unpack(">I", out)[0],
                        attrs[NFULA_L2HDR] + attrs[NFULA_PAYLOAD],
                    )
            off += (length + 3) & ~3


# ---------------------------------------------------------------------------
# Frames


def ones_complement_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(array.array("H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def fix_udp_checksum(frame):
    """Completes the UDP checksum of an unfragmented UDP packet in FRAME
    (a bytearray), in place. A sender's stack leaves it partial when the
    NIC (here a veth or a virtio-net) is to finish it, and nflog copies it
    as it is; the receiving station would drop the datagram."""
    off = 12
    (ethertype,) = struct.unpack_from(">H", frame, off)
    while ethertype in ETH_P_8021Q and len(frame) >= off + 6:
        off += 4
        (ethertype,) = struct.unpack_from(">H", frame, off)
    ip = off + 2
    if ethertype == ETH_P_IP and len(frame) >= ip + 20:
        ihl = (frame[ip] & 0x0F) * 4
        (frag,) = struct.unpack_from(">H", frame, ip + 6)
        if frame[ip + 9] != IPPROTO_UDP or frag & 0x3FFF:
            return
        udp = ip + ihl
        pseudo = bytes(frame[ip + 12 : ip + 20])
    elif ethertype == ETH_P_IPV6 and len(frame) >= ip + 40:
        nxt, udp = frame[ip + 6], ip + 40
        while nxt in IPV6_EXT_HEADERS and len(frame) >= udp + 8:
            nxt, udp = frame[udp], udp + (frame[udp + 1] + 1) * 8
        if nxt != IPPROTO_UDP:
            return
        pseudo = bytes(frame[ip + 8 : ip + 40])
    else:
        return
    if len(frame) < udp + 8:
        return
    (ulen,) = struct.unpack_from(">H", frame, udp + 4)
    if ulen < 8 or udp + ulen > len(frame):
        return
    if ethertype == ETH_P_IP and frame[udp + 6 : udp + 8] == b"\0\0":
        return  # IPv4 UDP without a checksum
    frame[udp + 6 : udp + 8] = b"\0\0"
    if ethertype == ETH_P_IP:
        pseudo += struct.pack(">BBH", 0, IPPROTO_UDP, ulen)
    else:
        pseudo += struct.pack(">IxxxB", ulen, IPPROTO_UDP)
    s = ones_complement_sum(pseudo + bytes(frame[udp : udp + ulen]))
    csum = (~s) & 0xFFFF or 0xFFFF
    # The sum was taken over native-order words; the ones' complement sum
    # is byte-order independent up to a swap (RFC 1071).
    frame[udp + 6 : udp + 8] = struct.pack("=H", csum)


class Frame:
    __slots__ = ("raw", "data", "inport", "ports", "sent")

    def __init__(self, inport, outport, raw):
        self.raw = raw
        data = bytearray(raw)
        fix_udp_checksum(data)
        self.data = bytes(data)
        self.inport = inport
        self.ports = [outport]
        self.sent = False


# ---------------------------------------------------------------------------
# The access point's group transmitter


class Relay:
    def __init__(self, args):
        self.args = args
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.names = {}
        self.buffer = collections.deque()  # power-save buffer (dtim)
        self.air = collections.deque()  # (end of transmission, frame)
        self.air_free = 0
        self.last = None
        self.stats = dict.fromkeys(
            (
                "held",
                "dropped_buffer",
                "dtims",
                "late_dtims",
                "sent_frames",
                "sent_copies",
                "dropped_rate",
                "send_errors",
                "oversize",
                "overruns",
            ),
            0,
        )
        self.stats_dirty = True
        self.stats_at = 0
        self.dtim = self.beacon_ns = self.rate = 0
        self.next_dtim = None
        self.load()

    def load(self):
        conf = {}
        with open(self.args.conf) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    conf[k] = int(v)
        old = (self.dtim, self.beacon_ns)
        self.dtim = conf.get("dtim", 0)
        self.beacon_ns = conf.get("beacon_us", 102_400) * 1000
        self.rate = conf.get("rate", 0)
        self.air_free = min(self.air_free, now_ns())
        if (self.dtim, self.beacon_ns) != old:
            if self.dtim:
                # The first beacon 1 ms from now; the schedule is absolute.
                self.start = now_ns() + 1_000_000
                self.next_dtim = self.start
            else:
                self.next_dtim = None
                self.release(now_ns())  # the stations wake up
        self.stats_dirty = True
        log(f"dtim {self.dtim}, beacon {self.beacon_ns / 1e6:g} ms, rate {self.rate} bit/s")

    def period_ns(self):
        return self.dtim * self.beacon_ns

    def arrive(self, inport, outport, raw, now):
        last = self.last
        # The bridge's copies of one frame come one after the other.
        if (
            last is not None
            and not last.sent
            and last.inport == inport
            and outport not in last.ports
            and last.raw == raw
        ):
            last.ports.append(outport)
            return
        frame = self.last = Frame(inport, outport, raw)
        if self.dtim:
            if len(self.buffer) >= BUFFER:
                self.buffer.popleft()
                self.stats["dropped_buffer"] += 1
            self.buffer.append(frame)
            self.stats["held"] += 1
        else:
            self.to_air(frame, now, AIR_WAIT_NS)
        self.stats_dirty = True

    def to_air(self, frame, ready, max_wait):
        start = max(ready, self.air_free)
        if self.rate:
            if start - ready > max_wait:
                self.stats["dropped_rate"] += 1
                return
            self.air_free = start + len(frame.data) * 8 * 1_000_000_000 // self.rate
        else:
            self.air_free = start
        self.air.append((self.air_free, frame))

    def release(self, at):
        """The DTIM beacon at time AT: the buffered frames go on the air."""
        wait = self.period_ns() if self.dtim else AIR_WAIT_NS
        while self.buffer:
            self.to_air(self.buffer.popleft(), at, wait)

    def beacon(self, now):
        if self.next_dtim is None or now < self.next_dtim:
            return
        if now - self.next_dtim > 5_000_000:
            self.stats["late_dtims"] += 1
        self.release(self.next_dtim)
        self.stats["dtims"] += 1
        self.stats_dirty = True
        period = self.period_ns()
        # The next DTIM on the fixed schedule (skipping any we overslept).
        k = (now - self.start) // period + 1
        self.next_dtim = self.start + k * period

    def transmit(self, now, everything=False):
        while self.air and (everything or self.air[0][0] <= now):
            _, frame = self.air.popleft()
            frame.sent = True
            self.stats["sent_frames"] += 1
            for port in frame.ports:
                self.send(port, frame.data)
            self.stats_dirty = True

    def send(self, port, data):
        try:
            name = self.names.get(port) or self.names.setdefault(port, socket.if_indextoname(port))
            self.tx.sendto(data, (name, 0))
            self.stats["sent_copies"] += 1
        except OSError as e:
            self.names.pop(port, None)
            self.stats["oversize" if e.errno == errno.EMSGSIZE else "send_errors"] += 1

    def write_stats(self, now, force=False):
        if not (force or (self.stats_dirty and now - self.stats_at >= STATS_EVERY_NS)):
            return
        state = {
            "pid": os.getpid(),
            "dtim": self.dtim,
            "beacon_us": self.beacon_ns // 1000,
            "rate": self.rate,
            "buffer": BUFFER,
            "buffered": len(self.buffer),
            **self.stats,
        }
        lines = [f"{k} {v}" for k, v in state.items()]
        tmp = self.args.stats + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.args.stats)
        self.stats_at, self.stats_dirty = now, False

    def run(self, nflog, wake):
        stop = False
        while not stop:
            now = now_ns()
            deadlines = [now + STATS_EVERY_NS]
            if self.next_dtim is not None:
                deadlines.append(self.next_dtim)
            if self.air:
                deadlines.append(self.air[0][0])
            timeout = max(0, min(deadlines) - now) / 1e9
            ready, _, _ = select.select([nflog.sock, wake], [], [], timeout)
            now = now_ns()
            if nflog.sock in ready:
                try:
                    while True:
                        for inport, outport, raw in nflog.packets():
                            self.arrive(inport, outport, raw, now)
                except BlockingIOError:
                    pass
                except OSError as e:
                    if e.errno != errno.ENOBUFS:
                        raise
                    self.stats["overruns"] += 1  # copies lost in the socket
            if wake in ready:
                for sig in os.read(wake.fileno(), 64):
                    if sig == signal.SIGHUP:
                        self.load()
                        self.write_stats(now_ns(), force=True)
                    else:
                        stop = True
            now = now_ns()
            self.beacon(now)
            self.transmit(now)
            self.write_stats(now)
        # Leaving: whatever is held goes out now.
        self.release(now_ns())
        self.transmit(now_ns(), everything=True)
        self.write_stats(now_ns(), force=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conf", required=True)
    p.add_argument("--stats", required=True)
    p.add_argument("--pidfile", required=True)
    args = p.parse_args()

    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)

    relay = Relay(args)
    try:
        nflog = Nflog(NFLOG_GROUP)
    except OSError as e:
        log(f"cannot listen to nflog group {NFLOG_GROUP}: {e.strerror}")
        return 1
    relay.write_stats(now_ns(), force=True)
    with open(args.pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(args.pidfile + ".tmp", args.pidfile)
    log(f"listening on nflog group {NFLOG_GROUP} (PID {os.getpid()})")
    try:
        relay.run(nflog, wake_r)
    finally:
        try:
            os.unlink(args.pidfile)
        except FileNotFoundError:
            pass
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
