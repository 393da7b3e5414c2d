#!/usr/bin/env bash
# What the browser tests need: Debian's chromium, Node.js, and playwright-core from npm (tests/browser,
# versions pinned by its package-lock.json; it drives /usr/bin/chromium, it downloads no browser).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(chromium)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
source scripts/lib/packages.sh
install_missing "${packages[@]}"
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
