#!/usr/bin/env python3
"""HTTP/2 test client for tests/integration/h2_test.cpp (issue 16): well-behaved requests with
Debian's python3-h2, and the attacks a well-behaved client never makes, written frame by frame
with hyperframe and hpack (the libraries python3-h2 is built on). Prints one JSON object.

Usage: h2_client.py --port P --ca FILE MODE [ARGS]
  get PATH [COUNT]          COUNT concurrent GETs of PATH on one connection
  rapid-reset COUNT         COUNT times HEADERS then RST_STREAM(CANCEL), in one write
  ping-flood COUNT          COUNT PING frames in one write
  continuation-flood COUNT  a HEADERS frame without END_HEADERS, then COUNT empty CONTINUATIONs
  hpack-bomb COUNT          a 4,000-byte field added to the HPACK table, then COUNT references
  malformed                 one stream per malformed header block (RFC 9113 §8.2-8.3)
  zero-window PATH [COUNT]  SETTINGS_INITIAL_WINDOW_SIZE 0, COUNT GETs of PATH (1), then never read
  stall PATH                a POST to PATH whose body never comes; when the proxy closes
  body-flood PATH COUNT SIZE  COUNT POSTs to PATH at once, each sending SIZE bytes of body as fast
                            as flow control lets it and never ending; which streams were reset
  drain PATH                GET PATH and read it slowly to the end, noting any GOAWAY
  open-body METHOD PATH SIZE  METHOD PATH with SIZE bytes of body (one DATA frame) that never
                            ends; the response's status if one comes within --hold seconds
Only 127.0.0.1; every connection is closed before exit.
"""
import argparse
import hashlib
import json
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def connect(port, ca, timeout=10.0):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    return sock


def client_connection():
    """python3-h2's client side, its preface and SETTINGS queued (data_to_send)."""
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                        header_encoding="utf-8"))
    conn.initiate_connection()
    return conn


def base_headers(path, method="GET"):
    return [(":method", method), (":scheme", "https"), (":authority", "localhost"),
            (":path", path)]


def each_frame(sock, timeout=5.0):
    """Yields the server's frames as they arrive, until it closes or `timeout` passes."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, ConnectionError):
            return
        if not chunk:
            return
        data += chunk
        while len(data) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(data[:9]))
            if len(data) < 9 + length:
                break
            frame.parse_body(memoryview(data[9:9 + length]))
            data = data[9 + length:]
            yield frame


def read_frames(sock, timeout=5.0):
    """Every frame until the server closes (or `timeout`)."""
    return list(each_frame(sock, timeout))


def summary(frames):
    goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
    resets = {}
    for f in frames:
        if isinstance(f, RstStreamFrame):
            resets[str(f.stream_id)] = f.error_code
    headers = [f.stream_id for f in frames if isinstance(f, HeadersFrame)]
    return {"goaway_error": goaway[0].error_code if goaway else None,
            "goaway_last_stream": goaway[0].last_stream_id if goaway else None,
            "resets": resets, "header_frames": len(headers),
            "pings": sum(1 for f in frames if isinstance(f, PingFrame))}


def raw_open(port, ca):
    sock = connect(port, ca)
    sock.sendall(PREFACE + SettingsFrame(0).serialize())
    return sock


def mode_get(args, path, count="1"):
    sock = connect(args.port, args.ca)
    if sock.selected_alpn_protocol() != "h2":
        return {"alpn": sock.selected_alpn_protocol()}
    conn = client_connection()
    conn.increment_flow_control_window(16 * 1024 * 1024)
    streams = {}
    for _ in range(int(count)):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, base_headers(path) + [("accept-encoding", "identity")],
                          end_stream=True)
        streams[sid] = {"status": None, "body": b"", "done": False, "headers": {}}
    sock.sendall(conn.data_to_send())
    sock.settimeout(20)
    while not all(s["done"] for s in streams.values()):
        chunk = sock.recv(65536)
        if not chunk:
            break
        for ev in conn.receive_data(chunk):
            if isinstance(ev, h2.events.ResponseReceived):
                streams[ev.stream_id]["headers"] = dict(ev.headers)
                streams[ev.stream_id]["status"] = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                streams[ev.stream_id]["body"] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                streams[ev.stream_id]["done"] = True
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    return {"alpn": "h2", "streams": [
        {"id": sid, "status": s["status"], "length": len(s["body"]),
         "sha256": hashlib.sha256(s["body"]).hexdigest(), "done": s["done"],
         "x_cache": s["headers"].get("x-cache")} for sid, s in sorted(streams.items())]}


def attack(sock, out):
    """Sends `out` (the server may close while it arrives) and sums up the server's answer."""
    try:
        sock.sendall(out)
    except (ssl.SSLError, ConnectionError):
        pass
    result = summary(read_frames(sock))
    sock.close()
    return result


