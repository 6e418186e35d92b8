#!/usr/bin/env bash
# Check the packaged SoloDesk (after packaging/build.sh) as a founder would meet it, each step
# on a fresh, empty home:
#
#     packaging/verify.sh [SCREENSHOT.png]
#
# 1. `solodesk --self-test`: every module the app may import (the lazy ones too) imports from
#    the bundle, and its data files are there (resources, GGUF, litellm's price list, keyring's
#    backends, llama.cpp's library);
# 2. `solodesk --version`;
# 3. `solodesk demo --no-gui --limit 2`: the frozen app starts the local model server from
#    itself (--local-model-server), the support agent drafts replies, the proposals are listed;
# 4. the window: `solodesk` under Xvfb (started if DISPLAY is unset) shows the main
#    window (first-run questions skipped with Esc), a screenshot is taken with ImageMagick
#    (default /tmp/solodesk-packaged.png: look at it), then the window is closed and the exit
#    status must be 0;
# 5. packaging/install-desktop.sh into the fresh home, and the installed desktop entry and
#    metainfo validate (desktop-file-validate, appstreamcli validate --no-net);
# 6. a secret stored by the frozen app through a private Secret Service (gnome-keyring on its
#    own D-Bus session), so keyring's backends are visible in the bundle.
# Needs xvfb, xdotool, imagemagick, desktop-file-utils, appstream. Not part of pytest: the build
# takes minutes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
APP_DIR=${SOLODESK_APP_DIR:-$HERE/dist/SoloDesk}
APP=$APP_DIR/solodesk
SHOT=${1:-/tmp/solodesk-packaged.png}
[[ -x "$APP" ]] || { echo "verify: no app at $APP; run packaging/build.sh first" >&2; exit 1; }
for tool in xdotool import desktop-file-validate appstreamcli; do
  command -v "$tool" >/dev/null || { echo "verify: $tool is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/solodesk-verify.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fresh_home() {  # an empty home: nothing of the builder's config, data or keyring is seen
  local home=$WORK/$1
  mkdir -p "$home"
  echo "$home"
}
run_in() {  # run_in HOME CMD...: the command with only that home in its environment
  local home=$1
  shift
  env -i PATH="/usr/bin:/bin" HOME="$home" LANG=C.UTF-8 ${DISPLAY:+DISPLAY=$DISPLAY} \
    ${QT_QPA_PLATFORM:+QT_QPA_PLATFORM=$QT_QPA_PLATFORM} "$@"
}

step() { echo; echo "verify: == $* =="; }

step "1. self-test"
run_in "$(fresh_home selftest)" "$APP" --self-test

step "2. version"
run_in "$(fresh_home version)" "$APP" --version

step "3. demo --no-gui (the local model server runs from the frozen app)"
home=$(fresh_home demo)
# The demo copies the founder's model settings: a long timeout, for a loaded machine.
run_in "$home" "$APP" config set llm.timeout 1800
start=$(date +%s)
run_in "$home" "$APP" demo --no-gui --limit 2 | tee "$WORK/demo.out"
echo "verify: the demo took $(( $(date +%s) - start )) s"
grep -q "pending\|approved\|rejected" "$WORK/demo.out" \
  || { echo "verify: the demo listed no proposal" >&2; exit 1; }
log=$(find "$home" -name local-model.log | head -1)
if [[ -n "$log" ]] && grep -q "solodesk local model server" "$log"; then
  echo "verify: the model log shows the frozen server: $(grep -m1 'solodesk local model server' "$log")"
else
  echo "verify: no local model server line in the model log ($log)" >&2
  exit 1
fi

step "4. the window under Xvfb"
if [[ -z "${DISPLAY:-}" ]]; then
  # A free display number, chosen by Xvfb itself (other Xvfb servers may run here).
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$WORK/display" >"$WORK/xvfb.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s "$WORK/display" ]] && break; sleep 0.1; done
  [[ -s "$WORK/display" ]] || { cat "$WORK/xvfb.log"; echo "verify: Xvfb did not start" >&2; exit 1; }
  export DISPLAY=":$(head -1 "$WORK/display")"
  echo "verify: Xvfb on $DISPLAY"
