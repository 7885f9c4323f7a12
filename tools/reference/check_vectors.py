#!/usr/bin/env python3
"""Checks spec/vectors/*.json against the independent reference decoder (shunt_frames.py).

- every well-formed vector decodes (whole, 1 octet at a time, 5 at a time) to its `frame`
  and re-encodes to its `hex`;
- every malformed case fails (whole, 1 and 7 octets at a time) with its `error`, `code` and
  `offset`, and the octets before `offset` decode cleanly;
- coverage: every frame type, every defined flag combination, every malformation name (from
  spec/PROTOCOL.md and from Sources/ShuntWire/FrameDecodingError.swift), each in its variants;
- the files are exactly what tools/reference/make_vectors.py generates.

Run from anywhere: python3 tools/reference/check_vectors.py
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import make_vectors  # noqa: E402
import shunt_frames as sf  # noqa: E402

VECTORS = ROOT / "spec" / "vectors"
SPEC = ROOT / "spec" / "PROTOCOL.md"
SWIFT_MALFORMATIONS = ROOT / "Sources" / "ShuntWire" / "FrameDecodingError.swift"

FIELDS = {
    "DATA": {"payload"},
    "STREAM_OPEN": {"kind", "metadata"},
    "RESET": {"code", "reason"},
    "WINDOW_UPDATE": {"increment"},
    "PING": {"opaque"},
    "GOAWAY": {"last_stream_id", "code", "debug"},
    "HELLO": {"min_version", "max_version", "settings"},
    "MAX_STREAMS": {"maximum"},
    "EXTENSION": {"type_code", "payload"},
}

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_hex(where: str, text) -> bool:
    if not isinstance(text, str) or len(text) % 2 or re.fullmatch(r"[0-9a-f]*", text) is None:
        fail(f"{where}: not lower-case hex of whole octets")
        return False
    return True


def check_limits(where: str, entry: dict) -> sf.Limits | None:
    limits = entry.get("limits")
    if limits is None:
        return sf.Limits()
    if not isinstance(limits, dict) or not set(limits) <= {"max_frame_size", "max_metadata_size"} or not all(map(is_int, limits.values())):
        fail(f"{where}: limits must be an object with integer max_frame_size and/or max_metadata_size")
        return None
    parsed = sf.Limits.from_json(limits)
    if not 16_384 <= parsed.max_frame_size <= 16_777_215:
        fail(f"{where}: limits.max_frame_size {parsed.max_frame_size} is not a valid MAX_FRAME_SIZE (section 2.3)")
    if not 256 <= parsed.max_metadata_size <= 65_535:
        fail(f"{where}: limits.max_metadata_size {parsed.max_metadata_size} is not a valid MAX_METADATA_SIZE (section 2.3)")
    return parsed


def describe(error: sf.DecodingError | None) -> str:
    return "no error" if error is None else f"{error.malformation} (code {error.code}) at offset {error.offset} [{error.detail}]"


# --- frames.json -------------------------------------------------------------


def check_frames(document: dict) -> list[dict]:
    if document.get("protocol_version") != 1:
        fail("frames.json: protocol_version must be 1")
    entries = document.get("frames")
    if not isinstance(entries, list):
        fail("frames.json: no `frames` list")
        return []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"frames.json[{index}] {name!r}"
        if not isinstance(name, str) or not isinstance(entry.get("description"), str):
            fail(f"{where}: needs string `name` and `description`")
            continue
        if not check_hex(f"{where} hex", entry.get("hex")):
            continue
        frame = entry.get("frame")
        if not isinstance(frame, dict) or frame.get("type") not in FIELDS:
            fail(f"{where}: `frame` must be an object with a known `type`")
            continue
        expected_keys = {"type", "stream", "flags"} | FIELDS[frame["type"]]
        if set(frame) != expected_keys:
            fail(f"{where}: frame keys {sorted(frame)} differ from {sorted(expected_keys)} (spec/vectors/README.md)")
            continue
        limits = check_limits(where, entry)
        if limits is None:
            continue
        octets = bytes.fromhex(entry["hex"])
        for chunk in (0, 1, 5):
            frames, error = sf.decode_all(octets, limits, chunk=chunk)
            if error is not None or len(frames) != 1:
                fail(f"{where} (chunk {chunk}): expected exactly one frame, got {len(frames)} and {describe(error)}")
                break
            if frames[0] != frame:
                fail(f"{where} (chunk {chunk}): decodes to {json.dumps(frames[0])[:400]}, vector says {json.dumps(frame)[:400]}")
                break
        try:
            encoded = sf.encode(frame).hex()
        except (KeyError, ValueError, struct.error, TypeError) as error:
            fail(f"{where}: the reference encoder rejects the frame: {error!r}")
            continue
        if encoded != entry["hex"]:
            at = next((i for i in range(0, min(len(encoded), len(entry["hex"])), 2) if encoded[i : i + 2] != entry["hex"][i : i + 2]),
                      min(len(encoded), len(entry["hex"])))
            fail(f"{where}: the reference encoder's octets differ from `hex` at octet {at // 2} "
                 f"(encoded {len(encoded) // 2} octets: ...{encoded[max(at - 8, 0) : at + 24]}..., "
                 f"vector {len(entry['hex']) // 2} octets: ...{entry['hex'][max(at - 8, 0) : at + 24]}...)")
    return entries


# --- malformed.json ----------------------------------------------------------


def check_malformed(document: dict) -> list[dict]:
    entries = document.get("cases")
    if not isinstance(entries, list):
        fail("malformed.json: no `cases` list")
        return []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"malformed.json[{index}] {name!r}"
        if not isinstance(name, str) or not isinstance(entry.get("description"), str):
            fail(f"{where}: needs string `name` and `description`")
            continue
        if not isinstance(entry.get("preface"), bool):
            fail(f"{where}: `preface` must be true or false")
            continue
        if not check_hex(f"{where} hex", entry.get("hex")):
            continue
        if not isinstance(entry.get("error"), str) or "code" not in entry or not (entry["code"] is None or isinstance(entry["code"], str)):
            fail(f"{where}: needs string `error` and `code` (string or null)")
            continue
        if not is_int(entry.get("offset")) or not 0 <= entry["offset"] <= len(entry["hex"]) // 2:
            fail(f"{where}: `offset` must be an integer inside the input")
            continue
        limits = check_limits(where, entry)
        if limits is None:
            continue
        octets = bytes.fromhex(entry["hex"])
        expected = (entry["error"], entry["code"], entry["offset"])
        for chunk in (0, 1, 7):
            _, error = sf.decode_all(octets, limits, preface=entry["preface"], chunk=chunk)
            got = None if error is None else (error.malformation, error.code, error.offset)
            if got != expected:
                fail(f"{where} (chunk {chunk}): expected {expected[0]} (code {expected[1]}) at offset {expected[2]}, "
                     f"reference decoder gives {describe(error)}")
                break
        if entry["offset"] > 0:
            _, error = sf.decode_all(octets[: entry["offset"]], limits, preface=entry["preface"])
            if error is not None:
                fail(f"{where}: the octets before offset {entry['offset']} should be well-formed, reference decoder gives {describe(error)}")
    return entries


# --- coverage ----------------------------------------------------------------


def spec_malformations() -> dict[str, str | None]:
    """Malformation name -> code NAME, from the section 3.1 table, plus BAD_PREFACE and TRUNCATED_FRAME (2.1, 3.1)."""
    text = SPEC.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\|\s*\d+\s*\|\s*`([A-Z_]+)`\s*\|\s*([A-Z_]+)\s*\|", text, re.MULTILINE))
    if "`BAD_PREFACE` (code\n`PROTOCOL_ERROR`)" in text or re.search(r"`BAD_PREFACE`\s*\(code\s*`PROTOCOL_ERROR`\)", text):
        table["BAD_PREFACE"] = "PROTOCOL_ERROR"
    if "`TRUNCATED_FRAME`" in text:
        table["TRUNCATED_FRAME"] = None
    return table


def swift_malformations() -> set[str]:
    if not SWIFT_MALFORMATIONS.exists():
        return set()
    text = SWIFT_MALFORMATIONS.read_text(encoding="utf-8")
    enum = re.search(r"enum Malformation\b[^{]*\{(.*?)\n\s*(?:///|public var|var)", text, re.DOTALL)
    return set(re.findall(r'case\s+\w+\s*=\s*"([A-Z_]+)"', enum.group(1) if enum else text))


def header_at(entry: dict) -> tuple[int, int, int, int, int] | None:
    octets = bytes.fromhex(entry["hex"])[entry["offset"]:]
    return sf.HEADER.unpack_from(octets, 0) if len(octets) >= sf.HEADER_SIZE else None


def check_coverage(frame_entries: list[dict], cases: list[dict]) -> None:
    # Frame types and flag combinations.
    frames = [entry["frame"] for entry in frame_entries if isinstance(entry, dict) and isinstance(entry.get("frame"), dict)]
    types = {frame.get("type") for frame in frames}
    missing = [name for name in sf.ALL_TYPE_NAMES if name not in types]
    if missing:
        fail(f"frames.json: no vector of type {', '.join(missing)}")
    for type_code, defined in sf.DEFINED_FLAGS.items():
        name = sf.TYPE_NAMES[type_code]
        wanted = {flags for flags in range(256) if flags & ~defined == 0}
        present = {frame["flags"] for frame in frames if frame.get("type") == name}
        if wanted - present:
            fail(f"frames.json: {name} lacks flag combinations {sorted(wanted - present)}")

    # Malformation names: the spec, the Swift enum, the reference decoder must agree, and all must be used.
    spec = spec_malformations()
    swift = swift_malformations()
    if spec != sf.MALFORMATION_CODES:
        fail(f"spec/PROTOCOL.md malformations/codes {spec} differ from the reference decoder's {sf.MALFORMATION_CODES}")
    if swift and swift != set(spec):
        fail(f"FrameDecodingError.Malformation names differ from spec/PROTOCOL.md: only in Swift {sorted(swift - set(spec))}, "
             f"only in the spec {sorted(set(spec) - swift)}")
    used = {case.get("error") for case in cases}
    unused = sorted((set(spec) | swift) - used)
    if unused:
        fail(f"malformed.json: no case for {', '.join(unused)}")
    unknown = sorted(name for name in used if name not in spec)
    if unknown:
        fail(f"malformed.json: errors {unknown} are not malformation names of spec/PROTOCOL.md")

    # Variants: the per-type and per-octet rules, checked on the header of the faulty frame.
    def types_with(error: str) -> set[int]:
        found = set()
        for case in cases:
            if case.get("error") == error and (header := header_at(case)) is not None:
                found.add(header[1])
        return found

    need = {
        "UNDEFINED_FLAGS": set(sf.DEFINED_FLAGS),
        "ZERO_STREAM_ID": sf.STREAM_MUST_BE_NONZERO,
        "NONZERO_STREAM_ID": sf.STREAM_MUST_BE_ZERO,
        "BAD_FRAME_LENGTH": {sf.STREAM_OPEN, sf.RESET, sf.WINDOW_UPDATE, sf.PING, sf.GOAWAY, sf.HELLO, sf.MAX_STREAMS},
    }
    for error, wanted in need.items():
        lacking = wanted - types_with(error)
        if lacking:
            fail(f"malformed.json: no {error} case for {', '.join(sf.TYPE_NAMES[t] for t in sorted(lacking))}")
    reserved_places = set()
    for case in cases:
        if case.get("error") != "RESERVED_BITS_SET" or (header := header_at(case)) is None:
            continue
        length, type_code, _flags, reserved, stream = header
        if reserved:
            reserved_places.add("header octets 6-7")
        elif stream & sf.R_BIT:
            reserved_places.add("stream id R bit")
        else:
            reserved_places.add(f"{sf.type_name(type_code)} payload")
    lacking = {"header octets 6-7", "stream id R bit", "WINDOW_UPDATE payload", "GOAWAY payload", "MAX_STREAMS payload"} - reserved_places
    if lacking:
        fail(f"malformed.json: no RESERVED_BITS_SET case for {', '.join(sorted(lacking))}")
    preface_octets = set()
    for case in cases:
        if case.get("error") == "BAD_PREFACE":
            octets = bytes.fromhex(case["hex"])
            preface_octets.add(next((i for i, o in enumerate(octets[:8]) if o != sf.PREFACE[i]), None))
    if set(range(8)) - preface_octets:
        fail(f"malformed.json: no BAD_PREFACE case at preface octets {sorted(set(range(8)) - preface_octets)}")
    if not any(case.get("offset", 0) > 0 for case in cases):
        fail("malformed.json: no case with well-formed frames before the bad one")


def main() -> int:
    try:
        frame_doc = json.loads((VECTORS / "frames.json").read_text(encoding="utf-8"))
        malformed_doc = json.loads((VECTORS / "malformed.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"check_vectors: cannot load spec/vectors: {error}", file=sys.stderr)
        return 1
    frame_entries = check_frames(frame_doc)
    cases = check_malformed(malformed_doc)
    for label, entries in (("frames.json", frame_entries), ("malformed.json", cases)):
        names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            fail(f"{label}: duplicate names {duplicates}")
    check_coverage(frame_entries, cases)
    for file_name, text in make_vectors.render().items():
        if (VECTORS / file_name).read_text(encoding="utf-8") != text:
            fail(f"spec/vectors/{file_name} differs from what tools/reference/make_vectors.py generates "
                 f"(edit the generator and run python3 tools/reference/make_vectors.py)")
    if failures:
        for message in failures:
            print(f"check_vectors: {message}", file=sys.stderr)
        print(f"check_vectors: {len(failures)} disagreement(s) in {len(frame_entries)} frames, {len(cases)} malformed cases",
              file=sys.stderr)
        return 1
    print(f"check_vectors: {len(frame_entries)} frames, {len(cases)} malformed cases, all agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
