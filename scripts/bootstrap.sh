#!/usr/bin/env bash
# Set up a working archlang checkout: .venv at the repository root with archlang
# installed (editable, with the torch and test extras) and graphviz's `dot`.
#
# Idempotent: a stamp in .venv holds the hash of the pyproject.toml it was
# installed from, so a second run costs a hash and does nothing. Set PYTHON to
# choose the interpreter that creates the venv (default: python3).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="$PWD/.venv"
stamp="$venv/.archlang-bootstrap"
python="${PYTHON:-python3}"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
    say "creating .venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    say ".venv is up to date"
else
    # torch and torchvision come from PyPI by name: the default (CUDA) build,
    # which also runs on the CPU. There is no matching CPU-only torchvision to pin.
    say "installing archlang[torch,test] into .venv (the first time downloads torch, several GB)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[torch,test]'
    printf '%s\n' "$want" > "$stamp"
    say "installed"
fi

if command -v dot >/dev/null 2>&1; then
    say "graphviz: $(dot -V 2>&1)"
else
    say "installing graphviz (for archlang render)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq graphviz >/dev/null
    say "graphviz: $(dot -V 2>&1)"
fi
