#!/usr/bin/python3
"""Adversarial segments from the kernel side of the tap against a dillnet
app's echo server (64-byte records echoed back), for t_tcp_adversarial.sh.
Runs in the test namespace.

usage: adversarial.py IFACE KERNEL_IP DAEMON_IP PORT CLOSED_PORT CTL CTL_SOCK

A real kernel socket holds a connection to the app; an AF_PACKET sniffer
on the tap learns its sequence numbers; crafted segments go out through an
AF_PACKET socket.  Crafted handshakes use source ports 40000-49999, whose
RSTs the test's nftables rule keeps the kernel from sending.  Prints one
line per check: "ok - ..." or "FAIL - ..."; exit status 1 if any failed."""
import json
import random
import socket
import struct
import subprocess
import sys
import threading
import time

from scapy.all import AsyncSniffer, Ether, IP, TCP  # noqa: E402

IFACE, KIP, DIP, PORT, CLOSED, CTL, CTLSOCK = sys.argv[1:8]
PORT = int(PORT)
CLOSED = int(CLOSED)
failed = 0
pkts = []          # every TCP frame seen on the tap, in order
pkts_lock = threading.Lock()


def result(ok, desc):
    global failed
    if not ok:
        failed += 1
    print("%s - %s" % ("ok" if ok else "FAIL", desc), flush=True)


def counters():
    out = subprocess.run([CTL, "-s", CTLSOCK, "-j", "show", "counters"],
                         capture_output=True, text=True, timeout=10).stdout
    d = {}
    for x in json.loads(out)["counters"]:
        d[x["name"].split(".")[-1]] = x["value"]
    return d


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.getrandbits(16),
                    0x4000, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


FLAGS = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}


def tcp(src, dst, sport, dport, seq, ack, flags, win=65535, opts=b"", data=b"",
        bad_csum=False, doff=None):
    """A TCP segment in an IPv4 packet, options given as raw bytes (padded
    to 4 bytes unless doff forces a header length)."""
    if doff is None:
        opts = opts + b"\0" * (-len(opts) % 4)
        doff = 5 + len(opts) // 4
    f = 0
    for c in flags:
        f |= FLAGS[c]
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                    doff << 4, f, win, 0, 0) + opts
    pseudo = struct.pack("!4s4sBBH", socket.inet_aton(src), socket.inet_aton(dst), 0, 6,
                         len(h) + len(data))
    c = csum(pseudo + h + data)
    if bad_csum:
        c ^= 0x5A5A
    h = h[:16] + struct.pack("!H", c) + h[18:]
    return ip4(src, dst, h + data)


def on_pkt(p):
    with pkts_lock:
        pkts.append(p)


raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
raw.bind((IFACE, 0))
KMAC = raw.getsockname()[4]
DMAC = None


def send(ipkt):
    raw.send(DMAC + KMAC + b"\x08\x00" + ipkt)


def seen():
    with pkts_lock:
        return len(pkts)


def from_daemon(start, dport=None, pred=None):
    with pkts_lock:
        ps = pkts[start:]
    out = []
    for p in ps:
        if IP not in p or TCP not in p or p[IP].src != DIP:
            continue
        if dport is not None and p[TCP].dport != dport:
            continue
        if pred and not pred(p):
            continue
        out.append(p)
    return out


def wait_for(start, dport, pred, tmo=2.0):
    t = time.time() + tmo
    while time.time() < t:
        r = from_daemon(start, dport, pred)
        if r:
            return r[0]
        time.sleep(0.02)
    return None


def opt(p, name):
    for o in p[TCP].options:
        if o[0] == name:
            return o[1]
    return None


class Conn:
    """A kernel socket to the app plus what the sniffer says about it."""

    def __init__(self):
        self.s = socket.create_connection((DIP, PORT), timeout=10)
        self.kport = self.s.getsockname()[1]
        self.n = 0
        self.ws = 0
        synack = wait_for(0, self.kport, lambda p: p[TCP].flags.S and p[TCP].flags.A)
        if synack is not None and opt(synack, "WScale") is not None:
            self.ws = opt(synack, "WScale")

    def echo(self):
        """One 64-byte record through the app and back; True if intact."""
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
        """(rcv_nxt of the daemon, snd_nxt of the daemon, window bytes,
        last daemon tsval) from the newest segment the daemon sent."""
        time.sleep(0.1)
        ps = from_daemon(0, self.kport)
        p = ps[-1]
        t = p[TCP]
        snd_nxt = t.seq + len(bytes(t.payload)) + (1 if t.flags.F else 0)
        ts = opt(p, "Timestamp")
        return t.ack, snd_nxt, t.window << self.ws, ts[0] if ts else None

    def ts_opt(self, tsecr):
        # NOP NOP TS: a tsval ahead of the kernel's so PAWS lets it by.
        if tsecr is None:
            return b""
        kts = (int(time.monotonic() * 1000) + 1000000) & 0xFFFFFFFF
        return b"\x01\x01\x08\x0a" + struct.pack("!II", kts, tsecr)


