"""How a case makes the target drain, to see its Reconnect Requests (ERTMP-11/23).

Nothing in RTMP lets a client ask a server to drain, so the run is told how (``--drain``, env
``RTMPCONF_DRAIN``):

* ``token:SECRET`` -- the reference server's admin command ``rtmpconf.drain`` (enabled with
  ``--admin-token SECRET``); a reference server the run starts itself gets a fresh token.
* anything else -- a shell command that makes the target drain (e.g. ``kill -TERM $(cat
  /run/srs.pid)``), run with ``RTMPCONF_DRAIN_TCURL`` (the tcUrl the case wants in the Reconnect
  Request, may be empty) and ``RTMPCONF_DRAIN_GRACE`` (seconds) in its environment.

Without a hook the Reconnect Request cases are NOT-RUN: the condition they judge cannot be provoked.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rtmpconf.harness.client import RtmpClient

#: The reference server's admin command (reference_server/session.py).
ADMIN_DRAIN = "rtmpconf.drain"
ENV = "RTMPCONF_DRAIN"
#: A shell hook gets this long to make the target drain.
COMMAND_TIMEOUT_S = 20.0


class DrainUnavailable(Exception):
    """The target cannot be made to drain from here (no hook, or the hook failed)."""


def new_token() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class DrainHook:
    """A way to make the target drain."""

    spec: str

    @property
    def token(self) -> str | None:
        return self.spec[len("token:"):] if self.spec.startswith("token:") else None

    def describe(self) -> str:
        return "the reference server's rtmpconf.drain command" if self.token is not None else f"`{self.spec}`"

    async def trigger(self, client_factory: Callable[..., RtmpClient], *, tc_url: str | None,
                      description: str, grace_s: float) -> dict[str, Any]:
        """Make the target drain now; raises DrainUnavailable with the reason when it cannot."""
        token = self.token
        if token is not None:
            admin = client_factory(label="drain trigger (admin connection)")
            try:
                await admin.open()
                await admin.handshake()
                await admin.connect()
                opts: dict[str, Any] = {"description": description, "graceSeconds": float(grace_s)}
                if tc_url:
                    opts["tcUrl"] = tc_url
                tid = await admin.command(ADMIN_DRAIN, token, opts)
                reply = await admin.wait_reply(tid, "drain")
            except Exception as exc:  # any failure (timeout, refusal, closed) means: no drain from here
                raise DrainUnavailable(f"the admin drain command failed: {exc}") from exc
            finally:
                await admin.close()
            if reply.name != "_result":
                raise DrainUnavailable(f"the target refused {ADMIN_DRAIN} (not the reference server, or a wrong token)")
            result = reply.arguments[0] if reply.arguments and isinstance(reply.arguments[0], dict) else {}
            return dict(result)
        env = {**os.environ, "RTMPCONF_DRAIN_TCURL": tc_url or "", "RTMPCONF_DRAIN_GRACE": f"{grace_s:g}"}
        try:
            proc = await asyncio.create_subprocess_shell(
                self.spec, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT_S)
        except TimeoutError:
            raise DrainUnavailable(f"the drain command did not finish within {COMMAND_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise DrainUnavailable(f"the drain command could not run: {exc}") from exc
        if proc.returncode != 0:
            raise DrainUnavailable(f"the drain command exited with {proc.returncode}: "
                                   f"{err.decode(errors='replace').strip()[-200:]}")
        return {}


def hook_from(spec: str | None) -> DrainHook | None:
    return DrainHook(spec) if spec else None