def mode_rapid_reset(args, count):
    sock = raw_open(args.port, args.ca)
    enc = hpack.Encoder()
    out = b""
    for i in range(int(count)):
        sid = 2 * i + 1
        h = HeadersFrame(sid, enc.encode(base_headers("/bbb-01/html5client/_test/slow?n=10&ms=200")))
        h.flags.add("END_HEADERS")
        h.flags.add("END_STREAM")
        out += h.serialize() + RstStreamFrame(sid, error_code=8).serialize()
    return attack(sock, out)


def mode_ping_flood(args, count):
    sock = raw_open(args.port, args.ca)
    return attack(sock, b"".join(PingFrame(0, opaque_data=b"12345678").serialize()
                                 for _ in range(int(count))))


def mode_continuation_flood(args, count):
    sock = raw_open(args.port, args.ca)
    block = hpack.Encoder().encode(base_headers("/bbb-01/html5client/"))
    h = HeadersFrame(1, block[:3])
    h.flags.add("END_STREAM")
    out = h.serialize() + b"".join(ContinuationFrame(1, data=b"").serialize()
                                   for _ in range(int(count)))
    return attack(sock, out)


def mode_hpack_bomb(args, count):
    sock = raw_open(args.port, args.ca)
    enc = hpack.Encoder()
    block = enc.encode(base_headers("/bbb-01/html5client/"))
    # Literal with incremental indexing, new name "x", a 4,000-byte value; then indexed 62.
    value = b"v" * 4000
    block += b"\x40\x01x" + b"\x7f" + bytes([(4000 - 127) % 128 + 128, (4000 - 127) // 128]) + value
    block += bytes([0x80 | 62]) * int(count)
    h = HeadersFrame(1, block)
    h.flags.add("END_HEADERS")
    h.flags.add("END_STREAM")
    sock.sendall(h.serialize())
    frames = read_frames(sock, timeout=3.0)
    status = None
    dec = hpack.Decoder()
    for f in frames:
        if isinstance(f, HeadersFrame) and f.stream_id == 1:
            status = dict(dec.decode(f.data)).get(":status")
    result = summary(frames)
    result["status"] = int(status) if status else None
    sock.close()
    return result


MALFORMED = [
    [("x-Upper", "1")],
    [("connection", "close")],
    [("transfer-encoding", "chunked")],
    [("te", "gzip")],
    [("host", "evil.example.com")],
    [("x-a", "1\r\nx-b: 2")],
]


def mode_malformed(args):
    sock = raw_open(args.port, args.ca)
    out = b""
    sid = 1
    for extra in MALFORMED:
        enc = hpack.Encoder()  # a fresh table per block: raw names and values as given
        block = b"".join(
            b"\x00" + bytes([len(n)]) + n.encode() + bytes([len(v)]) + v.encode()
            for n, v in base_headers("/bbb-01/html5client/_test/echo-headers") + extra)
        del enc
        h = HeadersFrame(sid, block)
        h.flags.add("END_HEADERS")
        h.flags.add("END_STREAM")
        out += h.serialize()
        sid += 2
    sock.sendall(out)
    result = summary(read_frames(sock, timeout=2.0))
    sock.close()
    return result


def mode_stall(args, path):
    """A POST whose body never comes: how long until the proxy closes the connection."""
    sock = raw_open(args.port, args.ca)
    h = HeadersFrame(1, hpack.Encoder().encode(base_headers(path, "POST")
                                               + [("content-type", "application/json")]))
    h.flags.add("END_HEADERS")
    sock.sendall(h.serialize())
    start = time.monotonic()
    frames = read_frames(sock, timeout=float(args.hold))
    result = summary(frames)
    result["closed_after"] = round(time.monotonic() - start, 2)
    sock.close()
    return result


def mode_body_flood(args, path, count, size):
    """Many streams' bodies arriving at once (flow control obeyed, so only the proxy's own
    budget can stop them): the streams the proxy resets, by error code."""
    sock = connect(args.port, args.ca)
    conn = client_connection()
    left = {}
    for _ in range(int(count)):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, base_headers(path, "POST") + [("content-type", "application/json")])
        left[sid] = int(size)
    sock.sendall(conn.data_to_send())
    resets = {}

    def receive():
        """One read and the resets it brings; False once the proxy has closed."""
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return True
        if not data:
            return False
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.StreamReset):
                resets[str(ev.stream_id)] = ev.error_code
                left.pop(ev.stream_id, None)
        sock.sendall(conn.data_to_send())
        return True

    sock.settimeout(0.5)
    deadline = time.monotonic() + 20
    chunk = b"x" * 16384
    while time.monotonic() < deadline:
        for sid in list(left):
            n = min(left[sid], conn.local_flow_control_window(sid), len(chunk))
            if n > 0:
                conn.send_data(sid, chunk[:n])
                left[sid] -= n
        sock.sendall(conn.data_to_send())
        if not any(left.values()):
            break  # every stream still open has sent all of its body (and never ends it)
        if not receive():
            break
    end = time.monotonic() + 1.0  # resets already on their way
    while time.monotonic() < end and receive():
        pass
    sent = sum(int(size) - v for v in left.values())
    sock.close()
    return {"resets": resets, "open_streams": len(left), "bytes_sent_on_open_streams": sent}


