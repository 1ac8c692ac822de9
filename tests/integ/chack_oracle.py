#!/usr/bin/python3
"""The CVE-2016-5696 probe against dillnetd (issue 10 item 4), for
t_isolation_stack.sh.  Runs in the test namespace.

usage: chack_oracle.py IFACE KERNEL_IP DAEMON_IP PORT CTL CTL_SOCK ROUNDS

Two kernel sockets hold connections to an app's echo server (64-byte
records): the victim's and the attacker's own.  Each round, after 0.6 s of
quiet (longer than tcp.invalid_ratelimit_ms), the attacker spoofs K RSTs
with the victim's 4-tuple, either all out of the victim's window ("miss")
or all inside it but not at RCV.NXT ("hit"), then at once sends N
in-window inexact RSTs on its own connection and counts, for one second,
the challenge ACKs its own connection gets.  With one global budget the
count drops when the spoofed RSTs hit (the oracle); with per-connection
limits it must be the same either way.  Sequence numbers come from an
AF_PACKET socket on the tap with a large receive buffer, read by a
thread that keeps only the daemon's TCP segments (the test is its own
off-path attacker with the answer key; scapy's sniffer dropped frames in
the bursts here).  Prints "ok - ..." / "FAIL - ..." lines and "fig ..."
lines with the figures; exit 1 if any check failed."""
import json
import random
import socket
import struct
import subprocess
import sys
import threading
import time

IFACE, KIP, DIP, PORT, CTL, CTLSOCK, ROUNDS = sys.argv[1:8]
PORT = int(PORT)
ROUNDS = int(ROUNDS)
K = 100   # spoofed RSTs at the victim per round
N = 100   # RSTs on the attacker's own connection per round
failed = 0
pkts = []
lock = threading.Lock()


def result(ok, desc):
    global failed
    if not ok:
        failed += 1
    print("%s - %s" % ("ok" if ok else "FAIL", desc), flush=True)


def counters():
    out = subprocess.run([CTL, "-s", CTLSOCK, "-j", "show", "counters"],
                         capture_output=True, text=True, timeout=10).stdout
    return {x["name"].split(".")[-1]: x["value"] for x in json.loads(out)["counters"]}


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def rst(sport, seq):
    """An RST (no ACK) from KIP:sport to DIP:PORT, in an IPv4 packet."""
    h = struct.pack("!HHIIBBHHH", sport, PORT, seq & 0xFFFFFFFF, 0, 5 << 4, 4, 0, 0, 0)
    pseudo = struct.pack("!4s4sBBH", socket.inet_aton(KIP), socket.inet_aton(DIP), 0, 6, len(h))
    h = h[:16] + struct.pack("!H", csum(pseudo + h)) + h[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(h), random.getrandbits(16), 0x4000,
                     64, 6, 0, socket.inet_aton(KIP), socket.inet_aton(DIP))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + h


DIP_B = socket.inet_aton(DIP)
stop = threading.Event()


class Seg:
    """One TCP segment the daemon sent, parsed from its Ethernet frame."""
    __slots__ = ("smac", "dport", "flags", "seq", "ack", "win", "plen", "ws")

    def __init__(self, f):
        ihl = (f[14] & 15) * 4
        tot = struct.unpack("!H", f[16:18])[0]
        t = 14 + ihl
        (_, self.dport, self.seq, self.ack, off, self.flags,
         self.win) = struct.unpack("!HHIIBBH", f[t:t + 16])
        doff = (off >> 4) * 4
        self.plen = tot - ihl - doff
        self.smac = f[6:12]
        self.ws = None
        o, end = t + 20, t + doff
        while o < end:                 # options: find window scale (kind 3)
            k = f[o]
            if k == 0:
                break
            if k == 1:
                o += 1
                continue
            if o + 1 >= end or f[o + 1] < 2:
                break
            if k == 3 and f[o + 1] == 3:
                self.ws = f[o + 2]
            o += f[o + 1]


def reader(sock):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            f = sock.recv(65535)
        except socket.timeout:
            continue
        if len(f) < 54 or f[12:14] != b"\x08\x00" or f[23] != 6 or f[26:30] != DIP_B:
            continue
        seg = Seg(f)
        with lock:
            pkts.append(seg)


def seen():
    with lock:
        return len(pkts)


def from_daemon(start, dport):
    with lock:
        ps = pkts[start:]
    return [p for p in ps if p.dport == dport]


def pure_acks(start, dport):
    return [p for p in from_daemon(start, dport) if p.flags == 0x10 and p.plen == 0]


class Conn:
    def __init__(self):
        self.s = socket.create_connection((DIP, PORT), timeout=10)
        self.kport = self.s.getsockname()[1]
        self.n = 0
        self.ws = 0
        time.sleep(0.1)
        for p in from_daemon(0, self.kport):
            if p.flags & 0x12 == 0x12 and p.ws is not None:
                self.ws = p.ws

    def echo(self):
        self.n += 1
        rec = (b"%08d" % self.n) * 8
        try:
            self.s.sendall(rec)
            got = b""
            while len(got) < 64:
                b = self.s.recv(64 - len(got))
                if not b:
                    return False
                got += b
            return got == rec
        except OSError:
            return False

    def state(self):
        """(RCV.NXT of the daemon, its receive window in bytes)."""
        t = from_daemon(0, self.kport)[-1]
        return t.ack, t.win << self.ws


