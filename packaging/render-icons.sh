#!/usr/bin/env bash
# Render SoloDesk's app icon (resources/icons/solodesk.svg) into the freedesktop hicolor sizes:
#   resources/icons/hicolor/<N>x<N>/apps/io.github.solodesk.SoloDesk.png  (N = 16 ... 512)
#   resources/icons/hicolor/scalable/apps/io.github.solodesk.SoloDesk.svg (the SVG itself)
# The PNGs are committed (sources for packagers, like the SVG); rerun this after editing the SVG.
# Needs rsvg-convert (Debian: librsvg2-bin), which writes no timestamp: the output is
# reproducible for one librsvg version.
set -euo pipefail
cd "$(dirname "$0")/.."
APP_ID=io.github.solodesk.SoloDesk
SVG=resources/icons/solodesk.svg
OUT=resources/icons/hicolor
command -v rsvg-convert >/dev/null || {
  echo "render-icons: rsvg-convert not found; install it (Debian/Ubuntu: apt-get install librsvg2-bin)" >&2
  exit 1
}
for size in 16 22 24 32 48 64 128 256 512; do
  dir="$OUT/${size}x${size}/apps"
  mkdir -p "$dir"
  rsvg-convert --width "$size" --height "$size" --keep-aspect-ratio --format png \
    --output "$dir/$APP_ID.png" "$SVG"
  echo "render-icons: $dir/$APP_ID.png"
done
mkdir -p "$OUT/scalable/apps"
install -m644 "$SVG" "$OUT/scalable/apps/$APP_ID.svg"
echo "render-icons: $OUT/scalable/apps/$APP_ID.svg"
