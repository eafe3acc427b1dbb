"""RTMPS on the reference server: the harness client, real ffmpeg/ffprobe, certificate checks."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtmpconf.harness.client import RtmpClient, Target
from rtmpconf.harness.peers import require_or_skip
from rtmpconf.harness.peers.ffmpeg import FfmpegPublisher, ffprobe
from rtmpconf.harness.tls import WRONG_NAME, make_test_pki
from tests.integration.conftest import run, wait_published


@pytest.fixture
def tls_server(server_factory: Any, tmp_path: Path) -> tuple[Any, Target]:
    pki = make_test_pki(tmp_path / "pki")
    srv = server_factory(tls_port=0, tls_cert=str(pki.cert_file), tls_key=str(pki.key_file))
    return srv, Target("127.0.0.1", srv.server.tls_port, "live", scheme="rtmps", ca_file=str(pki.ca_file))


def test_publish_and_play_over_rtmps_with_verification(tls_server: tuple[Any, Target]) -> None:
    _, target = tls_server
    assert target.tc_url.startswith("rtmps://")

    async def scenario() -> None:
        from rtmpconf.harness.scenarios import publish_stream
        from rtmpconf.harness.testmedia import make_h264_aac

        async with RtmpClient(target, label="pub") as pub, RtmpClient(target, label="player") as player:
            await pub.handshake()
            await pub.connect()
            await player.handshake()
            await player.connect()
            assert (await player.play("tls"))["code"] == "NetStream.Play.Start"
            await publish_stream(pub, "tls", stream=make_h264_aac(seconds=1.0), handshake=False)
            await pub.probe()
            got = await player.wait_for(lambda e: e.raw.type_id == 9, "video over TLS")
            assert got.raw.payload
            assert any("over TLSv1.2" in n or "over TLSv1.3" in n for n in player.log.notes), player.log.notes

    run(scenario())


def test_certificate_checks_refuse_wrong_ca_and_wrong_name(tls_server: tuple[Any, Target], tmp_path: Path) -> None:
    _, target = tls_server
    other = make_test_pki(tmp_path / "other")

    async def attempt(t: Target) -> None:
        async with RtmpClient(t, label="tls") as c:
            await c.handshake()

    with pytest.raises(ssl.SSLCertVerificationError):
        run(attempt(dataclasses.replace(target, ca_file=str(other.ca_file))))
    with pytest.raises(ssl.SSLCertVerificationError):
        run(attempt(dataclasses.replace(target, sni=WRONG_NAME)))
    # verify off: the same wrong name connects.
    run(attempt(dataclasses.replace(target, sni=WRONG_NAME, verify=False)))


@pytest.mark.ffmpeg
def test_ffmpeg_publishes_and_ffprobe_plays_over_rtmps(tls_server: tuple[Any, Target]) -> None:
    require_or_skip("ffmpeg", "ffprobe")
    srv, target = tls_server
    url = f"rtmps://127.0.0.1:{target.port}/live/cam"
    with FfmpegPublisher(url, seconds=20) as pub:
        wait_published(srv, "cam", timeout=15)
        probe = ffprobe(url, timeout=20)
        assert pub.proc is not None and pub.proc.poll() is None, "ffmpeg publisher stopped"
    assert probe.codecs.get("video") == "h264" and probe.codecs.get("audio") == "aac", probe.stderr


@pytest.mark.parametrize("args, message", [
    (["--tls-port", "0"], "tls_port needs tls_cert and tls_key"),
    (["--tls-port", "0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "not found"),
])
def test_bad_tls_options_are_one_clear_line(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "rtmpconf.reference_server", "--port", "0", *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_tls3_case_fails_on_a_listener_that_accepts_tls_1_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken double: the reference server's TLS context opened down to TLS 1.0."""
    import asyncio
    import importlib.util
    import warnings

    import rtmpconf.reference_server.tls as tls_mod
    from rtmpconf.harness.checks.tls import check_old_versions_refused
    from rtmpconf.harness.verdict import worst
    from rtmpconf.paths import CASES
    from rtmpconf.reference_server.config import ServerConfig
    from rtmpconf.reference_server.server import ServerThread

    orig = tls_mod.server_context

    def weak(cert: str, key: str) -> ssl.SSLContext:
        ctx = orig(cert, key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        return ctx

    monkeypatch.setattr(tls_mod, "server_context", weak)
    pki = make_test_pki(tmp_path)
    cfg = ServerConfig.from_mapping({"port": 0, "tls_port": 0, "tls_cert": str(pki.cert_file), "tls_key": str(pki.key_file)})
    spec = importlib.util.spec_from_file_location("tls_cases", CASES / "test_tls.py")
    assert spec is not None and spec.loader is not None
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    with ServerThread(cfg) as srv:
        target = Target("127.0.0.1", srv.server.tls_port, scheme="rtmps")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            obs = asyncio.run(cases.offer_only(target, ssl.TLSVersion.TLSv1, 5.0))
    assert obs.version == "TLSv1", obs
    assert worst(check_old_versions_refused({"TLS 1.0": obs})).value == "FAIL"
