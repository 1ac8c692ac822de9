#!/usr/bin/python3
"""Send N malformed frames to the daemon's MAC through an AF_PACKET socket
on the kernel side of the tap.  Every frame is one the daemon must drop and
count: truncated headers, bad IPv4 version/IHL/length/checksum, fragments,
broken ARP, ICMP with a bad checksum, unknown EtherTypes, garbage.

usage: malformed.py IFACE DST_MAC SRC_IP DST_IP COUNT [SEED]
Prints one line per kind with how many were sent."""
import random
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, payload, proto=1, ihl=5, ver=4, tot=None, frag=0, good_csum=True):
    tot = 20 + len(payload) if tot is None else tot
    h = struct.pack("!BBHHHBBH4s4s", (ver << 4) | ihl, 0, tot, 0x1234, frag, 64,
                    proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(h)
    if not good_csum:
        c ^= 0x5A5A
    h = h[:10] + struct.pack("!H", c) + h[12:]
    return h + payload


def icmp_echo(good=True):
    body = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"x" * 32
    c = csum(body)
    if not good:
        c ^= 0xFFFF if c != 0xFFFF else 0x0001
    return body[:2] + struct.pack("!H", c) + body[4:]


def main():
    iface, dmac, sip, dip, count = sys.argv[1:6]
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    count = int(count)
    rnd = random.Random(seed)
    dst = bytes.fromhex(dmac.replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src = s.getsockname()[4]
    eth_ip = dst + src + b"\x08\x00"
    eth_arp = dst + src + b"\x08\x06"

    kinds = [
        ("short_ethernet", lambda: dst + src[:3]),
        ("ipv4_truncated", lambda: eth_ip + ipv4(sip, dip, icmp_echo())[:rnd.randint(1, 19)]),
        ("ipv4_bad_version", lambda: eth_ip + ipv4(sip, dip, icmp_echo(), ver=6)),
        ("ipv4_bad_ihl", lambda: eth_ip + ipv4(sip, dip, icmp_echo(), ihl=rnd.randint(0, 4))),
        ("ipv4_ihl_past_end", lambda: eth_ip + ipv4(sip, dip, b"", ihl=15)),
        ("ipv4_total_len_long", lambda: eth_ip + ipv4(sip, dip, icmp_echo(), tot=1400)),
        ("ipv4_total_len_short", lambda: eth_ip + ipv4(sip, dip, icmp_echo(), tot=12)),
        ("ipv4_bad_checksum", lambda: eth_ip + ipv4(sip, dip, icmp_echo(), good_csum=False)),
        ("ipv4_fragment", lambda: eth_ip + ipv4(sip, dip, icmp_echo(), frag=0x2000)),
        ("ipv4_fragment_offset", lambda: eth_ip + ipv4(sip, dip, icmp_echo(), frag=0x0010)),
        ("icmp_bad_checksum", lambda: eth_ip + ipv4(sip, dip, icmp_echo(good=False))),
        ("icmp_truncated", lambda: eth_ip + ipv4(sip, dip, b"\x08\x00")),
        ("arp_bad_lengths", lambda: eth_arp + struct.pack("!HHBBH", 1, 0x0800, 7, 3, 1) + b"\0" * 20),
        ("arp_truncated", lambda: eth_arp + b"\x00\x01\x08\x00"),
        ("unknown_ethertype", lambda: dst + src + b"\x88\xb5" + b"\0" * 46),
        ("garbage_ipv4", lambda: eth_ip + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 60)))),
    ]
    sent = {k: 0 for k, _ in kinds}
    for i in range(count):
        name, make = kinds[i % len(kinds)]
        f = make()
        if len(f) < 14:
            # The kernel refuses frames shorter than a header on AF_PACKET;
            # pad with a zero EtherType so the daemon sees type 0 (unknown).
            f = (f + b"\0" * 14)[:14]
        s.send(f)
        sent[name] += 1
        # Paced in bursts: the tap's kernel queue holds 1,000 frames, and a
        # daemon sharing two cores with the sender may be a moment late.
        if i % 50 == 49:
            time.sleep(0.002)
    for k, v in sent.items():
        print("%s %d" % (k, v))


if __name__ == "__main__":
    main()
