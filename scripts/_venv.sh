# Sourced by scripts/demo and scripts/test: make ./.venv with vestnik installed (idempotent).
# VESTNIK_EXTRAS picks the pip extras ("" for the demo, "dev" for the tests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "vestnik needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    # A bare Debian/Ubuntu has Python without venv/ensurepip: as root, install it.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing python3-venv"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-venv >/dev/null
    fi
    "$python" -m venv .venv || {
      rm -rf .venv
      echo "could not create a venv: on Debian/Ubuntu install python3-venv first" >&2
      exit 1
    }
  fi
fi
extras="${VESTNIK_EXTRAS:-}"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
stamp=".venv/.vestnik-installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
