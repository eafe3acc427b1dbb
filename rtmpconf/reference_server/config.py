"""Reference server configuration: defaults from limits.py, overridable from a TOML file."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmpconf.reference_server import limits


#: Default port of the HTTP outputs (`rtmpconf serve --http-port`).
DEFAULT_HTTP_PORT = 8080


class ConfigError(ValueError):
    """A configuration value or file is wrong; the message names the key (and the file)."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """``value`` checked against the annotation ``tp`` (int accepted where float is wanted;
    a list where a tuple is wanted); raises ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(tp):
            if arm is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(key, value, arm)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: unsupported value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a table, got {type(value).__name__} {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {type(value).__name__} {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return value


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
    write_coalesce_ms: float = limits.WRITE_COALESCE_MS
    #: Player sends after a publisher read: "auto" through the compiled fan-out core when it is
    #: built (fanout_core.py), "python" through each player's transport.
    fanout_core: str = "auto"
    #: Sending threads of the compiled core: 0 = two when the machine has a second core, else one.
    fanout_threads: int = 0
    #: Smallest group of players whose sends are split over the core's two threads.
    fanout_split_min: int = limits.FANOUT_SPLIT_MIN
    #: With the compiled core: players in step form a steady set per group, sent each read's
    #: messages in one call with no Python per player (server.py ``SteadySet``).
    fanout_steady: bool = True
    #: TCP_NODELAY on accepted connections (asyncio and uvloop set it): each send leaves at once.
    #: false leaves Nagle's algorithm on, as nginx-rtmp does: a message sent while the player has
    #: not acknowledged the previous one waits for that acknowledgement and leaves with it.
    tcp_nodelay: bool = True
    #: With tcp_nodelay: a player in a steady set (in step, sent the group's messages as they
    #: come) has Nagle's algorithm on while it stays there, every other connection sends at once.
    #: Commands, replies and catching-up players never wait; streaming players get their next
    #: message merged with a held one instead of in a segment of its own while the previous is
    #: unacknowledged.
    steady_nagle: bool = True
    player_queue_bytes: int = limits.PLAYER_QUEUE_BYTES
    player_resume_bytes: int = limits.PLAYER_RESUME_BYTES
    max_streams_per_connection: int = limits.MAX_STREAMS_PER_CONNECTION
    max_stream_name: int = limits.MAX_STREAM_NAME
    #: Write the fmt-3 extended timestamp (§5.3.1.3, 2012 text; FFmpeg reads it).
    ext_ts_on_fmt3: bool = True
    #: HTTP outputs (HTTP-FLV, HTTP-TS, HLS, stats, metrics) on their own port; 0 = any free port.
    http: bool = True
    http_port: int = DEFAULT_HTTP_PORT
    #: HLS: cut at the first keyframe after this long (s); declared EXT-X-TARGETDURATION (s);
    #: segments listed; segments still served after leaving the list; playlist kept after unpublish (s).
    hls: bool = True
    hls_fragment_s: float = 2.0
    hls_target_duration_s: int = 6
    hls_playlist_segments: int = 6
    hls_keep_removed: int = 4
    hls_linger_s: float = 60.0
    #: Drain (SIGTERM or the admin command): clients that advertised capsEx Reconnect get a
    #: Reconnect Request (ERTMP-11) and are served until they leave, at most ``drain_timeout_s``;
    #: the others are closed cleanly after ``drain_grace_s``.
    drain_grace_s: float = 5.0
    drain_timeout_s: float = 30.0
    #: tcUrl put in the Reconnect Request on SIGTERM ("" = none: "use the tcUrl for the current
    #: connection"); absolute, relative ("/app") or "//host/app" (ERTMPv2 "Reconnect Request").
    drain_tc_url: str = ""
    #: Enables the ``rtmpconf.drain`` command for callers that pass this token ("" = disabled).
    admin_token: str = ""
    #: The ``[auth]`` table: tokens, Adobe authmod users, webhooks (reference_server/auth.py).
    auth: dict[str, Any] = field(default_factory=dict)
    #: The ``[relay]`` table: push to upstreams, pull from origins (reference_server/relay.py).
    relay: dict[str, Any] = field(default_factory=dict)
    #: The ``[record]`` table: FLV recording (reference_server/record.py); empty = off.
    record: dict[str, Any] = field(default_factory=dict)
    #: RTSP output (reference_server/rtsp): port to listen on (0 = any free port; None = off; 5544
    #: is the port lal uses), and how long an RTSP session lives without a request.
    rtsp_port: int | None = None
    rtsp_session_timeout_s: float = 60.0
    #: RTMPS: a second listener speaking TLS (0 = any free port; None = off), PEM files.
    tls_port: int | None = None
    tls_cert: str = ""
    tls_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ServerConfig:
        """Load a TOML file: top-level keys plus an optional ``[limits]`` table. Every key is
        checked (name, type, range) before the server starts; errors name the file and the key."""
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        limits_table = raw.get("limits", {})
        if not isinstance(limits_table, dict):
            raise ConfigError(f"{path}: [limits] must be a table")
        flat: dict[str, Any] = {k: v for k, v in raw.items() if k != "limits"}
        flat.update(limits_table)
        flat.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.from_mapping(flat)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ServerConfig:
        """A config from plain values, each checked against the field's type (a TOML string for a
        number, or a string for a list of apps, is an error naming the key, never a late crash)."""
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        checked = {key: _coerce(key, value, hints[key]) for key, value in values.items()}
        cfg = cls(**checked)
        if cfg.play_unknown not in ("wait", "not_found"):
            raise ConfigError("play_unknown must be 'wait' or 'not_found'")
        if cfg.fanout_core not in ("auto", "python"):
            raise ConfigError(f"fanout_core must be 'auto' or 'python', got {cfg.fanout_core!r}")
        if cfg.fanout_threads not in (0, 1, 2):
            raise ConfigError(f"fanout_threads must be 0 (auto), 1 or 2, got {cfg.fanout_threads!r}")
        for f in dataclasses.fields(cls):
            value = getattr(cfg, f.name)
            if f.name == "port" or f.name.endswith("_port"):
                if value is not None and not (isinstance(value, int) and 0 <= value <= 65535):
                    raise ConfigError(f"{f.name} must be a port number 0..65535, got {value!r}")
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"{f.name} must not be negative, got {value!r}")
        if cfg.auth:
            from rtmpconf.reference_server.auth import AuthConfig

            try:
                AuthConfig.from_mapping(cfg.auth)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if cfg.relay:
            from rtmpconf.reference_server.relay import RelayConfig

            try:
                RelayConfig.from_mapping(cfg.relay)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if cfg.record:
            from rtmpconf.reference_server.record import RecordConfig

            try:
                RecordConfig.from_mapping(cfg.record)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if cfg.tls_port is not None and not (cfg.tls_cert and cfg.tls_key):
            raise ConfigError("tls_port needs tls_cert and tls_key (PEM files)")
        return cfg
