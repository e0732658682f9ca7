#!/usr/bin/env python3
"""Minimal RFC 6455 WebSocket client for bench/run (python3 standard library only).

Opens --conns connections to ws[s]://HOST:PORT/PATH, then for --seconds each connection sends
one masked binary message of --size bytes and waits for its complete echo, over and over (closed
loop). Prints one JSON line: round trips, round trips per second, echoed bytes per second (one
direction) and round-trip latency percentiles in microseconds.

    wsbench.py --port 8080 --path /bbb-01/html5client/ws --conns 16 --size 32 --seconds 4

The handshake is checked (101, Upgrade: websocket, Sec-WebSocket-Accept); every echo is checked
for length and, for the first message on each connection, content. Frames from the server may be
fragmented (continuation frames are reassembled); a close frame or a ping ends the run with an
error since the echo server sends neither.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import ssl
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, mask):
    """A complete, masked client frame (FIN set)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    if n:
        reps = mask * (n // 4 + 1)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(n, "big")
    else:
        masked = b""
    return head + mask + masked


async def read_message(reader):
    """Reads frames until FIN; returns the reassembled payload (server frames are unmasked)."""
    parts = []
    while True:
        b0, b1 = await reader.readexactly(2)
        opcode = b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        if b1 & 0x80:
            raise RuntimeError("server frame is masked")
        data = await reader.readexactly(n) if n else b""
        if opcode >= 0x8:
            raise RuntimeError(f"unexpected control frame opcode {opcode}")
        parts.append(data)
        if b0 & 0x80:
            return b"".join(parts)


async def connect(args):
    ctx = None
    if args.tls:
        ctx = ssl.create_default_context(cafile=args.cafile) if args.cafile else ssl._create_unverified_context()
    reader, writer = await asyncio.open_connection(args.host, args.port, ssl=ctx)
    key = base64.b64encode(os.urandom(16))
    host = f"{args.host}:{args.port}"
    req = (
        f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http{'s' if args.tls else ''}://{host}\r\n\r\n"
    ).encode()
    writer.write(req)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {lines[0]!r}")
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if fields.get("sec-websocket-accept") != want or fields.get("upgrade", "").lower() != "websocket":
        raise RuntimeError("bad handshake answer")
    return reader, writer


async def worker(args, deadline, samples):
    reader, writer = await connect(args)
    payload = os.urandom(args.size)
    msg = frame(0x2, payload, os.urandom(4))
    first = True
    count = 0
    try:
        while time.perf_counter() < deadline and count < args.max_roundtrips:
            t0 = time.perf_counter_ns()
            writer.write(msg)
            echo = await asyncio.wait_for(read_message(reader), 10)
            samples.append(time.perf_counter_ns() - t0)
            count += 1
            if len(echo) != args.size or (first and echo != payload):
                raise RuntimeError("echo differs from what was sent")
            first = False
        writer.write(frame(0x8, struct.pack("!H", 1000), os.urandom(4)))
        await writer.drain()
    finally:
        writer.close()
    return count


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


async def main_async(args):
    # Connect everything first, then start the clock for all at once.
    samples = []
    start = time.perf_counter()
    deadline = start + args.seconds
    counts = await asyncio.gather(*(worker(args, deadline, samples) for _ in range(args.conns)))
    elapsed = time.perf_counter() - start
    s = sorted(samples)
    total = sum(counts)
    return {
        "conns": args.conns,
        "size": args.size,
        "seconds": round(elapsed, 3),
        "roundtrips": total,
        "rt_per_s": round(total / elapsed, 1),
        "echo_bytes_per_s": round(total * args.size / elapsed, 1),
        "p50_us": round(percentile(s, 50) / 1000, 1),
        "p90_us": round(percentile(s, 90) / 1000, 1),
        "p99_us": round(percentile(s, 99) / 1000, 1),
        "max_us": round((s[-1] if s else 0) / 1000, 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/ws")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--cafile")
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--max-roundtrips", type=int, default=10_000_000, help="per connection")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("wsbench: loopback only")
    try:
        result = asyncio.run(asyncio.wait_for(main_async(args), args.seconds + 30))
    except Exception as e:  # one line for bench/run to show
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
