#!/usr/bin/env python3
"""Writes the BFD payloads of a pcap (Ethernet, IPv4, UDP) as one hex line each, with a
comment saying when, who to whom, the IP TTL and the fields as this script reads them."""
import struct
import sys

STATES = ["AdminDown", "Down", "Init", "Up"]


def frames(data):
    magic = data[:4]
    le = magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    fmt = "<IIII" if le else ">IIII"
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(fmt, data[at:at + 16])
        yield sec + frac / (1e9 if nano else 1e6), data[at + 16:at + 16 + incl]
        at += 16 + incl


def main(path):
    start = None
    for t, f in frames(open(path, "rb").read()):
        ip = f[14:]
        ihl = (ip[0] & 0x0F) * 4
        ttl = ip[8]
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        udp = ip[ihl:]
        sport = struct.unpack(">H", udp[:2])[0]
        bfd = udp[8:struct.unpack(">H", udp[4:6])[0]]
        start = t if start is None else start
        b1 = bfd[1]
        flags = "".join(c for c, bit in zip("PFCADM", (0x20, 0x10, 8, 4, 2, 1)) if b1 & bit) or "-"
        my, your, tx, rx, echo = struct.unpack(">IIIII", bfd[4:24])
        print(f"{bfd.hex()}  # +{t - start:.3f}s {src}:{sport} > {dst} ttl {ttl}: "
              f"diag {bfd[0] & 0x1F} {STATES[b1 >> 6]} {flags} mult {bfd[2]} "
              f"my {my:#x} your {your:#x} tx {tx} rx {rx} echo {echo}")


main(sys.argv[1])
