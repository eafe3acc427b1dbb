#!/usr/bin/env bash
# RTMP conformance gate for your server's CI. Start your server first; point RTMP_TARGET at it
# (rtmp://host:port/app, with ?token=... or user:pass@ if it needs them).
# Needs only python3 (with venv): no root, no system packages.
set -u
: "${RTMP_TARGET:?set RTMP_TARGET to your server, e.g. rtmp://127.0.0.1:1935/live}"
python3 -m venv .rtmpconf-venv
.rtmpconf-venv/bin/pip install --quiet "${RTMPCONF_PIP_SPEC:-rtmp-conformance}" || exit 2
.rtmpconf-venv/bin/rtmpconf run --target "$RTMP_TARGET" --out rtmpconf-reports ${RTMPCONF_ARGS:-}
status=$?   # 0 no FAIL, 1 FAIL, 2 usage/configuration error, 3 target unreachable or not RTMP
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f rtmpconf-reports/compliance.md ]; then
    cat rtmpconf-reports/compliance.md >> "$GITHUB_STEP_SUMMARY"
fi
exit "$status"
