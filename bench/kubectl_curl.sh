#!/usr/bin/env bash
# The suite's checks of the stock stack.yml, as a shell script does them: the reads the
# checks declare, each distinct one once (`kubectl get -o json` of the kinds they list per
# namespace, `get --raw` through the API server's service proxy to Prometheus and
# Alertmanager as the suite reaches them, `curl` for the endpoints), then each check judged
# with jq (and openssl for certificates). bench/run.py times it against the suite on the same
# sim, row (d).
#
#   KUBECONFIG=... PRODUCTPAGE_URL=http://... GRAFANA_URL=http://... bench/kubectl_curl.sh
#
# Needs kubectl, jq, curl and openssl. Exit 0 when no check fails; each failure prints one
# FAIL line, each warning (what the suite reports as a warning: old restarts, failed CronJob
# runs, skewed proxy versions, a certificate expiring within 60 days, no latency samples) a
# WARN line that does not change the exit code.
#
# Covers every check the suite builds from the stock stack.yml (stackcheck/checks/catalog.py),
# reading what each check declares and judging it the same way:
#   api.reachable; pods.healthy[ns] (phase, readiness, container states, restarts within the
#   1h window, old ones and failed Job/CronJob runs a warning); component.healthy[c] (exists,
#   scaled as git says, available, rolled out: observedGeneration, updated replicas,
#   Progressing=False; its pods judged as pods.healthy); mesh.injection / mesh.proxies;
#   endpoint[productpage] (3 answers, each judged), grafana-login, grafana-health;
#   prometheus.scrape-job[job], prometheus.query; identity.trust-anchor / issuer (openssl:
#   algorithm, validity now and for 60 days, the issuer's chain to the anchor),
#   identity.proxies-trust / proxy-versions; alerting.watchdog / firing / config-reload /
#   rule-groups / rejected-resources; golden.signals[deployment] (the two `linkerd viz stat`
#   queries of bookinfo, judged per Deployment); drift.manifests[c] (the manifests' objects,
#   made JSON by `kubectl create --dry-run=client`, as a partial match against the live ones
#   with named list items matched by key and quantities normalised) and drift.helm[c] (no PVC,
#   Grafana's NodePort, the placement and the chart's images on each workload).
# Like a hand-written script it hard-codes what stack.yml, the values files and
# stackcheck/data/chart-images.yml say (workloads, replicas, thresholds, images) instead of
# reading them. Left out: the suite's retries until --wait and its watches (a single
# attempt, as --wait 0), the evidence it attaches to a failure (describe, events, logs),
# the Allure and HTML reports, the static manifest checks of suites/static, the drift
# rules of stack.yml (drift.warn/ignore: the stock file has none) and the line numbers of a
# drift.
set -uo pipefail
shopt -s lastpipe

: "${KUBECONFIG:?set KUBECONFIG}" "${PRODUCTPAGE_URL:?}" "${GRAFANA_URL:?}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MAX_RESTARTS=3
RESTART_WINDOW=3600 # seconds (stack.yml pods.restart_window: 1h)
MIN_DAYS=60         # identity.trust_anchor_min_days and issuer_min_days
PROM=/api/v1/namespaces/monitoring/services/prometheus-kube-prometheus-prometheus:9090/proxy
ALERTMANAGER=/api/v1/namespaces/monitoring/services/prometheus-kube-prometheus-alertmanager:9093/proxy
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
warn() { echo "WARN $*"; }
k() { kubectl --request-timeout=10s "$@"; }
# A check's verdicts from jq: lines "F <text>" (failure) and "W <text>" (warning).
judge() {
  local id=$1 line
  while IFS= read -r line; do
    case $line in
      "F "*) fail "$id: ${line#F }" ;;
      "W "*) warn "$id: ${line#W }" ;;
    esac
  done
}
prom_query() { k get --raw "$PROM/api/v1/query?query=$(jq -rn --arg q "$1" '$q | @uri')"; }

