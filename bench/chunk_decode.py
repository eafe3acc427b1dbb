"""Chunk decode throughput: MB/s of the sans-IO ChunkReader at chunk size 128 and 4096."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from bench.common import write_result
from rtmpconf.rtmp.chunk import ChunkReader, ChunkWriter

READ_SIZE = 64 * 1024


def make_stream(chunk_size: int, seconds: int = 60, seed: int = 1) -> tuple[bytes, int]:
    """A 2.5 Mbit/s-like A/V stream: 25 fps video (keyframe 60 KB, others ~11 KB), 47 AAC frames/s."""
    rnd = random.Random(seed)
    w = ChunkWriter(chunk_size)
    blob = os.urandom(80_000)
    parts = []
    messages = 0
    for i in range(seconds * 25):
        size = 60_000 if i % 50 == 0 else rnd.randint(8_000, 14_000)
        parts.append(w.encode(6, 9, 1, i * 40, blob[:size]))
        messages += 1
        for j in range(2 if i % 3 else 1):
            parts.append(w.encode(4, 8, 1, i * 40 + 21 * j, blob[:rnd.randint(250, 400)]))
            messages += 1
    return b"".join(parts), messages


def measure(chunk_size: int, repeat: int = 3) -> dict[str, Any]:
    data, messages = make_stream(chunk_size)
    best = float("inf")
    for _ in range(repeat):
        reader = ChunkReader(chunk_size=chunk_size)
        t0 = time.perf_counter()
        got = 0
        for off in range(0, len(data), READ_SIZE):
            reader.feed(data[off:off + READ_SIZE])
            got += len(reader.messages())
        dt = time.perf_counter() - t0
        assert got == messages, (got, messages)
        best = min(best, dt)
    return {"chunk_size": chunk_size, "bytes": len(data), "messages": messages, "seconds": round(best, 4),
            "mb_s": round(len(data) / best / 1e6, 1), "messages_s": round(messages / best)}


def main() -> dict[str, Any]:
    results = [measure(128), measure(4096)]
    headline = {"decode_mb_s_chunk128": results[0]["mb_s"], "decode_mb_s_chunk4096": results[1]["mb_s"]}
    write_result("chunk_decode", {"read_size": READ_SIZE, "results": results}, headline)
    return headline


if __name__ == "__main__":
    print(main())
