#!/usr/bin/env python3
"""Independent reference decoder and encoder of the Shunt frame layer, version 1.

Written from spec/PROTOCOL.md alone (sections 2.1, 2.3, 3, 3.1, 4, 9.1, 10.1),
not from the Swift sources, so that the spec's vectors (spec/vectors/) are
checked by two implementations that share nothing but the text.

Python 3.11 standard library only.

Frames are plain dicts in the JSON form of spec/vectors/README.md:

    {"type": "DATA", "stream": 1, "flags": 1, "payload": "68656c6c6f"}

Usage as a tool:

    python3 tools/reference/shunt_frames.py [--preface] HEX...   decode and print frames
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import dataclass

# --- constants (spec sections 2.1, 2.3, 3, 4) -------------------------------

PREFACE = bytes([0x89, 0x53, 0x48, 0x55, 0x4E, 0x54, 0x0D, 0x0A])  # 0x89 "SHUNT" CR LF
HEADER_SIZE = 12
HEADER = struct.Struct(">IBBHI")  # length, type, flags, reserved, R + stream id
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
SETTING = struct.Struct(">HI")

MAX_31 = 0x7FFF_FFFF
R_BIT = 0x8000_0000

DEFAULT_MAX_FRAME_SIZE = 16_384
DEFAULT_MAX_METADATA_SIZE = 8_192

# Frame types (section 4).
DATA, STREAM_OPEN, RESET, WINDOW_UPDATE, PING, GOAWAY, HELLO, MAX_STREAMS = range(8)
TYPE_NAMES = {
    DATA: "DATA",
    STREAM_OPEN: "STREAM_OPEN",
    RESET: "RESET",
    WINDOW_UPDATE: "WINDOW_UPDATE",
    PING: "PING",
    GOAWAY: "GOAWAY",
    HELLO: "HELLO",
    MAX_STREAMS: "MAX_STREAMS",
}
TYPE_CODES = {name: code for code, name in TYPE_NAMES.items()}
ALL_TYPE_NAMES = [*TYPE_NAMES.values(), "EXTENSION"]

# Flags each type defines (section 4 table); every other bit MUST be 0.
FIN, COMPRESSED, ACK = 0x01, 0x02, 0x01
DEFINED_FLAGS = {
    DATA: FIN | COMPRESSED,
    STREAM_OPEN: FIN,
    RESET: 0,
    WINDOW_UPDATE: 0,
    PING: ACK,
    GOAWAY: 0,
    HELLO: 0,
    MAX_STREAMS: 0,
}
STREAM_MUST_BE_NONZERO = {DATA, STREAM_OPEN, RESET}
STREAM_MUST_BE_ZERO = {PING, GOAWAY, HELLO, MAX_STREAMS}

MAX_RESET_REASON = 256
MAX_GOAWAY_DEBUG = 1_024
MAX_HELLO_SETTINGS = 64
MAX_METADATA_ENTRIES = 64
KEY_OCTETS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-._")

# Error codes (section 9.1).
ERROR_CODE_NAMES = [
    "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "FRAME_SIZE_ERROR",
    "SETTINGS_ERROR", "STREAM_CLOSED", "REFUSED_STREAM", "CANCEL", "VERSION_MISMATCH",
    "ENHANCE_YOUR_CALM", "STREAM_LIMIT_ERROR", "METADATA_ERROR", "COMPRESSION_ERROR",
    "CONNECT_ERROR", "UNSUPPORTED_KIND", "TIMEOUT", "UNAUTHORIZED",
]
ERROR_CODES = {name: value for value, name in enumerate(ERROR_CODE_NAMES)}

# Settings (section 2.3): id -> (name, lowest valid, highest valid).
SETTINGS = {
    0x0001: ("MAX_FRAME_SIZE", 16_384, 16_777_215),
    0x0002: ("INITIAL_STREAM_WINDOW", 0, MAX_31),
    0x0003: ("INITIAL_SESSION_WINDOW", 0, MAX_31),
    0x0004: ("INITIAL_MAX_STREAMS", 0, MAX_31),
    0x0005: ("MAX_METADATA_SIZE", 256, 65_535),
    0x0006: ("COMPRESSION", 0, 0xFFFF_FFFF),
    0x0007: ("HTTP_KEEP_ALIVE", 0, 1),
}

# Malformations (sections 2.1 and 3.1) and the code a receiver sends for each.
MALFORMATION_CODES: dict[str, str | None] = {
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


@dataclass(frozen=True)
class Limits:
    """The receiver's own settings that the frame layer enforces."""

    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    max_metadata_size: int = DEFAULT_MAX_METADATA_SIZE

    @classmethod
    def from_json(cls, value: dict | None) -> "Limits":
        value = value or {}
        return cls(
            max_frame_size=value.get("max_frame_size", DEFAULT_MAX_FRAME_SIZE),
            max_metadata_size=value.get("max_metadata_size", DEFAULT_MAX_METADATA_SIZE),
        )


