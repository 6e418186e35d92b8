#!/usr/bin/env bash
# Install the packaged SoloDesk (packaging/build.sh's folder) for the current user:
#
#     packaging/install-desktop.sh            # install (or update)
#     packaging/install-desktop.sh --uninstall
#
# * the app folder            -> ~/.local/lib/SoloDesk/   (copied; the build folder may go)
# * the command               -> ~/.local/bin/solodesk    (a symbolic link to the app)
# * the desktop entry         -> $XDG_DATA_HOME/applications/io.github.solodesk.SoloDesk.desktop
#                                (Exec= the app's absolute path: menus need no PATH)
# * the icons (16...512 px, SVG) -> $XDG_DATA_HOME/icons/hicolor/<size>/apps/
# * the AppStream metainfo    -> $XDG_DATA_HOME/metainfo/
# XDG_DATA_HOME defaults to ~/.local/share. SOLODESK_APP_DIR picks another build folder
# (default packaging/dist/SoloDesk). Nothing outside your home is touched; no root needed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
APP_ID=io.github.solodesk.SoloDesk
SRC=${SOLODESK_APP_DIR:-$HERE/dist/SoloDesk}
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
LIB=$HOME/.local/lib/SoloDesk
BIN=$HOME/.local/bin
DESKTOP=$DATA/applications/$APP_ID.desktop
METAINFO=$DATA/metainfo/$APP_ID.metainfo.xml
SIZES=(16 22 24 32 48 64 128 256 512)

refresh() {
  if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$DATA/applications" || true
  fi
  if command -v gtk-update-icon-cache >/dev/null; then
    gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
  fi
}

if [[ "${1:-}" == "--uninstall" ]]; then
  rm -rf "$LIB"
  [[ -L "$BIN/solodesk" && "$(readlink "$BIN/solodesk")" == "$LIB/solodesk" ]] && rm -f "$BIN/solodesk"
  rm -f "$DESKTOP" "$METAINFO" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
  for size in "${SIZES[@]}"; do rm -f "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"; done
  refresh
  echo "install-desktop: SoloDesk removed (your data in ~/.local/share/solodesk stays)"
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--uninstall]" >&2
  exit 2
fi

if [[ ! -x "$SRC/solodesk" ]]; then
  echo "install-desktop: no packaged app at $SRC; build it first with packaging/build.sh" >&2
  exit 1
fi

# The app: copied next to the old one, then swapped, so a failed copy leaves the old one working.
mkdir -p "$(dirname "$LIB")" "$BIN"
rm -rf "$LIB.new"
cp -a "$SRC" "$LIB.new"
rm -rf "$LIB"
mv "$LIB.new" "$LIB"
if [[ -e "$BIN/solodesk" && ! -L "$BIN/solodesk" ]]; then
  echo "install-desktop: $BIN/solodesk exists and is not ours (pipx?); left alone:" \
    "run $LIB/solodesk, or remove it and run this again" >&2
else
  ln -sfn "$LIB/solodesk" "$BIN/solodesk"
fi

# The desktop entry: the repository's, with Exec pointing at the installed app.
install -d "$DATA/applications"
exec_path=${LIB//\\/\\\\}
exec_path=${exec_path//\"/\\\"}
sed "s|^Exec=.*|Exec=\"$exec_path/solodesk\"|" "$HERE/linux/$APP_ID.desktop" >"$DESKTOP"
chmod 644 "$DESKTOP"

for size in "${SIZES[@]}"; do
  install -Dm644 "$ROOT/resources/icons/hicolor/${size}x${size}/apps/$APP_ID.png" \
    "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
install -Dm644 "$ROOT/resources/icons/hicolor/scalable/apps/$APP_ID.svg" \
  "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
install -Dm644 "$HERE/linux/$APP_ID.metainfo.xml" "$METAINFO"
refresh

echo "install-desktop: SoloDesk installed in $LIB"
echo "install-desktop: menu entry $DESKTOP; command $BIN/solodesk"
