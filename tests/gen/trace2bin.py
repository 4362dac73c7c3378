#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""curl --trace FILE -> PREFIX.c2s / PREFIX.s2c: the application bytes curl
sent ("Send header", "Send data") and received ("Recv header", "Recv data"),
in order, exactly as curl logged them in hex. TLS handshake records
("SSL data") are left out: they are not application data."""
import re
import sys

KINDS = {"=> Send header": "c2s", "=> Send data": "c2s",
         "<= Recv header": "s2c", "<= Recv data": "s2c"}


def main(trace, prefix):
    out = {"c2s": bytearray(), "s2c": bytearray()}
    cur = None
    # "0000: 47 45 54 20 ... GET ": offset, 16 hex columns of 3 characters
    # (blank-padded on the last line), then the ASCII rendering.
    hexline = re.compile(r"^[0-9a-f]{4,}: ")
    with open(trace, encoding="latin-1") as f:
        for line in f:
            if line.startswith(("=>", "<=", "==")):
                cur = next((v for k, v in KINDS.items() if line.startswith(k)), None)
                continue
            m = hexline.match(line)
            if cur and m:
                cols = line[m.end():m.end() + 48]
                out[cur] += bytes.fromhex(cols.replace(" ", ""))
    for k, v in out.items():
        with open(f"{prefix}.{k}", "wb") as f:
            f.write(v)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
