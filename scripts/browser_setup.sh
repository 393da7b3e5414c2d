#!/usr/bin/env bash
# What the browser and SDK tests need: Debian's chromium, Node.js, and from npm playwright-core
# (tests/browser; it drives /usr/bin/chromium, it downloads no browser) and Segment's and PostHog's Node.js
# SDKs (tests/sdk), versions pinned by each folder's package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(chromium)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
source scripts/lib/packages.sh
install_missing "${packages[@]}"
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d tests/sdk/node_modules/posthog-node ] || [ ! -d tests/sdk/node_modules/@segment/analytics-node ]; then
  (cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error)
fi
