#!/usr/bin/python3
"""Kernel-side TCP peer for interop tests (runs in the test namespace).

  kpeer.py listen HOST PORT OUTFILE [INFILE]   accept one connection
  kpeer.py connect HOST PORT OUTFILE [INFILE]  connect

Sends INFILE (or nothing) framed as an 8-byte big-endian length and the
bytes, then shuts down writing; at the same time receives one such frame
into OUTFILE and checks that the peer's FIN follows it.  Prints
"sha256 <hex of received> <bytes>".  Bounded by --timeout (default 120 s)."""
import hashlib
import os
import struct
import socket
import sys
import threading


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--timeout=")]
    tmo = 120.0
    for a in sys.argv[1:]:
        if a.startswith("--timeout="):
            tmo = float(a.split("=", 1)[1])
    mode, host, port, outfile = args[0], args[1], int(args[2]), args[3]
    infile = args[4] if len(args) > 4 else None
    if mode == "listen":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, port))
        ls.listen(1)
        ls.settimeout(tmo)
        print("listening", flush=True)
        s, _ = ls.accept()
        ls.close()
    else:
        s = socket.create_connection((host, port), timeout=tmo)
    s.settimeout(tmo)
    err = []

    def sender():
        try:
            size = os.path.getsize(infile) if infile else 0
            s.sendall(struct.pack("!Q", size))
            if infile:
                with open(infile, "rb") as f:
                    while True:
                        b = f.read(65536)
                        if not b:
                            break
                        s.sendall(b)
            s.shutdown(socket.SHUT_WR)
        except Exception as e:  # noqa: BLE001 - reported below
            err.append("send: %s" % e)

    t = threading.Thread(target=sender)
    t.start()
    h = hashlib.sha256()
    total = 0
    buf = b""
    want = None
    with open(outfile, "wb") as out:
        while True:
            try:
                b = s.recv(262144)
            except Exception as e:  # noqa: BLE001
                err.append("recv: %s" % e)
                break
            if not b:
                break
            if want is None:
                buf += b
                if len(buf) < 8:
                    continue
                want = struct.unpack("!Q", buf[:8])[0]
                b = buf[8:]
            h.update(b)
            total += len(b)
            out.write(b)
    if want is None:
        err.append("no length header before the FIN")
    elif total != want:
        err.append("announced %d bytes, got %d before the FIN" % (want, total))
    t.join(tmo)
    s.close()
    print("sha256 %s %d" % (h.hexdigest(), total), flush=True)
    if err:
        print("errors: " + "; ".join(err), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