fi
home=$(fresh_home gui)
run_in "$home" env QT_QPA_PLATFORM=xcb "$APP" >"$WORK/gui.log" 2>&1 &
gui=$!
pids+=("$gui")
# The first start asks who you are (a dialog); Esc skips it, then the main window is there.
wid=""
for _ in $(seq 600); do  # up to 2 minutes on a loaded machine
  kill -0 "$gui" 2>/dev/null || { cat "$WORK/gui.log"; echo "verify: the app exited" >&2; exit 1; }
  wid=$(xdotool search --onlyvisible --name '^(SoloDesk$|Welcome)' 2>/dev/null | head -1 || true)
  [[ -n "$wid" ]] && break
  sleep 0.2
done
[[ -n "$wid" ]] || { cat "$WORK/gui.log"; echo "verify: no SoloDesk window appeared" >&2; exit 1; }
sleep 2
for w in $(xdotool search --onlyvisible --name '.' 2>/dev/null); do
  name=$(xdotool getwindowname "$w" 2>/dev/null || true)
  echo "verify: window $w: $name"
done
# Skip the first-run questions if they are shown (a dialog on top of the main window).
dialog=$(xdotool search --onlyvisible --name '^Welcome' 2>/dev/null | head -1 || true)
if [[ -n "$dialog" ]]; then
  xdotool windowfocus --sync "$dialog" key Escape || true
  sleep 1
fi
import -window root "$SHOT"
echo "verify: screenshot $SHOT"
main=$(xdotool search --onlyvisible --name '^SoloDesk$' 2>/dev/null | head -1 || true)
[[ -n "$main" ]] || { cat "$WORK/gui.log"; echo "verify: no main window" >&2; exit 1; }
xdotool windowfocus --sync "$main" key ctrl+q || true
for _ in $(seq 150); do kill -0 "$gui" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$gui" 2>/dev/null; then
  xdotool windowclose "$main" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$gui" 2>/dev/null || break; sleep 0.2; done
fi
if kill -0 "$gui" 2>/dev/null; then
  cat "$WORK/gui.log"
  echo "verify: the app did not exit after its window was closed" >&2
  exit 1
fi
status=0
wait "$gui" || status=$?
cat "$WORK/gui.log"
[[ $status == 0 ]] || { echo "verify: the app exited with status $status" >&2; exit 1; }
echo "verify: the window opened and closed; exit status 0"

step "5. install-desktop.sh into a fresh home, then validate what it installed"
home=$(fresh_home install)
run_in "$home" env SOLODESK_APP_DIR="$APP_DIR" "$HERE/install-desktop.sh"
desktop-file-validate "$home/.local/share/applications/io.github.solodesk.SoloDesk.desktop"
appstreamcli validate --no-net "$home/.local/share/metainfo/io.github.solodesk.SoloDesk.metainfo.xml"
run_in "$home" "$home/.local/bin/solodesk" --version
ls "$home/.local/share/icons/hicolor"

step "6. keyring: a secret stored through the Secret Service (keyring's entry points in the bundle)"
if command -v dbus-daemon >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  # A private session bus and an unlocked gnome-keyring, as the tests start them (the helper
  # needs secretstorage: the build venv's Python has it).
  py=$HERE/build/venv/bin/python
  [[ -x "$py" ]] || py=$(dirname "$HERE")/.venv/bin/python
  "$py" - "$APP" "$WORK/keyring" "$(dirname "$HERE")" <<'PY'
import subprocess
import sys
from pathlib import Path

app, tmp, root = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
sys.path.insert(0, root)
from tests.support.secret_service import start  # noqa: E402

tmp.mkdir()
service = start(tmp)
try:
    env = {k: v for k, v in service.env.items() if k.startswith(("XDG_", "DBUS_"))}
    env.update(PATH="/usr/bin:/bin", HOME=str(tmp / "home"), LANG="C.UTF-8")
    subprocess.run([app, "secrets", "set", "smtp.password"], input="verify-Secret-42\n",
                   text=True, env=env, check=True)
    status = subprocess.run([app, "secrets", "status"], capture_output=True, text=True,
                            env=env, check=True).stdout
    print(status, end="")
    if "— secure" not in status or "SecretService" not in status:
        sys.exit("verify: the frozen app did not use the Secret Service")
    if "verify-Secret-42" in status:
        sys.exit("verify: a secret value was printed")
finally:
    service.stop()
PY
else
  echo "verify: dbus-daemon or gnome-keyring-daemon missing; keyring step skipped" >&2
fi

echo
echo "verify: all checks passed ($APP_DIR, $(du -sh "$APP_DIR" | cut -f1))"
