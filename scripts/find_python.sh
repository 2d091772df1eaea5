#!/usr/bin/env bash
# Prints the path of a working Python 3.10 interpreter (tfx 1.16 needs >=3.9,<3.11).
# Tries $PYTHON, python3.10 on PATH (a pyenv shim there may not work), then pyenv's
# installed versions; fails with a message naming everything it looked for.
set -u
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for p in "$root"/versions/3.10.*/bin/python /usr/bin/python3.10 /usr/local/bin/python3.10; do
  [ -x "$p" ] && candidates+=("$p")
done
for p in "${candidates[@]}"; do
  if "$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    echo "$p"
    exit 0
  fi
done
echo "error: no working Python 3.10 found. Looked at \$PYTHON, python3.10 on PATH," \
     "$root/versions/3.10.*/bin/python, /usr/bin/python3.10, /usr/local/bin/python3.10." \
     "Install Python 3.10 (e.g. 'pyenv install 3.10') or set PYTHON=/path/to/python3.10." >&2
exit 1
