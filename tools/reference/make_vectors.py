#!/usr/bin/env python3
"""Generates spec/vectors/frames.json and spec/vectors/malformed.json.

Every octet string here is built by hand with struct.pack from spec/PROTOCOL.md,
never with the reference encoder (shunt_frames.py), so that check_vectors.py
cross-checks two independent constructions. The output is deterministic.

    python3 tools/reference/make_vectors.py           write the files
    python3 tools/reference/make_vectors.py --check   exit 1 if the files differ from what would be written
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"

# --- the wire, by hand (spec sections 2.1, 3, 4) ----------------------------

PREFACE = b"\x89SHUNT\r\n"
R = 0x8000_0000
MAX_ID = 0x7FFF_FFFF

T_DATA, T_OPEN, T_RESET, T_WINDOW, T_PING, T_GOAWAY, T_HELLO, T_MAXSTREAMS = range(8)

# Error codes used in payloads (section 9.1).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR = 0x00, 0x01, 0x02
REFUSED_STREAM, CANCEL, VERSION_MISMATCH, ENHANCE_YOUR_CALM = 0x07, 0x08, 0x09, 0x0A
CONNECT_ERROR, UNSUPPORTED_KIND, TIMEOUT = 0x0E, 0x0F, 0x10

# Setting ids (section 2.3).
S_MFS, S_ISW, S_ISSW, S_IMS, S_MMS, S_COMP, S_HKA = range(1, 8)

# Malformation -> error code NAME (sections 2.1, 3.1), written out again here on purpose.
CODE_OF = {
    "BAD_PREFACE": "PROTOCOL_ERROR",
    "TRUNCATED_FRAME": None,
    "FRAME_TOO_LARGE": "FRAME_SIZE_ERROR",
    "RESERVED_BITS_SET": "PROTOCOL_ERROR",
    "UNKNOWN_FRAME_TYPE": "PROTOCOL_ERROR",
    "UNDEFINED_FLAGS": "PROTOCOL_ERROR",
    "ZERO_STREAM_ID": "PROTOCOL_ERROR",
    "NONZERO_STREAM_ID": "PROTOCOL_ERROR",
    "BAD_FRAME_LENGTH": "FRAME_SIZE_ERROR",
    "METADATA_TOO_LARGE": "METADATA_ERROR",
    "ZERO_WINDOW_INCREMENT": "PROTOCOL_ERROR",
    "BAD_HELLO": "PROTOCOL_ERROR",
    "BAD_SETTING_VALUE": "SETTINGS_ERROR",
    "BAD_METADATA": "METADATA_ERROR",
}


def header(length: int, type_code: int, flags: int = 0, stream: int = 0, reserved: int = 0) -> bytes:
    """The 12-octet header: length (32), type (8), flags (8), reserved (16), R + stream id (32)."""
    return struct.pack(">IBBHI", length, type_code, flags, reserved, stream)


def wire(type_code: int, flags: int, stream: int, payload: bytes) -> bytes:
    return header(len(payload), type_code, flags, stream) + payload


def metadata_block(entries) -> bytes:
    """Section 10.1: key_len (8), key, value_len (16), value."""
    out = b""
    for key, value in entries:
        out += struct.pack(">B", len(key)) + key + struct.pack(">H", len(value)) + value
    return out


def hello_payload(min_version: int, max_version: int, settings=()) -> bytes:
    return struct.pack(">HH", min_version, max_version) + b"".join(struct.pack(">HI", i, v) for i, v in settings)


def pattern(count: int, seed: int = 0) -> bytes:
    """Deterministic filler: octets that are not all alike."""
    return bytes((seed + index * 7 + (index >> 8)) & 0xFF for index in range(count))


def text_of_length(count: int, text: bytes) -> bytes:
    return (text * (count // len(text) + 1))[:count]


# --- frames.json -------------------------------------------------------------

frames: list[dict] = []


def add_frame(name: str, description: str, octets: bytes, frame: dict, limits: dict | None = None) -> None:
    entry = {"name": name, "description": description}
    if limits is not None:
        entry["limits"] = limits
    entry["hex"] = octets.hex()
    entry["frame"] = frame
    frames.append(entry)


def fj(type_name: str, stream: int, flags: int, **fields) -> dict:
    """A frame in the JSON form of spec/vectors/README.md (keys: type, stream, flags, then the type's fields)."""
    return {"type": type_name, "stream": stream, "flags": flags, **fields}


def data_frame(name, description, stream, flags, payload, limits=None):
    add_frame(name, description, wire(T_DATA, flags, stream, payload), fj("DATA", stream, flags, payload=payload.hex()), limits)


def open_frame(name, description, stream, flags, kind, entries, limits=None):
    payload = struct.pack(">B", kind) + metadata_block(entries)
    add_frame(
        name, description, wire(T_OPEN, flags, stream, payload),
        fj("STREAM_OPEN", stream, flags, kind=kind, metadata=[[k.decode("ascii"), v.hex()] for k, v in entries]),
        limits,
    )


def reset_frame(name, description, stream, code, reason):
    add_frame(name, description, wire(T_RESET, 0, stream, struct.pack(">I", code) + reason),
              fj("RESET", stream, 0, code=code, reason=reason.hex()))


def window_frame(name, description, stream, increment):
    add_frame(name, description, wire(T_WINDOW, 0, stream, struct.pack(">I", increment)),
              fj("WINDOW_UPDATE", stream, 0, increment=increment))


def ping_frame(name, description, flags, opaque):
    add_frame(name, description, wire(T_PING, flags, 0, opaque), fj("PING", 0, flags, opaque=opaque.hex()))


def goaway_frame(name, description, last, code, debug):
    add_frame(name, description, wire(T_GOAWAY, 0, 0, struct.pack(">II", last, code) + debug),
              fj("GOAWAY", 0, 0, last_stream_id=last, code=code, debug=debug.hex()))


def hello_frame(name, description, min_version, max_version, settings):
    add_frame(name, description, wire(T_HELLO, 0, 0, hello_payload(min_version, max_version, settings)),
              fj("HELLO", 0, 0, min_version=min_version, max_version=max_version, settings=[[i, v] for i, v in settings]))


def max_streams_frame(name, description, maximum):
    add_frame(name, description, wire(T_MAXSTREAMS, 0, 0, struct.pack(">I", maximum)),
              fj("MAX_STREAMS", 0, 0, maximum=maximum))


def extension_frame(name, description, type_code, flags, stream, payload):
    add_frame(name, description, wire(type_code, flags, stream, payload),
              fj("EXTENSION", stream, flags, type_code=type_code, payload=payload.hex()))


# A compressed payload as section 12 describes: raw DEFLATE of "hello, hello, hello" up to a sync flush.
DEFLATED = bytes.fromhex("ca48cdc9c9d751c840a200000000ffff")


def build_frames() -> None:
    # DATA (section 4.1): every flag combination, empty, sizes at the limit.
    data_frame("data-empty", "DATA with length 0 and no flags (allowed; counted as an empty frame)", 1, 0x00, b"")
    data_frame("data-hello", "DATA \"hello\" on stream 1", 1, 0x00, b"hello")
    data_frame("data-fin", "DATA with FIN on stream 1", 1, 0x01, b"hello")
    data_frame("data-fin-empty", "DATA with FIN and no payload: a bare half-close", 3, 0x01, b"")
    data_frame("data-compressed", "DATA with COMPRESSED: raw DEFLATE ending in a sync flush (section 12)", 2, 0x02, DEFLATED)
    data_frame("data-fin-compressed", "DATA with FIN and COMPRESSED (flags 0x03)", 4, 0x03, DEFLATED)
    data_frame("data-all-octets", "DATA carrying every octet value 0x00..0xff once", 5, 0x00, bytes(range(256)))
    data_frame("data-max-stream-id", "DATA on the highest stream id, 2^31-1", MAX_ID, 0x00, b"last")
    data_frame("data-max-frame-size", "DATA exactly MAX_FRAME_SIZE (16,384) octets long, the default limit",
               7, 0x00, pattern(16_384))
    data_frame("data-at-larger-limit",
               "DATA of 16,385 octets with FIN: one above the default, exactly at the receiver's larger MAX_FRAME_SIZE of 16,385",
               9, 0x01, pattern(16_385, 3), {"max_frame_size": 16_385})

    # STREAM_OPEN (section 4.2, 10): every kind, 0, 1 and many entries, limits.
    open_frame("stream-open-tcp-no-metadata", "STREAM_OPEN kind TCP (0x01) with an empty metadata block", 2, 0x00, 0x01, [])
    open_frame("stream-open-tcp-one-entry", "STREAM_OPEN kind TCP with one entry", 2, 0x00, 0x01,
               [(b"intercept", b"db-tap")])
    open_frame("stream-open-tcp-many", "STREAM_OPEN kind TCP with the keys of section 10.1 for TCP", 4, 0x00, 0x01,
               [(b"intercept", b"db-tap"), (b"client", b"10.1.2.3:54012"), (b"port", b"5432")])
    open_frame("stream-open-http-no-metadata", "STREAM_OPEN kind HTTP (0x02) with no metadata", 6, 0x00, 0x02, [])
    open_frame("stream-open-http-one-entry", "STREAM_OPEN kind HTTP with one entry", 8, 0x00, 0x02,
               [(b"request-id", b"r-000001")])
    open_frame("stream-open-http-many", "STREAM_OPEN kind HTTP with every HTTP key, an IPv6 client", 10, 0x00, 0x02,
               [(b"intercept", b"alice-checkout"), (b"client", b"[2001:db8::7]:41000"), (b"port", b"8080"),
                (b"request-id", b"7f3a9c")])
    open_frame("stream-open-control-no-metadata", "STREAM_OPEN kind CONTROL (0x03) with no metadata", 1, 0x00, 0x03, [])
    open_frame("stream-open-control-fin", "STREAM_OPEN kind CONTROL with FIN: a control call with an empty body", 3, 0x01, 0x03,
               [(b"call", b"intercept.list")])
    open_frame("stream-open-control-many", "STREAM_OPEN kind CONTROL with several entries, one an unknown key", 5, 0x00, 0x03,
               [(b"call", b"intercept.register"), (b"x-trace", b"abc"), (b"empty", b"")])
    open_frame("stream-open-fin-no-metadata", "STREAM_OPEN with FIN and no metadata: the smallest STREAM_OPEN with FIN", 7, 0x01, 0x03, [])
    open_frame("stream-open-kind-zero", "STREAM_OPEN kind 0x00: never assigned, a stream error for the session layer, not a malformation",
               9, 0x00, 0x00, [])
    open_frame("stream-open-kind-reserved", "STREAM_OPEN kind 0x04 (reserved): well-formed at the frame layer", 11, 0x00, 0x04,
               [(b"port", b"1")])
    open_frame("stream-open-kind-extension", "STREAM_OPEN kind 0xff (extension range)", 13, 0x01, 0xFF, [(b"x", b"\x00\xff")])
    open_frame("stream-open-key-alphabet", "STREAM_OPEN whose keys use every allowed key octet class: a-z 0-9 - . _", 15, 0x00, 0x02,
               [(b"abcdefghijklmnopqrstuvwxyz", b"1"), (b"0123456789", b"2"), (b"a-b.c_d", b"3"), (b"-", b""), (b".", b""), (b"_", b"")])
    open_frame("stream-open-binary-value", "STREAM_OPEN with a value that is not UTF-8 (values are arbitrary octets)", 17, 0x00, 0x01,
               [(b"client", bytes(range(256)))])
    open_frame("stream-open-key-255", "STREAM_OPEN with a key of the maximum length, 255 octets", 19, 0x00, 0x03,
               [(text_of_length(255, b"abcdefghijklmnopqrstuvwxyz0123456789-._"), b"long key")])
    open_frame("stream-open-64-entries", "STREAM_OPEN with the maximum number of entries, 64", 21, 0x00, 0x02,
               [(b"k%02d" % index, b"v%d" % index) for index in range(64)])
    fill = 8_192 - (1 + 9 + 2 + 8) - (1 + 4 + 2)
    open_frame("stream-open-metadata-at-default-limit",
               "STREAM_OPEN whose metadata is exactly MAX_METADATA_SIZE (8,192) octets: length 8,193", 23, 0x00, 0x02,
               [(b"intercept", b"checkout"), (b"blob", pattern(fill, 11))])
    open_frame("stream-open-metadata-at-256", "STREAM_OPEN whose metadata is exactly the smallest MAX_METADATA_SIZE, 256 octets",
               25, 0x00, 0x01, [(b"intercept", pattern(256 - 1 - 9 - 2, 13))], {"max_metadata_size": 256})
    open_frame("stream-open-metadata-at-65535",
               "STREAM_OPEN whose metadata is exactly the largest MAX_METADATA_SIZE, 65,535 octets (MAX_FRAME_SIZE 65,536)",
               27, 0x00, 0x02, [(b"v", pattern(65_535 - 1 - 1 - 2, 17))], {"max_frame_size": 65_536, "max_metadata_size": 65_535})
    open_frame("stream-open-max-stream-id", "STREAM_OPEN on stream 2^31-1", MAX_ID, 0x00, 0x03, [(b"call", b"agent.info")])

    # RESET (section 4.3).
    reset_frame("reset-empty-reason", "RESET CANCEL with an empty reason: the smallest RESET, length 4", 1, CANCEL, b"")
    reset_frame("reset-with-reason", "RESET REFUSED_STREAM with a reason", 2, REFUSED_STREAM, b"draining: stream above last_stream_id")
    reset_frame("reset-reason-256", "RESET with a reason of exactly 256 octets: length 260, the largest", 3, CONNECT_ERROR,
                text_of_length(256, b"connect 10.0.0.1:5432: connection refused; "))
    reset_frame("reset-invalid-utf8-reason", "RESET whose reason is not UTF-8 (a receiver MUST tolerate it)", 4, UNSUPPORTED_KIND,
                b"\xff\xfe\xc3(")
    reset_frame("reset-unknown-code", "RESET with code 0x12, reserved and unknown to this version", 5, 0x12, b"")
    reset_frame("reset-private-code", "RESET with private-use code 0xffffffff", MAX_ID, 0xFFFF_FFFF, b"private")

    # WINDOW_UPDATE (section 4.4): any stream, increments 1 ... 2^31-1.
    window_frame("window-update-session-1", "WINDOW_UPDATE on stream 0 (the session window), increment 1", 0, 1)
    window_frame("window-update-session-max", "WINDOW_UPDATE on stream 0, increment 2^31-1", 0, MAX_ID)
    window_frame("window-update-stream-1", "WINDOW_UPDATE on stream 1, increment 1", 1, 1)
    window_frame("window-update-stream-max", "WINDOW_UPDATE on stream 2, increment 2^31-1", 2, MAX_ID)
    window_frame("window-update-max-stream-id", "WINDOW_UPDATE on stream 2^31-1, increment 131,072", MAX_ID, 131_072)

    # PING (section 4.5).
    ping_frame("ping", "PING request", 0x00, bytes.fromhex("0102030405060708"))
    ping_frame("ping-ack", "PING with ACK (PONG) echoing the same 8 octets", 0x01, bytes.fromhex("0102030405060708"))
    ping_frame("ping-zero", "PING with an all-zero opaque value", 0x00, bytes(8))
    ping_frame("ping-ack-ones", "PING ACK with an all-ones opaque value", 0x01, b"\xff" * 8)

    # GOAWAY (section 4.6).
    goaway_frame("goaway-no-debug", "GOAWAY NO_ERROR, last_stream_id 0, no debug data: the smallest GOAWAY", 0, NO_ERROR, b"")
    goaway_frame("goaway-graceful-first", "the first GOAWAY of a graceful shutdown: last_stream_id 2^31-1, NO_ERROR",
                 MAX_ID, NO_ERROR, b"")
    goaway_frame("goaway-version-mismatch", "GOAWAY VERSION_MISMATCH with the debug text of section 2.2", 0, VERSION_MISMATCH,
                 b"version mismatch: we speak 1..1, peer speaks 2..3")
    goaway_frame("goaway-enhance-your-calm", "GOAWAY ENHANCE_YOUR_CALM naming the budget (section 8)", 37, ENHANCE_YOUR_CALM,
                 b"too many RESET frames: 201 in 30 s (limit 200)")
    goaway_frame("goaway-debug-1024", "GOAWAY with exactly 1,024 octets of debug data: length 1,032, the largest", 12, TIMEOUT,
                 text_of_length(1_024, b"peer silent for 3 s; "))
    goaway_frame("goaway-unknown-code", "GOAWAY with a private-use code", 5, 0x8000_0001, b"\x00\x01")

    # HELLO (sections 2.2, 2.3, 4.7).
    hello_frame("hello-no-settings", "HELLO speaking version 1 only, no settings (all defaults): length 4", 1, 1, [])
    hello_frame("hello-all-settings", "HELLO with all seven settings at their defaults, in id order", 1, 1,
                [(S_MFS, 16_384), (S_ISW, 262_144), (S_ISSW, 1_048_576), (S_IMS, 100), (S_MMS, 8_192), (S_COMP, 0), (S_HKA, 0)])
    hello_frame("hello-settings-low-edges", "HELLO with every setting at the lowest valid value, out of id order", 1, 1,
                [(S_MMS, 256), (S_MFS, 16_384), (S_HKA, 0), (S_IMS, 0), (S_ISSW, 0), (S_ISW, 0), (S_COMP, 0)])
    hello_frame("hello-settings-high-edges", "HELLO with every setting at the highest valid value", 1, 1,
                [(S_MFS, 16_777_215), (S_ISW, MAX_ID), (S_ISSW, MAX_ID), (S_IMS, MAX_ID), (S_MMS, 65_535), (S_COMP, 0xFFFF_FFFF), (S_HKA, 1)])
    hello_frame("hello-unknown-settings", "HELLO with unknown setting ids (reserved 0x0008, 0x7fff; private 0x8000, 0xffff): ignored, any value",
                1, 1, [(0x0008, 0xFFFF_FFFF), (0x7FFF, 0), (0x8000, 0x8000_0000), (0xFFFF, 1)])
    hello_frame("hello-64-settings", "HELLO with the maximum of 64 settings: the six known ones and 58 private ones; length 388", 1, 1,
                [(S_MFS, 65_536), (S_ISW, 1 << 20), (S_ISSW, 1 << 24), (S_IMS, 1_000), (S_MMS, 16_384), (S_COMP, 1)]
                + [(0x8000 + index, index * 1_000) for index in range(58)])
    hello_frame("hello-version-range", "HELLO speaking versions 1..3", 1, 3, [(S_COMP, 1)])
    hello_frame("hello-future-versions", "HELLO speaking only versions 2..65535 (well-formed; negotiation fails later)", 2, 0xFFFF, [])
    hello_frame("hello-max-version-only", "HELLO speaking only version 65535", 0xFFFF, 0xFFFF, [])

    # MAX_STREAMS (section 4.8).
    max_streams_frame("max-streams-zero", "MAX_STREAMS 0", 0)
    max_streams_frame("max-streams-one", "MAX_STREAMS 1", 1)
    max_streams_frame("max-streams-200", "MAX_STREAMS 200", 200)
    max_streams_frame("max-streams-max", "MAX_STREAMS 2^31-1", MAX_ID)

    # Extension frames (section 13): any flags, any stream, any length up to MAX_FRAME_SIZE.
    extension_frame("extension-0x80-empty", "extension frame type 0x80, no flags, stream 0, no payload", 0x80, 0x00, 0, b"")
    extension_frame("extension-0xff-flags", "extension frame type 0xff with all flags set, on stream 0", 0xFF, 0xFF, 0, b"\x01\x02\x03")
    extension_frame("extension-on-stream", "extension frame type 0xa5 on stream 2^31-1 with flags 0x5a", 0xA5, 0x5A, MAX_ID,
                    b"extension payload")
    extension_frame("extension-max-frame-size", "extension frame type 0xc0 with a payload of exactly MAX_FRAME_SIZE octets",
                    0xC0, 0x01, 3, pattern(16_384, 23))


# --- malformed.json ----------------------------------------------------------

cases: list[dict] = []


def bad(name: str, description: str, octets: bytes, error: str, offset: int, preface: bool = False, limits: dict | None = None) -> None:
    entry = {"name": name, "description": description, "preface": preface}
    if limits is not None:
        entry["limits"] = limits
    entry.update({"hex": octets.hex(), "error": error, "code": CODE_OF[error], "offset": offset})
    cases.append(entry)


# Well-formed frames to put before a bad one.
GOOD_HELLO = wire(T_HELLO, 0, 0, hello_payload(1, 1))                   # 16 octets
GOOD_PING = wire(T_PING, 0, 0, b"\x00\x00\x00\x00\x00\x00\x00\x2a")   # 20 octets
GOOD_DATA = wire(T_DATA, 0x00, 1, b"hi")                               # 14 octets
GOOD_WINDOW = wire(T_WINDOW, 0, 0, struct.pack(">I", 65_536))          # 16 octets
SESSION_START = PREFACE + GOOD_HELLO                                   # 24 octets
PRE = GOOD_HELLO + GOOD_PING                                           # 36 octets


def build_malformed() -> None:
    # BAD_PREFACE (section 2.1): the first octet that differs, at each octet; offset is always 0.
    bad("bad-preface-http", "an HTTP/1.1 request instead of the preface (octet 0)", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "BAD_PREFACE", 0, True)
    bad("bad-preface-tls", "a TLS record (nested TLS) instead of the preface (octet 0)", bytes.fromhex("160301020001"), "BAD_PREFACE", 0, True)
    bad("bad-preface-7-bit", "a 7-bit channel cleared the high bit of octet 0", bytes([0x09]) + PREFACE[1:] + GOOD_HELLO, "BAD_PREFACE", 0, True)
    for index in range(1, 8):
        wrong = bytearray(PREFACE)
        wrong[index] ^= 0x20
        bad(f"bad-preface-octet-{index}", f"octet {index} of the preface is 0x{wrong[index]:02x} instead of 0x{PREFACE[index]:02x}",
            bytes(wrong) + GOOD_HELLO, "BAD_PREFACE", 0, True)
    bad("bad-preface-crlf-to-lf", "line-ending conversion turned CR LF into LF: octet 6 is 0x0a", PREFACE[:6] + b"\n" + GOOD_HELLO,
        "BAD_PREFACE", 0, True)
    bad("bad-preface-lf-to-crlf", "line-ending conversion turned LF into CR LF: octet 7 is 0x0d", PREFACE[:7] + b"\r\n" + GOOD_HELLO,
        "BAD_PREFACE", 0, True)
    bad("bad-preface-cut-after-bad-octet",
        "the input ends right after a wrong octet 3: the preface is checked octet by octet, so this is BAD_PREFACE, not TRUNCATED_FRAME",
        PREFACE[:3] + b"u", "BAD_PREFACE", 0, True)
    bad("bad-preface-lowercase", "\\x89shunt\\r\\n in lower case: octet 1 differs", b"\x89shunt\r\n", "BAD_PREFACE", 0, True)

    # TRUNCATED_FRAME: the input ends inside the preface, a header or a payload.
    bad("truncated-preface", "the input ends after 5 correct preface octets", PREFACE[:5], "TRUNCATED_FRAME", 0, True)
    bad("truncated-preface-7", "the input ends after 7 correct preface octets", PREFACE[:7], "TRUNCATED_FRAME", 0, True)
    bad("truncated-header-1", "the input ends after 1 header octet", b"\x00", "TRUNCATED_FRAME", 0)
    bad("truncated-header-11", "the input ends after 11 of the 12 header octets of a PING", GOOD_PING[:11], "TRUNCATED_FRAME", 0)
    bad("truncated-payload", "DATA with length 5 but only 4 payload octets", header(5, T_DATA, 0, 1) + b"hell", "TRUNCATED_FRAME", 0)
    bad("truncated-no-payload", "a complete, valid WINDOW_UPDATE header and no payload", header(4, T_WINDOW, 0, 3), "TRUNCATED_FRAME", 0)
    bad("truncated-max-size-data", "DATA of length 16,384 with one payload octet missing",
        header(16_384, T_DATA, 0, 1) + pattern(16_383), "TRUNCATED_FRAME", 0)
    bad("truncated-stream-open", "STREAM_OPEN whose payload ends early, inside a well-formed metadata entry",
        header(22, T_OPEN, 0, 1) + b"\x03" + metadata_block([(b"call", b"intercept.list")])[:10], "TRUNCATED_FRAME", 0)
    bad("truncated-extension", "an extension frame whose payload ends early", header(10, 0x90, 0, 0) + b"abc", "TRUNCATED_FRAME", 0)
    bad("truncated-after-frames", "HELLO, PING, DATA, then half a header: offset of the unfinished frame",
        PRE + GOOD_DATA + GOOD_PING[:6], "TRUNCATED_FRAME", len(PRE + GOOD_DATA))
    bad("truncated-after-preface", "preface, HELLO, then a GOAWAY cut inside its payload", SESSION_START + header(8, T_GOAWAY) + b"\x00\x00",
        "TRUNCATED_FRAME", len(SESSION_START), True)

    # FRAME_TOO_LARGE (step 1): header alone, before the payload.
    bad("frame-too-large", "DATA with length 16,385, one above the default MAX_FRAME_SIZE; no payload follows (rejected from the header)",
        header(16_385, T_DATA, 0, 1), "FRAME_TOO_LARGE", 0)
    bad("frame-too-large-max-length", "length 0xffffffff", header(0xFFFF_FFFF, T_DATA, 0, 1), "FRAME_TOO_LARGE", 0)
    bad("frame-too-large-with-payload", "DATA with length 16,385 and all its payload present",
        header(16_385, T_DATA, 0, 1) + pattern(16_385), "FRAME_TOO_LARGE", 0)
    bad("frame-too-large-custom-limit", "length 32,769 when the receiver's MAX_FRAME_SIZE is 32,768", header(32_769, T_DATA, 0x01, 5),
        "FRAME_TOO_LARGE", 0, limits={"max_frame_size": 32_768})
    bad("frame-too-large-above-24-bits", "length 16,777,216: always too large, even with MAX_FRAME_SIZE at its maximum 16,777,215",
        header(16_777_216, T_DATA, 0, 1), "FRAME_TOO_LARGE", 0, limits={"max_frame_size": 16_777_215})
    bad("frame-too-large-extension", "an extension frame (type 0x80) is still subject to step 1", header(16_385, 0x80, 0, 0),
        "FRAME_TOO_LARGE", 0)
    bad("frame-too-large-stream-open", "STREAM_OPEN of length 16,385: step 1 (FRAME_TOO_LARGE) before step 7 (METADATA_TOO_LARGE)",
        header(16_385, T_OPEN, 0, 1), "FRAME_TOO_LARGE", 0)
    bad("frame-too-large-first-of-many-faults",
        "length 0x01000000 and reserved bits, unknown type 0x42, flags 0xff: step 1 wins",
        header(0x0100_0000, 0x42, 0xFF, R | 1, reserved=0xFFFF), "FRAME_TOO_LARGE", 0)
    bad("frame-too-large-after-frames", "HELLO, PING, then a PING with length 16,385", PRE + header(16_385, T_PING),
        "FRAME_TOO_LARGE", len(PRE))
    bad("frame-too-large-second-preface", "the preface sent twice: the second one reads as a header with length 0x89534855",
        PREFACE + PREFACE + GOOD_HELLO, "FRAME_TOO_LARGE", 8, True)

    # RESERVED_BITS_SET (step 2 in the header, step 8 in payloads).
    bad("reserved-header-low-bit", "header octets 6-7 are 0x0001 (DATA)", header(2, T_DATA, 0, 1, reserved=0x0001) + b"hi",
        "RESERVED_BITS_SET", 0)
    bad("reserved-header-high-bit", "header octets 6-7 are 0x8000 (PING)", header(8, T_PING, 0, 0, reserved=0x8000) + bytes(8),
        "RESERVED_BITS_SET", 0)
    bad("reserved-header-all-bits", "header octets 6-7 are 0xffff (HELLO)", header(4, T_HELLO, 0, 0, reserved=0xFFFF) + hello_payload(1, 1),
        "RESERVED_BITS_SET", 0)
    bad("reserved-stream-r-bit", "the R bit of the stream id is set: DATA on 0x80000001", header(2, T_DATA, 0, R | 1) + b"hi",
        "RESERVED_BITS_SET", 0)
    bad("reserved-stream-r-bit-on-stream-0", "PING with stream field 0x80000000: R (step 2) before NONZERO_STREAM_ID (step 5)",
        header(8, T_PING, 0, R) + bytes(8), "RESERVED_BITS_SET", 0)
    bad("reserved-stream-r-bit-window-update", "WINDOW_UPDATE with the header R bit set (stream 0x80000007)",
        header(4, T_WINDOW, 0, R | 7) + struct.pack(">I", 1), "RESERVED_BITS_SET", 0)
    bad("reserved-extension-header", "an extension frame (0xee) with header octets 6-7 set: extensions are checked by step 2",
        header(1, 0xEE, 0, 0, reserved=0x0100) + b"x", "RESERVED_BITS_SET", 0)
    bad("reserved-extension-r-bit", "an extension frame (0x81) with the R bit of the stream id set",
        header(0, 0x81, 0, R | 2), "RESERVED_BITS_SET", 0)
    bad("reserved-header-before-payload", "DATA header with reserved bits and no payload: rejected from the header",
        header(100, T_DATA, 0, 1, reserved=0x0002), "RESERVED_BITS_SET", 0)
    bad("reserved-before-unknown-type", "reserved octets set and type 0x08: step 2 before step 3",
        header(0, 0x08, 0, 0, reserved=0x0001), "RESERVED_BITS_SET", 0)
    bad("reserved-before-flags-and-stream", "DATA on stream 0 with flags 0x04 and the R bit: step 2 before steps 4 and 5",
        header(0, T_DATA, 0x04, R), "RESERVED_BITS_SET", 0)
    bad("reserved-window-update-payload", "WINDOW_UPDATE on stream 0 whose increment has the R bit set (0x80000001)",
        wire(T_WINDOW, 0, 0, struct.pack(">I", R | 1)), "RESERVED_BITS_SET", 0)
    bad("reserved-window-update-all-ones", "WINDOW_UPDATE on stream 3 with payload 0xffffffff", wire(T_WINDOW, 0, 3, b"\xff" * 4),
        "RESERVED_BITS_SET", 0)
    bad("reserved-window-update-r-and-zero",
        "WINDOW_UPDATE payload 0x80000000: the R bit is set and the increment is 0; RESERVED_BITS_SET comes first in step 8 (and in wire order)",
        wire(T_WINDOW, 0, 1, struct.pack(">I", R)), "RESERVED_BITS_SET", 0)
    bad("reserved-goaway-last-stream-id", "GOAWAY whose last_stream_id has the R bit set",
        wire(T_GOAWAY, 0, 0, struct.pack(">II", R | 5, NO_ERROR)), "RESERVED_BITS_SET", 0)
    bad("reserved-goaway-with-debug", "GOAWAY with debug data and the R bit of last_stream_id set, after HELLO and PING",
        PRE + wire(T_GOAWAY, 0, 0, struct.pack(">II", R | MAX_ID, PROTOCOL_ERROR) + b"bye"), "RESERVED_BITS_SET", len(PRE))
    bad("reserved-max-streams", "MAX_STREAMS 0x80000064: the R bit is set", wire(T_MAXSTREAMS, 0, 0, struct.pack(">I", R | 100)),
        "RESERVED_BITS_SET", 0)
    bad("reserved-max-streams-after-preface", "preface, HELLO, then MAX_STREAMS with the R bit and maximum 0",
        SESSION_START + wire(T_MAXSTREAMS, 0, 0, struct.pack(">I", R)), "RESERVED_BITS_SET", len(SESSION_START), True)

    # UNKNOWN_FRAME_TYPE (step 3).
    bad("unknown-type-0x08", "type 0x08, the first reserved type", header(0, 0x08), "UNKNOWN_FRAME_TYPE", 0)
    bad("unknown-type-0x7f", "type 0x7f, the last reserved type, with a payload", wire(0x7F, 0, 1, b"\x01\x02"), "UNKNOWN_FRAME_TYPE", 0)
    bad("unknown-type-before-flags", "type 0x42 with flags 0xff on stream 0: step 3 before step 4",
        wire(0x42, 0xFF, 0, b""), "UNKNOWN_FRAME_TYPE", 0)
    bad("unknown-type-before-payload", "type 0x10 with length 1,000 and no payload: rejected from the header",
        header(1_000, 0x10, 0, 0), "UNKNOWN_FRAME_TYPE", 0)
    bad("unknown-type-after-frames", "HELLO, PING, DATA, then type 0x09", PRE + GOOD_DATA + wire(0x09, 0, 0, b""),
        "UNKNOWN_FRAME_TYPE", len(PRE + GOOD_DATA))

    # UNDEFINED_FLAGS (step 4), for every type.
    bad("undefined-flags-data-0x04", "DATA with flag 0x04", wire(T_DATA, 0x04, 1, b"x"), "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-data-0x80", "DATA with FIN and 0x80 (flags 0x81)", wire(T_DATA, 0x81, 1, b"x"), "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-stream-open", "STREAM_OPEN with flag 0x02 (only FIN is defined)",
        wire(T_OPEN, 0x02, 1, b"\x03"), "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-reset", "RESET with flag 0x01 (RESET defines none)", wire(T_RESET, 0x01, 1, struct.pack(">I", CANCEL)),
        "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-window-update", "WINDOW_UPDATE with flag 0x01", wire(T_WINDOW, 0x01, 0, struct.pack(">I", 1)),
        "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-ping", "PING with flag 0x02 (only ACK is defined)", wire(T_PING, 0x02, 0, bytes(8)), "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-ping-ack-0x80", "PING with ACK and 0x80 (flags 0x81)", wire(T_PING, 0x81, 0, bytes(8)), "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-goaway", "GOAWAY with flag 0x01", wire(T_GOAWAY, 0x01, 0, struct.pack(">II", 0, NO_ERROR)),
        "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-hello", "HELLO with flag 0x01, right after the preface", PREFACE + wire(T_HELLO, 0x01, 0, hello_payload(1, 1)),
        "UNDEFINED_FLAGS", 8, True)
    bad("undefined-flags-max-streams", "MAX_STREAMS with flag 0x80", wire(T_MAXSTREAMS, 0x80, 0, struct.pack(">I", 10)),
        "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-before-stream", "RESET on stream 0 with flag 0x01: step 4 before step 5",
        wire(T_RESET, 0x01, 0, struct.pack(">I", CANCEL)), "UNDEFINED_FLAGS", 0)
    bad("undefined-flags-before-length", "PING with flag 0x10 and length 4: step 4 before step 6, after HELLO and PING",
        PRE + wire(T_PING, 0x10, 0, bytes(4)), "UNDEFINED_FLAGS", len(PRE))

    # ZERO_STREAM_ID / NONZERO_STREAM_ID (step 5).
    bad("zero-stream-data", "DATA on stream 0", wire(T_DATA, 0, 0, b"hi"), "ZERO_STREAM_ID", 0)
    bad("zero-stream-data-fin-empty", "empty DATA with FIN on stream 0", wire(T_DATA, 0x01, 0, b""), "ZERO_STREAM_ID", 0)
    bad("zero-stream-stream-open", "STREAM_OPEN on stream 0", wire(T_OPEN, 0, 0, b"\x03"), "ZERO_STREAM_ID", 0)
    bad("zero-stream-reset", "RESET on stream 0", wire(T_RESET, 0, 0, struct.pack(">I", CANCEL)), "ZERO_STREAM_ID", 0)
    bad("zero-stream-before-length", "RESET on stream 0 with length 2: step 5 before step 6", wire(T_RESET, 0, 0, b"\x00\x08"),
        "ZERO_STREAM_ID", 0)
    bad("zero-stream-stream-open-empty", "STREAM_OPEN on stream 0 with length 0: step 5 before step 6", header(0, T_OPEN, 0, 0),
        "ZERO_STREAM_ID", 0)
    bad("zero-stream-after-frames", "HELLO, PING, DATA, then DATA on stream 0", PRE + GOOD_DATA + wire(T_DATA, 0, 0, b"x"),
        "ZERO_STREAM_ID", len(PRE + GOOD_DATA))
    bad("nonzero-stream-ping", "PING on stream 1", wire(T_PING, 0, 1, bytes(8)), "NONZERO_STREAM_ID", 0)
    bad("nonzero-stream-goaway", "GOAWAY on stream 2", wire(T_GOAWAY, 0, 2, struct.pack(">II", 0, NO_ERROR)), "NONZERO_STREAM_ID", 0)
    bad("nonzero-stream-hello", "HELLO on stream 1, right after the preface", PREFACE + wire(T_HELLO, 0, 1, hello_payload(1, 1)),
        "NONZERO_STREAM_ID", 8, True)
    bad("nonzero-stream-max-streams", "MAX_STREAMS on stream 2^31-1", wire(T_MAXSTREAMS, 0, MAX_ID, struct.pack(">I", 10)),
        "NONZERO_STREAM_ID", 0)
    bad("nonzero-stream-before-length", "PING on stream 3 with length 4: step 5 before step 6", wire(T_PING, 0, 3, bytes(4)),
        "NONZERO_STREAM_ID", 0)
    bad("nonzero-stream-before-payload-checks", "MAX_STREAMS on stream 1 with the R bit in its payload: step 5 before step 8",
        wire(T_MAXSTREAMS, 0, 1, struct.pack(">I", R | 1)), "NONZERO_STREAM_ID", 0)

    # BAD_FRAME_LENGTH (step 6), for every type with a length rule.
    bad("bad-length-stream-open-0", "STREAM_OPEN with length 0 (no kind octet)", header(0, T_OPEN, 0, 1), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-reset-0", "RESET with length 0", header(0, T_RESET, 0, 1), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-reset-3", "RESET with length 3", wire(T_RESET, 0, 1, b"\x00\x00\x08"), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-reset-261", "RESET with length 261 (a 257-octet reason)", wire(T_RESET, 0, 1, struct.pack(">I", CANCEL) + b"r" * 257),
        "BAD_FRAME_LENGTH", 0)
    bad("bad-length-reset-before-payload", "RESET with length 1,000 and no payload: rejected from the header",
        header(1_000, T_RESET, 0, 1), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-window-update-0", "WINDOW_UPDATE with length 0", header(0, T_WINDOW, 0, 0), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-window-update-3", "WINDOW_UPDATE with length 3", wire(T_WINDOW, 0, 1, b"\x00\x00\x01"), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-window-update-8", "WINDOW_UPDATE with length 8 whose first 4 octets are 0x80000000: step 6 before step 8",
        wire(T_WINDOW, 0, 1, struct.pack(">II", R, 1)), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-ping-0", "PING with length 0", header(0, T_PING), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-ping-7", "PING with length 7", wire(T_PING, 0, 0, bytes(7)), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-ping-9", "PING ACK with length 9, after HELLO and PING", PRE + wire(T_PING, 0x01, 0, bytes(9)), "BAD_FRAME_LENGTH",
        len(PRE))
    bad("bad-length-goaway-7", "GOAWAY with length 7", wire(T_GOAWAY, 0, 0, bytes(7)), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-goaway-1033", "GOAWAY with length 1,033 (1,025 octets of debug data)",
        wire(T_GOAWAY, 0, 0, struct.pack(">II", 0, NO_ERROR) + b"d" * 1_025), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-hello-0", "HELLO with length 0", PREFACE + header(0, T_HELLO), "BAD_FRAME_LENGTH", 8, True)
    bad("bad-length-hello-3", "HELLO with length 3", wire(T_HELLO, 0, 0, b"\x00\x01\x00"), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-hello-partial-setting", "HELLO with length 9: 4 + 5, not a whole number of settings",
        wire(T_HELLO, 0, 0, hello_payload(1, 1) + b"\x00\x01\x00\x00\x40"), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-hello-65-settings", "HELLO with 65 settings (length 394), one more than allowed",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(0x8000 + index, 0) for index in range(65)])), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-hello-before-payload-checks", "HELLO with length 5 whose min_version is 0: step 6 before step 8",
        wire(T_HELLO, 0, 0, b"\x00\x00\x00\x01\x00"), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-max-streams-0", "MAX_STREAMS with length 0", header(0, T_MAXSTREAMS), "BAD_FRAME_LENGTH", 0)
    bad("bad-length-max-streams-8", "MAX_STREAMS with length 8", wire(T_MAXSTREAMS, 0, 0, struct.pack(">II", 1, 2)), "BAD_FRAME_LENGTH", 0)

    # METADATA_TOO_LARGE (step 7): from the header.
    bad("metadata-too-large", "STREAM_OPEN with length 8,194: 8,193 octets of metadata, one above the default MAX_METADATA_SIZE; no payload follows",
        header(8_194, T_OPEN, 0, 1), "METADATA_TOO_LARGE", 0)
    bad("metadata-too-large-small-limit", "STREAM_OPEN with 257 octets of well-formed metadata when MAX_METADATA_SIZE is 256",
        wire(T_OPEN, 0, 1, b"\x02" + metadata_block([(b"intercept", pattern(257 - 12, 29))])), "METADATA_TOO_LARGE", 0,
        limits={"max_metadata_size": 256})
    bad("metadata-too-large-largest-limit", "STREAM_OPEN with length 65,537 when MAX_METADATA_SIZE is 65,535 and MAX_FRAME_SIZE 1,048,576",
        header(65_537, T_OPEN, 0x01, 3), "METADATA_TOO_LARGE", 0, limits={"max_frame_size": 1_048_576, "max_metadata_size": 65_535})
    bad("metadata-too-large-before-bad-metadata", "STREAM_OPEN with 8,200 octets of metadata that is also malformed: step 7 before step 8",
        wire(T_OPEN, 0, 1, b"\x02" + b"\x00" * 8_200), "METADATA_TOO_LARGE", 0)
    bad("metadata-too-large-after-frames", "preface, HELLO, then STREAM_OPEN with length 300 when MAX_METADATA_SIZE is 256",
        SESSION_START + header(300, T_OPEN, 0, 2), "METADATA_TOO_LARGE", len(SESSION_START), True, {"max_metadata_size": 256})

    # ZERO_WINDOW_INCREMENT (step 8).
    bad("zero-window-increment-session", "WINDOW_UPDATE on stream 0 with increment 0", wire(T_WINDOW, 0, 0, bytes(4)),
        "ZERO_WINDOW_INCREMENT", 0)
    bad("zero-window-increment-stream", "WINDOW_UPDATE on stream 7 with increment 0", wire(T_WINDOW, 0, 7, bytes(4)),
        "ZERO_WINDOW_INCREMENT", 0)
    bad("zero-window-increment-after-frames", "HELLO, PING, WINDOW_UPDATE 65,536, then WINDOW_UPDATE with increment 0",
        PRE + GOOD_WINDOW + wire(T_WINDOW, 0, 0, bytes(4)), "ZERO_WINDOW_INCREMENT", len(PRE + GOOD_WINDOW))

    # BAD_HELLO (step 8, section 4.7): wire order.
    bad("bad-hello-min-version-0", "HELLO 0..1", PREFACE + wire(T_HELLO, 0, 0, hello_payload(0, 1)), "BAD_HELLO", 8, True)
    bad("bad-hello-versions-0-0", "HELLO 0..0", wire(T_HELLO, 0, 0, hello_payload(0, 0)), "BAD_HELLO", 0)
    bad("bad-hello-min-above-max", "HELLO 2..1", wire(T_HELLO, 0, 0, hello_payload(2, 1)), "BAD_HELLO", 0)
    bad("bad-hello-setting-id-0", "HELLO with a setting of id 0", wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MFS, 16_384), (0, 1)])),
        "BAD_HELLO", 0)
    bad("bad-hello-duplicate-setting", "HELLO with MAX_FRAME_SIZE twice (both valid)",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MFS, 16_384), (S_ISW, 0), (S_MFS, 32_768)])), "BAD_HELLO", 0)
    bad("bad-hello-duplicate-unknown-setting", "HELLO with unknown id 0x8000 twice: unknown ids are ignored but still may not repeat",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(0x8000, 1), (0x8000, 1)])), "BAD_HELLO", 0)
    bad("bad-hello-versions-before-settings", "HELLO 0..1 with MAX_FRAME_SIZE 0: the versions are checked first",
        wire(T_HELLO, 0, 0, hello_payload(0, 1, [(S_MFS, 0)])), "BAD_HELLO", 0)
    bad("bad-hello-id-0-before-bad-value", "HELLO with id 0 and then MAX_FRAME_SIZE 0: wire order, id 0 comes first",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(0, 0), (S_MFS, 0)])), "BAD_HELLO", 0)
    bad("bad-hello-duplicate-before-value", "HELLO with MAX_FRAME_SIZE 16,384 then MAX_FRAME_SIZE 1: the repeated id is checked before the value",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MFS, 16_384), (S_MFS, 1)])), "BAD_HELLO", 0)
    bad("bad-hello-after-frames", "a valid HELLO, PING, then a HELLO 3..2 (the frame layer reports the malformation)",
        PRE + wire(T_HELLO, 0, 0, hello_payload(3, 2)), "BAD_HELLO", len(PRE))

    # BAD_SETTING_VALUE (step 8, section 2.3).
    bad("bad-setting-max-frame-size-low", "MAX_FRAME_SIZE 16,383", wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MFS, 16_383)])),
        "BAD_SETTING_VALUE", 0)
    bad("bad-setting-max-frame-size-high", "MAX_FRAME_SIZE 16,777,216", wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MFS, 16_777_216)])),
        "BAD_SETTING_VALUE", 0)
    bad("bad-setting-max-frame-size-0", "MAX_FRAME_SIZE 0, right after the preface",
        PREFACE + wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MFS, 0)])), "BAD_SETTING_VALUE", 8, True)
    bad("bad-setting-initial-stream-window", "INITIAL_STREAM_WINDOW 2^31", wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_ISW, 1 << 31)])),
        "BAD_SETTING_VALUE", 0)
    bad("bad-setting-initial-session-window", "INITIAL_SESSION_WINDOW 0xffffffff",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_ISSW, 0xFFFF_FFFF)])), "BAD_SETTING_VALUE", 0)
    bad("bad-setting-initial-max-streams", "INITIAL_MAX_STREAMS 2^31", wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_IMS, 1 << 31)])),
        "BAD_SETTING_VALUE", 0)
    bad("bad-setting-max-metadata-size-low", "MAX_METADATA_SIZE 255", wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MMS, 255)])),
        "BAD_SETTING_VALUE", 0)
    bad("bad-setting-max-metadata-size-high", "MAX_METADATA_SIZE 65,536, after valid settings",
        wire(T_HELLO, 0, 0, hello_payload(1, 2, [(S_MFS, 16_384), (S_COMP, 1), (S_MMS, 65_536)])), "BAD_SETTING_VALUE", 0)
    bad("bad-setting-http-keep-alive", "HTTP_KEEP_ALIVE 2 (only 0 and 1 are defined)",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_HKA, 2)])), "BAD_SETTING_VALUE", 0)
    bad("bad-setting-value-before-id-0", "MAX_METADATA_SIZE 0 then a setting of id 0: wire order, the bad value comes first",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MMS, 0), (0, 0)])), "BAD_SETTING_VALUE", 0)
    bad("bad-setting-value-before-duplicate", "MAX_FRAME_SIZE 1 then MAX_FRAME_SIZE 16,384: the first setting's value fails first",
        wire(T_HELLO, 0, 0, hello_payload(1, 1, [(S_MFS, 1), (S_MFS, 16_384)])), "BAD_SETTING_VALUE", 0)

    # BAD_METADATA (step 8, section 10.1).
    def open_with(block: bytes, stream: int = 1, kind: int = 0x02) -> bytes:
        return wire(T_OPEN, 0, stream, struct.pack(">B", kind) + block)

    bad("bad-metadata-key-length-0", "a metadata entry with key length 0", open_with(b"\x00\x00\x00"), "BAD_METADATA", 0)
    bad("bad-metadata-uppercase-key", "a key with an upper-case letter (\"Port\")", open_with(metadata_block([(b"Port", b"80")])),
        "BAD_METADATA", 0)
    bad("bad-metadata-key-space", "a key with a space", open_with(metadata_block([(b"request id", b"1")])), "BAD_METADATA", 0)
    bad("bad-metadata-key-slash", "a key with '/' after a good entry", open_with(metadata_block([(b"port", b"80"), (b"a/b", b"")])),
        "BAD_METADATA", 0)
    bad("bad-metadata-key-non-ascii", "a key with a UTF-8 letter (\\u00e9)", open_with(metadata_block([("cl\u00e9".encode(), b"")])),
        "BAD_METADATA", 0)
    bad("bad-metadata-key-cut-short", "key length 10 but only 4 key octets before the payload ends", open_with(b"\x0acall"),
        "BAD_METADATA", 0)
    bad("bad-metadata-value-length-cut-short", "the payload ends after one of the two value-length octets",
        open_with(b"\x04call\x00"), "BAD_METADATA", 0)
    bad("bad-metadata-value-cut-short", "value length 14 but only 9 value octets",
        open_with(b"\x04call" + struct.pack(">H", 14) + b"intercept", kind=0x03), "BAD_METADATA", 0)
    bad("bad-metadata-duplicate-key", "the key \"port\" twice", open_with(metadata_block([(b"port", b"80"), (b"client", b"x"), (b"port", b"81")])),
        "BAD_METADATA", 0)
    bad("bad-metadata-65-entries", "65 entries, one more than allowed",
        open_with(metadata_block([(b"k%02d" % index, b"") for index in range(65)])), "BAD_METADATA", 0)
    bad("bad-metadata-after-frames", "preface, HELLO, then STREAM_OPEN whose second entry has key length 0",
        SESSION_START + open_with(metadata_block([(b"call", b"agent.info")]) + b"\x00", stream=1, kind=0x03),
        "BAD_METADATA", len(SESSION_START), True)


def render() -> dict[str, str]:
    frames.clear()
    cases.clear()
    build_frames()
    build_malformed()
    for collection in (frames, cases):
        names = [entry["name"] for entry in collection]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise SystemExit(f"make_vectors: duplicate vector names {duplicates}")
    return {
        "frames.json": json.dumps({"protocol_version": 1, "frames": frames}, indent=2) + "\n",
        "malformed.json": json.dumps({"cases": cases}, indent=2) + "\n",
    }


def main(argv: list[str]) -> int:
    outputs = render()
    if "--check" in argv:
        stale = [name for name, text in outputs.items()
                 if not (VECTORS / name).exists() or (VECTORS / name).read_text(encoding="utf-8") != text]
        if stale:
            print(f"make_vectors: {', '.join(stale)} differ from what make_vectors.py generates", file=sys.stderr)
            return 1
        return 0
    for name, text in outputs.items():
        (VECTORS / name).write_text(text, encoding="utf-8")
    print(f"make_vectors: wrote {len(frames)} frames to spec/vectors/frames.json and {len(cases)} cases to spec/vectors/malformed.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
