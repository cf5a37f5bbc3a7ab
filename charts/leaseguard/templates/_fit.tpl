{{/* What fits the chart to a cluster: pod placement, security contexts, host network, extra
     args/env/volumes, network policies, the webhook's matchConditions and annotations. */}}

{{/* The serve flags that chart values render: extraArgs may not repeat them. */}}
{{- define "leaseguard.valueFlags" -}}
{{- list "--secure-port" "--bind-address" "--tls-cert-file" "--tls-private-key-file" "--client-ca-file"
  "--tls-min-version" "--tls-cipher-suites" "--health-probe-bind-address" "--metrics-bind-address"
  "--shutdown-delay-duration" "--policy-file" "--mode" "--log-level" "--max-request-bytes"
  "--max-connections" "--connection-timeout" "--threads" "--policy-check-interval"
  "--metrics-lease-label" "--events" "--event-queue-size" "--lease-memory-size" "--cert-secret"
  "--webhook-configuration" "--cert-dns-names" "--cert-validity" "--cert-renew-before"
  "--cert-overlap" "--cert-sync-period" "--watch-leases" "--fencing" "--fencing-unknown" | toJson }}
{{- end }}

{{/* Ports of the node's own components, which a hostNetwork pod must not take, as
     {"port": "owner"}. */}}
{{- define "leaseguard.nodePorts" -}}
{{- dict "10250" "the kubelet" "10248" "the kubelet (healthz)" "10255" "the kubelet (read-only)"
  "10249" "kube-proxy (metrics)" "10256" "kube-proxy (healthz)" "10257" "kube-controller-manager"
  "10259" "kube-scheduler" "6443" "kube-apiserver" "2379" "etcd" "2380" "etcd (peers)"
  "2381" "etcd (metrics)" | toJson }}
{{- end }}

{{/* The names of the matchConditions the chart adds (webhook.yaml), in order. */}}
{{- define "leaseguard.chartConditionNames" -}}
{{- $n := list }}
{{- if not .Values.webhook.nodeLeases }}{{ $n = append $n "skip-node-heartbeats" }}{{ end }}
{{- if not .Values.webhook.metadataOnlyUpdates }}{{ $n = append $n "skip-metadata-only-updates" }}{{ end }}
{{- $n | toJson }}
{{- end }}

{{/* The PriorityClasses that clusters may limit to kube-system (priorityQuota). */}}
{{- define "leaseguard.criticalPriority" -}}
{{- if has .Values.priorityClassName (list "system-cluster-critical" "system-node-critical") }}true{{ end }}
{{- end }}

{{/* Chart volumes of the webhook pods, which extraVolumes must not reuse. */}}
{{- define "leaseguard.chartVolumes" -}}
{{- list "tls" "policy" "client-ca" | toJson }}
{{- end }}

{{/* The checks of these values (called from leaseguard.validate). */}}
{{- define "leaseguard.validateFit" -}}
{{- $valueFlags := include "leaseguard.valueFlags" . | fromJsonArray }}
{{- range .Values.extraArgs }}
{{- $flag := regexReplaceAll "=.*$" (toString .) "" }}
{{- if not (regexMatch "^--[a-z0-9][-a-z0-9]*$" $flag) }}
{{- include "leaseguard.fail" (printf "extraArgs: %q is not a flag: give each as --flag=value (or --switch)" (toString .)) }}
{{- else if has $flag $valueFlags }}
{{- include "leaseguard.fail" (printf "extraArgs: %s has a chart value (values.yaml names the flag of each); set that value instead" $flag) }}
{{- end }}
{{- end }}
{{- if .Values.hostNetwork }}
{{- $owners := include "leaseguard.nodePorts" . | fromJson }}
{{- range $name, $port := dict "server.securePort" .Values.server.securePort "probes.port" .Values.probes.port "metrics.port" .Values.metrics.port }}
{{- if lt (int $port) 1024 }}
{{- include "leaseguard.fail" (printf "%s %d with hostNetwork: a port below 1024 needs privileges the non-root pods do not have; choose 1024 or above" $name (int $port)) }}
{{- else if hasKey $owners (toString (int $port)) }}
{{- include "leaseguard.fail" (printf "%s %d with hostNetwork: that is the port of %s on the node; choose a port no node process uses" $name (int $port) (get $owners (toString (int $port)))) }}
{{- end }}
{{- end }}
{{- end }}
{{- $names := include "leaseguard.chartConditionNames" . | fromJsonArray }}
{{- $seen := list }}
{{- range .Values.webhook.matchConditions }}
{{- if has .name $names }}
{{- include "leaseguard.fail" (printf "webhook.matchConditions: %q is the name of one of the chart's own conditions (%s); choose another" .name (join ", " $names)) }}
{{- else if has .name $seen }}
{{- include "leaseguard.fail" (printf "webhook.matchConditions: the name %q is given twice" .name) }}
{{- end }}
{{- $seen = append $seen .name }}
{{- end }}
{{- $total := add (len $names) (len .Values.webhook.matchConditions) }}
{{- if gt (int $total) 64 }}
{{- include "leaseguard.fail" (printf "webhook.matchConditions: %d conditions with the chart's %d, more than the 64 Kubernetes allows" (len .Values.webhook.matchConditions) (len $names)) }}
{{- end }}
{{- if and (eq .Values.certificates.mode "cert-manager") (hasKey .Values.webhook.annotations "cert-manager.io/inject-ca-from") }}
{{- include "leaseguard.fail" "webhook.annotations: cert-manager.io/inject-ca-from is the chart's in certificates.mode cert-manager; leave it out" }}
{{- end }}
{{- if and .Values.priorityQuota.enabled (include "leaseguard.criticalPriority" .) }}
{{- if lt (int .Values.priorityQuota.pods) (add1 (int .Values.replicaCount)) }}
{{- include "leaseguard.fail" (printf "priorityQuota.pods %d is below replicaCount + 1 (%d): the rolling update's extra pod would be refused" (int .Values.priorityQuota.pods) (add1 (int .Values.replicaCount))) }}
{{- end }}
{{- end }}
{{- $chartVolumes := include "leaseguard.chartVolumes" . | fromJsonArray }}
{{- $extraVolumes := list }}
{{- range .Values.extraVolumes }}
{{- if has .name $chartVolumes }}
{{- include "leaseguard.fail" (printf "extraVolumes: %q is the name of a volume of the chart (%s); choose another" .name (join ", " $chartVolumes)) }}
{{- end }}
{{- $extraVolumes = append $extraVolumes .name }}
{{- end }}
{{- range .Values.extraVolumeMounts }}
{{- if not (has .name $extraVolumes) }}
{{- include "leaseguard.fail" (printf "extraVolumeMounts: %q names no volume of extraVolumes" .name) }}
{{- else if or (eq (trimSuffix "/" .mountPath) "/etc/leaseguard") (hasPrefix "/etc/leaseguard/" .mountPath) }}
{{- include "leaseguard.fail" (printf "extraVolumeMounts: %s is under /etc/leaseguard, where the chart mounts its own volumes; choose another path" .mountPath) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The egress rule to the API server (networkPolicy.egress), as a list item. */}}
{{- define "leaseguard.apiServerEgress" -}}
- ports:
    {{- range .Values.networkPolicy.egress.apiServerPorts }}
    - port: {{ int . }}
      protocol: TCP
    {{- end }}
  {{- with .Values.networkPolicy.egress.apiServer }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
