#!/usr/bin/env bash
# Installs the system programs the tests and the main job use, when they are missing:
#   ffmpeg/ffprobe (real publisher and players), tshark (pcap oracle), npm + node (Allure CLI,
#   node-media-server), nginx + its RTMP module, rtmpdump, VLC (cvlc), python3-venv (Debian's
#   python3 lacks ensurepip without it), iproute2 + nftables (kernel-mode network impairment:
#   namespaces, veth, tbf, random drop), chromium + chromium-driver (hls.js / mpegts.js web
#   players, and the Allure report and matrix pages, in a real browser driven by Selenium),
#   GStreamer (RTSP player; and rtmp2sink / rtmp2src from plugins-bad: a client-conformance agent
#   independent of FFmpeg and librtmp, with flvdemux/flvmux and the parsers from good/bad, base
#   for the core elements), gcc + the Python headers (the reference server's compiled fan-out core).
# As root it uses apt-get; otherwise it names what is missing. With CI=true a missing program
# is an error, never a skip.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || need+=(libnginx-mod-rtmp)
command -v rtmpdump >/dev/null 2>&1 || need+=(rtmpdump)
command -v cvlc >/dev/null 2>&1 || need+=(vlc-bin vlc-plugin-base)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
# The reference server's compiled fan-out core (setup.py, through cffi): a C compiler and the
# headers of the Python that builds it (Debian's own python3 needs python3-dev for them).
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
python3 -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
    >/dev/null 2>&1 || need+=(python3-dev)
# GStreamer as a third RTSP player (Debian 12's VLC has no RTSP client: no live555 module):
# rtspsrc and the RTP depayloaders (plugins-good), h264parse (plugins-bad). As an RTMP client
# agent (rtmpconf clients): rtmp2sink/rtmp2src (plugins-bad), flvmux/flvdemux (plugins-good).
command -v gst-launch-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools)
gst-inspect-1.0 rtspsrc >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-good)
gst-inspect-1.0 h264parse >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-bad)
if ! gst-inspect-1.0 rtmp2sink >/dev/null 2>&1 || ! gst-inspect-1.0 flvmux >/dev/null 2>&1; then
    need+=(gstreamer1.0-plugins-bad gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
fi

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
# unique
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian starts nginx on port 80 after installing it where it can; the suite runs its own.
    if command -v nginx >/dev/null 2>&1 && pgrep -x nginx >/dev/null 2>&1; then
        nginx -s stop >/dev/null 2>&1 || true
    fi
    exit 0
fi
echo "missing system packages: ${need[*]} (install them with apt-get as root)" >&2
if [ "${CI:-}" = "true" ]; then
    exit 1
fi
exit 0