def main():
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sniff.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)   # SO_RCVBUFFORCE: 8 MiB
    sniff.bind((IFACE, 0))
    th = threading.Thread(target=reader, args=(sniff,), daemon=True)
    th.start()
    time.sleep(0.2)
    victim = Conn()
    att = Conn()
    result(victim.echo() and att.echo(), "victim's and attacker's connections echo a record")
    d = from_daemon(0, victim.kport)
    if not d:
        result(False, "the sniffer saw the daemon's segments")
        return
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((IFACE, 0))
    hdr = d[0].smac + raw.getsockname()[4] + b"\x08\x00"

    seen_by = {"miss": [], "hit": []}
    victim_got = {"miss": [], "hit": []}
    c0 = counters()
    for r in range(ROUNDS):
        for mode in ("miss", "hit"):
            time.sleep(0.6)
            v_nxt, v_wnd = victim.state()
            a_nxt, a_wnd = att.state()
            # Inside the window, never at RCV.NXT (that would be a real reset).
            if mode == "hit":
                vseqs = [v_nxt + 1 + (i * 7919) % max(v_wnd - 2, 1) for i in range(K)]
            else:
                vseqs = [v_nxt + v_wnd + 100000 + i * 1000 for i in range(K)]
            aseqs = [a_nxt + 1 + (i * 104729) % max(a_wnd - 2, 1) for i in range(N)]
            start = seen()
            for s in vseqs:
                raw.send(hdr + rst(victim.kport, s))
            for s in aseqs:
                raw.send(hdr + rst(att.kport, s))
            time.sleep(1.0)
            seen_by[mode].append(len(pure_acks(start, att.kport)))
            victim_got[mode].append(len(pure_acks(start, victim.kport)))
    c1 = counters()
    delta = {k: c1[k] - c0.get(k, 0) for k in c1 if "challenge" in k or "rst" in k}
    print("fig attacker's own challenge ACKs per round: miss %s hit %s" %
          (seen_by["miss"], seen_by["hit"]), flush=True)
    print("fig victim's challenge ACKs per round: miss %s hit %s" %
          (victim_got["miss"], victim_got["hit"]), flush=True)
    print("fig counter deltas: %s" % " ".join("%s=%d" % kv for kv in sorted(delta.items())),
          flush=True)
    got = sum(seen_by["miss"] + seen_by["hit"] + victim_got["miss"] + victim_got["hit"])
    result(got == delta.get("tcp_challenge_acks", -1),
           "the capture holds every challenge ACK the daemon counted (%d == %d)"
           % (got, delta.get("tcp_challenge_acks", -1)))
    # The oracle is the difference between the two lists.
    result(sorted(seen_by["miss"]) == sorted(seen_by["hit"]),
           "the attacker's count does not depend on hitting the victim's window "
           "(miss %s, hit %s)" % (seen_by["miss"], seen_by["hit"]))
    result(all(x == 1 for x in seen_by["miss"] + seen_by["hit"]),
           "%d RSTs on its own connection draw exactly one challenge ACK a round "
           "(per-connection limit; miss %s, hit %s)" % (N, seen_by["miss"], seen_by["hit"]))
    result(all(x == 1 for x in victim_got["hit"]) and all(x == 0 for x in victim_got["miss"]),
           "the victim got one challenge ACK per hitting round, none for misses "
           "(hit %s, miss %s)" % (victim_got["hit"], victim_got["miss"]))
    want_cl = ROUNDS * ((N - 1) * 2 + (K - 1))
    result(delta.get("tcp_challenge_acks_conn_limited", 0) >= want_cl,
           "challenge_acks_conn_limited counts the rest (%d >= %d)"
           % (delta.get("tcp_challenge_acks_conn_limited", 0), want_cl))
    result(delta.get("tcp_challenge_acks", 0) == ROUNDS * 3,
           "challenge_acks sent: one per connection per round (%d == %d)"
           % (delta.get("tcp_challenge_acks", 0), ROUNDS * 3))
    result(delta.get("tcp_drop_rst_out_of_window", 0) >= ROUNDS * K,
           "the missing RSTs counted as drop_rst_out_of_window (%d >= %d)"
           % (delta.get("tcp_drop_rst_out_of_window", 0), ROUNDS * K))
    ok = all(victim.echo() for _ in range(20))
    result(ok, "the victim's connection survived %d spoofed RSTs and echoes 20 records"
           % (2 * ROUNDS * K))
    result(att.echo(), "the attacker's own connection survived too")
    stop.set()
    th.join()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is a failed check with its reason
        result(False, "chack_oracle.py raised %r" % (e,))
    sys.exit(1 if failed else 0)
