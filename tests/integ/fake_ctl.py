#!/usr/bin/env python3
"""A stand-in for dillnetd's ctl socket, for testing dillnetctl alone.

Listens on an AF_UNIX SOCK_SEQPACKET socket, serves one client (HELLO, then
one request) the way a given scenario says, records what it received, and
exits.  The frames are packed by hand from proto/dn_msg.h with native
alignment ("@" plus a trailing "0Q" for the struct's own padding), so a
layout disagreement between this file and the C structs makes dillnetctl's
dn_msg_check reject the reply, and the test fails.

usage: fake_ctl.py SOCKET SCENARIO LOGFILE
"""
import errno
import os
import socket
import struct
import sys
import time

HDR = "@HHIII"                 # struct dn_msg_hdr
HELLO = "@IHHQ32s0Q"           # struct dn_msg_hello
STATUS = "@16sQII64s32s6sBBIIIIIII0Q"
PORT = "@64s32s6sBBII8Q0Q"
ARP = "@I6sBBII"               # struct dn_ctl_arp_entry (4-byte aligned)
COUNTER = "@48sQ0Q"
LIST = "@II"
LOGLEVEL = "@16s"
APP = "@IIIIQIIQQQ32sIIIIIIQ0Q"  # struct dn_ctl_app
KILL_APP = "@II"
TCPCONN = "@IIHHBBBBBBH16s16sIIIIIIIIQQQQII0Q"   # struct dn_ctl_tcpconn
KILL_CONN = "@IIHHI"

MAGIC = 0x444E4554
F_REPLY = 1
T_HELLO, T_STATUS, T_PORT, T_ARP, T_COUNTERS, T_LOGLEVEL = 1, 16, 17, 18, 19, 20
T_APPS, T_KILL_APP, T_CONNS, T_KILL_CONN = 21, 22, 23, 24


def ip(s):
    return struct.unpack("!I", socket.inet_aton(s))[0]


def frame(mtype, req_id, payload=b"", result=0, flags=F_REPLY, len_field=None):
    n = len(payload) if len_field is None else len_field
    return struct.pack(HDR, mtype, flags, n, req_id, result) + payload


def hello(major=1, minor=0):
    return struct.pack(HELLO, MAGIC, major, minor, 0, b"fake-dillnetd")


def status():
    return struct.pack(STATUS, b"0.1.0", 90061000, 4242, 0,
                       b"net_tap0", b"net_tap", bytes([2, 0, 0, 0, 0, 2]),
                       1, 24, 10000, ip("198.18.0.2"), ip("198.18.0.1"),
                       1500, 3, 2, 0)


def port():
    # A name with every kind of character JSON must escape, and a byte
    # that is not UTF-8.
    name = b'tap "x" \\ \x01\t\xff'
    return struct.pack(PORT, name, b"net_tap", bytes([2, 0, 0, 0, 0, 2]),
                       1, 1, 10000, 1500, 10, 20, 1000, 2000, 0, 1, 0, 2**64 - 1)


def arp():
    entries = [(ip("198.18.0.1"), bytes([2, 0, 0, 0, 0, 1]), 1, 0, 1234, 0),
               (ip("198.18.0.9"), bytes(6), 0, 0, 10, 3)]
    return struct.pack(LIST, len(entries), 0) + b"".join(
        struct.pack(ARP, *e) for e in entries)


def counters():
    names = [(b"tcp_rx_segments", 10), (b"tcp_rx_bad_csum", 1),
             (b"ip_rx_packets", 99), (b'odd "name"', 7)]
    return struct.pack(LIST, len(names), 0) + b"".join(
        struct.pack(COUNTER, n, v) for n, v in names)


def apps():
    # The name comes from an unprivileged app's HELLO: make it hostile.
    entries = [(1234, 1000, 1000, 1, 1700000000000, 3, 64, 1 << 26, 5, 6, b"web",
                1, 2, 1, 7, 1, 4, 3 << 26),
               (1235, 1001, 1001, 2, 1700000000500, 0, 64, 1 << 26, 0, 0,
                b'evil\x1b[2J"\\', 0, 1, 0, 0, 0, 0, 1 << 26)]
    return struct.pack(LIST, len(entries), 0) + b"".join(
        struct.pack(APP, *e) for e in entries)


