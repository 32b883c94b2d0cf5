#!/usr/bin/env bash
# Print the path of a working Python 3.13 interpreter (Colab's version), or fail saying how to get one.
# Tries, in order: $COLAB_PYTHON, python3.13 on PATH, pyenv's 3.13 versions, uv's managed Pythons.
set -u
works() { "$1" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; }
candidates=()
[ -n "${COLAB_PYTHON:-}" ] && candidates+=("$COLAB_PYTHON")
command -v python3.13 >/dev/null 2>&1 && candidates+=("$(command -v python3.13)")
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -rV); do
    candidates+=("$(pyenv root)/versions/$v/bin/python3.13")
  done
fi
for p in "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
  [ -e "$p" ] && candidates+=("$p")
done
command -v uv >/dev/null 2>&1 && candidates+=("$(uv python find 3.13 2>/dev/null)")
for p in "${candidates[@]}"; do
  if [ -n "$p" ] && works "$p"; then
    # pyenv's shim resolves per directory; hand back the real interpreter.
    "$p" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "find-python313: no Python 3.13 found (Colab's version). Install one (pyenv install 3.13, uv python install 3.13, or apt) or set COLAB_PYTHON=/path/to/python3.13." >&2
exit 1