def mode_open_body(args, method, path, size):
    """A request whose body is still arriving: does the proxy answer it before the body ends?"""
    sock = connect(args.port, args.ca)
    conn = client_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, base_headers(path, method) + [("content-type", "application/json")])
    conn.send_data(sid, b"x" * int(size))
    sock.sendall(conn.data_to_send())
    start = time.monotonic()
    result = {"status": None, "reset": None, "after": None}
    sock.settimeout(0.2)
    while time.monotonic() < start + float(args.hold) and result["reset"] is None:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                result["status"] = int(dict(ev.headers)[":status"])
                result["after"] = round(time.monotonic() - start, 2)
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                result["reset"] = ev.error_code
        sock.sendall(conn.data_to_send())
    sock.close()
    return result


def mode_zero_window(args, path, count="1"):
    sock = connect(args.port, args.ca)
    settings = SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    enc = hpack.Encoder()
    out = PREFACE + settings.serialize()
    for i in range(int(count)):
        h = HeadersFrame(2 * i + 1, enc.encode(base_headers(path)))
        h.flags.add("END_HEADERS")
        h.flags.add("END_STREAM")
        out += h.serialize()
    sock.sendall(out)
    time.sleep(float(args.hold))
    sock.close()
    return {"held": float(args.hold)}


def mode_drain(args, path):
    # Frame by frame: python3-h2 treats a GOAWAY as the end of everything and refuses the DATA
    # that RFC 9113 §6.8 lets streams up to the last stream id go on receiving.
    sock = connect(args.port, args.ca)
    enc = hpack.Encoder()
    h = HeadersFrame(1, enc.encode(base_headers(path)))
    h.flags.add("END_HEADERS")
    h.flags.add("END_STREAM")
    sock.sendall(PREFACE + SettingsFrame(0).serialize() + h.serialize())
    print(json.dumps({"sent": 1}), flush=True)  # the test signals the proxy after this line
    body = b""
    goaway = None
    ended = False
    for frame in each_frame(sock, timeout=20):
        if isinstance(frame, GoAwayFrame):
            goaway = {"error": frame.error_code, "last_stream": frame.last_stream_id}
        elif isinstance(frame, DataFrame) and frame.stream_id == 1:
            body += frame.data
            if frame.data:  # give the window back: connection and stream
                sock.sendall(WindowUpdateFrame(0, window_increment=len(frame.data)).serialize()
                             + WindowUpdateFrame(1, window_increment=len(frame.data)).serialize())
            if "END_STREAM" in frame.flags:
                ended = True
                break
        elif isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            ack = SettingsFrame(0)
            ack.flags.add("ACK")
            sock.sendall(ack.serialize())
    sock.close()
    return {"length": len(body), "ended": ended, "goaway": goaway}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--hold", default="2")
    ap.add_argument("mode")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    modes = {"get": mode_get, "rapid-reset": mode_rapid_reset, "ping-flood": mode_ping_flood,
             "continuation-flood": mode_continuation_flood, "hpack-bomb": mode_hpack_bomb,
             "body-flood": mode_body_flood,
             "malformed": mode_malformed, "zero-window": mode_zero_window, "drain": mode_drain,
             "stall": mode_stall, "open-body": mode_open_body}
    print(json.dumps(modes[a.mode](a, *a.args)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