def conns():
    est = (ip("198.18.0.2"), ip("198.18.0.1"), 80, 40000, 4, 1, 1, 1, 7, 7, 0,
           b"ESTABLISHED", b"cubic", 100, 50, 7, 65535, 262144, 14480, 2**31,
           1448, 1234, 500, 201234, 3, 1234, 1)
    lst = (0, 0, 8080, 0, 1, 1, 0, 0, 0, 0, 0, b"LISTEN", b"cubic",
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000000, 0, 0, 0)
    return struct.pack(LIST, 2, 0) + struct.pack(TCPCONN, *est) + struct.pack(TCPCONN, *lst)


PAYLOADS = {T_STATUS: status, T_PORT: port, T_ARP: arp, T_COUNTERS: counters,
            T_LOGLEVEL: lambda: b"", T_APPS: apps, T_KILL_APP: lambda: b"",
            T_CONNS: conns, T_KILL_CONN: lambda: b""}


def answer(scenario, mtype, req_id, body):
    """The reply frame to a request, or None to stay silent."""
    if scenario == "silent":
        return None
    if scenario == "error":
        return frame(mtype, req_id, result=errno.EINVAL)
    if scenario == "esrch":
        return frame(mtype, req_id, result=errno.ESRCH)
    if scenario == "eperm":
        return frame(mtype, req_id, result=errno.EPERM)
    if scenario == "unsupported":
        return frame(mtype, req_id, result=errno.EOPNOTSUPP)
    if scenario == "badid":
        return frame(mtype, req_id + 7, PAYLOADS[mtype]())
    if scenario == "badtype":
        # A well-formed reply, but to a different request type.
        other = T_LOGLEVEL if mtype != T_LOGLEVEL else T_ARP
        return frame(other, req_id, PAYLOADS[other]() if other == T_ARP else b"")
    if scenario == "badsize":
        return frame(mtype, req_id, PAYLOADS[mtype]() + b"\0\0\0\0")
    if scenario == "badlen":
        p = PAYLOADS[mtype]()
        return frame(mtype, req_id, p, len_field=len(p) + 1)
    if scenario == "badstr":
        p = bytearray(PAYLOADS[mtype]())
        p[0:16] = b"X" * 16           # status.version with no NUL
        return frame(mtype, req_id, bytes(p))
    if scenario == "notreply":
        return frame(mtype, req_id, PAYLOADS[mtype](), flags=0)
    return frame(mtype, req_id, PAYLOADS.get(mtype, lambda: b"")())


def main():
    path, scenario, logfile = sys.argv[1:4]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    # Bounded: a test that never connects must not leave us running.
    srv.settimeout(15)
    log = open(logfile, "w")
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        log.write("no client\n")
        return 1
    conn.settimeout(10)
    with conn:
        data = conn.recv(65536)
        t, fl, n, rid, res = struct.unpack_from(HDR, data)
        log.write("hello type=%d len=%d id=%d\n" % (t, n, rid))
        magic, major, minor, feat, pname = struct.unpack_from(HELLO, data, 16)
        log.write("hello magic=%#x version=%d.%d name=%s\n" %
                  (magic, major, minor, pname.rstrip(b"\0").decode()))
        if scenario == "close":
            return 0
        if scenario == "major":
            conn.send(frame(T_HELLO, rid, hello(major=9, minor=3)))
            return 0
        if scenario == "hello_refused":
            conn.send(frame(T_HELLO, rid, result=errno.EPROTO))
            return 0
        conn.send(frame(T_HELLO, rid, hello()))
        data = conn.recv(65536)
        if not data:
            log.write("no request\n")
            return 0
        t, fl, n, rid, res = struct.unpack_from(HDR, data)
        body = data[16:]
        log.write("request type=%d flags=%d len=%d id=%d\n" % (t, fl, n, rid))
        if t == T_LOGLEVEL and len(body) == 16:
            log.write("level=%s\n" % body.rstrip(b"\0").decode())
        if t == T_KILL_APP and len(body) == 8:
            log.write("kill pid=%d pad=%d\n" % struct.unpack(KILL_APP, body))
        if t == T_KILL_CONN and len(body) == 16:
            lip, rip, lp, rp, pad = struct.unpack(KILL_CONN, body)
            log.write("kill conn %s:%d %s:%d pad=%d\n" % (
                socket.inet_ntoa(struct.pack("!I", lip)), lp,
                socket.inet_ntoa(struct.pack("!I", rip)), rp, pad))
        log.flush()
        reply = answer(scenario, t, rid, body)
        if reply is None:
            # Outlast the client's receive timeout.
            time.sleep(7)
            return 0
        conn.send(reply)
        # Let the client read before the close reaches it.
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        try:
            os.unlink(sys.argv[1])
        except OSError:
            pass
