"""E-RTMP v2 capability negotiation in ``connect`` (ERTMPv2 "Enhancing NetConnection connect Command").

A client declares what it can take: ``fourCcList`` (a strict array of FourCC strings, ``"*"`` =
any), ``videoFourCcInfoMap``/``audioFourCcInfoMap`` (FourCC -> FourCcInfoMask flags, a ``"*"``
key overriding the specific ones) and ``capsEx`` (CapsExMask bits). A server states its own
support the same way in its ``_result`` (ERTMP-18). Used by the reference server to decide what
each player gets (ERTMP-17/21) and by the checkers to judge what a server sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

__all__ = [
    "CAN_DECODE",
    "CAN_ENCODE",
    "CAN_FORWARD",
    "CAPS_MODEX",
    "CAPS_MULTITRACK",
    "CAPS_NANO",
    "CAPS_RECONNECT",
    "SERVER_CAPS_EX",
    "WILDCARD",
    "ClientCaps",
    "server_capabilities",
]

#: FourCcInfoMask (ERTMPv2 "Enhancing NetConnection connect Command").
CAN_DECODE: Final = 0x01
CAN_ENCODE: Final = 0x02
CAN_FORWARD: Final = 0x04
#: CapsExMask bits (same section).
CAPS_RECONNECT: Final = 0x01
CAPS_MULTITRACK: Final = 0x02
CAPS_MODEX: Final = 0x04
CAPS_NANO: Final = 0x08
#: What the reference server advertises in its connect ``_result``: it forwards any codec ("*":
#: CanForward), sends Reconnect Requests, relays multitrack, parses ModEx and keeps nano offsets.
SERVER_CAPS_EX = CAPS_RECONNECT | CAPS_MULTITRACK | CAPS_MODEX | CAPS_NANO
WILDCARD = "*"

def _fourcc_set(values: Any) -> tuple[frozenset[bytes], bool]:
    """FourCCs of an AMF strict array (list) or ECMA array (dict of index -> value); (set, wildcard)."""
    items = values.values() if isinstance(values, Mapping) else values if isinstance(values, (list, tuple)) else ()
    out: set[bytes] = set()
    wildcard = False
    for item in items:
        if not isinstance(item, str):
            continue
        if item == WILDCARD:
            wildcard = True
        elif len(item) == 4:
            out.add(item.encode("latin-1", "replace"))
    return frozenset(out), wildcard


def _info_map(values: Any) -> tuple[frozenset[bytes], bool] | None:
    """FourCCs an info map lets a player receive (CanDecode or CanForward); None when absent."""
    if not isinstance(values, Mapping):
        return None
    usable = CAN_DECODE | CAN_FORWARD

    def ok(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(int(v) & usable)

    if WILDCARD in values:
        # ERTMPv2: the "*" key "overrides the flags set on properties for specific codecs".
        return frozenset(), ok(values[WILDCARD])
    return frozenset(k.encode("latin-1", "replace") for k, v in values.items()
                     if isinstance(k, str) and len(k) == 4 and ok(v)), False


@dataclass(frozen=True, slots=True)
class ClientCaps:
    """What a client said it can take, from its connect command object."""

    declared: bool  #: it sent a fourCcList or an info map (E-RTMP aware)
    video: frozenset[bytes] | None  #: video FourCCs it takes; None = any
    audio: frozenset[bytes] | None  #: audio FourCCs it takes; None = any
    caps_ex: int  #: CapsExMask bits

    LEGACY: ClassVar[ClientCaps]

    @classmethod
    def from_connect(cls, obj: Any) -> ClientCaps:
        if not isinstance(obj, Mapping):
            return cls.LEGACY
        raw_caps = obj.get("capsEx")
        caps_ex = int(raw_caps) & 0xFF if isinstance(raw_caps, (int, float)) and not isinstance(raw_caps, bool) \
            and 0 <= raw_caps < 2**31 else 0
        declared = False
        kinds: dict[str, frozenset[bytes] | None] = {}
        listed: tuple[frozenset[bytes], bool] | None = None
        if "fourCcList" in obj:
            listed = _fourcc_set(obj["fourCcList"])
            declared = True
        for kind, key in (("video", "videoFourCcInfoMap"), ("audio", "audioFourCcInfoMap")):
            mapped = _info_map(obj.get(key))
            declared = declared or mapped is not None
            sets = [s for s in (listed, mapped) if s is not None]
            if any(wild for _, wild in sets):
                kinds[kind] = None
            else:
                kinds[kind] = frozenset().union(*(s for s, _ in sets)) if sets else frozenset()
        return cls(declared, kinds["video"], kinds["audio"], caps_ex)

    def takes(self, video: bool, fourcc: bytes) -> bool:
        """Can this client receive ``fourcc`` in an ExHeader message?"""
        if not self.declared:
            return False
        allowed = self.video if video else self.audio
        return allowed is None or fourcc in allowed

    @property
    def reconnect(self) -> bool:
        return bool(self.caps_ex & CAPS_RECONNECT)

    @property
    def multitrack(self) -> bool:
        return bool(self.caps_ex & CAPS_MULTITRACK)

    @property
    def modex(self) -> bool:
        return bool(self.caps_ex & CAPS_MODEX)

    @property
    def full(self) -> bool:
        """Takes every published message as it is."""
        return self.declared and self.video is None and self.audio is None and self.multitrack and self.modex

    def describe(self) -> str:
        def names(s: frozenset[bytes] | None) -> str:
            return "*" if s is None else ",".join(sorted(x.decode("latin-1") for x in s)) or "-"
        if not self.declared:
            return f"legacy (capsEx {self.caps_ex:#x})"
        return f"video {names(self.video)} audio {names(self.audio)} capsEx {self.caps_ex:#x}"


ClientCaps.LEGACY = ClientCaps(False, frozenset(), frozenset(), 0)


def server_capabilities() -> dict[str, Any]:
    """Properties the server adds to its connect ``_result`` (ERTMP-18): it forwards any codec."""
    return {
        "fourCcList": [WILDCARD],
        "videoFourCcInfoMap": {WILDCARD: float(CAN_FORWARD)},
        "audioFourCcInfoMap": {WILDCARD: float(CAN_FORWARD)},
        "capsEx": float(SERVER_CAPS_EX),
    }
