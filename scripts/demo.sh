#!/usr/bin/env bash
# A tour of archlang on the specs in specs/: check, shapes, a diagnostic,
# build, export, render and a short training run. Everything it writes goes
# to out/demo/ (git-ignored). Each step is guarded: a step that fails is
# reported and the tour goes on; the exit code says whether all went well.
# About two minutes on 2 CPU cores, most of it the training run.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh || exit $?

out="out/demo"
mkdir -p "$out"
failed=()

archlang() { .venv/bin/python -m archlang "$@"; }

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }

# step EXPECTED_EXIT TITLE -- COMMAND...
step() {
    local expected="$1" title="$2"
    shift 3
    echo
    bold "== $title"
    echo "\$ archlang ${*:2}"
    "$@"
    local status=$?
    if [ "$status" -ne "$expected" ]; then
        echo "!! exit $status, expected $expected"
        failed+=("$title")
    fi
}

step 0 "check every spec" -- archlang check specs/*.arch
step 0 "the layer table of LeNet with batch norm" -- archlang shapes specs/lenet_bn.arch
step 0 "ResNet-18, blocks folded below one level" -- archlang shapes specs/resnet18.arch --depth 1
step 1 "a mistake, caught before anything runs (exit 1 expected)" -- \
    archlang check examples/residual_without_projection.arch
step 0 "standalone PyTorch source" -- archlang build specs/resnet18.arch -o "$out/resnet18.py"
step 0 "ONNX, verified in onnxruntime" -- archlang export specs/lenet_bn.arch --onnx "$out/lenet_bn.onnx"
step 0 "a drawing" -- archlang render specs/googlenet.arch --depth 1 -o "$out/googlenet.svg"
rm -rf "$out/train-lenet_bn"
step 0 "three epochs on the digits (offline)" -- \
    archlang train specs/lenet_bn.arch --data digits --epochs 3 --out "$out/train-lenet_bn"

echo
if [ "${#failed[@]}" -eq 0 ]; then
    bold "demo: every step worked; files in $out/"
    exit 0
fi
bold "demo: ${#failed[@]} step(s) did not work:"
printf '  - %s\n' "${failed[@]}"
exit 1
