"""Argument types and error handling shared by every ``rtmpconf`` subcommand.

Every bad argument ends in one line naming the option and exit status 2 (argparse's usage-error
code); no command shows a traceback to a user.
"""

from __future__ import annotations

import argparse
import math

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def stop_on_sigint() -> None:
    """Let SIGINT stop this process (KeyboardInterrupt) even if it started with SIGINT ignored.

    A shell starts a background job (``cmd &`` in a script, ``nohup``, many CI runners) with SIGINT
    ignored, its children inherit that, and Python then leaves it ignored. The harness stops the
    processes it starts (the reference server, simulated clients) with SIGINT: ignored, each stop
    waited out its grace period before a kill (a background `rtmpconf run -j 6` took 41 s instead
    of 20 s, all of it in server stops). A handler someone installed on purpose is left alone.
    """
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def raise_fd_limit(want: int | None = 65536) -> tuple[int, int]:
    """Lift the soft descriptor limit (RLIMIT_NOFILE): to ``want`` at most, or to the hard limit
    itself when ``want`` is None. Returns (soft before, soft after); a refusal leaves it as it was.

    Load generators and benchmarks hold a socket per player; the reference server holds two per
    plain-TCP connection with the compiled fan-out core (its socket and the core's duplicate), so
    Debian's default soft limit of 1024 would stop it near 500 players.
    """
    import logging
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        new = want if want is not None else 1 << 20
    else:
        new = hard if want is None else min(want, hard)
    if soft == resource.RLIM_INFINITY or new <= soft:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    except (ValueError, OSError) as exc:
        logging.getLogger("rtmpconf").warning("could not raise the descriptor limit from %d to %d: %s",
                                              soft, new, exc)
        return soft, soft
    return soft, new


def port(text: str) -> int:
    """A TCP port, 0..65535 (0: any free port)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0..65535")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, factors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def workers(text: str) -> int:
    """A number of concurrent workers (``-j``), at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of workers, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 worker, got {n}")
    return n


def log_level(text: str) -> str:
    """A logging level name, case-insensitive."""
    upper = text.upper()
    if upper not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return upper


def speed(text: str) -> float | None:
    """Replay pacing: ``max`` (as fast as replies allow: None) or a factor > 0 (1 = original)."""
    if text.strip().lower() == "max":
        return None
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be 'max' or a number > 0 (1 = original pacing), got {text!r}") from None


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:PORT``); port 0..65535."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, got {text!r}")
    return host.strip("[]"), port(port_text)


def rtmp_url(text: str) -> str:
    """An rtmp:// or rtmps:// target URL, checked when the argument is parsed."""
    from rtmpconf.harness.client import Target, TargetError

    try:
        Target.parse(text)
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def non_negative_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def os_error(exc: OSError) -> str:
    """One line for a file error: 'PATH: No such file or directory', never '[Errno 2] ...'."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc)
