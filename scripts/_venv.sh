# Sourced by scripts/*: create or reuse .venv and install the project into it.
# torch is pinned and installed first: its CPU wheel lies on this machine's disk, and a looser
# request would pull a multi-GB CUDA build. A stamp keyed on pyproject.toml skips the install
# when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv" >&2
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
STAMP=".venv/.vfl-install-stamp"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing torch==2.13.0 and the project into .venv (first run takes a minute)" >&2
  "$VPY" -m pip install -q --disable-pip-version-check --upgrade pip 2>/dev/null || true
  "$VPY" -m pip install -q --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "is ignored" >&2 || true
  # One retry: a fresh build environment occasionally fails on a transient download or
  # temporary-file error, and CI runs from a clean clone.
  for attempt in 1 2; do
    if "$VPY" -m pip install -q --disable-pip-version-check -e ".[dev]" >.venv/pip-install.log 2>&1; then
      break
    fi
    grep -v "is ignored" .venv/pip-install.log | tail -n 20 >&2
    echo "project install failed (attempt $attempt)" >&2
  done
  "$VPY" -c "import vfl, psi, torch, private_set_intersection, phe, gmpy2" \
    || { echo "install failed: see pip output above" >&2; exit 1; }
  echo "$WANT" > "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