def main():
    global DMAC
    sn = AsyncSniffer(iface=IFACE, store=False, prn=on_pkt,
                      lfilter=lambda p: IP in p and TCP in p)
    sn.start()
    time.sleep(0.5)
    c = Conn()
    result(c.echo(), "baseline: a kernel connection to the app echoes a record")
    d = from_daemon(0, c.kport)
    if not d:
        result(False, "the sniffer saw the daemon's segments")
        return
    DMAC = bytes.fromhex(d[0][Ether].src.replace(":", ""))

    # --- out-of-window RST: ignored
    rcv_nxt, snd_nxt, wnd, tsv = c.state()
    before = counters()
    send(tcp(KIP, DIP, c.kport, PORT, rcv_nxt + wnd + 1000000, 0, "R"))
    time.sleep(0.3)
    after = counters()
    result(after["tcp_drop_rst_out_of_window"] > before["tcp_drop_rst_out_of_window"],
           "out-of-window RST counted as drop_rst_out_of_window (%d -> %d)"
           % (before["tcp_drop_rst_out_of_window"], after["tcp_drop_rst_out_of_window"]))
    result(c.echo(), "connection still works after an out-of-window RST")

    # --- in-window RST that is not exactly RCV.NXT: challenge ACK (RFC 5961 3.2)
    rcv_nxt, snd_nxt, wnd, tsv = c.state()
    before = counters()
    start = seen()
    off = min(1000, max(wnd // 2, 1))
    send(tcp(KIP, DIP, c.kport, PORT, rcv_nxt + off, 0, "R"))
    ack = wait_for(start, c.kport, lambda p: p[TCP].flags == "A" and p[TCP].ack == rcv_nxt
                   and len(bytes(p[TCP].payload)) == 0)
    after = counters()
    result(ack is not None, "in-window inexact RST (RCV.NXT+%d) answered with a challenge ACK "
           "(seq %s ack %s, want ack %d)" % (off, ack[TCP].seq if ack else "-",
                                             ack[TCP].ack if ack else "-", rcv_nxt))
    result(after["tcp_challenge_acks"] > before["tcp_challenge_acks"],
           "challenge_acks counter went up (%d -> %d)" % (before["tcp_challenge_acks"],
                                                         after["tcp_challenge_acks"]))
    result(c.echo(), "connection still works after an in-window RST")

    # --- SYN on the established connection: challenge ACK too (RFC 5961 4).
    # One challenge ACK per connection per tcp.invalid_ratelimit_ms
    # (500 ms, RFC 5961 7): wait out the one the RST just drew.
    time.sleep(0.6)
    rcv_nxt, snd_nxt, wnd, tsv = c.state()
    start = seen()
    send(tcp(KIP, DIP, c.kport, PORT, rcv_nxt + 10, 0, "S", opts=b"\x02\x04\x05\xb4"))
    ack = wait_for(start, c.kport, lambda p: p[TCP].flags == "A" and p[TCP].ack == rcv_nxt)
    result(ack is not None, "SYN on an established connection answered with a challenge ACK")
    result(c.echo(), "connection still works after an in-window SYN")

    # --- bad TCP checksums: dropped, counted, the stream is untouched
    rcv_nxt, snd_nxt, wnd, tsv = c.state()
    before = counters()
    junk = b"J" * 64
    nbad = 20
    for i in range(nbad):
        send(tcp(KIP, DIP, c.kport, PORT, rcv_nxt, snd_nxt, "PA", opts=c.ts_opt(tsv),
                 data=junk, bad_csum=True))
    time.sleep(0.3)
    after = counters()
    result(after["tcp_drop_bad_csum"] - before["tcp_drop_bad_csum"] >= nbad,
           "%d segments with bad TCP checksums counted as drop_bad_csum (%d -> %d)"
           % (nbad, before["tcp_drop_bad_csum"], after["tcp_drop_bad_csum"]))
    result(c.echo(), "their payload never reached the app (the next record echoes intact)")

    # --- malformed options on the established connection (pure ACKs)
    bad_opts = [
        ("length 0", b"\x02\x00\x05\xb4", None),
        ("length 1", b"\x08\x01\x00\x00", None),
        ("length past the header", b"\x01\x01\x08\x28", None),
        ("kind without a length byte", b"\x01\x01\x01\x08", None),
        ("window scale 15", b"\x03\x03\x0f\x00", None),
        ("MSS 0", b"\x02\x04\x00\x00", None),
        ("data offset past the segment", b"", 15),
    ]
    rcv_nxt, snd_nxt, wnd, tsv = c.state()
    for name, o, doff in bad_opts:
        send(tcp(KIP, DIP, c.kport, PORT, rcv_nxt, snd_nxt, "A", opts=o, doff=doff))
    time.sleep(0.2)
    result(c.echo(), "connection still works after ACKs with malformed options")

    # --- SYN to a closed port: RST
    isn = random.getrandbits(32)
    sport = 40000 + random.randrange(10000)
    start = seen()
    send(tcp(KIP, DIP, sport, CLOSED, isn, 0, "S", opts=b"\x02\x04\x05\xb4"))
    rst = wait_for(start, sport, lambda p: p[TCP].flags.R)
    result(rst is not None and rst[TCP].flags.A and rst[TCP].ack == (isn + 1) & 0xFFFFFFFF,
           "SYN to closed port %d answered with RST,ACK ack=ISN+1 (%s)"
           % (CLOSED, rst[TCP].sprintf("%flags% ack=%ack%") if rst else "nothing"))

    # --- malformed options in SYNs to the listener
    for name, o, doff in bad_opts:
        sport = 40000 + random.randrange(10000)
        isn = random.getrandbits(32)
        start = seen()
        send(tcp(KIP, DIP, sport, PORT, isn, 0, "S", opts=o, doff=doff))
        r = wait_for(start, sport, lambda p: True, tmo=0.5)
        what = r[TCP].sprintf("%flags%") if r is not None else "no answer (dropped)"
        if r is not None and r[TCP].flags.S:
            send(tcp(KIP, DIP, sport, PORT, isn + 1, 0, "R"))
        result(True, "SYN with option %s: %s" % (name, what))

    # MSS 0 in a SYN: the connection must still carry data (in segments of
    # some sane size, never empty ones), not divide by zero or stall.
    sport = 40000 + random.randrange(10000)
    isn = random.getrandbits(32)
    start = seen()
    send(tcp(KIP, DIP, sport, PORT, isn, 0, "S", opts=b"\x02\x04\x00\x00"))
    sa = wait_for(start, sport, lambda p: p[TCP].flags.S and p[TCP].flags.A)
    got = b""
    sizes = []
    if sa is not None:
        dseq = sa[TCP].seq + 1
        send(tcp(KIP, DIP, sport, PORT, isn + 1, dseq, "A"))
        rec = b"mss-zero" * 8
        send(tcp(KIP, DIP, sport, PORT, isn + 1, dseq, "PA", data=rec))
        t_end = time.time() + 5
        pos = start
        while time.time() < t_end and len(got) < 64:
            for p in from_daemon(pos, sport):
                pl = bytes(p[TCP].payload)
                if pl and p[TCP].seq == dseq:
                    got += pl
                    sizes.append(len(pl))
                    dseq += len(pl)
                    send(tcp(KIP, DIP, sport, PORT, isn + 1 + 64, dseq, "A"))
            pos = seen()
            time.sleep(0.05)
        send(tcp(KIP, DIP, sport, PORT, isn + 1 + 64, dseq, "R"))
        result(got == rec, "a connection that announced MSS 0 still echoes 64 bytes "
               "(segments of %s bytes)" % sizes)
    else:
        result(True, "SYN with MSS 0 refused (no SYN-ACK)")

    result(c.echo(), "the first connection still works after the option tests")
    c2 = Conn()
    result(c2.echo(), "a new kernel connection to the app works after the option tests")
    c2.s.close()

    # --- SYN flood from 198.18.0.0/24 while a real client connects
    nflood = 5000
    frames = []
    rnd = random.Random(4)
    for i in range(nflood):
        src = "198.18.0.%d" % rnd.randrange(3, 255)
        frames.append(DMAC + KMAC + b"\x08\x00" +
                      tcp(src, DIP, rnd.randrange(1024, 65536), PORT, rnd.getrandbits(32), 0,
                          "S", opts=b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + b"\0" * 8 +
                          b"\x01\x03\x03\x07"))
    before = counters()
    client_ok = []

    def real_client():
        try:
            k = Conn()
            ok = all(k.echo() for _ in range(10))
            k.s.close()
            client_ok.append(ok)
        except OSError as e:
            print("real client during flood: %s" % e, flush=True)
            client_ok.append(False)

    t0 = time.time()
    th = None
    for i, f in enumerate(frames):
        raw.send(f)
        if i == nflood // 2:
            th = threading.Thread(target=real_client)
            th.start()
        if i % 100 == 99:
            time.sleep(0.002)   # the tap's queue holds 1,000 frames
    flood_s = time.time() - t0
    th.join(30)
    after = counters()
    d = {k: after.get(k, 0) - before.get(k, 0) for k in
         ("tcp_syncookies_sent", "tcp_drop_syn_queue_full", "tcp_passive_opens", "tcp_syncookies_ok")}
    print("SYN flood: %d SYNs in %.2f s; counter deltas %s" % (nflood, flood_s, d), flush=True)
    result(client_ok == [True], "a real kernel client connected and echoed 10 records during "
           "a flood of %d SYNs" % nflood)
    result(d["tcp_syncookies_sent"] > 0 or d["tcp_drop_syn_queue_full"] == 0,
           "the flood beyond the SYN backlog was answered with cookies, not dropped "
           "(syncookies_sent +%d, drop_syn_queue_full +%d)"
           % (d["tcp_syncookies_sent"], d["tcp_drop_syn_queue_full"]))
    c3 = Conn()
    result(c3.echo(), "a new kernel connection works after the flood")
    c3.s.close()
    result(c.echo(), "the first connection survived everything")
    c.s.close()
    sn.stop()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - a crash is a failed check
        import traceback
        traceback.print_exc()
        result(False, "adversarial.py crashed: %s" % e)
    sys.exit(1 if failed else 0)
