#!/usr/bin/env bash
# The wheel carries everything nsdval needs: build it, install it in a fresh virtual
# environment with no checkout in sight, and run the demo suite from elsewhere.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$repo/.venv/bin/python" -m build --wheel --outdir "$work/dist" "$repo" >/dev/null
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/nsdval-*.whl
cd "$work"
"$work/venv/bin/nsdval" demo --out "$work/out" --data "$work/data" --jobs 2 --quiet | tail -n 3
test -f "$work/out/index.html"
echo "wheel smoke test: passed"
