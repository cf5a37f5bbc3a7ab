{{/* Names, labels and the shared pieces of the leaseguard chart. */}}

{{- define "leaseguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or the release name alone when it already holds the chart name. */}}
{{- define "leaseguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "leaseguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select the webhook pods (never the helm test pod: component differs). */}}
{{- define "leaseguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leaseguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "leaseguard.commonLabels" -}}
helm.sh/chart: {{ include "leaseguard.chart" . }}
app.kubernetes.io/name: {{ include "leaseguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: leaseguard
{{- end }}

{{- define "leaseguard.labels" -}}
{{ include "leaseguard.commonLabels" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{/* The lease-health observer (leaseHealth.enabled): its own component, so the webhook's
     Service, PDB and spread constraints never count it. */}}
{{- define "leaseguard.leaseHealth.fullname" -}}
{{- printf "%s-lease-health" (include "leaseguard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "leaseguard.leaseHealth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leaseguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: lease-health
{{- end }}

{{- define "leaseguard.leaseHealth.labels" -}}
{{ include "leaseguard.commonLabels" . }}
app.kubernetes.io/component: lease-health
{{- end }}

{{/* The PrometheusRule and the dashboard ConfigMap. */}}
{{- define "leaseguard.monitoringLabels" -}}
{{ include "leaseguard.commonLabels" . }}
app.kubernetes.io/component: monitoring
{{- end }}

{{- define "leaseguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "leaseguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "leaseguard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Service's DNS name, which the serving certificate must cover. */}}
{{- define "leaseguard.serviceHost" -}}
{{- printf "%s.%s.svc" (include "leaseguard.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key (and ca.crt, except perhaps in secret mode); in
     controller mode the pods' own, with their CA key. */}}
{{- define "leaseguard.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "secret" }}
{{- .Values.certificates.secret.name }}
{{- else if eq .Values.certificates.mode "controller" }}
{{- .Values.certificates.controller.secretName | default (printf "%s-certs" (include "leaseguard.fullname" .)) }}
{{- else }}
{{- printf "%s-tls" (include "leaseguard.fullname" .) }}
{{- end }}
{{- end }}

{{/* Paths inside the container: directories are mounted whole (never subPath), so updates of
     the ConfigMap and Secrets reach running pods. */}}
{{- define "leaseguard.tlsDir" -}}/etc/leaseguard/tls{{- end }}
{{- define "leaseguard.policyDir" -}}/etc/leaseguard/policy{{- end }}
{{- define "leaseguard.clientCADir" -}}/etc/leaseguard/client-ca{{- end }}

{{/*
"generate" mode: the CA and serving certificate as base64 strings {"ca.crt","tls.crt","tls.key"}.
Kept from the existing Secret when there is one (upgrades keep the caBundle the API server
trusts); otherwise made once per render and remembered, so the Secret, the webhook's caBundle
and the Deployment's checksum all see the same certificate.
*/}}
{{- define "leaseguard.generatedCerts" -}}
{{- $memo := "__leaseguardGeneratedCerts" }}
{{- if not (hasKey .Values $memo) }}
{{- $secretName := include "leaseguard.tlsSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- $data := dict }}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") (hasKey $existing.data "tls.crt") (hasKey $existing.data "tls.key") }}
{{- $data = dict "ca.crt" (index $existing.data "ca.crt") "tls.crt" (index $existing.data "tls.crt") "tls.key" (index $existing.data "tls.key") }}
{{- else }}
{{- $fullname := include "leaseguard.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $days := int .Values.certificates.generate.days }}
{{- $ca := genCA (printf "%s-ca" $fullname) $days }}
{{- $dns := list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.cluster.local" $fullname $ns) }}
{{- $cert := genSignedCert (printf "%s.%s.svc" $fullname $ns) nil $dns $days $ca }}
{{- $data = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) }}
{{- end }}
{{- $_ := set .Values $memo $data }}
{{- end }}
{{- index .Values $memo | toJson }}
{{- end }}

{{/* The webhook's caBundle (base64 PEM), or nothing in cert-manager mode (cainjector fills it)
     and controller mode (the pods fill it). */}}
{{- define "leaseguard.caBundle" -}}
{{- if eq .Values.certificates.mode "generate" }}
{{- index (include "leaseguard.generatedCerts" . | fromJson) "ca.crt" }}
{{- else if eq .Values.certificates.mode "secret" }}
{{- .Values.certificates.secret.caBundle | nospace }}
{{- end }}
{{- end }}

{{/* The DNS names of the Service, which the serving certificate must cover. The first becomes
     the certificate's CN, which may not pass 64 characters: <fullname> (at most 63) is. */}}
{{- define "leaseguard.serviceNames" -}}
{{- $fullname := include "leaseguard.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.cluster.local" $fullname $ns) | toJson }}
{{- end }}

{{/* "true" when the webhook pods call the Kubernetes API: the certificate controller (its
     Secret and webhook configuration), Events, and the lease watch of leaseWatch and fencing. */}}
{{- define "leaseguard.usesApi" -}}
{{- if or (eq .Values.certificates.mode "controller") .Values.events.enabled .Values.fencing.enabled .Values.leaseWatch.enabled }}true{{ end }}
{{- end }}

{{/* "true" when the webhook pods list and watch every Lease (leaseWatch, or fencing, which
     implies it). */}}
{{- define "leaseguard.watchesLeases" -}}
{{- if or .Values.fencing.enabled .Values.leaseWatch.enabled }}true{{ end }}
{{- end }}

{{/* The fence's matchConditions: never what the webhook itself needs (gatekeeper#3829: a
     webhook on "all resources" that matched the leases its own cluster needed deadlocked it).
     Total: request.resource is always set. */}}
{{- define "leaseguard.fenceConditions" -}}
- name: not-leases
  expression: >-
    !(request.resource.group == 'coordination.k8s.io' && request.resource.resource == 'leases')
- name: not-events
  expression: >-
    !(request.resource.resource == 'events' &&
    (request.resource.group == '' || request.resource.group == 'events.k8s.io'))
- name: not-webhook-configurations
  expression: request.resource.group != 'admissionregistration.k8s.io'
{{- end }}

{{/* controller mode: serve's certificate controller flags (a YAML list). */}}
{{- define "leaseguard.controllerArgs" -}}
{{- $c := .Values.certificates.controller }}
- --cert-secret={{ .Release.Namespace }}/{{ include "leaseguard.tlsSecretName" . }}
- --webhook-configuration={{ include "leaseguard.fullname" . }}
- --cert-dns-names={{ include "leaseguard.serviceNames" . | fromJsonArray | join "," }}
- --cert-validity={{ $c.validity }}
- --cert-renew-before={{ $c.renewBefore }}
- --cert-overlap={{ $c.overlap }}
- --cert-sync-period={{ $c.syncPeriod }}
{{- end }}

{{/* A Go duration of h, m, s and ms parts ("1h30m", "500ms") in milliseconds. */}}
{{- define "leaseguard.durationMs" -}}
{{- $ms := 0 }}
{{- range regexFindAll "[0-9]+(ms|h|m|s)" (toString .) -1 }}
{{- $n := int64 (regexFind "^[0-9]+" .) }}
{{- $unit := regexFind "(ms|h|m|s)$" . }}
{{- $ms = add $ms (mul $n (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit)) }}
{{- end }}
{{- $ms }}
{{- end }}

{{/* The mode `helm test` expects: selftest.expect, else mode, else the policy's defaultMode. */}}
{{- define "leaseguard.expectMode" -}}
{{- $policyMode := "" }}
{{- if .Values.policy }}{{ $policyMode = .Values.policy.defaultMode | default "" }}{{ end }}
{{- $m := .Values.selftest.expect | default .Values.mode | default $policyMode | default "enforce" }}
{{- if not (has $m (list "enforce" "warn" "audit")) }}
{{- fail (printf "selftest.expect: the policy's defaultMode is %q, which selftest cannot check; set selftest.expect to enforce, warn or audit, or selftest.enabled=false" $m) }}
{{- end }}
{{- $m }}
{{- end }}

{{/* HOST:PORT of a listener on server.bindAddress: IPv6 addresses in brackets. Takes
     (list $ port). */}}
{{- define "leaseguard.listenAddress" -}}
{{- $addr := toString (index . 0).Values.server.bindAddress }}
{{- if contains ":" $addr }}[{{ $addr }}]{{ else }}{{ $addr }}{{ end }}:{{ int (index . 1) }}
{{- end }}

{{/* The pod's grace period: the shutdown delay, the drain (bounded by the connection timeout)
     and 5 s of margin. */}}
{{- define "leaseguard.terminationGracePeriodSeconds" -}}
{{- add (int .Values.server.shutdownDelaySeconds) (int .Values.server.connectionTimeout) 5 }}
{{- end }}

{{/*
Stops the render with a message. `helm lint` only logs a fail and renders on, so what follows
the fail is reached under lint alone: an object named by the message, which lint reports
("object name does not conform …: \"<message>\"", a warning: `lint --strict` fails).
*/}}
{{- define "leaseguard.fail" -}}
{{- fail . }}
---
# helm lint only: the render above failed with this message.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ . | quote }}
---
{{ end }}

{{/* The namespaces Kubernetes makes itself. The webhook never sees its release namespace, so
     a release in one of them would leave that namespace's leases unguarded (kube-system:
     kube-controller-manager's and kube-scheduler's). */}}
{{- define "leaseguard.reservedNamespaces" -}}
{{- list "default" "kube-system" "kube-public" "kube-node-lease" | toJson }}
{{- end }}

{{/* Checks that the schema cannot express (or that hold even with --skip-schema-validation). */}}
{{- define "leaseguard.validate" -}}
{{- $reserved := include "leaseguard.reservedNamespaces" . | fromJsonArray }}
{{- if has .Release.Namespace $reserved }}
{{- include "leaseguard.fail" (printf "leaseguard must be installed into its own namespace, not %q (the webhook never gates the leases of its own namespace): helm install leaseguard CHART -n leaseguard-system --create-namespace; helm lint and helm template need -n leaseguard-system too" .Release.Namespace) }}
{{- end }}
{{- $c := .Values.certificates }}
{{- if not (has $c.mode (list "controller" "generate" "cert-manager" "secret")) }}
{{- include "leaseguard.fail" (printf "certificates.mode must be controller, generate, cert-manager or secret, not %q" $c.mode) }}
{{- end }}
{{- if eq $c.mode "controller" }}
{{- $d := dict }}
{{- range $k := list "validity" "renewBefore" "overlap" "syncPeriod" }}
{{- $v := toString (get $c.controller $k) }}
{{- if not (regexMatch "^([0-9]+(ms|h|m|s))+$" $v) }}
{{- include "leaseguard.fail" (printf "certificates.controller.%s must be a duration of h, m, s and ms (e.g. 720h), not %q" $k $v) }}
{{- end }}
{{- $_ := set $d $k (int64 (include "leaseguard.durationMs" $v)) }}
{{- end }}
{{- if or (le $d.validity $d.renewBefore) (gt (mul 2 $d.overlap) $d.renewBefore) (gt (mul 2 $d.syncPeriod) $d.overlap) (lt $d.validity 10000) (lt $d.syncPeriod 100) }}
{{- include "leaseguard.fail" (printf "certificates.controller: need validity (%s, at least 10s) > renewBefore (%s) >= 2 x overlap (%s), and overlap >= 2 x syncPeriod (%s, at least 100ms): a rotation must end before the CA expires, and every pod must see each step within an overlap" $c.controller.validity $c.controller.renewBefore $c.controller.overlap $c.controller.syncPeriod) }}
{{- end }}
{{- end }}
{{- if eq $c.mode "secret" }}
{{- if not $c.secret.name }}
{{- include "leaseguard.fail" "certificates.secret.name is required when certificates.mode is \"secret\": the name of an existing kubernetes.io/tls Secret in the release namespace" }}
{{- end }}
{{- if not $c.secret.caBundle }}
{{- include "leaseguard.fail" "certificates.secret.caBundle is required when certificates.mode is \"secret\": base64 of the PEM CA certificate that signed the serving certificate" }}
{{- end }}
{{- if not (contains "-----BEGIN CERTIFICATE-----" ($c.secret.caBundle | nospace | b64dec)) }}
{{- include "leaseguard.fail" "certificates.secret.caBundle must be base64 of a PEM CA certificate (-----BEGIN CERTIFICATE-----)" }}
{{- end }}
{{- end }}
{{- if .Values.mtls.enabled }}
{{- $ca := .Values.mtls.clientCA }}
{{- if and $ca.secretName $ca.configMapName }}
{{- include "leaseguard.fail" "mtls.clientCA: give secretName or configMapName, not both" }}
{{- end }}
{{- if not (or $ca.secretName $ca.configMapName) }}
{{- include "leaseguard.fail" "mtls.clientCA.secretName or mtls.clientCA.configMapName is required when mtls.enabled is true: where the CA of the API server's client certificate is" }}
{{- end }}
{{- end }}
{{- if not (has .Values.webhook.failurePolicy (list "Ignore" "Fail")) }}
{{- include "leaseguard.fail" (printf "webhook.failurePolicy must be Ignore or Fail, not %q" .Values.webhook.failurePolicy) }}
{{- end }}
{{- $t := int .Values.webhook.timeoutSeconds }}
{{- if or (lt $t 1) (gt $t 30) }}
{{- include "leaseguard.fail" (printf "webhook.timeoutSeconds must be 1..30, not %d" $t) }}
{{- end }}
{{- if .Values.leaseHealth.enabled }}
{{- $p := int .Values.leaseHealth.port }}
{{- if or (lt $p 1) (gt $p 65535) }}
{{- include "leaseguard.fail" (printf "leaseHealth.port must be 1..65535, not %d" $p) }}
{{- end }}
{{- $secs := 0 }}
{{- range regexFindAll "[0-9]+[hms]" (toString .Values.leaseHealth.watchTimeout) -1 }}
{{- $n := int64 (regexFind "[0-9]+" .) }}
{{- $secs = add $secs (mul $n (ternary 3600 (ternary 60 1 (hasSuffix "m" .)) (hasSuffix "h" .))) }}
{{- end }}
{{- if or (lt (int64 $secs) 1) (gt (int64 $secs) 86400) }}
{{- include "leaseguard.fail" (printf "leaseHealth.watchTimeout must be 1s..24h (h, m and s), not %q" (toString .Values.leaseHealth.watchTimeout)) }}
{{- end }}
{{- end }}
{{- if and .Values.fencing.enabled (eq .Values.fencing.name .Values.webhook.name) }}
{{- include "leaseguard.fail" (printf "fencing.name %q is webhook.name: the two webhooks of one configuration need names of their own" .Values.fencing.name) }}
{{- end }}
{{- if .Values.leaseHealth.policyReports.enabled }}
{{- $ttl := toString .Values.leaseHealth.policyReports.ttl }}
{{- $ms := int64 (include "leaseguard.durationMs" $ttl) }}
{{- if or (not (regexMatch "^([0-9]+(h|m|s))+$" $ttl)) (lt $ms 1000) (gt $ms 7776000000) }}
{{- include "leaseguard.fail" (printf "leaseHealth.policyReports.ttl must be 1s..2160h (h, m and s), not %q" $ttl) }}
{{- end }}
{{- if not .Values.leaseHealth.enabled }}
{{- include "leaseguard.fail" "leaseHealth.policyReports.enabled needs leaseHealth.enabled: the lease-health observer writes the reports" }}
{{- end }}
{{- end }}
{{- if .Values.grafanaDashboard.enabled }}
{{- if not .Values.grafanaDashboard.labelKey }}
{{- include "leaseguard.fail" "grafanaDashboard.labelKey must not be empty: the Grafana sidecar finds the ConfigMap by that label" }}
{{- end }}
{{- end }}
{{- if .Values.prometheusRule.enabled }}
{{- $alerts := list "LeaseguardViolations" "LeaseguardDenials" "LeaseguardErrors" "LeaseFlappingLeader" "LeaseStuckLeader" "LeaseguardCertificateExpiry" "LeaseguardAbsent" "LeaseHealthAbsent" }}
{{- range .Values.prometheusRule.disabled }}
{{- if not (has . $alerts) }}
{{- include "leaseguard.fail" (printf "prometheusRule.disabled: no alert is named %q (the alerts: %s)" . (join ", " $alerts)) }}
{{- end }}
{{- end }}
{{- if hasKey .Values.prometheusRule.alertLabels "severity" }}
{{- include "leaseguard.fail" "prometheusRule.alertLabels must not set severity: each alert's is prometheusRule.<alert>.severity" }}
{{- end }}
{{- end }}
{{- $ports := list (int .Values.server.securePort) (int .Values.probes.port) (int .Values.metrics.port) }}
{{- if ne (len ($ports | uniq)) 3 }}
{{- include "leaseguard.fail" (printf "server.securePort, probes.port and metrics.port must differ, not %v" $ports) }}
{{- end }}
{{- if lt (int .Values.replicaCount) 1 }}
{{- include "leaseguard.fail" "replicaCount must be at least 1" }}
{{- end }}
{{- if and .Values.selftest.enabled (not (has .Release.Namespace $reserved)) }}
{{- if eq .Values.selftest.namespace .Release.Namespace }}
{{- include "leaseguard.fail" (printf "selftest.namespace must not be the release namespace %q: the webhook never sees leases there, so the self-test would check nothing (use e.g. \"default\")" .Release.Namespace) }}
{{- end }}
{{- if has .Values.selftest.namespace .Values.webhook.excludedNamespaces }}
{{- include "leaseguard.fail" (printf "selftest.namespace %q is in webhook.excludedNamespaces: the webhook never sees leases there" .Values.selftest.namespace) }}
{{- end }}
{{- end }}
{{- include "leaseguard.validateFit" . }}
{{- end }}
