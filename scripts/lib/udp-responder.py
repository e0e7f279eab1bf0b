#!/usr/bin/env python3
"""The lab's UDP service on a real server: answers every datagram with
"served by NAME <the datagram>", from the address it was sent to; a
datagram over 1 024 bytes (the fragment tests) with "served by NAME len=N
sha=H" instead, N its length and H the first 16 hex digits of its SHA-256,
so the client can tell it arrived whole and the answer needs no fragments.

Usage: udp-responder.py NAME PORT ADDR [ADDR...]

One socket per address (the real server's own, the VIP on lo), so a reply
leaves from the address the client (DR, TUN) or the director (NAT) sent to.
A lab tool: it runs until it is sent SIGTERM (scripts/lab down does that).
"""

import hashlib
import selectors
import signal
import socket
import sys


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    name, port, addrs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    sel = selectors.DefaultSelector()
    for addr in addrs:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((addr, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    prefix = f"served by {name} ".encode()
    while True:
        for key, _ in sel.select():
            try:
                data, peer = key.fileobj.recvfrom(65535)
                if len(data) > 1024:
                    digest = hashlib.sha256(data).hexdigest()[:16]
                    data = f"len={len(data)} sha={digest}".encode()
                key.fileobj.sendto(prefix + data, peer)
            except (BlockingIOError, ConnectionRefusedError):
                pass


if __name__ == "__main__":
    sys.exit(main())
