#!/usr/bin/env bash
# The test command: set-up, an optimised build, and the whole suite (numeric code is far too slow unoptimised).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build -c release --build-tests
swift test -c release --skip-build "$@"
