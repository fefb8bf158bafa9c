#!/usr/bin/env bash
# Render a medjudge HTML report in headless Chromium and save a PNG screenshot (to check the layout by eye).
#
# Usage:
#   evals/screenshot_report.sh REPORT.html [SHOT.png] [WIDTHxHEIGHT]
#
# Needs Debian's chromium (apt-get install -y chromium). The report is self-contained (inline CSS, base64
# figures), so the browser needs no network; the flags below also stop it from calling home:
#   --headless --no-sandbox --disable-gpu        run without a display, as root in a container, no GPU
#   --disable-quic --disable-background-networking --disable-component-update --disable-sync --no-first-run
#                                                no update checks, sync, or first-run requests
#   --user-data-dir=<tmp>                        a throw-away profile, removed afterwards
#   --screenshot=<png> --window-size=W,H         capture the top W x H pixels of the page
# Chinese category names need a CJK font (e.g. apt-get install -y fonts-wqy-microhei) to show as text.
# tests/test_report.py runs the same command (skipped when /usr/bin/chromium is absent).
set -euo pipefail

html=${1:?usage: $0 REPORT.html [SHOT.png] [WIDTHxHEIGHT]}
shot=${2:-${html%.*}.png}
size=${3:-1280x2000}
chromium=${CHROMIUM:-/usr/bin/chromium}

[[ -f "$html" ]] || { echo "no such report: $html" >&2; exit 2; }
[[ -x "$chromium" ]] || { echo "chromium not found at $chromium (apt-get install -y chromium)" >&2; exit 2; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --screenshot="$(realpath -m "$shot")" --window-size="${size/x/,}" \
  "file://$(realpath "$html")" 2>/dev/null

echo "screenshot: $shot ($(stat -c %s "$shot") bytes)"
