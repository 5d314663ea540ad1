#!/usr/bin/env bash
# Renders an ouro run report in headless Chromium and checks the screenshot is
# not blank: the page must load with no network, and the embedded charts and
# tables must paint.
#
# Usage: scripts/check-report-render.sh [RUN_DIR] [SCREENSHOT=$TMPDIR/ouro-report-screenshot.png]
#   RUN_DIR given: renders RUN_DIR/report.html with `ouro report` first.
#   No RUN_DIR: renders the ouro-report test fixture (3 rounds + control arm)
#   into a temporary directory.
# Installs Debian's `chromium` with apt-get when it is missing (needs root).
# Env: OURO_PYTHON (default python3) for the pixel check; CHROMIUM to pick a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
shot=$(realpath -m "${2:-${TMPDIR:-/tmp}/ouro-report-screenshot.png}")

if [ -n "${1:-}" ]; then
  run=$(realpath "$1")
  cargo run -q -p ouro-cli -- report "$run"
else
  run=$(mktemp -d)
  OURO_REPORT_FIXTURE_OUT="$run" cargo test -q -p ouro-report --test render -- \
    --ignored fixture_for_browser >/dev/null
fi
html="$run/report.html"
[ -s "$html" ] || { echo "error: $html was not written" >&2; exit 1; }

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then browser=$b; break; fi
  done
fi
if [ -z "$browser" ]; then
  echo "installing chromium (apt-get)..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  browser=chromium
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$shot"
# No network access is granted to the page: the report must be self-contained.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu \
  --disable-background-networking --disable-component-update --disable-sync \
  --no-first-run --user-data-dir="$profile" --hide-scrollbars \
  --screenshot="$shot" --window-size=1200,2000 "file://$html" 2>/dev/null || true
[ -s "$shot" ] || { echo "error: chromium wrote no screenshot" >&2; exit 1; }

"${OURO_PYTHON:-python3}" - "$shot" <<'PY'
import struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4]); kind = data[pos + 4:pos + 8]
    body = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT": idat += body
w, h, depth, ctype, _, _, interlace = ihdr
assert depth == 8 and ctype in (2, 6) and interlace == 0, f"unsupported PNG {ihdr}"
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
inked = colours = 0
seen = set()
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride): line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, stride, bpp * 4):
            px = bytes(line[x:x + 3])
            seen.add(px)
            if px[0] < 200 or px[1] < 200 or px[2] < 200: inked += 1
    prev = line
sampled = (h // 4) * (w // 4)
share = inked / max(sampled, 1)
print(f"screenshot {path}: {w}x{h}, {len(seen)} colours, {share:.1%} inked (sampled)")
if len(seen) < 16 or share < 0.01:
    sys.exit("error: the screenshot looks blank")
PY
echo "ok: $shot"
