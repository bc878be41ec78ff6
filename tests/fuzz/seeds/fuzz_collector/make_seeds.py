#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_collector (format: tests/fuzz/fuzz_collector.c) next to this
script: a TLS 1.3 client, a TLS 1.2 server, a refused connect and a mix on one cookie set.
Hello bodies come from tests/fixtures/tls/. Run it again after changing the input format."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "..", "fixtures", "tls")
TCP, TLS, SSL, IO, EXEC, UNKNOWN, FLUSH, CTRL = range(8)
SYN_SENT, SYN_RETR, SYN_RECV, EST, ACCEPTED, FIN_OUT, FIN_IN, RST_IN, RST_OUT, CLOSED, OWNER = range(1, 12)
OUT, IN = 1, 2


def body(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()[9:][:1024]


def op(kind, cookie, mode=0):
    return bytes([kind | mode << 3 | cookie << 5])


def tcp(cookie, dt_us, event, owner=False, srtt=20, nbytes=0x11, isn=True):
    fl = (1 if owner else 0) | (0x20 if event == SYN_SENT else 0)
    return op(TCP, cookie) + bytes([dt_us, event, fl, srtt, nbytes | (1 if isn else 0)])


def tls(cookie, dt_us, what, d, ct=0, hs=0, ver=0x0303, ln=0, count=0, seq=0, data=b""):
    return (op(TLS, cookie) + bytes([dt_us, what, d, ct, hs]) +
            struct.pack("<HHBHH", ver, ln, count, seq, len(data)) + data)


def ssl(cookie, dt_us, what, ret, back=50, lib=1):
    return op(SSL, cookie) + bytes([dt_us, what, ret & 0xff, back, lib])


def io(cookie, dt_us, d, seq_end):
    return op(IO, cookie) + bytes([dt_us, d]) + struct.pack("<H", seq_end)


def flush(ms):
    return bytes([FLUSH, ms])


def client13(c):
    ch, sh = body("ch_openssl_tls13.bin"), body("sh_openssl_tls13.bin")
    return b"".join([
        tcp(c, 1, SYN_SENT, owner=True), tcp(c, 100, EST),
        io(c, 10, OUT, 5 + 4 + len(ch)),
        tls(c, 2, 1, OUT, ct=22, ver=0x0301, ln=4 + len(ch)),
        tls(c, 0, 2, OUT, hs=1, ln=len(ch), data=ch),
        tls(c, 120, 1, IN, ct=22, ln=4 + len(sh)), tls(c, 0, 2, IN, hs=2, ln=len(sh), data=sh),
        tls(c, 0, 1, IN, ct=20, ln=1, seq=9 + len(sh)),
        tls(c, 0, 1, IN, ct=23, ln=2000, seq=15 + len(sh)),
        io(c, 5, IN, 2100), ssl(c, 1, 1, 1), ssl(c, 0, 2, 1, back=20),
        tls(c, 10, 1, OUT, ct=23, ln=60, seq=5 + 4 + len(ch)),
        tls(c, 100, 1, IN, ct=23, ln=300, seq=2100),
        tcp(c, 50, FIN_OUT), tcp(c, 100, FIN_IN), tcp(c, 1, CLOSED), flush(100),
    ])


def server12(c):
    ch, sh = body("ch_openssl_tls12.bin"), body("sh_openssl_tls12.bin")
    return b"".join([
        tcp(c, 1, SYN_RECV), tcp(c, 50, EST, srtt=5), tcp(c, 10, ACCEPTED, owner=True),
        tls(c, 20, 1, IN, ct=22, ver=0x0301, ln=4 + len(ch)),
        tls(c, 0, 2, IN, hs=1, ln=len(ch), data=ch),
        tls(c, 30, 1, OUT, ct=22, ln=4 + len(sh)), tls(c, 0, 2, OUT, hs=2, ln=len(sh), data=sh),
        tls(c, 0, 2, OUT, hs=11, ln=1200), tls(c, 0, 3, OUT, ln=1200, count=2),
        tls(c, 0, 2, OUT, hs=14, ln=0),
        tls(c, 80, 1, IN, ct=22, ln=70), tls(c, 0, 2, IN, hs=16, ln=66),
        tls(c, 0, 1, IN, ct=20, ln=1), tls(c, 0, 1, IN, ct=22, ln=40),
        tls(c, 10, 1, OUT, ct=20, ln=1), tls(c, 0, 1, OUT, ct=22, ln=40),
        tls(c, 60, 1, IN, ct=23, ln=100), tls(c, 5, 1, OUT, ct=23, ln=900),
        tls(c, 5, 1, IN, ct=21, ln=2, data=b"\x02\x28"),
        tcp(c, 20, RST_OUT), tcp(c, 0, CLOSED), flush(200),
    ])


def refused(c):
    return tcp(c, 1, SYN_SENT, owner=True) + tcp(c, 50, RST_IN) + \
        op(TCP, c) + bytes([1, CLOSED, 0xc0, 0, 0]) + flush(0) + flush(60)


def main():
    seeds = {
        "client_tls13": b"\x03" + client13(1),
        "server_tls12": b"\x0b" + server12(2),
        "refused": b"\x00" + refused(3),
        "mixed_evict": b"\x01" + client13(1) + server12(2) + refused(3) + client13(4) +
        bytes([EXEC, 1, 7]) + op(UNKNOWN, 5) + bytes([1, 9, 0, 4]) +
        op(TCP, 6, mode=2) + bytes([1, SYN_SENT, 0, 0, 0, 20]) + bytes([CTRL, 8]),
    }
    for name, data in seeds.items():
        with open(os.path.join(HERE, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
