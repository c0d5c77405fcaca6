#!/usr/bin/env bash
# Screenshot of the results page for the README, taken with a real headless browser.
#
#   bash docs/screenshot.sh [RESULTS_DIR] [FIGURES_DIR] [OUTPUT_PNG]
#
# Writes RESULTS_DIR/index.html (clustertheory report) and a PNG of its top (default
# docs/results-page.png, 1280 x 2000 CSS pixels). Needs Debian's chromium
# (apt-get install -y chromium) and the package importable (pip install -e . or PYTHONPATH=.).
# Chromium runs without network features and with a fresh profile, so the shot shows only
# the local page; --no-sandbox is needed when running as root.
set -euo pipefail
cd "$(dirname "$0")/.."
results=${1:-results}
figures=${2:-figures}
output=${3:-docs/results-page.png}
case "$output" in /*) ;; *) output="$PWD/$output" ;; esac
python -m clustertheory.cli report --results-dir "$results" --figures-dir "$figures"
page="$(cd "$results" && pwd)/index.html"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars --window-size=1280,2000 \
    --screenshot="$output" "file://$page" 2>/dev/null
echo "wrote $output"
