// fit.mjs -- validate.mjs's checks of the values that fit the chart to a cluster: security
// contexts (the hardened defaults, Pod Security "restricted", OpenShift's restricted-v2),
// priority and its ResourceQuota, placement (nodeSelector, tolerations, affinity, spread by
// node and zone), hostNetwork and dnsPolicy, extra args/env/volumes, the NetworkPolicies, and
// the webhook's namespaceSelector opt-out label, matchConditions and annotations.
import fs from 'node:fs';
import path from 'node:path';

const NODE_PORTS = [10250, 10248, 10255, 10249, 10256, 10257, 10259, 6443, 2379, 2380, 2381];
// Volume types OpenShift's restricted-v2 SCC allows.
const RESTRICTED_V2_VOLUMES = new Set(['configMap', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim',
  'projected', 'secret', 'csi']);
const ID_FIELDS = ['runAsUser', 'runAsGroup', 'fsGroup'];
export const CHART_CONDITIONS = {
  'skip-node-heartbeats': "!(request.namespace == 'kube-node-lease' && request.userInfo.username == 'system:node:' + request.name)",
  'skip-metadata-only-updates': "request.operation != 'UPDATE' || has(object.spec) != has(oldObject.spec) || (has(object.spec) && object.spec != oldObject.spec)",
};
// The names of the chart's own matchConditions for these values, in the order it renders them.
export const chartConditionNames = (v) => [...(v.webhook.nodeLeases ? [] : ['skip-node-heartbeats']),
  ...(v.webhook.metadataOnlyUpdates ? [] : ['skip-metadata-only-updates'])];

// The flags the chart refuses in extraArgs (templates/_fit.tpl, leaseguard.valueFlags).
export function valueFlags(chartDir) {
  const tpl = fs.readFileSync(path.join(chartDir, 'templates', '_fit.tpl'), 'utf8');
  const def = /define "leaseguard\.valueFlags"([\s\S]*?)\{\{- end \}\}/.exec(tpl);
  return new Set(def ? [...def[1].matchAll(/"(--[a-z-]+)"/g)].map((m) => m[1]) : []);
}

// The pods a case renders: [name, pod spec] of the webhook, the observer and the test pod.
function podsOf(objs, isComp, isHook) {
  const pods = [];
  for (const o of objs) {
    if (o.kind === 'Deployment') pods.push([`${o.kind}/${o.metadata.name}`, o.spec.template.spec, isComp('webhook')(o)]);
    if (o.kind === 'Pod' && isHook(o)) pods.push([`test Pod/${o.metadata.name}`, o.spec, false]);
  }
  return pods;
}

// Security contexts of every pod and container: the values, and what they must keep.
function securityContexts(t) {
  const { tag, check, eq, show, exp, pods } = t;
  const v = exp.values;
  for (const [name, spec] of pods) {
    check(eq(spec.securityContext || {}, v.podSecurityContext || {}),
      `${tag} ${name}: pod securityContext is podSecurityContext`, show(spec.securityContext));
    check(spec.containers.every((c) => eq(c.securityContext || {}, v.securityContext || {})),
      `${tag} ${name}: container securityContext is securityContext`, show(spec.containers.map((c) => c.securityContext)));
  }
  if (eq(v.podSecurityContext, t.chartValues.podSecurityContext) && eq(v.securityContext, t.chartValues.securityContext)) {
    const sc = v.securityContext;
    const psc = v.podSecurityContext;
    check(psc.runAsNonRoot === true && psc.runAsUser === 65532 && psc.runAsGroup === 65532 && psc.fsGroup === 65532 &&
          psc.seccompProfile?.type === 'RuntimeDefault' && sc.runAsNonRoot === true && sc.runAsUser === 65532 &&
          sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false && sc.privileged === false &&
          eq(sc.capabilities, { drop: ['ALL'] }) && sc.seccompProfile?.type === 'RuntimeDefault',
    `${tag} the default securityContexts are the hardened ones: uid/gid/fsGroup 65532, non-root, read-only root, no privilege escalation, drop ALL, seccomp RuntimeDefault`);
  }
  // Pod Security "restricted" (what every case but hostNetwork must meet), container by container.
  const bad = [];
  for (const [name, spec] of pods) {
    if (spec.hostNetwork) continue;
    for (const c of spec.containers) {
      const sc = c.securityContext || {};
      const psc = spec.securityContext || {};
      if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) bad.push(`${name}: runAsNonRoot`);
      if (sc.allowPrivilegeEscalation !== false) bad.push(`${name}: allowPrivilegeEscalation`);
      if (!(sc.capabilities?.drop || []).includes('ALL') || (sc.capabilities?.add || []).some((x) => x !== 'NET_BIND_SERVICE')) bad.push(`${name}: capabilities`);
      if (!['RuntimeDefault', 'Localhost'].includes((sc.seccompProfile || psc.seccompProfile)?.type)) bad.push(`${name}: seccomp`);
      if (sc.privileged || (c.ports || []).some((p) => p.hostPort)) bad.push(`${name}: privileged or hostPort`);
    }
    if ((spec.volumes || []).some((vol) => vol.hostPath)) bad.push(`${name}: hostPath`);
  }
  const checked = pods.filter(([, s]) => !s.hostNetwork).length;
  check(bad.length === 0, `${tag} ${checked} pods meet Pod Security "restricted"${pods.length > checked ? ' (the hostNetwork pods need "privileged")' : ''}`, bad.join('; '));
  if (t.name === 'openshift') {
    const ids = [];
    const vols = [];
    for (const [name, spec] of pods) {
      for (const f of ID_FIELDS) if (spec.securityContext && f in spec.securityContext) ids.push(`${name} pod ${f}`);
      for (const c of spec.containers) for (const f of ID_FIELDS) if (c.securityContext && f in c.securityContext) ids.push(`${name} ${c.name} ${f}`);
      for (const vol of spec.volumes || []) {
        const kind = Object.keys(vol).find((k) => k !== 'name');
        if (!RESTRICTED_V2_VOLUMES.has(kind)) vols.push(`${name}: ${kind}`);
      }
      if (spec.hostNetwork || spec.hostPID || spec.hostIPC) vols.push(`${name}: host namespaces`);
    }
    check(pods.length === 3 && ids.length === 0, `${tag} restricted-v2: no pod or container of the ${pods.length} pods asks for a UID, group or fsGroup (OpenShift assigns them)`, ids.join('; '));
    check(vols.length === 0, `${tag} restricted-v2: only the volume types it allows, no host namespaces`, vols.join('; '));
  }
}