# jq functions shared by the checks (the suite's stackcheck/checks/pods.py and drift.py)
LIB='
def statuses: (.status.containerStatuses // []) + (.status.initContainerStatuses // []);
def status_of($n): [statuses[] | select(.name == $n)][0];
def long_running: (.spec.containers // []) + [(.spec.initContainers // [])[] | select(.restartPolicy == "Always")];
def condition($t): [.status.conditions[]? | select(.type == $t)][0];
def owner: [.metadata.ownerReferences[]? | select(.controller)][0];
def workload: owner as $o | (.metadata.labels["pod-template-hash"] // "") as $h
  | if $o == null then null
    elif $o.kind == "ReplicaSet" and $h != "" and ($o.name | endswith("-" + $h))
    then ["Deployment", ($o.name | .[0:(length - ($h | length) - 1)])]
    else [$o.kind, $o.name] end;
def age: now - (sub("\\.[0-9]+"; "") | fromdateiso8601);
def trouble: . as $p | first(long_running[] | .name as $n | ($p | status_of($n)) as $s
  | if $s == null then "container \($n) has no status yet"
    elif $s.state.waiting then "container \($n) is \($s.state.waiting.reason // "Waiting") (\($s.restartCount // 0) restarts)"
    elif $s.state.terminated then "container \($n) terminated (\($s.state.terminated.reason // "?"), exit code \($s.state.terminated.exitCode))"
    elif ($s.ready | not) then "container \($n) is running but not ready"
    else empty end) // null;
def restarts($recent): [statuses[] | select((.restartCount // 0) > 0)
  | (.lastState.terminated.finishedAt // null) as $t
  | select(($t == null or ($t | age) <= $window) == $recent) | .restartCount] | add // 0;
def problem: .status.phase as $phase | "pod \(.metadata.namespace)/\(.metadata.name)" as $ref
  | if .metadata.deletionTimestamp then "\($ref): Terminating"
    elif $phase == "Succeeded" then (if owner.kind == "Job" then null else "\($ref): Succeeded but it is not a Job pod" end)
    elif $phase == "Failed" then "\($ref): Failed (\(.status.reason // trouble // "its containers exited"))"
    elif $phase == "Pending" then "\($ref): Pending (\((condition("PodScheduled") | select(.status == "False") | .reason) // "waiting to start"))"
    elif $phase != "Running" then "\($ref): phase \($phase)"
    elif trouble then "\($ref): Running but not Ready: \(trouble)"
    elif (condition("Ready") // {status: "True"}).status != "True" then "\($ref): Running but not Ready"
    elif restarts(true) > $max then "\($ref): restarted \(restarts(true)) times within 1h (more than \($max))"
    else null end;
# a Failed pod of a controller that runs another pod in its place (evicted): left behind
def left_behind($running): .status.phase == "Failed" and (.metadata.deletionTimestamp | not)
  and (workload as $w | $w != null and ($w[0] | IN("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"))
       and any($running[]; . == $w));
# pods judged as runs (pods of a Job that failed) or as long-running pods
def judge_pods($cronjobs; $required):
  [.[] | select(.status.phase == "Running") | workload] as $running
  | (.[] | select((workload[0] == "Job" and .status.phase == "Failed" and (.metadata.deletionTimestamp | not)) | not)
   | if left_behind($running) then "W pod \(.metadata.namespace)/\(.metadata.name): Failed (\(.status.reason // "its containers exited")), left behind"
     else (problem | select(.) | "F " + .),
       (select(restarts(false) > $max) | "W pod \(.metadata.namespace)/\(.metadata.name): restarted \(restarts(false)) times, outside the 1h window") end),
  ([.[] | select(workload[0] == "Job" and .status.phase == "Failed" and (.metadata.deletionTimestamp | not))]
   | group_by(workload[1])[] | (.[0] | workload[1]) as $job
   | ($job | sub("-[0-9]+$"; "")) as $cron
   | (first($cronjobs[] | select(.metadata.name == $cron and ($job | test("-[0-9]+$")))) // null) as $cj
   | if $cj == null then (if ($required | index($job)) then "F " else "W " end)
       + "Job \(.[0].metadata.namespace)/\($job): run failed (\(length) failed pods)"
     else (if ($required | index($cron)) then "F " else "W " end)
       + "CronJob \(.[0].metadata.namespace)/\($cron): run \($job) failed (\(length) failed pods); last successful run \($cj.status.lastSuccessfulTime // "none")" end);
def quantity: if type == "number" then .
  elif type == "string" then (capture("^(?<n>[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+))(?<s>e[+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$") // null)
    | if . == null then null
      elif (.s // "") | startswith("e") then (.n + .s) | tonumber
      else (.n | tonumber) as $n | {"n": [1, 1e9], "u": [1, 1e6], "m": [1, 1e3], "": [1, 1], "k": [1e3, 1],
        "M": [1e6, 1], "G": [1e9, 1], "T": [1e12, 1], "P": [1e15, 1], "E": [1e18, 1], "Ki": [1024, 1],
        "Mi": [1048576, 1], "Gi": [1073741824, 1], "Ti": [1099511627776, 1], "Pi": [1125899906842624, 1],
        "Ei": [1152921504606846976, 1]}[.s // ""] | $n * .[0] / .[1] end
  else null end;
def same($w; $l): if ($w | type) == "boolean" or ($l | type) == "boolean" then $w == $l
  elif $w == $l then true else ($w | quantity) as $a | $a != null and $a == ($l | quantity) end;
def merge_key: . as $items | if length == 0 or (all(type == "object") | not) then null
  else first(("name", "containerPort", "mountPath", "key", "port", "ip", "nodePort") as $k
    | [$items[] | select(has($k)) | .[$k] | tostring] as $v
    | select(($v | length) == ($items | length) and ($v | unique | length) == ($v | length)) | $k) // null end;
def join_path($p; $k): if $p == "" then $k else "\($p).\($k)" end;
def differences($p; $w; $l):
  if ($w | type) == "object" then
    if ($l | type) != "object" then [$p, $w, $l]
    else $w | to_entries[] | . as $e
      | differences(join_path($p; $e.key); $e.value; if $l | has($e.key) then $l[$e.key] else {"(absent)": true} end) end
  elif ($w | type) == "array" then
    if ($l | type) != "array" then [$p, $w, $l]
    else ($w | merge_key) as $key | if $key == null
      then range($w | length) as $i | differences("\($p)[\($i)]"; $w[$i]; $l[$i] // {"(absent)": true})
      else $w[] | .[$key] as $v | differences("\($p)[\($key)=\($v)]"; .;
        (first($l[] | select(type == "object" and (.[$key] | tostring) == ($v | tostring))) // {"(absent)": true})) end end
  elif $l == {"(absent)": true} or (same($w; $l) | not) then [$p, $w, $l] else empty end;
def drift($ref): "F \($ref): \(.[0]): git \(.[1] | tojson), live \(.[2] | if . == {"(absent)": true} then "(absent)" else tojson end)";
'
jqc() { jq -r --argjson max "$MAX_RESTARTS" --argjson window "$RESTART_WINDOW" "$LIB $1" "${@:2}"; }

# --- the reads: what the checks declare, each distinct read once and shared by the checks
# that need it (as the suite's runner does); a read that fails (null) fails those checks
declare -A LIVE KINDS=(
  [monitoring]=pods,cronjobs,deployments,daemonsets,statefulsets,services,persistentvolumeclaims,podmonitors
  [linkerd]=pods,cronjobs,deployments,configmaps
  [linkerd-viz]=pods,cronjobs,deployments
  [bookinfo]=pods,cronjobs,deployments,services,serviceaccounts)
for ns in "${!KINDS[@]}"; do LIVE[$ns]=$(k get "${KINDS[$ns]}" -n "$ns" -o json) || LIVE[$ns]=""; done
live() { [ -n "${LIVE[$1]}" ] && printf '%s' "${LIVE[$1]}"; }
NAMESPACES=$(k get namespaces -o json) || NAMESPACES=null
TARGETS=$(k get --raw "$PROM/api/v1/targets?state=active") || TARGETS=null
ALERTS=$(k get --raw "$PROM/api/v1/alerts") || ALERTS=null
RULES=$(k get --raw "$PROM/api/v1/rules") || RULES=null
RECEIVED=$(k get --raw "$ALERTMANAGER/api/v2/alerts") || RECEIVED=null

# --- api.reachable: the server answers and the stack's namespaces exist --------------------
k version -o json >/dev/null || fail "api.reachable: the API server does not answer"
jq -r '[.items[].metadata.name] as $present | ("monitoring", "linkerd", "linkerd-viz", "bookinfo")
  | select(. as $ns | $present | index($ns) | not) | "F namespace \(.) does not exist"' \
  <<<"$NAMESPACES" | judge api.reachable || fail "api.reachable: kubectl get namespaces failed"

# --- pods.healthy[ns]: pods by their state, restarts in the window, Job pods as runs --------
for ns in monitoring linkerd linkerd-viz bookinfo; do
  json=$(live "$ns") || { fail "pods.healthy[$ns]: kubectl failed"; continue; }
  jqc '[.items[] | select(.kind == "CronJob")] as $cronjobs | [.items[] | select(.kind == "Pod")]
    | if length == 0 then "F namespace \($ns) has no pods" else judge_pods($cronjobs; []) end' \
    --arg ns "$ns" <<<"$json" | judge "pods.healthy[$ns]" || fail "pods.healthy[$ns]: jq failed"
done

# --- component.healthy[c]: each workload exists, scaled as git says, available, rolled out,
# its pods judged as pods.healthy; workloads as [kind, name, replicas in git or null]
component() {
  local name=$1 ns=$2 workloads=$3 json
  json=$(live "$ns") || { fail "component.healthy[$name]: kubectl failed"; return; }
  jqc '
    def stalled: [.status.conditions[]? | select(.type == "Progressing" and .status == "False")
      | " (Progressing=False, \(.reason))"][0] // "";
    def replicas: if .kind == "DaemonSet" then [.status.desiredNumberScheduled // 0, .status.numberAvailable // 0]
      elif .kind == "StatefulSet" then [.spec.replicas // 1, .status.availableReplicas // .status.readyReplicas // 0]
      else [.spec.replicas // 1, .status.availableReplicas // 0] end;
    def updated($desired): if .kind == "DaemonSet" then .status.updatedNumberScheduled // 0
      elif .kind == "StatefulSet" and .status.updateRevision == null then $desired
      else .status.updatedReplicas // 0 end;
    .items as $all | [$all[] | select(.kind == "CronJob")] as $cronjobs
    | ($workloads[] | . as [$kind, $name, $git] | "\($kind) \($ns)/\($name)" as $ref
      | first($all[] | select(.kind == $kind and .metadata.name == $name)) // null
      | if . == null then "F \($ref) does not exist"
        elif $kind == "CronJob" then (if .spec.suspend then "F \($ref) is suspended" else empty end)
        else replicas as [$desired, $available]
        | if $git != null and $desired != $git then "F \($ref) is scaled to \($desired) replicas, git says \($git)"
          elif $kind == "DaemonSet" and $desired == 0 then "F \($ref) schedules no pods"
          elif $available < $desired then "F \($ref): \($available)/\($desired) replicas available"
          elif (.status.observedGeneration // 0) < (.metadata.generation // 0) then "F \($ref): generation \(.metadata.generation) not yet observed\(stalled)"
          elif updated($desired) < $desired then "F \($ref): rollout incomplete, \(updated($desired))/\($desired) replicas updated\(stalled)"
          elif $kind == "Deployment" and (.status.replicas // 0) > $desired then "F \($ref): rollout incomplete, old replicas still running\(stalled)"
          elif stalled != "" then "F \($ref): rollout stalled\(stalled)"
          else empty end end),
      ([$all[] | select(.kind == "Pod") | workload as $w | select($w != null and ($workloads
        | any(.[1] as $n | .[0] == $w[0] and $n == $w[1]
              or (.[0] == "CronJob" and $w[0] == "Job" and ($w[1] | startswith($n + "-"))))))]
       | judge_pods($cronjobs; []))' \
    --arg ns "$ns" --argjson workloads "$workloads" <<<"$json" | judge "component.healthy[$name]" \
    || fail "component.healthy[$name]: jq failed"
}
component kube-prometheus-stack monitoring '[["Deployment", "prometheus-kube-prometheus-operator", null],
  ["Deployment", "prometheus-grafana", null], ["Deployment", "prometheus-kube-state-metrics", null],
  ["DaemonSet", "prometheus-prometheus-node-exporter", null],
  ["StatefulSet", "prometheus-prometheus-kube-prometheus-prometheus", null],
  ["StatefulSet", "alertmanager-prometheus-kube-prometheus-alertmanager", null]]'
component linkerd-control-plane linkerd '[["Deployment", "linkerd-identity", 1],
  ["Deployment", "linkerd-destination", 1], ["Deployment", "linkerd-proxy-injector", 1],
  ["CronJob", "linkerd-heartbeat", null]]'
component linkerd-viz linkerd-viz '[["Deployment", "metrics-api", null], ["Deployment", "tap", null],
  ["Deployment", "tap-injector", null], ["Deployment", "web", null]]'
component bookinfo bookinfo '[["Deployment", "productpage-v1", 1], ["Deployment", "details-v1", 1],
  ["Deployment", "ratings-v1", 1], ["Deployment", "reviews-v1", 1], ["Deployment", "reviews-v2", 1],
  ["Deployment", "reviews-v3", 1]]'
component traffic-generator bookinfo '[["Deployment", "traffic-generator", 1]]'

# --- mesh.injection[bookinfo] ----------------------------------------------------------------
[ "$(jq -r '.items[] | select(.metadata.name == "bookinfo")
  | .metadata.annotations["linkerd.io/inject"]' <<<"$NAMESPACES")" = enabled ] \
  || fail "mesh.injection[bookinfo]"

# --- mesh.proxies[bookinfo]: every (non-completed) pod has a ready linkerd-proxy and its version
bad=$(live bookinfo | jq -r '
  .items[] | select(.kind == "Pod" and (.status.phase | IN("Succeeded", "Failed") | not)) | select(
    ([(.status.containerStatuses // []), (.status.initContainerStatuses // [])
      | .[] | select(.name == "linkerd-proxy" and .ready)] | length) == 0
    or (.metadata.annotations["linkerd.io/proxy-version"] // "") == "")
  | .metadata.name' | tr '\n' ' ') || bad="(kubectl failed)"
[ -z "$bad" ] || fail "mesh.proxies[bookinfo]: $bad"

# --- endpoint[productpage]: 3 answers (one per reviews version), each judged ---------------
page=$(mktemp)
for answer in 1 2 3; do
  code=$(curl -s -o "$page" -w '%{http_code}' --max-time 10 "$PRODUCTPAGE_URL/productpage")
  size=$(wc -c <"$page")
  { [ "$code" = 200 ] && grep -q '<title>Simple Bookstore App</title>' "$page" \
    && grep -q 'Book Details' "$page" && grep -q 'Book Reviews' "$page" \
    && ! grep -q 'Error fetching product details' "$page" \
    && ! grep -q 'Error fetching product reviews' "$page" && [ "$size" -ge 9000 ] \
    && [ "$size" -le 15500 ]; } || fail "endpoint[productpage]: answer $answer/3: HTTP $code, $size bytes"
done
rm -f "$page"

# --- endpoint[grafana-login]: / answers 302 to /login ----------------------------------------
read -r code location < <(curl -s -o /dev/null -w '%{http_code} %header{location}\n' \
  --max-time 10 "$GRAFANA_URL/")
[ "$code" = 302 ] && [[ "$location" == /login* ]] || fail "endpoint[grafana-login]: $code $location"

# --- endpoint[grafana-health]: database ok ---------------------------------------------------
[ "$(curl -s --max-time 10 "$GRAFANA_URL/api/health" | jq -r .database)" = ok ] \
  || fail "endpoint[grafana-health]"

# --- prometheus.scrape-job[job]: enough targets, all up --------------------------------------
for job_min in linkerd-proxy:7 linkerd-controller:3; do
  job=${job_min%%:*} min=${job_min##*:}
  jq -r --arg job "$job" --argjson min "$min" '
    [.data.activeTargets[] | select(.labels.job == $job)]
    | (.[] | select(.health != "up") | "F \(.health) target \(.scrapeUrl): \(.lastError)"),
      (if length == 0 then "F no active target has job=\($job)"
       elif ([.[] | select(.health == "up")] | length) < $min then "F fewer than \($min) targets up"
       else empty end)' <<<"$TARGETS" | judge "prometheus.scrape-job[$job]" \
    || fail "prometheus.scrape-job[$job]: kubectl or jq failed"
done

# --- prometheus.query[bookinfo-meshed-requests]: at least one series -------------------------
prom_query 'sum by (namespace) (request_total{namespace="bookinfo", direction="inbound", tls="true"})' \
  | jq -e '.data.result | length >= 1' >/dev/null \
  || fail "prometheus.query[bookinfo-meshed-requests]"

# --- identity.*: Linkerd's trust anchor and issuer (ConfigMaps only, never Secrets) ---------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# certificate problems of one PEM certificate: $1 file, $2 what it is, $3 "issuer" (P-256 only)
cert_problems() {
  local text name
  text=$(openssl x509 -in "$1" -noout -text -subject -nameopt multiline 2>&1) \
    || { echo "F $2 does not parse"; return; }
  name=$(openssl x509 -in "$1" -noout -subject -serial | tr '\n' ' ')
  if grep -q 'ASN1 OID: prime256v1' <<<"$text"; then
    grep -q 'Signature Algorithm: \(ecdsa-with-SHA256\|sha256WithRSAEncryption\)' <<<"$text" \
      || echo "F $2 $name is not signed with SHA-256"
  elif [ "${3:-}" != issuer ] && grep -q 'Public Key Algorithm: rsaEncryption' <<<"$text" \
    && grep -q 'Public-Key: (\(2048\|4096\) bit)' <<<"$text"; then
    grep -q 'Signature Algorithm: sha256WithRSAEncryption' <<<"$text" \
      || echo "F $2 $name is not signed with SHA256-RSA"
  else
    echo "F $2 $name uses a key Linkerd does not accept"
  fi
  local start
  start=$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)
  [ "$(date -d "$start" +%s)" -le "$(date +%s)" ] || echo "F $2 $name is not valid before $start"
  if ! openssl x509 -in "$1" -noout -checkend 0 >/dev/null; then
    echo "F $2 $name expired ($(openssl x509 -in "$1" -noout -enddate))"
  elif ! openssl x509 -in "$1" -noout -checkend $((MIN_DAYS * 86400)) >/dev/null; then
    echo "W $2 $name expires within $MIN_DAYS days ($(openssl x509 -in "$1" -noout -enddate))"
  fi
}
# split a PEM bundle into $tmp/$1-N.pem
split_bundle() {
  awk -v out="$tmp/$1" '/-----BEGIN CERTIFICATE-----/ {n++} n {print > (out "-" n ".pem")}'
}

# identity.trust-anchor: every anchor of the bundle parses, is accepted, valid for 60 days
CONFIGMAPS=$(live linkerd | jq '[.items[] | select(.kind == "ConfigMap")]') || CONFIGMAPS='[]'
configmap() { jq -r --arg name "$1" --arg key "$2" '.[] | select(.metadata.name == $name)
  | .data[$key] // ""' <<<"$CONFIGMAPS"; }
configmap linkerd-identity-trust-roots ca-bundle.crt >"$tmp/bundle.pem"
if ! grep -q 'BEGIN CERTIFICATE' "$tmp/bundle.pem"; then
  fail "identity.trust-anchor: ConfigMap linkerd/linkerd-identity-trust-roots has no ca-bundle.crt"
else
  split_bundle anchor <"$tmp/bundle.pem"
  for cert in "$tmp"/anchor-*.pem; do cert_problems "$cert" "trust anchor"; done \
    | judge identity.trust-anchor
fi

# identity.issuer: linkerd-config's values carry identity.issuer.tls.crtPEM (scheme
# linkerd.io/tls); it is accepted, valid for 60 days and signed by an anchor
configmap linkerd-config values >"$tmp/values.yml"
if grep -q '^    scheme: ' "$tmp/values.yml" && ! grep -q '^    scheme: linkerd.io/tls' "$tmp/values.yml"; then
  echo "identity.issuer: not checked: an external issuer (its certificate is in a Secret)"
else
  # the PEM block after `crtPEM:`, whether a quoted scalar or a literal block
  sed -n '/^ *crtPEM:/,/-----END CERTIFICATE-----/p' "$tmp/values.yml" \
    | sed -e 's/^ *//' -e 's/^crtPEM: *//' -e 's/^[|>][-+]*$//' -e "s/^['\"]//" -e '/^$/d' \
      >"$tmp/issuer.pem"
  if ! grep -q 'BEGIN CERTIFICATE' "$tmp/issuer.pem"; then
    warn "identity.issuer: linkerd-config values carry no identity.issuer.tls.crtPEM"
  else
    {
      cert_problems "$tmp/issuer.pem" issuer issuer
      openssl verify -no_check_time -CAfile "$tmp/bundle.pem" "$tmp/issuer.pem" >/dev/null 2>&1 \
        || echo "F the issuer is not signed by any anchor of linkerd-identity-trust-roots"
    } | judge identity.issuer
  fi
fi

# identity.proxies-trust[bookinfo]: every meshed pod's proxy holds the current bundle
live bookinfo | jq -r --rawfile bundle "$tmp/bundle.pem" '
  def trimmed: sub("^\\s+"; "") | sub("\\s+$"; "");
  .items[] | select(.kind == "Pod" and .status.phase != "Succeeded" and .status.phase != "Failed")
  | . as $pod | [(.spec.containers // [])[], (.spec.initContainers // [])[] | select(.name == "linkerd-proxy")][0]
  | select(. != null)
  | [.env[]? | select(.name == "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS")][0] as $env
  | if $env == null then "F pod \($pod.metadata.name): its proxy has no trust anchors"
    elif $env.valueFrom.configMapKeyRef then
      (select($env.valueFrom.configMapKeyRef | [.name, .key] != ["linkerd-identity-trust-roots", "ca-bundle.crt"])
       | "F pod \($pod.metadata.name) takes its anchors from another ConfigMap")
    elif ($env.value | trimmed) != ($bundle | trimmed) then "F pod \($pod.metadata.name) holds an old trust anchor; restart it"
    else empty end' | judge "identity.proxies-trust[bookinfo]" \
  || fail "identity.proxies-trust[bookinfo]: kubectl or jq failed"

# identity.proxy-versions[bookinfo]: every proxy runs the control plane's version (a warning)
version=$(sed -n 's/^linkerdVersion: *//p' "$tmp/values.yml")
live bookinfo | jq -r --arg version "$version" '
  .items[] | select(.kind == "Pod" and .status.phase != "Succeeded" and .status.phase != "Failed")
  | select([(.spec.containers // [])[], (.spec.initContainers // [])[] | select(.name == "linkerd-proxy")] | length > 0)
  | (.metadata.annotations["linkerd.io/proxy-version"] // "(none)") as $v
  | select($v != $version) | "W pod \(.metadata.name) runs proxy \($v), the control plane \($version)"' \
  | judge "identity.proxy-versions[bookinfo]" || fail "identity.proxy-versions[bookinfo]: kubectl or jq failed"

# --- alerting.* ----------------------------------------------------------------------------
# alerting.watchdog: Watchdog fires in Prometheus and Alertmanager holds it
jq -e '[.data.alerts[] | select(.labels.alertname == "Watchdog" and .state == "firing")]
  | length > 0' <<<"$ALERTS" >/dev/null || fail "alerting.watchdog: Watchdog is not firing in Prometheus"
jq -e '[.[] | select(.labels.alertname == "Watchdog")] | length > 0' <<<"$RECEIVED" >/dev/null \
  || fail "alerting.watchdog: Alertmanager holds no Watchdog"

# alerting.firing: no alert at or above critical fires (stack.yml alerting.allowed: none)
jq -r '["none", "info", "warning", "critical"] as $order
  | .data.alerts[] | select(.state == "firing")
  | (.labels.severity // "warning") as $s | select((($order | index($s)) // 2) >= 3)
  | "F alert \(.labels.alertname) (severity \(.labels.severity)) firing since \(.activeAt)"' \
  <<<"$ALERTS" | judge alerting.firing || fail "alerting.firing: kubectl or jq failed"

# alerting.config-reload: both *_config_last_reload_successful are 1 (a missing series warns)
for series in prometheus_config_last_reload_successful alertmanager_config_last_reload_successful; do
  prom_query "$series" | jq -r --arg q "$series" '.data.result
    | if length == 0 then "W no \($q) series"
      else .[] | select(.value[1] != "1") | "F \(.metric.job // "?"): \($q) = \(.value[1])" end' \
    | judge alerting.config-reload || fail "alerting.config-reload: kubectl or jq failed"
done

# alerting.rule-groups: rule groups loaded, no rule with health err
jq -r '.data.groups
  | if length == 0 then "F Prometheus has no rule group loaded"
    else .[] | .name as $g | .rules[] | select(.health == "err")
      | "F rule \(.name) of group \($g): \(.lastError)" end' \
  <<<"$RULES" | judge alerting.rule-groups || fail "alerting.rule-groups: kubectl or jq failed"

# alerting.rejected-resources: prometheus-operator rejected nothing (a missing series warns)
prom_query 'sum by (namespace, controller, resource) (prometheus_operator_managed_resources{state="rejected"})' \
  | jq -r '.data.result | if length == 0 then "W no prometheus_operator_managed_resources series"
    else .[] | select((.value[1] | tonumber) > 0) | "F rejected \(.value[1]) \(.metric.resource)(s)" end' \
  | judge alerting.rejected-resources || fail "alerting.rejected-resources: kubectl or jq failed"

# --- golden.signals[deployment]: `linkerd viz stat deploy -n bookinfo`'s two queries ---------
# grouped finer by the labels of the kubelet's probes (plaintext, no authority, the built-in
# probe route and authorization), which are left out of the request rate and the mTLS share
requests=$(prom_query 'sum(increase(response_total{direction="inbound", namespace="bookinfo"}[1m])) by (namespace, deployment, classification, tls, authority, route_kind, route_name, authz_kind, authz_name)')
latency=$(prom_query 'histogram_quantile(0.95, sum(irate(response_latency_ms_bucket{direction="inbound", namespace="bookinfo"}[1m])) by (le, namespace, deployment))')
for deployment in productpage-v1 details-v1 ratings-v1 reviews-v1 reviews-v2 reviews-v3; do
  jq -rn --argjson requests "$requests" --argjson latency "$latency" --arg d "$deployment" '
    [$requests.data.result[] | select(.metric.deployment == $d)
       | {c: .metric.classification, tls: .metric.tls, n: (.value[1] | tonumber),
          probe: (.metric.tls != "true" and (.metric.authority // "") == ""
                  and .metric.route_kind == "default" and .metric.route_name == "probe"
                  and .metric.authz_kind == "default" and .metric.authz_name == "probe")}
       | select(.n | isnan | not)] as $rows
    | ([$rows[].n] | add // 0) as $all
    | ([$rows[] | select(.c == "success") | .n] | add // 0) as $ok
    | ([$rows[] | select(.probe | not) | .n] | add // 0) as $total
    | ([$rows[] | select(.tls == "true") | .n] | add // 0) as $mtls
    | ([$latency.data.result[] | select(.metric.deployment == $d) | .value[1] | tonumber
        | select(isnan | not)][0]) as $p95
    | if $total <= 0 then "F no inbound requests in the last 1m"
      else (if $ok / $all < 0.99 then "F success rate \($ok / $all) < 0.99" else empty end),
        (if $p95 == null then "W no latency histogram: p95 not judged"
         elif $p95 > 500 then "F p95 \($p95) ms > 500 ms" else empty end),
        (if $total - $mtls > 1e-9 * $total and $d != "productpage-v1" then "F \($total - $mtls) of \($total) responses without mTLS"
         else empty end) end' | judge "golden.signals[$deployment]" \
    || fail "golden.signals[$deployment]: kubectl or jq failed"
done

# --- drift.manifests[c]: each field the manifests set holds on the live object ------------------
# $1 component, $2 namespace, then the manifest files
manifests_drift() {
  local name=$1 ns=$2 git
  shift 2
  git=$(k create --dry-run=client --validate=false -o json "${@/#/--filename=$ROOT/}" | jq -s .) \
    || { fail "drift.manifests[$name]: kubectl create --dry-run failed"; return; }
  [ "$NAMESPACES" != null ] && live "$ns" >/dev/null || { fail "drift.manifests[$name]: kubectl failed"; return; }
  jqc '$git[] | (.metadata.namespace // $ns) as $objns
    | "\(.kind) \(if .kind == "Namespace" then "" else $objns + "/" end)\(.metadata.name)" as $ref
    | . as $want
    | first(($live[0].items + $namespaces.items)[] | select(.kind == $want.kind and .metadata.name == $want.metadata.name
        and (.kind == "Namespace" or .metadata.namespace == $objns))) // null
    | if . == null then "F \($ref) does not exist, git declares it"
      else differences(""; $want | del(.apiVersion, .kind); .) | drift($ref) end' \
    -n --arg ns "$ns" --argjson git "$git" --slurpfile live <(live "$ns") \
    --argjson namespaces "$NAMESPACES" | judge "drift.manifests[$name]" \
    || fail "drift.manifests[$name]: jq failed"
}
manifests_drift kube-prometheus-stack monitoring manifests/observability/linkerd-podmonitors.yml
manifests_drift bookinfo bookinfo manifests/applications/bookinfo-with-linkerd.yml
manifests_drift traffic-generator bookinfo manifests/applications/traffic-generator.yml

# --- drift.helm[c]: what the values and chart version pin holds on the live objects ----------
# what the values files say (the placement on each placed workload, Grafana's NodePort, no PVC
# with storage off) and the images chart-images.yml records for the pinned chart versions
PLACED='{"spec": {"template": {"spec": {"nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
  "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}}}}'
helm_drift() {  # $1 component, $2 namespace, $3 expectations [[kind, name, want]]
  local name=$1 ns=$2
  live "$ns" >/dev/null || { fail "drift.helm[$name]: kubectl failed"; return; }
  jqc '$expected[] | . as [$kind, $name, $want] | "\($kind) \($ns)/\($name)" as $ref
    | if $name == null then $live[0].items[] | select(.kind == $kind) | "F \($kind) \($ns)/\(.metadata.name) exists, the values disable it"
      else first($live[0].items[] | select(.kind == $kind and .metadata.name == $name)) // null
      | if . == null then "F \($ref) does not exist"
        else differences(""; $want; .) | drift($ref) end end' \
    -n --arg ns "$ns" --argjson expected "$3" --slurpfile live <(live "$ns") | judge "drift.helm[$name]" \
    || fail "drift.helm[$name]: jq failed"
}
images() {  # a partial object: containers (and init containers) with their images
  local containers=$1 init=${2:-}
  echo "{\"spec\": {\"template\": {\"spec\": {\"containers\": $containers${init:+, \"initContainers\": $init}}}}}"
}
cronjob() { jq -c '{spec: {jobTemplate: {spec: .spec}}}' <<<"$1"; }
RELOADER=quay.io/prometheus-operator/prometheus-config-reloader:v0.77.2
helm_drift kube-prometheus-stack monitoring "[
  [\"PersistentVolumeClaim\", null, null],
  [\"Service\", \"prometheus-grafana\", {\"spec\": {\"type\": \"NodePort\", \"ports\": [{\"nodePort\": 30300}]}}],
  [\"Deployment\", \"prometheus-kube-prometheus-operator\", $PLACED],
  [\"Deployment\", \"prometheus-grafana\", $PLACED],
  [\"Deployment\", \"prometheus-kube-state-metrics\", $PLACED],
  [\"DaemonSet\", \"prometheus-prometheus-node-exporter\", $(images '[{"name": "node-exporter", "image": "quay.io/prometheus/node-exporter:v1.8.2"}]')],
  [\"Deployment\", \"prometheus-grafana\", $(images '[{"name": "grafana-sc-dashboard", "image": "quay.io/kiwigrid/k8s-sidecar:1.28.0"},
    {"name": "grafana-sc-datasources", "image": "quay.io/kiwigrid/k8s-sidecar:1.28.0"},
    {"name": "grafana", "image": "docker.io/grafana/grafana:11.3.0"}]')],
  [\"Deployment\", \"prometheus-kube-state-metrics\", $(images '[{"name": "kube-state-metrics", "image": "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0"}]')],
  [\"Deployment\", \"prometheus-kube-prometheus-operator\", $(images '[{"name": "kube-prometheus-stack", "image": "quay.io/prometheus-operator/prometheus-operator:v0.77.2"}]')],
  [\"StatefulSet\", \"prometheus-prometheus-kube-prometheus-prometheus\", $(images "[{\"name\": \"prometheus\", \"image\": \"quay.io/prometheus/prometheus:v2.55.0\"},
    {\"name\": \"config-reloader\", \"image\": \"$RELOADER\"}]" "[{\"name\": \"init-config-reloader\", \"image\": \"$RELOADER\"}]")],
  [\"StatefulSet\", \"alertmanager-prometheus-kube-prometheus-alertmanager\", $(images "[{\"name\": \"alertmanager\", \"image\": \"quay.io/prometheus/alertmanager:v0.27.0\"},
    {\"name\": \"config-reloader\", \"image\": \"$RELOADER\"}]" "[{\"name\": \"init-config-reloader\", \"image\": \"$RELOADER\"}]")]]"
CONTROLLER=cr.l5d.io/linkerd/controller:stable-2.14.10
helm_drift linkerd-control-plane linkerd "[
  [\"Deployment\", \"linkerd-identity\", $PLACED], [\"Deployment\", \"linkerd-destination\", $PLACED],
  [\"Deployment\", \"linkerd-proxy-injector\", $PLACED], [\"CronJob\", \"linkerd-heartbeat\", $(cronjob "$PLACED")],
  [\"Deployment\", \"linkerd-destination\", $(images "[{\"name\": \"destination\", \"image\": \"$CONTROLLER\"},
    {\"name\": \"sp-validator\", \"image\": \"$CONTROLLER\"},
    {\"name\": \"policy\", \"image\": \"cr.l5d.io/linkerd/policy-controller:stable-2.14.10\"}]")],
  [\"Deployment\", \"linkerd-identity\", $(images "[{\"name\": \"identity\", \"image\": \"$CONTROLLER\"}]")],
  [\"Deployment\", \"linkerd-proxy-injector\", $(images "[{\"name\": \"proxy-injector\", \"image\": \"$CONTROLLER\"}]")],
  [\"CronJob\", \"linkerd-heartbeat\", $(cronjob "$(images "[{\"name\": \"heartbeat\", \"image\": \"$CONTROLLER\"}]")")]]"
helm_drift linkerd-viz linkerd-viz "[
  [\"Deployment\", \"tap\", $PLACED], [\"Deployment\", \"tap-injector\", $PLACED],
  [\"Deployment\", \"web\", $PLACED], [\"Deployment\", \"metrics-api\", $PLACED],
  [\"Deployment\", \"metrics-api\", $(images '[{"name": "metrics-api", "image": "cr.l5d.io/linkerd/metrics-api:stable-2.14.10"}]')],
  [\"Deployment\", \"tap-injector\", $(images '[{"name": "tap-injector", "image": "cr.l5d.io/linkerd/tap:stable-2.14.10"}]')],
  [\"Deployment\", \"tap\", $(images '[{"name": "tap", "image": "cr.l5d.io/linkerd/tap:stable-2.14.10"}]')],
  [\"Deployment\", \"web\", $(images '[{"name": "web", "image": "cr.l5d.io/linkerd/web:stable-2.14.10"}]')]]"

[ "$failures" -eq 0 ] && echo "all checks passed" || echo "$failures check(s) failed"
[ "$failures" -eq 0 ]
