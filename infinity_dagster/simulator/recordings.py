"""Small, deterministic fake MP3 files standing in for call recordings."""

from __future__ import annotations

import numpy as np

# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
_FRAME_HEADER = bytes([0xFF, 0xFB, 0x90, 0x64])
_FRAME_BYTES = 417
MAX_FRAMES = 120


def _id3(title: str) -> bytes:
    text = title.encode("utf-8")
    frame = b"TIT2" + (len(text) + 1).to_bytes(4, "big") + b"\x00\x00" + b"\x03" + text
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + frame


def fake_mp3(seed: int, row_id: int, seconds: int) -> bytes:
    """An MP3-looking byte string for one call: an ID3 tag and one frame per second (capped)."""
    frames = max(1, min(int(seconds), MAX_FRAMES))
    rng = np.random.default_rng([int(seed), int(row_id), 7])
    payload = rng.integers(0, 256, size=(frames, _FRAME_BYTES - 4), dtype=np.uint8)
    header = np.frombuffer(_FRAME_HEADER, dtype=np.uint8)
    body = np.concatenate([np.broadcast_to(header, (frames, 4)), payload], axis=1)
    return _id3(f"call {row_id}") + body.tobytes()
