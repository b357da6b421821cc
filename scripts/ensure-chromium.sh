#!/usr/bin/env bash
# The console's end-to-end tests drive Debian's Chromium with Playwright (Playwright's own browser
# download needs the internet); install it if missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
