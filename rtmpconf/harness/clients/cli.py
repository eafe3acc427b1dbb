"""``rtmpconf clients``: every client case per agent, reports per agent, and the agents x cases matrix.

Each agent runs in its own pytest process (``--agent NAME``) under a deadline; the process group is
killed by its PID when the deadline passes, so one hanging agent never holds up the matrix. Output
per agent in ``reports/clients/<agent>/`` (summary.json, junit.xml, allure-results, html/), then
``reports/clients/matrix.json`` and ``matrix.html``: a row per case, a column per agent (Autobahn's
fuzzingserver index as the model), plus the simulated profiles compared with the programs they imitate.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtmpconf.paths import reports_dir

#: Default deadline of one agent's whole run (s).
AGENT_RUN_S = 900.0


def register(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser("clients", help="client conformance: judge RTMP publishers and players (agents)")
    p.add_argument("--agents", default=None,
                   help="comma-separated agents (default: the real programs); `--list` shows them")
    p.add_argument("--simulated", action="store_true", help="also run the simulated profiles (sim-*)")
    p.add_argument("--agent-command", default=None, help="a command line as an extra agent; {url} = the case URL")
    p.add_argument("--agent-role", choices=("publish", "play"), help="role of --agent-command")
    p.add_argument("--agent-name", default="custom", help="name of --agent-command in the reports")
    p.add_argument("--case", action="append", default=[], help="only case IDs matching this glob")
    p.add_argument("--list", action="store_true", help="list the agents and exit")
    p.add_argument("--no-html", action="store_true", help="skip the per-agent Allure HTML reports")
    p.add_argument("--agent-timeout", type=float, default=AGENT_RUN_S,
                   help=f"deadline of one agent's whole run in seconds (default {AGENT_RUN_S:g})")
    p.add_argument("--case-timeout", type=float, default=None, help="per-case watchdog in seconds (default 60)")
    p.add_argument("--out", default=None, help="output directory (default reports/clients)")
    p.add_argument("--strict", action="store_true", help="NON-STRICT verdicts fail the gate")
    p.add_argument("--jobs", type=int, default=1,
                   help="agents run at once (each waits mostly on real time; their output goes to <agent>/pytest.log)")
    return {"clients": run}


def _agents(args: argparse.Namespace) -> list[str] | str:
    from rtmpconf.harness.peers.agents import AGENTS, REAL_AGENTS, SIMULATED_AGENTS

    names = [a.strip() for a in args.agents.split(",") if a.strip()] if args.agents else (
        [] if args.agent_command else list(REAL_AGENTS))
    if args.simulated:
        names += [n for n in SIMULATED_AGENTS if n not in names]
    unknown = [n for n in names if n not in AGENTS]
    if unknown:
        return f"unknown agent(s) {', '.join(unknown)}; choose from {', '.join(AGENTS)}"
    return names


def run(args: argparse.Namespace) -> int:
    from rtmpconf.harness.peers.agents import AGENTS

    if args.list:
        for spec in AGENTS.values():
            extra = f" (imitates {', '.join(spec.imitates)})" if spec.imitates else ""
            print(f"{spec.name:20s} {spec.role:8s} {spec.description}{extra}")
        return 0
    names = _agents(args)
    if isinstance(names, str):
        print(f"error: {names}", file=sys.stderr)
        return 2
    if args.agent_command and not args.agent_role:
        print("error: --agent-command needs --agent-role publish|play", file=sys.stderr)
        return 2
    if args.agent_command and "{url}" not in args.agent_command:
        print("error: --agent-command must contain {url}", file=sys.stderr)
        return 2
    if args.agent_timeout <= 0:
        print("error: --agent-timeout must be positive", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else reports_dir() / "clients"
    out.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, list[str]]] = [(n, ["--agent", n]) for n in names]
    if args.agent_command:
        runs.append((args.agent_name, ["--agent-command", args.agent_command, "--agent-role", args.agent_role,
                                       "--agent-name", args.agent_name]))
    if args.jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda r: run_agent(r[0], r[1], args, out), runs))
    else:
        results = [run_agent(name, opts, args, out) for name, opts in runs]
    if all(r.get("note") == "no case selected" for r in results):
        print("error: no client case matched the selection (--case)", file=sys.stderr)
        return 2
    m = build_matrix(results)
    (out / "matrix.json").write_text(json.dumps(m, indent=2))
    (out / "matrix.html").write_text(render(m))
    for t in m["targets"]:
        print(f"{t['name']:20s} gate={'pass' if t['returncode'] == 0 else 'FAIL'} {t['counts']}"
              + (f" ({t['note']})" if t.get("note") else ""))
    print(f"matrix: {out / 'matrix.html'} ({len(m['cases'])} cases x {len(results)} agents)")
    return 0 if all(t["returncode"] == 0 for t in m["targets"]) else 1


def run_agent(name: str, agent_opts: list[str], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One agent's pytest run, bounded by --agent-timeout (its process group killed by PID)."""
    from rtmpconf.paths import CASES

    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    summary = d / "summary.json"
    if summary.exists():
        summary.unlink()
    budget = max(10.0, args.agent_timeout - 15.0)
    cmd = [sys.executable, "-m", "pytest", str(CASES / "clients"), "-q", "-p", "no:cacheprovider", "-p", "no:locust",
           "--no-header", *agent_opts, "--summary", str(summary), "--junitxml", str(d / "junit.xml"),
           "--alluredir", str(d / "allure-results"), "--clean-alluredir", "--run-budget", f"{budget:g}",
           "--case-timeout", f"{args.case_timeout or 60:g}", *[f"--case={g}" for g in args.case]]
    if args.strict:
        cmd.append("--rtmp-strict")
    print(f"== {name}", flush=True)
    t0 = time.monotonic()
    log = open(d / "pytest.log", "wb") if args.jobs > 1 else None
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=log, stderr=subprocess.STDOUT if log else None)
    note = None
    try:
        rc = proc.wait(args.agent_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        rc = 124
        note = f"killed after its {args.agent_timeout:g} s deadline"
        print(f"   {name}: {note}", flush=True)
    if log is not None:
        log.close()
        print(f"== {name} done in {time.monotonic() - t0:.0f} s (exit {rc}; log {d / 'pytest.log'})", flush=True)
    result: dict[str, Any] = {"name": name, "returncode": rc, "seconds": round(time.monotonic() - t0, 1),
                              "report": None, "cases": [], "note": note}
    if summary.exists():
        data = json.loads(summary.read_text())
        result.update({k: v for k, v in data.items() if k not in ("returncode", "seconds")})
    if rc == 5:
        result["returncode"] = 0
        result["note"] = "no case selected"
    if not args.no_html and (d / "allure-results").is_dir() and any((d / "allure-results").iterdir()):
        from rtmpconf.harness.runner import find_allure, install_allure

        try:
            allure = find_allure() or install_allure()
            gen = subprocess.run([*allure, "generate", str(d / "allure-results"), "-o", str(d / "html"),
                                  "--name", f"RTMP client conformance: {name}",
                                  "--config", str(Path(__file__).resolve().parents[1] / "report" / "allurerc.json")],
                                 capture_output=True, text=True, timeout=600)
            if gen.returncode == 0 and (d / "html" / "index.html").exists():
                result["report"] = f"{name}/html/index.html"
        except Exception as exc:  # noqa: BLE001 - the matrix is still useful without the Allure links
            print(f"warning: no Allure report for {name}: {exc}", file=sys.stderr)
    return result


def compare_profiles(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each simulated profile against each real program it imitates: the cases whose verdicts differ."""
    by_name = {r["name"]: r for r in results}
    out = []
    for r in results:
        imitates = (r.get("agent") or {}).get("imitates") or []
        for real in imitates:
            other = by_name.get(real)
            if other is None:
                continue
            mine = {c["id"]: c["verdict"] for c in r.get("cases", [])}
            theirs = {c["id"]: c["verdict"] for c in other.get("cases", [])}
            common = sorted(set(mine) & set(theirs))
            diffs = [{"case": cid, "simulated": mine[cid], "real": theirs[cid]} for cid in common
                     if mine[cid] != theirs[cid]]
            out.append({"simulated": r["name"], "real": real, "cases": len(common), "same": len(common) - len(diffs),
                        "differences": diffs})
    return out


def build_matrix(results: list[dict[str, Any]]) -> dict[str, Any]:
    from rtmpconf.harness.report.matrix import build

    m = build(results)
    roles = {r["name"]: (r.get("agent") or {}).get("role", "") for r in results}
    for t in m["targets"]:
        t["role"] = roles.get(t["name"], "")
        t["note"] = next((r.get("note") for r in results if r["name"] == t["name"]), None)
        t["version"] = next(((r.get("agent") or {}).get("version", "") for r in results if r["name"] == t["name"]), "")
    m["comparisons"] = compare_profiles(results)
    m["mode"] = "client"
    return m


def render(m: dict[str, Any]) -> str:
    from rtmpconf.harness.report.matrix import render_html

    page = render_html(m)
    page = page.replace("<title>RTMP conformance matrix</title>", "<title>RTMP client conformance matrix</title>")
    page = page.replace("<h1>RTMP conformance matrix</h1>",
                        "<h1>RTMP client conformance: agents &times; cases</h1><p>The suite plays the server; each "
                        "column is a client program (a publisher or a player) judged case by case. A blank "
                        "(n/a) cell: the case is for the other role.</p>")
    # A missing cell is a case of the other role (or an agent run cut short), not a NOT-RUN verdict.
    page = page.replace(">not run</td>", ">n/a</td>").replace("only rows where servers differ",
                                                              "only rows where agents differ")
    for t in m["targets"]:
        name = html.escape(t["name"])
        page = page.replace(f"<th>{name}<br><small>", f"<th>{name}<br><small>{html.escape(t.get('role', ''))}<br>", 1)
    parts = ["<h2>Simulated profiles against the real programs</h2>"]
    if not m["comparisons"]:
        parts.append("<p>No simulated profile ran together with a program it imitates.</p>")
    for c in m["comparisons"]:
        parts.append(f"<h3>{html.escape(c['simulated'])} vs {html.escape(c['real'])}: {c['same']} of {c['cases']} "
                     "cases give the same verdict</h3>")
        if c["differences"]:
            rows = "".join(f"<tr><td class='id'>{html.escape(d['case'])}</td><td>{html.escape(d['simulated'])}</td>"
                           f"<td>{html.escape(d['real'])}</td></tr>" for d in c["differences"])
            parts.append(f"<table><tr><th>case</th><th>simulated</th><th>real</th></tr>{rows}</table>")
    return page.replace("</body></html>", "\n".join(parts) + "\n</body></html>")
