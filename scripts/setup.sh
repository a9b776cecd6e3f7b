#!/usr/bin/env bash
# Installs what Latent needs on Debian 12 (idempotent; run as root or with sudo available).
# Swift 6 itself is expected on PATH (https://swift.org/install); everything else comes from Debian.
set -euo pipefail

packages=(libopenblas-dev libdnnl-dev libgcc-12-dev libpng-dev libjpeg62-turbo-dev libwebp-dev zlib1g-dev libsqlite3-dev pkg-config)
# Optional, only for the browser test (scripts/browser-test.sh): headless Chromium and its WebDriver.
if [ "${1:-}" = "--browser" ]; then packages+=(chromium chromium-driver); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "setup: add /opt/swift/usr/bin to PATH" >&2
    else
        echo "setup: a Swift 6 toolchain is required (https://swift.org/install)" >&2
    fi
    exit 1
fi
