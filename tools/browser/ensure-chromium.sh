#!/usr/bin/env bash
# Install Debian's Chromium for `make test-browser` when it is missing. Never fails: where it
# cannot be installed, the reason goes to test-artifacts/chromium-install.log and the test skips
# with it. The browser always comes from the system's packages: no Playwright browser download.
set -u
cd "$(dirname "$0")/../.."
log=test-artifacts/chromium-install.log
mkdir -p test-artifacts
if [ -x /usr/bin/chromium ]; then
  rm -f "$log"
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "Chromium is missing and this user can neither run apt-get as root nor sudo without a password." > "$log"
    echo "test-browser: $(cat "$log")" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing and this system has no apt-get (the test uses Debian's chromium package)." > "$log"
  echo "test-browser: $(cat "$log")" >&2
  exit 0
fi
echo "test-browser: installing Debian's chromium (apt-get)..." >&2
if { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium; } > "$log.tmp" 2>&1 \
   && [ -x /usr/bin/chromium ]; then
  rm -f "$log" "$log.tmp"
else
  { echo "apt-get install chromium failed:"; tail -20 "$log.tmp"; } > "$log"
  rm -f "$log.tmp"
  echo "test-browser: $(head -1 "$log") (see $log)" >&2
fi
exit 0