class DecodingError(Exception):
    """A malformation (section 3.1): its name, where the faulty frame starts, and why."""

    def __init__(self, malformation: str, offset: int, detail: str):
        assert malformation in MALFORMATION_CODES, malformation
        super().__init__(f"{malformation} at octet {offset}: {detail}")
        self.malformation = malformation
        self.offset = offset
        self.detail = detail

    @property
    def code(self) -> str | None:
        """The error code NAME sent in the GOAWAY, None for TRUNCATED_FRAME."""
        return MALFORMATION_CODES[self.malformation]


def type_name(type_code: int) -> str:
    if type_code in TYPE_NAMES:
        return TYPE_NAMES[type_code]
    if type_code >= 0x80:
        return "EXTENSION"
    return f"reserved type 0x{type_code:02x}"


# --- decoding ----------------------------------------------------------------


class Decoder:
    """An incremental decoder of one direction of a session.

    feed() octets as they arrive, call next() until it returns None (it raises
    DecodingError on a malformation), and finish() when the input ends. The
    header of a frame is validated (steps 1-7) as soon as its 12 octets are
    there, before any payload is waited for; the payload (step 8) once it is
    complete. After an error the decoder keeps raising the same error.
    """

    def __init__(self, limits: Limits = Limits(), expects_preface: bool = False):
        self.limits = limits
        self._buffer = bytearray()
        self._offset = 0  # stream offset of _buffer[0]
        self._preface_pending = expects_preface
        self._header: tuple[int, int, int, int, int] | None = None  # validated header of the current frame
        self._error: DecodingError | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def _fail(self, malformation: str, detail: str) -> None:
        self._error = DecodingError(malformation, self._offset, detail)
        raise self._error

    def next(self) -> dict | None:
        if self._error is not None:
            raise self._error
        if self._preface_pending:
            # Section 2.1: octet by octet, the first octet that differs fails.
            for index, octet in enumerate(self._buffer[: len(PREFACE)]):
                if octet != PREFACE[index]:
                    self._fail("BAD_PREFACE", f"octet {index} of the preface is 0x{octet:02x}, expected 0x{PREFACE[index]:02x}")
            if len(self._buffer) < len(PREFACE):
                return None
            del self._buffer[: len(PREFACE)]
            self._offset += len(PREFACE)
            self._preface_pending = False
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                return None
            header = HEADER.unpack_from(self._buffer, 0)
            self._check_header(*header)
            self._header = header
        length, type_code, flags, _reserved, stream = self._header
        if len(self._buffer) < HEADER_SIZE + length:
            return None
        payload = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length])
        frame = self._decode_payload(type_code, flags, stream, payload)
        del self._buffer[: HEADER_SIZE + length]
        self._offset += HEADER_SIZE + length
        self._header = None
        return frame

    def finish(self) -> None:
        """The input ended: anything buffered is an unfinished frame (or preface)."""
        if self._error is not None:
            raise self._error
        if self._preface_pending:
            self._fail("TRUNCATED_FRAME", f"input ended after {len(self._buffer)} of the {len(PREFACE)} preface octets")
        if self._buffer:
            if self._header is None:
                self._fail("TRUNCATED_FRAME", f"input ended after {len(self._buffer)} of the {HEADER_SIZE} header octets")
            self._fail("TRUNCATED_FRAME", f"input ended after {len(self._buffer) - HEADER_SIZE} of the {self._header[0]} payload octets")

    # Section 3.1, steps 1-7: the header alone.
    def _check_header(self, length: int, type_code: int, flags: int, reserved: int, raw_stream: int) -> None:
        limits = self.limits
        # 1
        if length > limits.max_frame_size:
            self._fail("FRAME_TOO_LARGE", f"length {length} exceeds MAX_FRAME_SIZE {limits.max_frame_size}")
        # 2
        if reserved != 0:
            self._fail("RESERVED_BITS_SET", f"header octets 6-7 are 0x{reserved:04x}")
        if raw_stream & R_BIT:
            self._fail("RESERVED_BITS_SET", "the R bit of the stream id is set")
        if type_code >= 0x80:
            return  # extension frames: steps 1 and 2 only (section 13)
        # 3
        if type_code not in TYPE_NAMES:
            self._fail("UNKNOWN_FRAME_TYPE", f"type 0x{type_code:02x} is reserved")
        name = TYPE_NAMES[type_code]
        # 4
        undefined = flags & ~DEFINED_FLAGS[type_code] & 0xFF
        if undefined:
            self._fail("UNDEFINED_FLAGS", f"{name} flags 0x{flags:02x} set undefined bits 0x{undefined:02x}")
        # 5
        if type_code in STREAM_MUST_BE_NONZERO and raw_stream == 0:
            self._fail("ZERO_STREAM_ID", f"{name} on stream 0")
        if type_code in STREAM_MUST_BE_ZERO and raw_stream != 0:
            self._fail("NONZERO_STREAM_ID", f"{name} on stream {raw_stream}")
        # 6 (section 4 table). The upper bound of STREAM_OPEN is step 7.
        allowed = {
            DATA: length <= limits.max_frame_size,
            STREAM_OPEN: length >= 1,
            RESET: 4 <= length <= 4 + MAX_RESET_REASON,
            WINDOW_UPDATE: length == 4,
            PING: length == 8,
            GOAWAY: 8 <= length <= 8 + MAX_GOAWAY_DEBUG,
            HELLO: length >= 4 and (length - 4) % 6 == 0 and (length - 4) // 6 <= MAX_HELLO_SETTINGS,
            MAX_STREAMS: length == 4,
        }[type_code]
        if not allowed:
            self._fail("BAD_FRAME_LENGTH", f"length {length} is not allowed for {name}")
        # 7
        if type_code == STREAM_OPEN and length - 1 > limits.max_metadata_size:
            self._fail("METADATA_TOO_LARGE", f"metadata of {length - 1} octets exceeds MAX_METADATA_SIZE {limits.max_metadata_size}")

    # Section 3.1, step 8, and the frame's fields.
    def _decode_payload(self, type_code: int, flags: int, stream: int, payload: bytes) -> dict:
        frame: dict = {"type": type_name(type_code), "stream": stream, "flags": flags}
        if type_code >= 0x80:
            frame["type_code"] = type_code
            frame["payload"] = payload.hex()
        elif type_code == DATA:
            frame["payload"] = payload.hex()
        elif type_code == STREAM_OPEN:
            frame["kind"] = payload[0]
            frame["metadata"] = self._decode_metadata(payload[1:])
        elif type_code == RESET:
            (frame["code"],) = U32.unpack_from(payload, 0)
            frame["reason"] = payload[4:].hex()
        elif type_code == WINDOW_UPDATE:
            (raw,) = U32.unpack(payload)
            if raw & R_BIT:
                self._fail("RESERVED_BITS_SET", "the R bit of the WINDOW_UPDATE increment is set")
            if raw == 0:
                self._fail("ZERO_WINDOW_INCREMENT", "WINDOW_UPDATE with increment 0")
            frame["increment"] = raw
        elif type_code == PING:
            frame["opaque"] = payload.hex()
        elif type_code == GOAWAY:
            raw, code = struct.unpack_from(">II", payload, 0)
            if raw & R_BIT:
                self._fail("RESERVED_BITS_SET", "the R bit of the GOAWAY last stream id is set")
            frame["last_stream_id"] = raw
            frame["code"] = code
            frame["debug"] = payload[8:].hex()
        elif type_code == HELLO:
            frame.update(self._decode_hello(payload))
        elif type_code == MAX_STREAMS:
            (raw,) = U32.unpack(payload)
            if raw & R_BIT:
                self._fail("RESERVED_BITS_SET", "the R bit of MAX_STREAMS is set")
            frame["maximum"] = raw
        return frame

    def _decode_hello(self, payload: bytes) -> dict:
        # Section 4.7: wire order, the first bad field decides.
        min_version, max_version = struct.unpack_from(">HH", payload, 0)
        if min_version == 0:
            self._fail("BAD_HELLO", "min_version is 0")
        if min_version > max_version:
            self._fail("BAD_HELLO", f"min_version {min_version} > max_version {max_version}")
        settings = []
        seen = set()
        for position in range(4, len(payload), SETTING.size):
            setting_id, value = SETTING.unpack_from(payload, position)
            if setting_id == 0:
                self._fail("BAD_HELLO", "setting id 0")
            if setting_id in seen:
                self._fail("BAD_HELLO", f"setting 0x{setting_id:04x} appears twice")
            seen.add(setting_id)
            if setting_id in SETTINGS:
                name, low, high = SETTINGS[setting_id]
                if not low <= value <= high:
                    self._fail("BAD_SETTING_VALUE", f"{name} {value} is outside {low} ... {high}")
            settings.append([setting_id, value])
        return {"min_version": min_version, "max_version": max_version, "settings": settings}

    def _decode_metadata(self, block: bytes) -> list:
        # Section 10.1.
        entries = []
        keys = set()
        position = 0
        while position < len(block):
            if len(entries) == MAX_METADATA_ENTRIES:
                self._fail("BAD_METADATA", f"more than {MAX_METADATA_ENTRIES} entries")
            key_len = block[position]
            position += 1
            if key_len == 0:
                self._fail("BAD_METADATA", f"entry {len(entries)}: key length 0")
            if position + key_len > len(block):
                self._fail("BAD_METADATA", f"entry {len(entries)}: key cut short")
            key = block[position : position + key_len]
            position += key_len
            if not set(key) <= KEY_OCTETS:
                self._fail("BAD_METADATA", f"entry {len(entries)}: key {key!r} has an octet outside a-z 0-9 - . _")
            if key in keys:
                self._fail("BAD_METADATA", f"entry {len(entries)}: key {key.decode()!r} appears twice")
            keys.add(key)
            if position + 2 > len(block):
                self._fail("BAD_METADATA", f"entry {len(entries)}: value length cut short")
            (value_len,) = U16.unpack_from(block, position)
            position += 2
            if position + value_len > len(block):
                self._fail("BAD_METADATA", f"entry {len(entries)}: value cut short")
            entries.append([key.decode("ascii"), block[position : position + value_len].hex()])
            position += value_len
        return entries


