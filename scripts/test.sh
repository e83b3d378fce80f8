#!/usr/bin/env bash
# Run the test suite: bootstrap, then pytest with any extra arguments passed through,
# e.g. `bash scripts/test.sh -x -q tests/test_cli.py` or `bash scripts/test.sh --update-golden`.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh || exit $?

.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    # pytest's "no tests collected": a suite that tests nothing has failed.
    echo "test.sh: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
