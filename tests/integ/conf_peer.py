#!/usr/bin/python3
"""Kernel-side peers for the conformance suite (runs in the test namespace).

  conf_peer.py HOST PEER [--lifetime=SECONDS]

Listens on HOST (the kernel's address in the namespace) on fixed ports
(PEER is the daemon's address, which the dialer's clients connect to):

  7001 echo     echoes every byte; at the client's FIN, FIN back and close.
  7002 sink     accepts and never reads (small receive buffer), so the
                client's sends stall: back-pressure.
  7003 pattern  reads a header (4-byte big-endian N, 4-byte tag), sends N
                bytes of the pattern (byte i = i % 251) and a FIN, then
                reads the client's bytes until its FIN and records under the
                tag how many arrived (-1 if they were not the pattern, -4
                if a RST came instead of the FIN).
  7004 query    reads a 4-byte tag, answers with the 8-byte signed count the
                pattern service recorded for it (waits up to 5 s; -2 if none).
  7005 reset    accepts and closes at once with SO_LINGER 0: a RST.
  7010 dialer   reads 16-byte commands (op, port, count, nbytes; 4 bytes
                big-endian each) and answers each with 8 bytes (ok, failed).
                op 1: `count` kernel clients connect to the app at
                PEER port `port`; once all are
                connected, each sends nbytes of the pattern, reads them back,
                sends its FIN and expects the app's FIN.

The app's receives are all or nothing, so everything here has a fixed size
or a length in front.  Every socket has a timeout; the process exits after
--lifetime seconds (default 110) whatever happens.  Prints "ready" once all
ports listen.
"""
import os
import socket
import struct
import sys
import threading
import time

TMO = 30.0
results = {}
results_cv = threading.Condition()


def pattern(n):
    base = bytes(i % 251 for i in range(251))
    return (base * (n // 251 + 1))[:n]


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise EOFError("EOF after %d of %d bytes" % (len(buf), n))
        buf += b
    return buf


def serve(port, handler, rcvbuf=None):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        # Inherited by accepted sockets; small so the sink fills quickly.
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    ls.bind((HOST, port))
    ls.listen(256)

    def loop():
        while True:
            s, _ = ls.accept()
            s.settimeout(TMO)
            threading.Thread(target=guarded, args=(handler, s), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def guarded(handler, s):
    try:
        handler(s)
    except Exception as e:  # noqa: BLE001 - logged, the app sees the effect
        print("peer %s: %s" % (handler.__name__, e), flush=True)
    finally:
        if handler is not sink:
            s.close()


def echo(s):
    while True:
        b = s.recv(65536)
        if not b:
            break
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)


held = []


def sink(s):
    held.append(s)     # never read, never closed before the process ends


def pattern_svc(s):
    n, tag = struct.unpack("!II", recv_exact(s, 8))
    s.sendall(pattern(n))
    s.shutdown(socket.SHUT_WR)
    got = b""
    count = None
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            count = -4      # the app reset the connection
            break
        if not b:
            break
        got += b
    if count is None:
        count = len(got) if got == pattern(len(got)) else -1
    with results_cv:
        results[tag] = count
        results_cv.notify_all()


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def query(s):
    (tag,) = struct.unpack("!I", recv_exact(s, 4))
    end = time.monotonic() + 5
    with results_cv:
        while tag not in results and time.monotonic() < end:
            results_cv.wait(0.1)
        count = results.get(tag, -2)
    s.sendall(struct.pack("!q", count))


def dial_one(port, nbytes, barrier, out, i):
    try:
        c = socket.create_connection((PEER, port), timeout=TMO)
    except Exception as e:  # noqa: BLE001
        out[i] = "connect: %s" % e
        barrier.abort()
        return
    try:
        c.settimeout(TMO)
        barrier.wait(TMO)
        data = pattern(nbytes)
        c.sendall(data)
        back = recv_exact(c, nbytes)
        if back != data:
            out[i] = "echo differs"
            return
        c.shutdown(socket.SHUT_WR)
        if c.recv(1) != b"":
            out[i] = "more data instead of the FIN"
            return
        out[i] = "ok"
    except Exception as e:  # noqa: BLE001
        out[i] = "%s: %s" % (type(e).__name__, e)
    finally:
        c.close()


def dialer(s):
    while True:
        try:
            op, port, count, nbytes = struct.unpack("!IIII", recv_exact(s, 16))
        except EOFError:
            return
        if op != 1 or count < 1 or count > 1000:
            s.sendall(struct.pack("!II", 0, max(count, 1)))
            continue
        out = [None] * count
        barrier = threading.Barrier(count)
        ts = [threading.Thread(target=dial_one, args=(port, nbytes, barrier, out, i))
              for i in range(count)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(TMO * 2)
        good = sum(1 for r in out if r == "ok")
        bad = [r for r in out if r != "ok"]
        if bad:
            print("dialer: %d failed, first: %s" % (len(bad), bad[0]), flush=True)
        s.sendall(struct.pack("!II", good, count - good))


def main():
    global HOST, PEER
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    life = 110.0
    for a in sys.argv[1:]:
        if a.startswith("--lifetime="):
            life = float(a.split("=", 1)[1])
    HOST = args[0]
    PEER = args[1]
    serve(7001, echo)
    serve(7002, sink, rcvbuf=4096)
    serve(7003, pattern_svc)
    serve(7004, query)
    serve(7005, reset)
    serve(7010, dialer)
    print("ready", flush=True)
    time.sleep(life)
    os._exit(0)


if __name__ == "__main__":
    main()
