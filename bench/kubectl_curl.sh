#!/usr/bin/env bash
# The suite's checks of the stock stack.yml, as a shell script would do them: one
# `kubectl get -o json` (or `get --raw` through the API server's service proxy) or `curl` per
# check, judged with jq. bench/run.py times it against the suite on the same sim.
#
#   KUBECONFIG=... PRODUCTPAGE_URL=http://... GRAFANA_URL=http://... bench/kubectl_curl.sh
#
# Exit 0 when every check passes; each failure prints one line.
set -uo pipefail

: "${KUBECONFIG:?set KUBECONFIG}" "${PRODUCTPAGE_URL:?}" "${GRAFANA_URL:?}"
MAX_RESTARTS=3
PROM=/api/v1/namespaces/monitoring/services/prometheus-kube-prometheus-prometheus:9090/proxy
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
k() { kubectl --request-timeout=10s "$@"; }

# api.reachable: the server answers and the stack's namespaces exist
k version -o json >/dev/null || fail "api.reachable: the API server does not answer"
k get namespace monitoring linkerd linkerd-viz bookinfo -o json >/dev/null \
  || fail "api.reachable: a namespace is missing"

# pods.healthy[ns]: every pod Running and Ready (Succeeded Job pods are fine), restarts bounded
for ns in monitoring linkerd linkerd-viz bookinfo; do
  bad=$(k get pods -n "$ns" -o json | jq -r --argjson max "$MAX_RESTARTS" '
    .items[] | select(
      (.status.phase != "Succeeded") and (
        .status.phase != "Running"
        or ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length) == 0
        or ([(.status.containerStatuses // [])[].restartCount] | add // 0) > $max))
    | .metadata.name') || bad="(kubectl failed)"
  [ -z "$bad" ] || fail "pods.healthy[$ns]: $bad"
done

# component.healthy[c]: each workload exists with its replicas available
workloads() {  # namespace, then kind/name...
  local ns=$1; shift
  k get "$@" -n "$ns" -o json | jq -e '
    [(.items // [.])[] | if .kind == "Deployment" or .kind == "StatefulSet" then
        (.status.availableReplicas // .status.readyReplicas // 0) >= (.spec.replicas // 1)
      elif .kind == "DaemonSet" then
        (.status.numberAvailable // 0) >= .status.desiredNumberScheduled
      else true end] | all' >/dev/null
}
workloads monitoring deployment/prometheus-kube-prometheus-operator \
  deployment/prometheus-grafana deployment/prometheus-kube-state-metrics \
  daemonset/prometheus-prometheus-node-exporter \
  statefulset/prometheus-prometheus-kube-prometheus-prometheus \
  statefulset/alertmanager-prometheus-kube-prometheus-alertmanager \
  || fail "component.healthy[kube-prometheus-stack]"
workloads linkerd deployment/linkerd-identity deployment/linkerd-destination \
  deployment/linkerd-proxy-injector cronjob/linkerd-heartbeat \
  || fail "component.healthy[linkerd-control-plane]"
workloads linkerd-viz deployment/metrics-api deployment/tap deployment/tap-injector \
  deployment/web || fail "component.healthy[linkerd-viz]"
workloads bookinfo deployment/productpage-v1 deployment/details-v1 deployment/ratings-v1 \
  deployment/reviews-v1 deployment/reviews-v2 deployment/reviews-v3 \
  || fail "component.healthy[bookinfo]"
workloads bookinfo deployment/traffic-generator || fail "component.healthy[traffic-generator]"

# mesh.injection[bookinfo]
[ "$(k get namespace bookinfo -o json | jq -r '.metadata.annotations["linkerd.io/inject"]')" \
  = enabled ] || fail "mesh.injection[bookinfo]"

# mesh.proxies[bookinfo]: every (non-completed) pod has a ready linkerd-proxy and its version
bad=$(k get pods -n bookinfo -o json | jq -r '
  .items[] | select(.status.phase != "Succeeded") | select(
    ([(.status.containerStatuses // []), (.status.initContainerStatuses // [])
      | .[] | select(.name == "linkerd-proxy" and .ready)] | length) == 0
    or (.metadata.annotations["linkerd.io/proxy-version"] // "") == "")
  | .metadata.name') || bad="(kubectl failed)"
[ -z "$bad" ] || fail "mesh.proxies[bookinfo]: $bad"

# endpoint[productpage]: 200, the page's markers, no errors, length in range
page=$(mktemp)
code=$(curl -s -o "$page" -w '%{http_code}' --max-time 10 "$PRODUCTPAGE_URL/productpage")
size=$(wc -c <"$page")
{ [ "$code" = 200 ] && grep -q '<title>Simple Bookstore App</title>' "$page" \
  && grep -q 'Book Details' "$page" && grep -q 'Book Reviews' "$page" \
  && ! grep -q 'Error fetching product' "$page" && [ "$size" -ge 9000 ] \
  && [ "$size" -le 15500 ]; } || fail "endpoint[productpage]: HTTP $code, $size bytes"
rm -f "$page"

# endpoint[grafana-login]: / answers 302 to /login
read -r code location < <(curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' \
  --max-time 10 "$GRAFANA_URL/")
[ "$code" = 302 ] && [[ "$location" == */login* ]] || fail "endpoint[grafana-login]: $code"

# endpoint[grafana-health]: database ok
[ "$(curl -s --max-time 10 "$GRAFANA_URL/api/health" | jq -r .database)" = ok ] \
  || fail "endpoint[grafana-health]"

# prometheus.scrape-job[job]: enough targets, all up
for job_min in linkerd-proxy:7 linkerd-controller:3; do
  job=${job_min%%:*} min=${job_min##*:}
  k get --raw "$PROM/api/v1/targets?state=active" | jq -e --arg job "$job" --argjson min "$min" '
    [.data.activeTargets[] | select(.labels.job == $job)]
    | (length >= $min) and all(.health == "up")' >/dev/null \
    || fail "prometheus.scrape-job[$job]"
done

# prometheus.query[bookinfo-meshed-requests]: at least one series
query=$(jq -rn --arg q 'sum by (namespace) (request_total{namespace="bookinfo", direction="inbound", tls="true"})' '$q | @uri')
k get --raw "$PROM/api/v1/query?query=$query" | jq -e '.data.result | length >= 1' >/dev/null \
  || fail "prometheus.query[bookinfo-meshed-requests]"

[ "$failures" -eq 0 ] && echo "all checks passed" || echo "$failures check(s) failed"
[ "$failures" -eq 0 ]
