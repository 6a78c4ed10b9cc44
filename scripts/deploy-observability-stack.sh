#!/usr/bin/env bash
# Deploys the whole stack described by stack.yml to the current kubectl context, idempotently:
# kube-prometheus-stack, Linkerd (CRDs, control plane with freshly generated or reused identity
# certificates, viz), Bookinfo meshed by Linkerd, the traffic generator.
#
#   scripts/deploy-observability-stack.sh [--dry-run] [--kubeconfig PATH] [--context NAME]
#                                         [--stack-file PATH]
#
# Any option is passed on to `python -m stackcheck.deploy` (see --help there). Exits non-zero
# on the first failing step, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

fail() { echo "deploy-observability-stack: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found on PATH; $2"; }

dry_run=false
kube_args=()
args=("$@")
i=0
while [ "$i" -lt "${#args[@]}" ]; do
  case "${args[$i]}" in
    --dry-run) dry_run=true ;;
    --kubeconfig) kube_args+=(--kubeconfig "${args[$((i + 1))]:-}"); i=$((i + 1)) ;;
    --context) kube_args+=(--context "${args[$((i + 1))]:-}"); i=$((i + 1)) ;;
  esac
  i=$((i + 1))
done

need "$python" "install Python 3.11+ (and run scripts/setup.sh)"
"$python" -c 'import stackcheck' 2>/dev/null || fail "stackcheck is not installed for $python; run scripts/setup.sh"

if ! $dry_run; then
  need kubectl "install kubectl: https://kubernetes.io/docs/tasks/tools/"
  need helm "install Helm 3: https://helm.sh/docs/intro/install/"
  helm version --short >/dev/null 2>&1 || fail "helm does not run (helm version failed)"
  if ! kubectl "${kube_args[@]}" version --request-timeout=10s >/dev/null 2>&1; then
    fail "the cluster is not reachable with the current kubeconfig/context ($(kubectl "${kube_args[@]}" config current-context 2>/dev/null || echo none)); check KUBECONFIG, --kubeconfig and --context"
  fi
fi

"$python" -m stackcheck.deploy "$@"

if ! $dry_run; then
  echo
  echo "deploy-observability-stack: pods"
  kubectl "${kube_args[@]}" get pods -A -o wide | grep -E '^(NAMESPACE|monitoring|linkerd|linkerd-viz|bookinfo) ' || true
  echo
  echo "verify with: pytest suites/ --target kubeconfig"
fi