// Placement: priority (and its quota), nodeSelector, tolerations, affinity, spread.
function placement(t) {
  const { tag, check, eq, show, exp, spec, podLabels, objs, matches } = t;
  const v = exp.values;
  check((spec.priorityClassName || '') === v.priorityClassName, `${tag} priorityClassName "${v.priorityClassName}"`, spec.priorityClassName);
  const quotas = objs.filter((o) => o.kind === 'ResourceQuota');
  const critical = ['system-cluster-critical', 'system-node-critical'].includes(v.priorityClassName);
  if (v.priorityQuota.enabled && critical) {
    const q = quotas[0];
    const expr = q?.spec.scopeSelector?.matchExpressions || [];
    check(quotas.length === 1 && String(q.spec.hard.pods) === String(v.priorityQuota.pods) &&
          eq(expr, [{ scopeName: 'PriorityClass', operator: 'In', values: [v.priorityClassName] }]) &&
          v.priorityQuota.pods >= exp.replicas + 1,
    `${tag} ResourceQuota ${q?.metadata.name}: ${v.priorityQuota.pods} pods of PriorityClass ${v.priorityClassName} (GKE admits them outside kube-system only so), room for the rolling update`, show(q?.spec));
  } else {
    check(quotas.length === 0, `${tag} no ResourceQuota (${critical ? 'priorityQuota.enabled false' : `PriorityClass "${v.priorityClassName}" is not a system one`})`);
  }
  check(eq(spec.nodeSelector || {}, v.nodeSelector), `${tag} nodeSelector ${show(v.nodeSelector)}`, show(spec.nodeSelector));
  check(eq(spec.tolerations || [], v.tolerations), `${tag} tolerations from values`, show(spec.tolerations));
  const tsc = spec.topologySpreadConstraints || [];
  if (v.topologySpreadConstraints.length) {
    check(eq(tsc, v.topologySpreadConstraints), `${tag} topologySpreadConstraints are the values'`, show(tsc));
  } else {
    const keys = tsc.map((c) => c.topologyKey);
    check(eq(keys, ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']) &&
          tsc.every((c) => c.maxSkew === 1 && c.whenUnsatisfiable === 'ScheduleAnyway' && matches(c.labelSelector?.matchLabels, podLabels) &&
            eq(c.matchLabelKeys, ['pod-template-hash'])),
    `${tag} topologySpreadConstraints over kubernetes.io/hostname and topology.kubernetes.io/zone, maxSkew 1, ScheduleAnyway, its own pods of one revision`, show(tsc));
  }
  if (Object.keys(v.affinity).length) {
    check(eq(spec.affinity, v.affinity), `${tag} affinity is the values'`, show(spec.affinity));
  } else {
    const anti = spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution || [];
    check(anti.length === 1 && anti[0].podAffinityTerm.topologyKey === 'kubernetes.io/hostname' && matches(anti[0].podAffinityTerm.labelSelector?.matchLabels, podLabels),
      `${tag} preferred podAntiAffinity on kubernetes.io/hostname`, show(spec.affinity));
  }
  const test = objs.find((o) => o.kind === 'Pod' && t.isHook(o));
  check(!test || (eq(test.spec.nodeSelector || {}, v.nodeSelector) && eq(test.spec.tolerations || [], v.tolerations)),
    `${tag} the test Pod has the webhook's nodeSelector and tolerations`);
}

// hostNetwork and dnsPolicy; extra args, env, volumes and mounts.
function podExtras(t) {
  const { tag, check, eq, show, exp, spec, c } = t;
  const v = exp.values;
  check(Boolean(spec.hostNetwork) === v.hostNetwork && (v.hostNetwork || !('hostNetwork' in spec)),
    `${tag} hostNetwork ${v.hostNetwork}`, show(spec.hostNetwork));
  const dns = v.dnsPolicy || (v.hostNetwork ? 'ClusterFirstWithHostNet' : undefined);
  check(spec.dnsPolicy === dns, `${tag} dnsPolicy ${dns || 'absent (ClusterFirst)'}`, show(spec.dnsPolicy));
  if (v.hostNetwork) {
    const ports = (c.ports || []).map((p) => p.containerPort);
    check(ports.length === 3 && ports.every((p) => p >= 1024 && !NODE_PORTS.includes(p)),
      `${tag} hostNetwork: the node ports ${ports.join(', ')} are unprivileged and none of the kubelet's, kube-proxy's, the control plane's or etcd's`);
  }
  const n = v.extraArgs.length;
  check(eq(c.args.slice(c.args.length - n), v.extraArgs), `${tag} extraArgs last in the args: ${show(v.extraArgs)}`,
    show(c.args.slice(c.args.length - n)));
  const chartFlags = new Set(c.args.slice(1, c.args.length - n).map((a) => a.split('=')[0]));
  check(v.extraArgs.every((a) => !chartFlags.has(a.split('=')[0])), `${tag} extraArgs repeat no flag of the chart's`);
  check(eq(c.env || [], v.extraEnv), `${tag} env is extraEnv`, show(c.env));
  const vols = spec.volumes || [];
  const mounts = c.volumeMounts || [];
  check(eq(vols.slice(vols.length - v.extraVolumes.length), v.extraVolumes) &&
        eq(mounts.slice(mounts.length - v.extraVolumeMounts.length), v.extraVolumeMounts),
  `${tag} extraVolumes (${v.extraVolumes.length}) and extraVolumeMounts (${v.extraVolumeMounts.length}) after the chart's`);
  const names = vols.map((x) => x.name);
  check(new Set(names).size === names.length && mounts.every((m) => names.includes(m.name)),
    `${tag} volume names unique, every mount names a volume`, show(names));
}

// The NetworkPolicies: ingress to the pods' own ports from the configured peers (anywhere when
// none), egress to the API server only when asked (and only when the pods call it).
function networkPolicies(t) {
  const { tag, check, eq, show, exp, objs, matches, isComp, podLabels, c } = t;
  const np = exp.values.networkPolicy;
  const nps = objs.filter((o) => o.kind === 'NetworkPolicy');
  if (!np.enabled) {
    check(nps.length === 0, `${tag} no NetworkPolicy`);
    return;
  }
  const lh = exp.values.leaseHealth.enabled;
  check(nps.length === (lh ? 2 : 1), `${tag} ${lh ? 2 : 1} NetworkPolicies`, nps.map((x) => x.metadata.name).join(' '));
  const fromOf = (rule) => rule.from || [];
  const apiRule = { ports: np.egress.apiServerPorts.map((p) => ({ port: p, protocol: 'TCP' })), ...(np.egress.apiServer.length ? { to: np.egress.apiServer } : {}) };
  const types = np.egress.enabled ? ['Ingress', 'Egress'] : ['Ingress'];
  const w = nps.find(isComp('webhook'));
  const wPorts = new Set((c.ports || []).map((p) => p.name));
  const ingress = w?.spec.ingress || [];
  const want = [['https', np.webhookFrom], ['probes', np.probesFrom], ['http-metrics', np.metricsFrom]];
  check(w && matches(w.spec.podSelector.matchLabels, podLabels) && w.spec.podSelector.matchLabels['app.kubernetes.io/component'] === 'webhook' &&
        eq(w.spec.policyTypes, types),
  `${tag} NetworkPolicy ${w?.metadata.name} selects the webhook pods, policyTypes ${types.join(', ')}`, show(w?.spec));
  check(ingress.length === 3 && want.every(([port, from], i) => eq(ingress[i].ports, [{ port, protocol: 'TCP' }]) && wPorts.has(port) && eq(fromOf(ingress[i]), from)),
    `${tag} webhook ingress: https from ${np.webhookFrom.length ? 'the given peers' : 'anywhere'}, probes from ${np.probesFrom.length ? 'the given peers' : 'anywhere'}, http-metrics from ${np.metricsFrom.length ? 'the given peers' : 'anywhere'}; each a container port`,
    show(ingress));
  if (np.egress.enabled) {
    const wantEgress = [...(exp.usesApi ? [apiRule] : []), ...np.egress.extraRules];
    check(eq(w?.spec.egress, wantEgress),
      `${tag} webhook egress: ${exp.usesApi ? `the API server (${np.egress.apiServer.length ? 'given peers' : 'any address'}, ports ${np.egress.apiServerPorts.join(', ')})` : 'nothing (no API calls)'}${np.egress.extraRules.length ? ' and extraRules' : ''}`,
      show(w?.spec.egress));
  } else {
    check(w && !('egress' in w.spec), `${tag} webhook egress unrestricted (egress.enabled false)`);
  }
  if (lh) {
    const l = nps.find(isComp('lease-health'));
    const ld = objs.find((o) => o.kind === 'Deployment' && isComp('lease-health')(o));
    const lpl = ld.spec.template.metadata.labels;
    check(l && matches(l.spec.podSelector.matchLabels, lpl) && !matches(l.spec.podSelector.matchLabels, podLabels) && eq(l.spec.policyTypes, types) &&
          eq(l.spec.ingress, [{ ports: [{ port: 'http-metrics', protocol: 'TCP' }], ...(np.metricsFrom.length ? { from: np.metricsFrom } : {}) }]) &&
          ld.spec.template.spec.containers[0].ports.some((p) => p.name === 'http-metrics'),
    `${tag} NetworkPolicy ${l?.metadata.name} selects the observer only: ingress to http-metrics (metrics and probes) from ${np.metricsFrom.length ? 'the given peers' : 'anywhere'}`, show(l?.spec));
    check(np.egress.enabled ? eq(l?.spec.egress, [apiRule, ...np.egress.extraRules]) : l && !('egress' in l.spec),
      `${tag} observer egress: ${np.egress.enabled ? 'the API server (it watches leases)' : 'unrestricted'}`, show(l?.spec.egress));
  }
}

// The webhook: the opt-out label, the chart's matchConditions before the operator's, annotations.
function webhookFit(t) {
  const { tag, check, eq, show, exp, vwc } = t;
  const v = exp.values;
  const w = vwc.webhooks[0];
  const ignore = (w.namespaceSelector?.matchExpressions || []).find((e) => e.key === 'leaseguard.io/ignore');
  check(eq(ignore, { key: 'leaseguard.io/ignore', operator: 'NotIn', values: ['true'] }),
    `${tag} namespaceSelector: namespaces labelled leaseguard.io/ignore=true opt out (unlabelled ones are in)`, show(w.namespaceSelector));
  const names = chartConditionNames(v);
  const mc = w.matchConditions || [];
  const norm = (s) => s.replace(/\s+/g, ' ').trim();
  check(eq(mc.map((x) => x.name), [...names, ...v.webhook.matchConditions.map((x) => x.name)]) &&
        mc.slice(0, names.length).every((x) => norm(x.expression) === CHART_CONDITIONS[x.name]) &&
        eq(mc.slice(names.length), v.webhook.matchConditions),
  `${tag} matchConditions: the chart's (${names.join(', ') || 'none'}) then the operator's (${v.webhook.matchConditions.length})`, show(mc));
  const ann = vwc.metadata.annotations || {};
  const want = { ...(exp.certMode === 'cert-manager' ? { 'cert-manager.io/inject-ca-from': ann['cert-manager.io/inject-ca-from'] } : {}), ...v.webhook.annotations };
  check(eq(ann, want), `${tag} ValidatingWebhookConfiguration annotations: webhook.annotations${exp.certMode === 'cert-manager' ? ' and the cainjector\'s' : ''}`, show(ann));
}

// t: { name, tag, objs, exp, chartValues, dep, vwc, c, flags, check, eq, show, matches, isComp, isHook }
export function checkFit(t) {
  t.spec = t.dep.spec.template.spec;
  t.podLabels = t.dep.spec.template.metadata.labels;
  t.pods = podsOf(t.objs, t.isComp, t.isHook);
  securityContexts(t);
  placement(t);
  podExtras(t);
  networkPolicies(t);
  webhookFit(t);
}