def decode_all(data: bytes, limits: Limits = Limits(), preface: bool = False, chunk: int = 0) -> tuple[list[dict], DecodingError | None]:
    """Decodes everything in data, fed in chunks of `chunk` octets (0: at once), then finishes."""
    decoder = Decoder(limits, preface)
    frames: list[dict] = []
    step = chunk or max(len(data), 1)
    try:
        index = 0
        while True:
            decoder.feed(data[index : index + step])
            index += step
            while (frame := decoder.next()) is not None:
                frames.append(frame)
            if index >= len(data):
                break
        decoder.finish()
    except DecodingError as error:
        return frames, error
    return frames, None


# --- encoding ----------------------------------------------------------------


def _hex(frame: dict, key: str) -> bytes:
    return bytes.fromhex(frame[key])


def encode(frame: dict) -> bytes:
    """The wire form (header and payload) of a frame in its JSON form. Checks only what it must to encode."""
    name = frame["type"]
    stream = frame["stream"]
    flags = frame["flags"]
    if not 0 <= stream <= MAX_31:
        raise ValueError(f"stream id {stream} out of range")
    if not 0 <= flags <= 0xFF:
        raise ValueError(f"flags {flags} out of range")
    if name == "EXTENSION":
        type_code = frame["type_code"]
        if not 0x80 <= type_code <= 0xFF:
            raise ValueError(f"extension type {type_code} out of range")
        payload = _hex(frame, "payload")
    else:
        type_code = TYPE_CODES[name]
        if name == "DATA":
            payload = _hex(frame, "payload")
        elif name == "STREAM_OPEN":
            payload = bytearray([frame["kind"]])
            for key, value in frame["metadata"]:
                key_bytes, value_bytes = key.encode("ascii"), bytes.fromhex(value)
                payload += bytes([len(key_bytes)]) + key_bytes + U16.pack(len(value_bytes)) + value_bytes
        elif name == "RESET":
            payload = U32.pack(frame["code"]) + _hex(frame, "reason")
        elif name == "WINDOW_UPDATE":
            payload = U32.pack(frame["increment"])
        elif name == "PING":
            payload = _hex(frame, "opaque")
            if len(payload) != 8:
                raise ValueError("PING opaque must be 8 octets")
        elif name == "GOAWAY":
            payload = U32.pack(frame["last_stream_id"]) + U32.pack(frame["code"]) + _hex(frame, "debug")
        elif name == "HELLO":
            payload = U16.pack(frame["min_version"]) + U16.pack(frame["max_version"])
            payload += b"".join(SETTING.pack(setting_id, value) for setting_id, value in frame["settings"])
        elif name == "MAX_STREAMS":
            payload = U32.pack(frame["maximum"])
        else:
            raise ValueError(f"unknown frame type {name!r}")
    return HEADER.pack(len(payload), type_code, flags, 0, stream) + bytes(payload)


def main(argv: list[str]) -> int:
    preface = "--preface" in argv
    data = bytes.fromhex("".join(arg for arg in argv if arg != "--preface"))
    frames, error = decode_all(data, preface=preface)
    for frame in frames:
        print(json.dumps(frame))
    if error is not None:
        print(f"error: {error} (code {error.code})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
