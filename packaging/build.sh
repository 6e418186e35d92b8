#!/usr/bin/env bash
# Build the one-folder SoloDesk app in one command:
#
#     packaging/build.sh
#
# makes a clean build venv (packaging/build/venv), installs SoloDesk with its local model
# (llama.cpp built portably, the README's CMAKE_ARGS) and PyInstaller (the 'packaging' extra),
# runs packaging/solodesk.spec and prints where the folder is and its size:
# packaging/dist/SoloDesk/solodesk is the program. Check it with packaging/verify.sh, install it
# for the current user with packaging/install-desktop.sh.
#
# Environment: PYTHON (default python3, 3.11+); SOLODESK_REUSE_BUILD_VENV=1 keeps an existing
# build venv (faster rebuilds while working on the spec; a release build starts clean).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/packaging/build
VENV=$BUILD/venv
DIST=$ROOT/packaging/dist
PYTHON=${PYTHON:-python3}
# The portable llama.cpp build: the same flags as the README (solodesk.llm.local.PORTABLE_CMAKE_ARGS;
# tests/unit/test_packaging.py keeps them equal).
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF"

start=$(date +%s)
if [[ "${SOLODESK_REUSE_BUILD_VENV:-0}" != 1 || ! -x "$VENV/bin/python" ]]; then
  echo "build: clean build venv $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
echo "build: installing SoloDesk[local,packaging] (llama.cpp builds from source unless pip has it)"
# Not editable: the bundle is made from the installed package, resources/ included.
CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" "$VENV/bin/python" -m pip install --quiet \
  --disable-pip-version-check "$ROOT[local,packaging]"

echo "build: PyInstaller"
# litellm's hooks import it: with its bundled price list, not a download attempt.
export LITELLM_LOCAL_MODEL_COST_MAP=True
rm -rf "$DIST/SoloDesk"
# Run from outside the source tree, so the spec bundles the installed solodesk, not ./solodesk.
(cd "$BUILD" && "$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$BUILD/pyinstaller" "$ROOT/packaging/solodesk.spec")

app=$DIST/SoloDesk
[[ -x "$app/solodesk" ]] || { echo "build: $app/solodesk was not made" >&2; exit 1; }
size=$(du -sh "$app" | cut -f1)
echo "build: done in $(( $(date +%s) - start )) s"
echo "build: the app is $app ($size); run $app/solodesk"
