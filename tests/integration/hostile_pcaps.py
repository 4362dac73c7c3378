#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a corpus of hostile capture files made from one real pcap.

    hostile_pcaps.py REAL.pcap OUTDIR

Every file is OUTDIR/<kind>-<detail>.pcap[ng]; OUTDIR/expect.tsv says, per
file, what l7top must do with it:

    name  rc  pattern  requests

rc is the exit code wanted ("0", "1" or "01" when either is right: a bit
flip in a payload may or may not break a record), pattern a regular
expression the one stderr line must match ("-" = no line allowed, "*" = any
line or none), requests the request count wanted ("-" = at most the
original's). Deterministic: the same real capture gives the same corpus.
"""
import os
import random
import struct
import sys


def read_pcap(path):
    b = open(path, "rb").read()
    magic = struct.unpack("<I", b[:4])[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), "want a little-endian classic pcap"
    hdr = b[:24]
    recs, off = [], 24
    while off + 16 <= len(b):
        sec, frac, cap, wire = struct.unpack("<IIII", b[off:off + 16])
        recs.append((off, sec, frac, cap, wire, b[off + 16:off + 16 + cap]))
        off += 16 + cap
    return b, hdr, recs, magic == 0xA1B23C4D


def write_pcap(path, hdr, recs, endian="<"):
    with open(path, "wb") as f:
        magic, vmaj, vmin, zone, sigfigs, snap, link = struct.unpack("<IHHiIII", hdr)
        f.write(struct.pack(endian + "IHHiIII", magic, vmaj, vmin, zone, sigfigs, snap, link))
        for _, sec, frac, cap, wire, data in recs:
            f.write(struct.pack(endian + "IIII", sec, frac, cap, wire))
            f.write(data)


def pcapng_block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path, hdr, recs, nano, packets=True):
    link, snap = struct.unpack("<I", hdr[20:24])[0], struct.unpack("<I", hdr[16:20])[0]
    shb = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # if_tsresol: 9 (ns) or 6 (us), as the classic file's magic says.
    opts = struct.pack("<HHB3x", 9, 1, 9 if nano else 6) + struct.pack("<HH", 0, 0)
    idb = pcapng_block(1, struct.pack("<HHI", link & 0xFFFF, 0, snap) + opts)
    out = [shb, idb]
    for _, sec, frac, cap, wire, data in recs if packets else []:
        ts = sec * (10**9 if nano else 10**6) + frac
        out.append(pcapng_block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, cap, wire)
                                + data))
    open(path, "wb").write(b"".join(out))


def main():
    real, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    raw, hdr, recs, nano = read_pcap(real)
    rnd = random.Random(13)
    expect = []

    def put(name, data, rc, pattern, requests="-"):
        open(os.path.join(outdir, name), "wb").write(data)
        expect.append((name, rc, pattern, requests))

    # The real file itself, and the same packets written big-endian and as pcapng.
    put("orig.pcap", raw, "0", "-", "all")
    write_pcap(os.path.join(outdir, "swapped.pcap"), hdr, recs, endian=">")
    expect.append(("swapped.pcap", "0", "-", "all"))
    write_pcapng(os.path.join(outdir, "ng.pcapng"), hdr, recs, nano)
    expect.append(("ng.pcapng", "0", "-", "all"))
    write_pcapng(os.path.join(outdir, "ng-empty.pcapng"), hdr, recs, nano, packets=False)
    expect.append(("ng-empty.pcapng", "1", "holds no packets", "0"))

    # Empty and header-only files; an impossible snaplen.
    put("empty-0.pcap", b"", "1", "is empty.*truncated", "0")
    put("empty-hdr.pcap", raw[:24], "1", "holds no packets", "0")
    put("snaplen-ffffffff.pcap", raw[:16] + b"\xff\xff\xff\xff" + raw[20:], "1",
        "snaplen of 4294967295.*corrupt", "0")

    # Truncations: inside the file header, at every record boundary's
    # neighbourhood for the first records, and at a spread of offsets.
    offs = {1, 4, 23, 25, 30, 39}
    for off, *_ in recs[:6]:
        offs.update({off, off + 1, off + 15, off + 16, off + 17})
    offs.update(rnd.sample(range(24, len(raw)), min(120, len(raw) - 24)))
    boundaries = {off for off, *_ in recs} | {len(raw)}
    for o in sorted(offs):
        if o < 24:
            pat, rc = "truncated", "1"
        elif o in boundaries:
            pat, rc = "-" if o > 24 else "holds no packets", "0" if o > 24 else "1"
        else:
            pat, rc = "offset [0-9]+.*truncated", "1"
        put("trunc-%06d.pcap" % o, raw[:o], rc, pat)

    # Single-bit flips in record headers (every field) and in payloads.
    for i in range(300):
        off, _, _, cap, *_ = rnd.choice(recs)
        b = bytearray(raw)
        pos = off + rnd.randrange(16)
        b[pos] ^= 1 << rnd.randrange(8)
        put("flip-hdr-%03d.pcap" % i, bytes(b), "01", "*")
    for i in range(120):
        off, _, _, cap, *_ = rnd.choice([r for r in recs if r[3] > 0])
        b = bytearray(raw)
        b[off + 16 + rnd.randrange(cap)] ^= 1 << rnd.randrange(8)
        put("flip-pay-%03d.pcap" % i, bytes(b), "01", "*")

    mid = len(recs) // 2
    # A length no record can have, and a wire length below the captured one.
    b = bytearray(raw)
    struct.pack_into("<I", b, recs[mid][0] + 8, 0xFFFFFF00)
    put("huge-caplen.pcap", bytes(b), "1",
        "record at offset %d claims 4294967040 bytes.*corrupt" % recs[mid][0])
    b = bytearray(raw)
    struct.pack_into("<I", b, recs[mid][0] + 12, 0xFFFFFFF0)
    put("huge-wirelen.pcap", bytes(b), "1", "offset %d.*on the wire.*corrupt" % recs[mid][0])
    b = bytearray(raw)
    struct.pack_into("<I", b, recs[mid][0] + 12, 1)
    put("wire-below-cap.pcap", bytes(b), "1", "offset %d.*on the wire.*corrupt" % recs[mid][0])

    # Zero-length records, valid by the format: one in the middle, and a
    # file of nothing else.
    zrecs = list(recs)
    o, s, f, _, _, _ = zrecs[mid]
    zrecs.insert(mid, (o, s, f, 0, 0, b""))
    write_pcap(os.path.join(outdir, "zero-one.pcap"), hdr, zrecs)
    expect.append(("zero-one.pcap", "0", "-", "all"))
    write_pcap(os.path.join(outdir, "zero-all.pcap"), hdr,
               [(o, s, f, 0, 0, b"") for o, s, f, *_ in recs[:50]])
    expect.append(("zero-all.pcap", "1", "none of its 50 packets", "0"))

    # Time: the second half a day earlier; one record years ahead; every
    # record alternating between now and 2100 (the interval loop must not
    # walk the years in between).
    back = [(o, s - 86400 if i >= mid else s, f, c, w, d)
            for i, (o, s, f, c, w, d) in enumerate(recs)]
    write_pcap(os.path.join(outdir, "time-back.pcap"), hdr, back)
    expect.append(("time-back.pcap", "0", "clock jumps back [0-9]+ s at the record at offset %d" % recs[mid][0], "-"))
    ahead = list(recs)
    o, s, f, c, w, d = ahead[mid]
    ahead[mid] = (o, 0xF0000000, f, c, w, d)
    write_pcap(os.path.join(outdir, "time-ahead.pcap"), hdr, ahead)
    expect.append(("time-ahead.pcap", "0", "clock jumps ahead [0-9]+ s", "-"))
    alt = [(o, 4102444800 if i % 2 else s, f, c, w, d) for i, (o, s, f, c, w, d) in enumerate(recs)]
    write_pcap(os.path.join(outdir, "time-alternate.pcap"), hdr, alt)
    expect.append(("time-alternate.pcap", "0", "clock jumps ahead", "-"))
    b = bytearray(raw)
    struct.pack_into("<I", b, recs[mid][0] + 4, 1000000000 if nano else 1000000)
    put("time-frac.pcap", bytes(b), "1", "offset %d.*timestamp fraction.*corrupt" % recs[mid][0])

    # pcapng with flipped bits in block headers (libpcap reads these).
    ng = open(os.path.join(outdir, "ng.pcapng"), "rb").read()
    for i in range(40):
        b = bytearray(ng)
        b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        put("ng-flip-%02d.pcapng" % i, bytes(b), "01", "*")
    b = bytearray(ng)
    blen = struct.unpack("<I", ng[4:8])[0]
    struct.pack_into("<I", b, blen + 4, 0xFFFFFF00)   # the IDB's length
    put("ng-huge-block.pcapng", bytes(b), "1", "corrupt")

    with open(os.path.join(outdir, "expect.tsv"), "w") as f:
        for row in expect:
            f.write("\t".join(row) + "\n")
    print(len(expect))


if __name__ == "__main__":
    main()
