#!/usr/bin/env bash
# Refresh constraints.txt, the lock that CI, the README's install and the Docker image install from.
#
#   scripts/lock.sh            # newest versions pyproject.toml allows, today
#   scripts/lock.sh --dry-run  # show what would change, write nothing
#
# uv resolves for every platform at once (--universal), for the oldest Python we support, so the
# same file serves a laptop, CI and the image. Commit the new file after the test suite has passed
# on it (.ci/run also tests the newest allowed versions, and says when they differ from the lock).
set -euo pipefail
cd "$(dirname "$0")/.."

uv=$(command -v uv || true)
if [ -z "$uv" ]; then
  tools=${XDG_CACHE_HOME:-$HOME/.cache}/newsingest-lock-tools
  [ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q uv; }
  uv=$tools/bin/uv
fi

out=constraints.txt
if [ "${1:-}" = "--dry-run" ]; then
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
fi
"$uv" pip compile pyproject.toml --all-extras --universal --python-version 3.11 --upgrade \
  --no-header --quiet -o "$out"
{
  echo "# The lock: every package newsingest installs, pinned. Refresh with scripts/lock.sh."
  echo "# Used as pip constraints: pip install -c constraints.txt '.[test]'"
  cat "$out"
} > "$out.tmp" && mv "$out.tmp" "$out"
if [ "${1:-}" = "--dry-run" ]; then
  diff <(grep -E '^[a-z0-9]' constraints.txt) <(grep -E '^[a-z0-9]' "$out") || true
fi
