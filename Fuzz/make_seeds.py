#!/usr/bin/env python3
"""Writes a fuzzing seed corpus: make_seeds.py TARGET DIR.

FuzzFrameDecoder input is one selector octet (bit 0: expect the preface; bit 1: MAX_FRAME_SIZE
16384 instead of 65536; bit 2: MAX_METADATA_SIZE 256 instead of 8192; bits 3-7: split size) and
then the byte stream. Every vector of spec/vectors becomes a seed; the well-formed ones also as one
stream behind the preface.

FuzzHTTP1 input is one selector octet (bit 0: responses instead of requests; bit 1: small limits;
bits 2-7: piece size) and then the bytes of one connection (see Sources/ShuntOracles/HTTP1Invariants.swift).

FuzzBoundary input is one octet for the piece size (bits 0-3), one that splits the rest into a
caller's octets and a local service's answer (see Sources/ShuntOracles/BoundaryAgreement.swift).

FuzzSession input is a program for one SessionStateMachine: a setup octet, then operations, each an
opcode octet and its operands. The format is documented at the top of
Sources/ShuntOracles/SessionInvariants.swift; the seeds below are hand-encoded in it.
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
target, out = sys.argv[1], pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
vectors = root / "spec" / "vectors"
preface = bytes.fromhex("895348554e540d0a")
count = 0


def seed(name, data):
    global count
    (out / name).write_bytes(data)
    count += 1


def two_sided(name, flags, first, second):
    """A seed of FuzzEdge or FuzzBoundary: the flags octet, an octet that splits the rest, both sides."""
    total = len(first) + len(second)
    split = (len(first) * 256 + total - 1) // total if total else 0
    seed(name, bytes([flags, min(split, 255)]) + first + second)


if target == "FuzzFrameDecoder":
    frames = json.loads((vectors / "frames.json").read_text())["frames"]
    malformed = json.loads((vectors / "malformed.json").read_text())["cases"]
    for i, vector in enumerate(frames):
        seed(f"frame-{i:03}", bytes([0x02 | (i % 32) << 3]) + bytes.fromhex(vector["hex"]))
    stream = preface + b"".join(bytes.fromhex(v["hex"]) for v in frames if "limits" not in v)
    seed("all-frames-with-preface", bytes([0x03]) + stream)
    for i, case in enumerate(malformed):
        selector = 0x02 | (0x01 if case.get("preface") else 0) | (i % 32) << 3
        seed(f"malformed-{i:03}", bytes([selector]) + bytes.fromhex(case["hex"]))
elif target == "FuzzSession":
    # Opcodes (SessionInvariants.Op).
    (HELLO, STREAM_OPEN, DATA, DATA_AT_WINDOW, RESET, RAPID_RESET, WINDOW_UPDATE, PING, PING_FLOOD, GOAWAY,
     MAX_STREAMS, EXTENSION, RAW, EMPTY_FLOOD, TICK, OPEN, SEND, CONSUME, LOCAL_RESET, RELEASE, LOCAL_GOAWAY,
     DRAIN, ECHO, CLOSE) = range(24)
    STREAM0, IDLE_PEER, LAST = 0xF2, 0xF0, 0xF4

    def setup(client=False, config=0, peer=0, hello=0, diligent=False):
        """Octet 0: role, local configuration preset, peer HELLO preset, HELLO mode, diligent owner."""
        return bytes([(1 if client else 0) | config << 1 | peer << 3 | hello << 5 | (0x80 if diligent else 0)])

    def program(head, *ops):
        return head + b"".join(bytes(op) for op in ops)

    # The peer (a client) opens stream 1 and sends a request with FIN; the machine answers 4096 octets
    # with FIN; the machine opens stream 2 and both sides exchange data on it; a PING round trip.
    seed("handshake-data-exchange", program(
        setup(hello=1, diligent=True),
        [STREAM_OPEN, 0, 2, 0x04], [DATA, 0, 5, 1], [SEND, 0, 9, 1], [DRAIN, 0],
        [TICK, 8], [PING, 0, 7], [DRAIN, 0],
        [OPEN, 3, 0x02], [SEND, 1, 5, 1], [DRAIN, 0], [DATA, 1, 4, 1], [DRAIN, 0], [TICK, 8], [ECHO]))
    # Rapid Reset with the small budget (8 RESETs per second): open and reset 20 streams at once.
    seed("reset-flood", program(setup(config=1, diligent=True), [RAPID_RESET, 19, 1], [DRAIN, 0]))
    # 121 PINGs with the default budget of 100 per 10 s.
    seed("ping-flood", program(setup(), [PING_FLOOD, 120], [DRAIN, 0]))
    # A session WINDOW_UPDATE one past 2^31-1, after a stream WINDOW_UPDATE that stays within it.
    seed("window-overflow", program(
        setup(), [STREAM_OPEN, 0, 1, 0], [WINDOW_UPDATE, 0, 3], [DRAIN, 0], [WINDOW_UPDATE, STREAM0, 4], [DRAIN, 0]))
    # The machine (a client) opens a control call and ends the session gracefully: GOAWAY(2^31-1) and a
    # PING, the peer answers, the final GOAWAY, the peer's response with FIN, and the session is over.
    seed("graceful-goaway", program(
        setup(client=True, hello=1, diligent=True),
        [OPEN, 3, 0x02], [SEND, 0, 5, 1], [LOCAL_GOAWAY, 0, 1, 0], [ECHO], [DATA, 0, 4, 1], [DRAIN, 0]))
    # DATA one octet beyond the stream window (small configuration: 1 KiB).
    seed("data-beyond-window", program(setup(config=1), [STREAM_OPEN, 0, 1, 0], [DATA_AT_WINDOW, 0, 1, 0], [DRAIN, 0]))
    # No HELLO: the first frame is a PING.
    seed("first-frame-not-hello", program(setup(hello=3), [PING, 0, 1], [DRAIN, 0]))
    # A well-behaved exchange with windows that grow: the owner consumes, the peer answers PINGs.
    seed("window-growth", program(
        setup(client=True, config=1, hello=1, diligent=True),
        [OPEN, 1, 0], [SEND, 0, 12, 0], [DRAIN, 0], [WINDOW_UPDATE, 0, 8], [WINDOW_UPDATE, STREAM0, 8], [DRAIN, 0],
        [DATA, 0, 7, 0], [DRAIN, 0], [TICK, 3], [ECHO], [DATA, 0, 7, 0], [DATA, 0, 7, 1], [DRAIN, 0]))
elif target == "FuzzHTTP1":
    host = b"Host: svc\r\n"
    requests = [
        b"GET /a?b HTTP/1.1\r\n" + host + b"X-Dev: me\r\n\r\n",
        b"\r\nPOST /p HTTP/1.1\r\n" + host + b"Content-Length: 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n5;e=\"v\"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        b"GET http://svc/x HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n",
        b"CONNECT svc:443 HTTP/1.1\r\nHost: svc:443\r\n\r\n",
        b"OPTIONS * HTTP/1.0\r\n\r\n",
        b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + host + b"X: a\r\n b\r\n\r\n",
    ]
    responses = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\nX-D: 1\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 101 Switching\r\n\r\nraw",
        b"HTTP/1.0 200 OK\r\n\r\nclose-delimited",
    ]
    for i, r in enumerate(requests):
        seed(f"request-{i:02}", bytes([(i * 4) & 0xFC]) + r)
        seed(f"request-small-{i:02}", bytes([0x02 | (i * 8) & 0xFC]) + r)
    seed("requests-pipelined", bytes([0x04]) + b"".join(requests[:6]))
    for i, r in enumerate(responses):
        seed(f"response-{i:02}", bytes([0x01 | (i * 4) & 0xFC]) + r)
elif target == "FuzzEdge":
    # octet 0: piece size (bits 0-3), upstreams fail (bit 4), end early (bit 5); octet 1: client/upstream split.
    edge = two_sided
    host = b"Host: orders\r\n"
    edge("personal-get", 0x07, b"GET /orders/1 HTTP/1.1\r\n" + host + b"X-Dev: alice\r\n\r\n",
         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    edge("chunked-both-ways", 0x03, b"POST /api/x HTTP/1.1\r\n" + host + b"X-Team: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\n\r\n")
    edge("pipelined", 0x0F, (b"GET /a HTTP/1.1\r\n" + host + b"\r\n") * 3, b"HTTP/1.1 204 No Content\r\n\r\n" * 3)
    edge("continue", 0x05, b"PUT /f HTTP/1.1\r\n" + host + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
         b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    edge("upgrade", 0x06, b"GET /ws HTTP/1.1\r\n" + host + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes",
         b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw")
    edge("smuggling", 0x08, b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", b"")
    edge("upstream-fails", 0x13, b"GET / HTTP/1.1\r\n" + host + b"\r\n", b"")
    edge("upstream-ends-early", 0x24, b"GET / HTTP/1.1\r\n" + host + b"\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
    edge("close-delimited", 0x01, b"GET / HTTP/1.1\r\n" + host + b"\r\n", b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
elif target == "FuzzBoundary":
    # octet 0: piece size (bits 0-3); octet 1: caller/service split.
    boundary = two_sided
    host = b"Host: orders\r\n"
    get = b"GET /a HTTP/1.1\r\n" + host + b"\r\n"
    boundary("length", 0x07, get, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    boundary("chunked-trailers", 0x03, get, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")
    boundary("head", 0x0F, b"HEAD /a HTTP/1.1\r\n" + host + b"\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    boundary("no-content", 0x01, get, b"HTTP/1.1 204 No Content\r\n\r\n")
    boundary("not-modified", 0x02, get, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
    boundary("continue", 0x05, b"POST /o HTTP/1.1\r\n" + host + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
             b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    boundary("close-delimited", 0x04, get, b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
    boundary("service-closes", 0x06, get, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    boundary("http10", 0x08, get, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    boundary("early-answer", 0x09, b"POST /o HTTP/1.1\r\n" + host + b"Content-Length: 10\r\n\r\nabc",
             b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
    boundary("extra-octets", 0x0A, get, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy")
    boundary("upgrade", 0x0B, b"GET /ws HTTP/1.1\r\n" + host + b"Connection: upgrade\r\nUpgrade: websocket\r\n\r\n",
             b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nraw")
else:
    sys.exit(f"make_seeds.py: unknown target {target}")
print(f"make_seeds.py: {count} seeds for {target} in {out}")
