#!/usr/bin/env bash
# Regenerates the Allure HTML report from existing Allure results, with Allure's own CLI
# (npm `allure`, version 3):
#   scripts/report.sh [RESULTS_DIR]        default: reports/allure-results
# writes, next to RESULTS_DIR: allure-report/index.html, stackcheck-report.html (one
# self-contained file for sharing) and appends the run to history.jsonl (the trend).
# The suite does this by itself at the end of each run unless --html-report false.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

case "${1:-}" in
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
results="${1:-$root/reports/allure-results}"

if [ ! -x "$root/node_modules/.bin/allure" ] && ! command -v allure >/dev/null 2>&1; then
  echo "report: the Allure CLI is not installed (npm package allure, version 3):" \
       "run scripts/setup.sh, or npm install in $root" >&2
  exit 3
fi
python="$root/.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
# PYTHONPATH: stackcheck from this checkout even when .venv is missing
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec timeout 600 "$python" -m stackcheck.report "$results"
