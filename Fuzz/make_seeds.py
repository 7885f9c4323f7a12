#!/usr/bin/env python3
"""Writes a fuzzing seed corpus made from spec/vectors: make_seeds.py TARGET DIR.

FuzzFrameDecoder input is one selector octet (bit 0: expect the preface; bit 1: MAX_FRAME_SIZE
16384 instead of 65536; bit 2: MAX_METADATA_SIZE 256 instead of 8192; bits 3-7: split size) and
then the byte stream. Every vector becomes a seed; the well-formed ones also as one stream behind
the preface.
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
else:
    sys.exit(f"make_seeds.py: unknown target {target}")
print(f"make_seeds.py: {count} seeds for {target} in {out}")
