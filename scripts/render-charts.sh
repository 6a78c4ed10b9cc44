#!/usr/bin/env bash
# Render the charts stack.yml pins, offline, with our values files and the flags
# stackcheck/deploy.py passes: the source of stackcheck/sim/data/{10,20,30}-*.yml and of
# tests/data/facts/charts.yml. Nothing here is committed: charts and helm stay outside the repo.
#
# usage: scripts/render-charts.sh OUT_DIR
#   LINKERD2_GIT           git dir of github.com/linkerd/linkerd2 (needs tag stable-2.14.10)
#   PROMETHEUS_CHARTS_GIT  git dir of github.com/prometheus-community/helm-charts
#   GRAFANA_CHARTS_GIT     git dir of github.com/grafana/helm-charts
#   HELM                   helm 3 binary (default: helm)
# Writes OUT_DIR/{kube-prometheus-stack,linkerd-crds,linkerd-control-plane,linkerd-viz}.yml.
# Then: .venv/bin/python scripts/sim_data_from_render.py OUT_DIR (rewrites the sim data).
set -euo pipefail

# The pins. A version bump changes these (and stack.yml); kube-prometheus-stack's Chart.yaml
# pins its dependencies by range (5.26.*, 4.40.*, 8.5.*, 0.7.*): these are the newest of each
# range tagged before kube-prometheus-stack-65.8.1 (2024-11-06), what its package carries.
LINKERD_TAG=stable-2.14.10
KPS_TAG=kube-prometheus-stack-65.8.1
KSM_TAG=kube-state-metrics-5.26.0
NODE_EXPORTER_TAG=prometheus-node-exporter-4.40.0
WINDOWS_EXPORTER_TAG=prometheus-windows-exporter-0.7.1
GRAFANA_TAG=grafana-8.5.12
KUBE_VERSION=v1.28.15  # the target cluster's version, for the charts' capability checks

out=${1:?usage: scripts/render-charts.sh OUT_DIR}
: "${LINKERD2_GIT:?set LINKERD2_GIT to a linkerd/linkerd2 git dir}"
: "${PROMETHEUS_CHARTS_GIT:?set PROMETHEUS_CHARTS_GIT to a prometheus-community/helm-charts git dir}"
: "${GRAFANA_CHARTS_GIT:?set GRAFANA_CHARTS_GIT to a grafana/helm-charts git dir}"
helm=${HELM:-helm}
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

extract() {  # git-dir tag path...
    local git=$1 tag=$2
    shift 2
    git -C "$git" archive "$tag" "$@" | tar -x -C "$work"
}

extract "$LINKERD2_GIT" "$LINKERD_TAG" charts/partials charts/linkerd-crds \
    charts/linkerd-control-plane viz/charts/linkerd-viz
# Linkerd's CI writes the version into values.yaml before publishing (bin/helm-build).
sed -i "s/linkerdVersionValue/$LINKERD_TAG/" \
    "$work/charts/linkerd-control-plane/values.yaml" "$work/viz/charts/linkerd-viz/values.yaml"
for chart in charts/linkerd-crds charts/linkerd-control-plane viz/charts/linkerd-viz; do
    mkdir -p "$work/$chart/charts"
    cp -r "$work/charts/partials" "$work/$chart/charts/"
done

extract "$PROMETHEUS_CHARTS_GIT" "$KPS_TAG" charts/kube-prometheus-stack
extract "$PROMETHEUS_CHARTS_GIT" "$KSM_TAG" charts/kube-state-metrics
extract "$PROMETHEUS_CHARTS_GIT" "$NODE_EXPORTER_TAG" charts/prometheus-node-exporter
extract "$PROMETHEUS_CHARTS_GIT" "$WINDOWS_EXPORTER_TAG" charts/prometheus-windows-exporter
extract "$GRAFANA_CHARTS_GIT" "$GRAFANA_TAG" charts/grafana
for dependency in kube-state-metrics prometheus-node-exporter prometheus-windows-exporter grafana; do
    mv "$work/charts/$dependency" "$work/charts/kube-prometheus-stack/charts/"
done

# Throw-away identity certificates: only their presence matters to the render.
certs=$work/identity
PYTHONPATH=$root "$python" -c \
    "import sys, pathlib; from stackcheck import certs; certs.write(certs.generate(), pathlib.Path(sys.argv[1]))" \
    "$certs"

render() {  # release chart namespace out-name [helm args...]
    local release=$1 chart=$2 namespace=$3 name=$4
    shift 4
    "$helm" template "$release" "$work/$chart" --namespace "$namespace" \
        --kube-version "$KUBE_VERSION" "$@" > "$out/$name.yml"
}

render prometheus charts/kube-prometheus-stack monitoring kube-prometheus-stack --include-crds \
    -f "$root/manifests/observability/prometheus-stack-values.yml"
render linkerd-crds charts/linkerd-crds linkerd linkerd-crds
render linkerd-control-plane charts/linkerd-control-plane linkerd linkerd-control-plane \
    -f "$root/manifests/linkerd/control-plane-values.yml" \
    --set-file "identityTrustAnchorsPEM=$certs/ca.crt" \
    --set-file "identity.issuer.tls.crtPEM=$certs/issuer.crt" \
    --set-file "identity.issuer.tls.keyPEM=$certs/issuer.key"
render linkerd-viz viz/charts/linkerd-viz linkerd-viz linkerd-viz \
    -f "$root/manifests/linkerd/viz-values.yml"
echo "rendered into $out"
