"""Commands and onStatus (catalogue CMD-*)."""

from __future__ import annotations

from typing import Any

from harness.verdict import Finding, Verdict, failed, passed

#: CMD-18: expected levels per onStatus code.
STATUS_LEVELS = {
    "NetStream.Publish.Start": "status", "NetStream.Play.Start": "status", "NetStream.Play.Reset": "status",
    "NetStream.Publish.BadName": "error", "NetStream.Play.StreamNotFound": "error",
    "NetConnection.Connect.Rejected": "error", "NetStream.Unpublish.Success": "status",
    "NetStream.Play.Stop": "status", "NetStream.Play.UnpublishNotify": "status",
    "NetStream.Play.PublishNotify": "status",
}


def check_status(info: dict[str, Any] | None, *, rule: str, expected_codes: tuple[str, ...],
                 msid: int | None = None, actual_msid: int | None = None) -> list[Finding]:
    """An onStatus with one of ``expected_codes`` and the level CMD-18 prescribes."""
    if info is None:
        return [failed(rule, "no onStatus reply", expected=" or ".join(expected_codes), actual="none")]
    code = info.get("code")
    out: list[Finding] = []
    if code not in expected_codes:
        out.append(failed(rule, "unexpected onStatus code", expected=" or ".join(expected_codes), actual=str(code)))
        return out
    out.append(passed(rule, f"onStatus {code}"))
    want = STATUS_LEVELS.get(str(code))
    level = info.get("level")
    if want is not None and level != want:
        out.append(failed("CMD-18", f"onStatus {code} has the wrong level", expected=want, actual=str(level),
                          verdict=Verdict.FAIL))
    if msid is not None and actual_msid is not None and msid != actual_msid:
        out.append(failed("CMD-18", f"onStatus {code} sent on the wrong message stream",
                          expected=f"msid {msid}", actual=f"msid {actual_msid}"))
    return out
