#!/usr/bin/env bash
# Optional end-to-end test of the web page in headless Chromium against a real `latent serve` on the tiny
# fixture model (not part of scripts/test.sh). Installs Debian's chromium + chromium-driver and Selenium from
# PyPI if missing, builds `latent` in release, and runs tests/browser/test_web_ui.py.
# Usage: scripts/browser-test.sh [--artifacts DIR]   (screenshots and logs go there; default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh --browser
python3 -c "import selenium" 2>/dev/null || python3 -m pip install --quiet "selenium>=4.20"
swift build -c release --product latent
python3 tests/browser/test_web_ui.py --latent .build/release/latent "$@"
