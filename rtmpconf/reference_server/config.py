"""Reference server configuration: defaults from limits.py, overridable from a TOML file."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmpconf.reference_server import limits


@dataclass(slots=True)
class ServerConfig:
    """Everything the server can be told. Field names match the TOML keys."""

    host: str = "127.0.0.1"
    port: int = 1935
    #: Apps accepted by connect; empty = any app (CMD-6: others get _error Connect.Rejected).
    apps: tuple[str, ...] = ()
    #: What play of an unpublished name does: "wait" (SRS/lal/nginx default) or "not_found"
    #: (§7.2.2.1: onStatus NetStream.Play.StreamNotFound, CMD-17).
    play_unknown: str = "wait"
    #: Correct AAC timestamps to the exact 1024/rate cadence (TS-15/16, seed 003).
    aac_cadence: bool = True
    #: A per-track jump beyond these (ms) is a discontinuity: we rebase, staying monotonic.
    max_forward_jump_ms: int = 10_000
    max_backward_jump_ms: int = 1_000
    handshake_timeout_s: float = limits.HANDSHAKE_TIMEOUT_S
    idle_timeout_s: float = limits.IDLE_TIMEOUT_S
    max_message_length: int = limits.MAX_MESSAGE_LENGTH
    max_chunk_streams: int = limits.MAX_CHUNK_STREAMS
    max_open_messages: int = limits.MAX_OPEN_MESSAGES
    max_partial_bytes: int = limits.MAX_PARTIAL_BYTES
    min_in_chunk_size: int = limits.MIN_IN_CHUNK_SIZE
    max_in_chunk_size: int = limits.MAX_IN_CHUNK_SIZE
    max_amf_depth: int = limits.MAX_AMF_DEPTH
    out_chunk_size: int = limits.OUT_CHUNK_SIZE
    window_ack_size: int = limits.WINDOW_ACK_SIZE
    peer_bandwidth: int = limits.PEER_BANDWIDTH
    gop_max_frames: int = limits.GOP_MAX_FRAMES
    gop_max_bytes: int = limits.GOP_MAX_BYTES
    player_queue_bytes: int = limits.PLAYER_QUEUE_BYTES
    player_resume_bytes: int = limits.PLAYER_RESUME_BYTES
    max_streams_per_connection: int = limits.MAX_STREAMS_PER_CONNECTION
    max_stream_name: int = limits.MAX_STREAM_NAME
    #: Write the fmt-3 extended timestamp (§5.3.1.3, 2012 text; FFmpeg reads it).
    ext_ts_on_fmt3: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ServerConfig:
        """Load a TOML file: top-level keys plus an optional ``[limits]`` table."""
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        flat: dict[str, Any] = {k: v for k, v in raw.items() if k != "limits"}
        flat.update(raw.get("limits", {}))
        flat.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_mapping(flat)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ServerConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        if "apps" in values:
            values = {**values, "apps": tuple(values["apps"])}
        cfg = cls(**values)
        if cfg.play_unknown not in ("wait", "not_found"):
            raise ValueError("play_unknown must be 'wait' or 'not_found'")
        return cfg
