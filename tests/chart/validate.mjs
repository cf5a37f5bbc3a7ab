// validate.mjs -- checks the manifests that run.sh rendered from charts/leaseguard: every
// object against its Kubernetes (or cert-manager, Prometheus Operator) schema from the npm
// package kubernetes-models, with unknown fields refused (schema.mjs); then the chart's
// wiring, case by case (webhook -> Service -> container port, certificates, policy volume,
// flags, PDB, RBAC, helm test pod; fit.mjs: security contexts, placement, host network,
// extras, network policies, matchConditions); with LEASEGUARD_BIN, the rendered flags and policies
// are also given to the real binary; and values.yaml, values.schema.json and README.md are
// checked to document the same values.
//
// usage: node validate.mjs --modules DIR --dir DIR --helm N --repo DIR --release NAME --namespace NS
// Prints "ok: ..." and "FAIL: ..." lines; exit status 1 when anything failed.
import { createRequire } from 'node:module';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkFit, valueFlags } from './fit.mjs';
import { schemaChecker } from './schema.mjs';

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['modules', 'dir', 'helm', 'repo', 'release', 'namespace'])
  if (!opt[k]) { console.error(`validate.mjs: --${k} is required`); process.exit(2); }

const require = createRequire(path.join(opt.modules, 'noop.js'));
const YAML = require('yaml');
const chartDir = path.join(opt.repo, 'charts', 'leaseguard');

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
let failures = 0;
const ok = (msg) => console.log(`ok: ${msg}`);
const fail = (msg) => { failures++; console.log(`FAIL: ${msg}`); };
// check(cond, msg, detail): one line either way.
const check = (cond, msg, detail) => (cond ? ok(msg) : fail(detail === undefined ? msg : `${msg} (${detail})`));
// Deep equality, whatever the order of object keys (Helm's toYaml sorts them).
const canon = (v) => (Array.isArray(v) ? v.map(canon) : isObj(v)
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const eq = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
const show = (v) => JSON.stringify(v);

// ---------------------------------------------------------------------------------------
// Schemas (schema.mjs): types, enums, required fields and unknown fields of every object.

const { validateObject, selfCheck } = schemaChecker(require);

// ---------------------------------------------------------------------------------------
// Metrics: the families src/obs/metrics.c emits (every "leaseguard_…" string in it: family and
// sample names), and the metric names a PromQL expression reads.

const EMITTED = new Set([...fs.readFileSync(path.join(opt.repo, 'src', 'obs', 'metrics.c'), 'utf8')
  .matchAll(/"(leaseguard_[a-z0-9_]+)"/g)].map((m) => m[1]));
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'inf', 'nan']);
function metricNames(expr) {
  const e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')   // strings
    .replace(/\{[^}]*\}/g, '')                          // label matchers
    .replace(/\[[^\]]*\]/g, '')                         // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\w+/g, '');                             // Grafana variables
  const names = [];
  for (const m of e.matchAll(/(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    if (/^\s*\(/.test(e.slice(m.index + m[0].length))) continue; // a function or an aggregation
    names.push(m[0]);
  }
  return names;
}

const ALERT_KEYS = {
  LeaseguardViolations: 'violations', LeaseguardDenials: 'denials', LeaseguardErrors: 'errors',
  LeaseFlappingLeader: 'flappingLeader', LeaseStuckLeader: 'stuckLeader',
  LeaseguardCertificateExpiry: 'certificateExpiry', LeaseguardAbsent: 'absent', LeaseHealthAbsent: 'leaseHealthAbsent',
};
const ALERTS = Object.keys(ALERT_KEYS);
const LEASE_HEALTH_ALERTS = ['LeaseFlappingLeader', 'LeaseStuckLeader', 'LeaseHealthAbsent'];
const DASHBOARD_TEXT = fs.readFileSync(path.join(chartDir, 'files', 'dashboard.json'), 'utf8');

// files/dashboard.json: parses, a datasource variable, every panel on it, every expression on
// metric families that exist, the panels asked for, and valid PromQL (promtool, as recording rules).
function dashboard() {
  const d = JSON.parse(DASHBOARD_TEXT);
  check(EMITTED.size >= 10 && EMITTED.has('leaseguard_lease_violations_total'),
    `src/obs/metrics.c emits ${EMITTED.size} metric names: ${[...EMITTED].join(' ')}`);
  const vars = d.templating?.list || [];
  const dsVar = vars.find((v) => v.type === 'datasource' && v.query === 'prometheus');
  check(dsVar, `dashboard: a datasource template variable ($${dsVar?.name}) of type prometheus`);
  const panels = (d.panels || []).flatMap((p) => (p.type === 'row' ? p.panels || [] : [p]));
  const dsRef = `\${${dsVar?.name}}`;
  const targets = panels.flatMap((p) => (p.targets || []).map((t) => ({ p, t })));
  check(panels.length >= 8 && panels.every((p) => p.datasource?.uid === dsRef && (p.targets || []).length > 0 &&
        p.targets.every((t) => !t.datasource || t.datasource.uid === dsRef)),
    `dashboard: ${panels.length} panels, each with queries, all on the datasource variable ${dsRef}`);
  const ids = panels.map((p) => p.id);
  check(new Set(ids).size === ids.length && d.uid && d.title, `dashboard: uid ${d.uid}, title "${d.title}", panel ids unique`);
  const bad = targets.flatMap(({ p, t }) => metricNames(t.expr).filter((m) => !EMITTED.has(m)).map((m) => `${p.title}: ${m}`));
  check(bad.length === 0 && targets.every(({ t }) => metricNames(t.expr).length > 0),
    `dashboard: all ${targets.length} expressions read only metric families src/obs/metrics.c emits`, bad.join('; '));
  const exprs = targets.map(({ t }) => t.expr).join('\n');
  const want = {
    'violations by rule': /sum by \([^)]*\brule\b[^)]*\) \(rate\(leaseguard_lease_violations_total/,
    denials: /leaseguard_admission_requests_total\{decision="denied"\}/,
    'latency p50': /histogram_quantile\(0\.5, sum by \(le\) \(rate\(leaseguard_admission_duration_seconds_bucket/,
    'latency p99': /histogram_quantile\(0\.99, sum by \(le\) \(rate\(leaseguard_admission_duration_seconds_bucket/,
    'leader changes (1h) by lease': /by \(namespace, name\) \(increase\(leaseguard_lease_leader_changes_total\{[^}]*\}\[1h\]\)/,
    'renewals by lease': /by \(namespace, name\) \(rate\(leaseguard_lease_renewals_total/,
    'failover time by lease': /by \(namespace, name\) \(leaseguard_lease_last_failover_seconds/,
    'seconds since renewal': /leaseguard_lease_seconds_since_renewal/,
    'certificate expiry': /leaseguard_serving_certificate_expiration_timestamp_seconds/,
  };
  const missing = Object.entries(want).filter(([, re]) => !re.test(exprs)).map(([k]) => k);
  check(missing.length === 0, `dashboard: panels for ${Object.keys(want).join(', ')}`, `missing ${missing.join(', ')}`);
  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (promtool.status !== 0) {
    fail('dashboard: promtool is missing (Debian package prometheus): the expressions are not parsed');
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lg-chart-dash-'));
  const file = path.join(tmp, 'dashboard-rules.yaml');
  const rules = targets.map(({ t }, i) => ({ record: `leaseguard:dashboard_query:${i}`,
    expr: t.expr.replace(/\$\{?(\w+)\}?/g, (m, v) => (v === '__rate_interval' ? '5m' : '.*')) }));
  fs.writeFileSync(file, YAML.stringify({ groups: [{ name: 'dashboard', rules }] }));
  const res = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  check(res.status === 0, `dashboard: promtool parses all ${rules.length} expressions (variables as .*)`, `${res.stdout}${res.stderr}`.trim());
  fs.rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// Wiring.

function loadCase(name) {
  const file = path.join(opt.dir, `${name}.yaml`);
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const objs = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    const o = d.toJS();
    if (o) objs.push(o);
  }
  return objs;
}
const CLUSTER_KINDS = new Set(['ValidatingWebhookConfiguration', 'ClusterRole', 'ClusterRoleBinding',
  'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'CustomResourceDefinition']);
const isHook = (o) => Boolean(o.metadata?.annotations?.['helm.sh/hook']);
// The chart's components: webhook, lease-health (the observer), monitoring (rules, dashboard).
const isComp = (c) => (o) => o.metadata?.labels?.['app.kubernetes.io/component'] === c;
const matches = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);
// serve's flags that take no value.
const SWITCHES = new Set(['--events', '--metrics-lease-label', '--watch-leases', '--fencing']);
function flagsOf(args) {
  const m = new Map();
  const dup = [];
  for (const a of args.slice(1)) {
    const mm = SWITCHES.has(a) ? [a, a, 'true'] : /^(--[a-z-]+)=(.*)$/.exec(a);
    if (!mm) { dup.push(`not --flag=value: ${a}`); continue; }
    if (m.has(mm[1])) dup.push(`twice: ${mm[1]}`);
    m.set(mm[1], mm[2]);
  }
  return { m, dup };
}
function b64pem(b64) {
  try {
    const pem = Buffer.from(b64, 'base64').toString('utf8');
    return pem.startsWith('-----BEGIN CERTIFICATE-----') ? pem : null;
  } catch { return null; }
}

const rendered = []; // {case, deployment args, policy} for the binary checks

// The lease watch and the fence (leaseWatch, fencing): the flags, and the fence's webhook: the
// first one's Service, caBundle, failurePolicy, timeout and namespaces, path /fence, every
// resource (and subresource) selected by the label, but never what leaseguard itself and the
// control plane need (its matchConditions; conditions.mjs runs them).
function fence(tag, exp, vwc, flags) {
  const fv = exp.values.fencing;
  check(flags.has('--watch-leases') === exp.values.leaseWatch.enabled,
    `${tag} --watch-leases ${exp.values.leaseWatch.enabled ? 'given' : 'absent'} (leaseWatch.enabled)`);
  check(fv.enabled ? flags.get('--fencing') === 'true' && flags.get('--fencing-unknown') === fv.unknown
    : !flags.has('--fencing') && !flags.has('--fencing-unknown'),
  `${tag} ${fv.enabled ? `--fencing --fencing-unknown=${fv.unknown}` : 'no --fencing'}`, `${flags.get('--fencing')} ${flags.get('--fencing-unknown')}`);
  if (!fv.enabled)
    return;
  const [w, f] = vwc.webhooks;
  check(f?.name === fv.name && f.name !== w.name, `${tag} fence webhook named ${fv.name}`, f?.name);
  check(eq(f?.clientConfig, { ...w.clientConfig, service: { ...w.clientConfig.service, path: '/fence' } }),
    `${tag} fence: the first webhook's clientConfig (Service, port, caBundle) with path /fence`, show(f?.clientConfig));
  check(eq(f?.rules, [{ apiGroups: ['*'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['*/*'], scope: '*' }]),
    `${tag} fence rules: every group, version, resource and subresource, CREATE UPDATE DELETE`, show(f?.rules));
  check(f?.failurePolicy === w.failurePolicy && f.timeoutSeconds === w.timeoutSeconds && f.matchPolicy === 'Equivalent' &&
        f.sideEffects === 'None' && eq(f.admissionReviewVersions, ['v1']),
  `${tag} fence: failurePolicy ${w.failurePolicy} and timeout ${w.timeoutSeconds}s as the first webhook, sideEffects None, v1`,
  show([f?.failurePolicy, f?.timeoutSeconds, f?.sideEffects]));
  check(eq(f?.namespaceSelector, w.namespaceSelector), `${tag} fence: the first webhook's namespaceSelector (release namespace excluded)`,
    show(f?.namespaceSelector));
  check(eq(f?.objectSelector, { matchLabels: { 'leaseguard.io/fenced': 'true' } }),
    `${tag} fence objectSelector leaseguard.io/fenced=true`, show(f?.objectSelector));
  check(eq((f?.matchConditions || []).map((c) => c.name), ['not-leases', 'not-events', 'not-webhook-configurations']),
    `${tag} fence matchConditions: not leases, events or webhook configurations (gatekeeper#3829)`, show(f?.matchConditions));
}

// The errors of value against an OpenAPI v3 schema, for the keywords a structural CRD schema
// uses here (type, format, properties, required, enum, items, additionalProperties), as
// kube-apiserver applies them to a custom resource.
function openapiErrors(sch, v, at = '') {
  const errs = [];
  const typeOk = { object: isObj(v), array: Array.isArray(v), string: typeof v === 'string',
    integer: Number.isInteger(v), number: typeof v === 'number', boolean: typeof v === 'boolean' }[sch.type];
  if (!typeOk) return [`${at || '.'}: not ${sch.type}`];
  if (sch.enum && !sch.enum.includes(v)) errs.push(`${at}: ${JSON.stringify(v)} not in ${sch.enum.join(', ')}`);
  if (sch.type === 'object') {
    for (const r of sch.required || []) if (!(r in v)) errs.push(`${at}.${r}: required`);
    for (const [k, x] of Object.entries(v)) {
      const ps = sch.properties?.[k] || (isObj(sch.additionalProperties) ? sch.additionalProperties : null);
      if (ps) errs.push(...openapiErrors(ps, x, `${at}.${k}`));
      else if (sch.properties && k !== 'metadata') errs.push(`${at}.${k}: unknown field (pruned)`);
    }
  }
  if (sch.type === 'array') v.forEach((x, i) => errs.push(...openapiErrors(sch.items, x, `${at}[${i}]`)));
  return errs;
}

// What makes a schema structural (Kubernetes' rules, the parts that apply): a type on every
// node, items on arrays, properties or additionalProperties (not both), metadata untouched.
function structuralErrors(sch, at = '') {
  const errs = [];
  if (!sch.type) errs.push(`${at || '.'}: no type`);
  if (sch.$ref || sch.allOf || sch.oneOf || sch.anyOf) errs.push(`${at}: references or combinators`);
  if (sch.type === 'array') {
    if (!sch.items) errs.push(`${at}: an array without items`);
    else errs.push(...structuralErrors(sch.items, `${at}[]`));
  }
  if (sch.properties && sch.additionalProperties) errs.push(`${at}: properties and additionalProperties`);
  for (const [k, x] of Object.entries(sch.properties || {})) errs.push(...structuralErrors(x, `${at}.${k}`));
  if (isObj(sch.additionalProperties)) errs.push(...structuralErrors(sch.additionalProperties, `${at}.*`));
  return errs;
}

// policyReports.installCRD: the PolicyReport CRD, structural, kept on uninstall, and the report
// leaseguard writes (tests/fixtures/policyreport.json, which test_polreport checks against
// src/polreport.c) valid against it; a report with a result outside the enum is not.
function crd(tag, objs, exp) {
  const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
  if (!exp.values.policyReports.installCRD) {
    check(crds.length === 0, `${tag} no CustomResourceDefinition`);
    return;
  }
  const c = crds[0];
  check(crds.length === 1 && c.metadata.name === 'policyreports.wgpolicyk8s.io' && c.spec.group === 'wgpolicyk8s.io' &&
        c.spec.scope === 'Namespaced' && c.spec.names.kind === 'PolicyReport' && c.spec.names.plural === 'policyreports' &&
        c.metadata.annotations?.['helm.sh/resource-policy'] === 'keep',
  `${tag} CRD policyreports.wgpolicyk8s.io: Namespaced, kind PolicyReport, kept on uninstall`, show(c?.metadata));
  const v = c.spec.versions || [];
  check(v.length === 1 && v[0].name === 'v1alpha2' && v[0].served && v[0].storage, `${tag} CRD serves and stores v1alpha2`, show(v.map((x) => x.name)));
  const schema = v[0]?.schema?.openAPIV3Schema || {};
  const se = structuralErrors(schema);
  check(se.length === 0, `${tag} CRD schema is structural (a type on every node, items on arrays)`, se.join('; '));
  const doc = JSON.parse(fs.readFileSync(path.join(opt.repo, 'tests', 'fixtures', 'policyreport.json'), 'utf8'));
  const de = openapiErrors(schema, doc);
  check(de.length === 0 && doc.results.length > 1, `${tag} the PolicyReport leaseguard writes is valid against the CRD`, de.join('; '));
  const bad = JSON.parse(JSON.stringify(doc));
  bad.results[0].result = 'failed';
  delete bad.results[1].policy;
  check(openapiErrors(schema, bad).length === 2, `${tag} ... and a result outside the enum or without its policy is not`);
}

function checkCase(name, exp) {
  const objs = loadCase(name);
  const tag = `[${name}]`;
  console.log(`# case ${name}: ${objs.length} objects`);
  const invalid = objs.map((o) => [o, validateObject(o)]).filter(([, why]) => why);
  invalid.forEach(([o, why]) => fail(`${tag} ${o.kind}/${o.metadata?.name}: ${why}`));
  if (!invalid.length)
    ok(`${tag} all ${objs.length} objects valid against their schemas, no unknown fields: ${objs.map((o) => o.kind).join(', ')}`);

  const ns = exp.namespace;
  const all = (kind) => objs.filter((o) => o.kind === kind);
  const one = (kind, pred = () => true) => {
    const l = all(kind).filter(pred);
    if (l.length !== 1) throw new Error(`${tag} expected one ${kind}, found ${l.length}`);
    return l[0];
  };
  for (const o of objs) {
    if (CLUSTER_KINDS.has(o.kind)) continue;
    const role = o.kind === 'Role' || o.kind === 'RoleBinding';
    const want = role && isHook(o) ? exp.selftestNamespace
      : role && isComp('lease-health')(o) ? exp.values.leaseHealth.namespace
      : o.kind === 'ConfigMap' && isComp('monitoring')(o) ? (exp.values.grafanaDashboard.namespace || ns) : ns;
    if (o.metadata.namespace !== want) fail(`${tag} ${o.kind}/${o.metadata.name} in namespace ${o.metadata.namespace}, not ${want}`);
  }
  ok(`${tag} every namespaced object names its namespace (${ns}${exp.selftestNamespace ? `; selftest RBAC in ${exp.selftestNamespace}` : ''}` +
    `${exp.values.leaseHealth.enabled && exp.values.leaseHealth.namespace ? `; lease-health RBAC in ${exp.values.leaseHealth.namespace}` : ''}` +
    `${exp.values.grafanaDashboard.enabled && exp.values.grafanaDashboard.namespace ? `; dashboard in ${exp.values.grafanaDashboard.namespace}` : ''})`);

  const dep = one('Deployment', isComp('webhook'));
  const svc = one('Service', isComp('webhook'));
  const vwc = one('ValidatingWebhookConfiguration');
  const spec = dep.spec.template.spec;
  const podLabels = dep.spec.template.metadata.labels;
  check(spec.containers.length === 1, `${tag} one container`);
  const c = spec.containers[0];
  const { m: flags, dup } = flagsOf(c.args);
  check(c.args[0] === 'serve' && dup.length === 0, `${tag} args are "serve" then --flag=value (or a switch), each once`, dup.join(', '));
  rendered.push({ name, args: c.args });

  // Deployment basics.
  check(dep.spec.replicas === exp.replicas, `${tag} replicas ${exp.replicas}`, dep.spec.replicas);
  check(matches(dep.spec.selector.matchLabels, podLabels), `${tag} Deployment selector matches its pod labels`);
  check(c.image === exp.image, `${tag} image ${exp.image}`, c.image);
  check(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.cpu && c.resources?.limits?.memory,
    `${tag} resources: requests and limits for cpu and memory`);
  check(dep.spec.strategy?.rollingUpdate?.maxUnavailable === 0, `${tag} rolling update keeps every pod until its successor is up (maxUnavailable 0)`);

  // Security contexts, placement, host network, extras, network policies, the webhook's
  // opt-out label, matchConditions and annotations (fit.mjs).
  exp.fencing = exp.values.fencing.enabled;
  exp.watchLeases = exp.fencing || exp.values.leaseWatch.enabled;
  exp.usesApi = exp.events || exp.certMode === 'controller' || exp.watchLeases;
  checkFit({ name, tag, objs, exp, chartValues, dep, vwc, c, check, eq, show, matches, isComp, isHook });
  const usesApi = exp.usesApi;
  check(spec.automountServiceAccountToken === usesApi,
    `${tag} service account token mounted only with events, the certificate controller or the lease watch (${usesApi})`, spec.automountServiceAccountToken);

  // Ports, listeners and probes.
  const sv = exp.values.server;
  const hostPort = (p) => `${sv.bindAddress.includes(':') ? `[${sv.bindAddress}]` : sv.bindAddress}:${p}`;
  const portNamed = (n) => (c.ports || []).find((p) => p.name === n);
  const port = portNamed('https');
  check(port && port.containerPort === exp.securePort, `${tag} container port https = ${exp.securePort}`, show(c.ports));
  check(flags.get('--secure-port') === String(port?.containerPort), `${tag} --secure-port equals the container port`, flags.get('--secure-port'));
  check(flags.get('--bind-address') === sv.bindAddress, `${tag} --bind-address=${sv.bindAddress} (server.bindAddress)`, flags.get('--bind-address'));
  check(portNamed('probes')?.containerPort === exp.values.probes.port &&
        flags.get('--health-probe-bind-address') === hostPort(exp.values.probes.port),
    `${tag} --health-probe-bind-address=${hostPort(exp.values.probes.port)} is the container port probes`,
    `${flags.get('--health-probe-bind-address')} ${show(c.ports)}`);
  check(portNamed('http-metrics')?.containerPort === exp.values.metrics.port &&
        flags.get('--metrics-bind-address') === hostPort(exp.values.metrics.port),
    `${tag} --metrics-bind-address=${hostPort(exp.values.metrics.port)} is the container port http-metrics`,
    `${flags.get('--metrics-bind-address')} ${show(c.ports)}`);
  const probeOk = (p, pathName) => p?.httpGet?.path === pathName && p.httpGet.scheme === 'HTTP' &&
    (p.httpGet.port === 'probes' || p.httpGet.port === exp.values.probes.port);
  check(probeOk(c.readinessProbe, '/readyz'), `${tag} readinessProbe GET /readyz over plain HTTP on the probes port`, show(c.readinessProbe));
  check(probeOk(c.livenessProbe, '/healthz'), `${tag} livenessProbe GET /healthz over plain HTTP on the probes port`, show(c.livenessProbe));

  // Shutdown and TLS.
  check(flags.get('--shutdown-delay-duration') === `${sv.shutdownDelaySeconds}s`,
    `${tag} --shutdown-delay-duration=${sv.shutdownDelaySeconds}s`, flags.get('--shutdown-delay-duration'));
  check(spec.terminationGracePeriodSeconds === sv.shutdownDelaySeconds + sv.connectionTimeout + 5,
    `${tag} terminationGracePeriodSeconds ${sv.shutdownDelaySeconds + sv.connectionTimeout + 5} covers the delay, the drain (connectionTimeout) and 5 s`,
    spec.terminationGracePeriodSeconds);
  check(flags.get('--tls-min-version') === sv.tlsMinVersion, `${tag} --tls-min-version=${sv.tlsMinVersion}`, flags.get('--tls-min-version'));
  check(sv.tlsCipherSuites.length ? flags.get('--tls-cipher-suites') === sv.tlsCipherSuites.join(',') : !flags.has('--tls-cipher-suites'),
    `${tag} --tls-cipher-suites ${sv.tlsCipherSuites.length ? `=${sv.tlsCipherSuites.join(',')}` : 'absent (ECDHE AEAD suites)'}`,
    flags.get('--tls-cipher-suites'));

  // Service -> container, webhook -> Service.
  check(matches(svc.spec.selector, podLabels) && Object.keys(svc.spec.selector || {}).length > 0, `${tag} Service selects the webhook pods`);
  const sp = svc.spec.ports.find((p) => p.port === 443);
  check(sp && sp.name === 'https' && (sp.targetPort === 'https' || sp.targetPort === exp.securePort),
    `${tag} Service port 443 (https) targets the container's https port`, show(svc.spec.ports));
  const mp = svc.spec.ports.find((p) => p.name === 'http-metrics');
  check(svc.spec.ports.length === 2 && mp?.port === exp.values.metrics.port && mp.targetPort === 'http-metrics',
    `${tag} Service port http-metrics (${exp.values.metrics.port}) targets the container's metrics listener; no probe port`, show(svc.spec.ports));
  check(vwc.webhooks.length === (exp.fencing ? 2 : 1), `${tag} ${exp.fencing ? 'two webhooks (leases, the fence)' : 'one webhook'}`);
  const w = vwc.webhooks[0];
  const cs = w.clientConfig.service || {};
  check(cs.name === svc.metadata.name && cs.namespace === svc.metadata.namespace && cs.namespace === ns && cs.port === 443 && sp?.port === cs.port,
    `${tag} webhook clientConfig.service is ${svc.metadata.namespace}/${svc.metadata.name}:443`, show(cs));
  check(cs.path === '/validate', `${tag} webhook path /validate`, cs.path);
  check(!w.clientConfig.url, `${tag} webhook calls the Service, not a URL`);
  check(w.name === exp.webhookName, `${tag} webhook name ${exp.webhookName}`, w.name);
  check(eq(w.rules, [{ apiGroups: ['coordination.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['leases'], scope: 'Namespaced' }]),
    `${tag} rules: coordination.k8s.io/v1 leases, CREATE UPDATE DELETE, Namespaced`, show(w.rules));
  check(eq(w.admissionReviewVersions, ['v1']), `${tag} admissionReviewVersions [v1]`);
  check(w.failurePolicy === exp.failurePolicy, `${tag} failurePolicy ${exp.failurePolicy}`, w.failurePolicy);
  check(w.timeoutSeconds === exp.timeoutSeconds, `${tag} timeoutSeconds ${exp.timeoutSeconds}`, w.timeoutSeconds);
  check(w.sideEffects === (exp.events ? 'NoneOnDryRun' : 'None'), `${tag} sideEffects ${exp.events ? 'NoneOnDryRun' : 'None'}`, w.sideEffects);
  const notIn = (w.namespaceSelector?.matchExpressions || []).find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn');
  check(notIn && eq([...notIn.values].sort(), [ns, ...exp.excluded].sort()),
    `${tag} namespaceSelector excludes ${[ns, ...exp.excluded].join(', ')}`, show(w.namespaceSelector));
  check(eq(w.objectSelector || {}, exp.objectSelector), `${tag} objectSelector ${show(exp.objectSelector)}`, show(w.objectSelector));
  fence(tag, exp, vwc, flags);
  crd(tag, objs, exp);

  // TLS: the mounted Secret, the flags, the caBundle.
  const vol = (n) => (spec.volumes || []).find((v) => v.name === n);
  const mountOf = (volName) => (c.volumeMounts || []).filter((m) => m.volumeName === volName || m.name === volName);
  check((c.volumeMounts || []).every((m) => !m.subPath && !m.subPathExpr), `${tag} no subPath mounts (they never see updates)`);
  const tlsVol = (spec.volumes || []).find((v) => v.secret && v.secret.secretName === exp.tlsSecret);
  const tlsMount = tlsVol && mountOf(tlsVol.name)[0];
  if (exp.certMode === 'controller') {
    // The pods keep the Secret themselves: nothing mounted, the controller's flags instead.
    const cv = exp.values.certificates.controller;
    const host = `${svc.metadata.name}.${ns}.svc`;
    check(!tlsVol && !flags.has('--tls-cert-file') && !flags.has('--tls-private-key-file'),
      `${tag} no TLS Secret mounted, no --tls-cert-file (the certificate controller)`);
    check(flags.get('--cert-secret') === `${ns}/${exp.tlsSecret}` && flags.get('--webhook-configuration') === vwc.metadata.name,
      `${tag} --cert-secret=${ns}/${exp.tlsSecret} --webhook-configuration=${vwc.metadata.name}`,
      `${flags.get('--cert-secret')} ${flags.get('--webhook-configuration')}`);
    check(eq((flags.get('--cert-dns-names') || '').split(','), [svc.metadata.name, `${svc.metadata.name}.${ns}`, host, `${host}.cluster.local`]),
      `${tag} --cert-dns-names: the Service's names, ${svc.metadata.name} first (the CN: at most 63 characters, as a CN must)`, flags.get('--cert-dns-names'));
    check(flags.get('--cert-validity') === cv.validity && flags.get('--cert-renew-before') === cv.renewBefore &&
          flags.get('--cert-overlap') === cv.overlap && flags.get('--cert-sync-period') === cv.syncPeriod,
      `${tag} --cert-validity/renew-before/overlap/sync-period from certificates.controller (${cv.validity} ${cv.renewBefore} ${cv.overlap} ${cv.syncPeriod})`);
    check(!objs.some((o) => o.kind === 'Secret' && !isHook(o)), `${tag} no Secret rendered (the pods make theirs)`);
  } else {
    check(tlsVol && tlsMount, `${tag} TLS Secret ${exp.tlsSecret} mounted`);
    check(tlsMount && flags.get('--tls-cert-file') === `${tlsMount.mountPath}/tls.crt` && flags.get('--tls-private-key-file') === `${tlsMount.mountPath}/tls.key`,
      `${tag} --tls-cert-file and --tls-private-key-file are tls.crt and tls.key in that mount`, `${flags.get('--tls-cert-file')} ${flags.get('--tls-private-key-file')}`);
    check(!flags.has('--cert-secret'), `${tag} no --cert-secret outside controller mode`);
  }
  const checksum = dep.spec.template.metadata.annotations?.['checksum/tls'];
  check(Boolean(checksum) === (exp.certMode === 'generate'), `${tag} checksum/tls annotation only for generated certificates`, checksum);
  check(!Object.keys(dep.spec.template.metadata.annotations || {}).some((k) => /policy/.test(k)), `${tag} no policy checksum (the policy reloads live)`);
  const injectFrom = vwc.metadata.annotations?.['cert-manager.io/inject-ca-from'];
  const bundle = w.clientConfig.caBundle;
  if (exp.certMode === 'generate') {
    const secret = one('Secret', (s) => s.metadata.name === exp.tlsSecret);
    const ca = b64pem(bundle);
    check(ca, `${tag} caBundle is base64 of a PEM certificate`);
    check(bundle === secret.data['ca.crt'], `${tag} caBundle equals ca.crt of the generated Secret`);
    check(secret.type === 'kubernetes.io/tls', `${tag} generated Secret is kubernetes.io/tls`);
    try {
      const caCert = new X509Certificate(ca);
      const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
      const key = createPrivateKey(Buffer.from(secret.data['tls.key'], 'base64'));
      check(caCert.ca, `${tag} the caBundle certificate is a CA`);
      check(cert.checkIssued(caCert) && cert.verify(caCert.publicKey), `${tag} tls.crt is signed by the caBundle's CA`);
      check(cert.checkPrivateKey(key), `${tag} tls.key is tls.crt's key`);
      const host = `${svc.metadata.name}.${ns}.svc`;
      check(cert.checkHost(host) && cert.checkHost(`${host}.cluster.local`), `${tag} tls.crt is valid for ${host} and ${host}.cluster.local`, cert.subjectAltName);
    } catch (e) { fail(`${tag} generated certificates: ${e.message}`); }
    check(!injectFrom, `${tag} no cert-manager annotation`);
  } else if (exp.certMode === 'controller') {
    check(!bundle, `${tag} no caBundle in the chart (the pods set it; an upgrade or sync never resets it)`);
    check(!injectFrom, `${tag} no cert-manager annotation`);
  } else if (exp.certMode === 'secret') {
    check(bundle === exp.caBundle && b64pem(bundle), `${tag} caBundle is the given base64 PEM CA`);
    check(all('Secret').length === 0, `${tag} no Secret rendered (the user's is used)`);
    check(!injectFrom, `${tag} no cert-manager annotation`);
  } else {
    check(!bundle, `${tag} no caBundle in the chart (cainjector fills it)`);
    const cert = one('Certificate', (x) => x.spec.secretName === exp.tlsSecret);
    check(injectFrom === `${ns}/${cert.metadata.name}`, `${tag} cert-manager.io/inject-ca-from names the serving Certificate ${ns}/${cert.metadata.name}`, injectFrom);
    const host = `${svc.metadata.name}.${ns}.svc`;
    check(cert.spec.dnsNames.includes(host) && cert.spec.dnsNames.includes(`${host}.cluster.local`), `${tag} serving Certificate covers ${host} and .cluster.local`, show(cert.spec.dnsNames));
    if (exp.issuerRef) {
      check(eq(cert.spec.issuerRef, exp.issuerRef), `${tag} serving Certificate uses the given issuer`, show(cert.spec.issuerRef));
      check(all('Issuer').length === 0 && all('Certificate').length === 1, `${tag} no self-signed chain when an issuer is given`);
    } else {
      const caIssuer = one('Issuer', (i) => i.metadata.name === cert.spec.issuerRef.name && i.spec.ca);
      const caCert = one('Certificate', (x) => x.spec.isCA && x.spec.secretName === caIssuer.spec.ca.secretName);
      const selfSigned = one('Issuer', (i) => i.metadata.name === caCert.spec.issuerRef.name && i.spec.selfSigned);
      check(cert.spec.issuerRef.kind === 'Issuer' && caCert.spec.issuerRef.kind === 'Issuer' && selfSigned,
        `${tag} chain: Issuer ${selfSigned.metadata.name} (selfSigned) -> Certificate ${caCert.metadata.name} (isCA) -> Issuer ${caIssuer.metadata.name} (ca) -> Certificate ${cert.metadata.name}`);
    }
  }

  // Policy: a ConfigMap mounted as a whole directory at the directory of --policy-file.
  const pf = flags.get('--policy-file') || '';
  const polVol = (spec.volumes || []).find((v) => v.configMap && mountOf(v.name).some((m) => m.mountPath === path.posix.dirname(pf)));
  const cm = polVol && one('ConfigMap', (x) => x.metadata.name === polVol.configMap.name);
  check(cm && !polVol.configMap.items && cm.data[path.posix.basename(pf)] !== undefined,
    `${tag} --policy-file=${pf} is a key of ConfigMap ${cm?.metadata.name}, mounted whole at ${path.posix.dirname(pf)}`);
  const policyText = cm?.data[path.posix.basename(pf)];
  rendered[rendered.length - 1].policy = policyText;
  if (exp.policy === 'default') {
    const want = fs.readFileSync(path.join(opt.repo, 'policy', 'default.json'), 'utf8');
    check(policyText === want, `${tag} policy.json is policy/default.json, byte for byte`);
  } else {
    let got = null;
    try { got = JSON.parse(policyText); } catch (e) { fail(`${tag} policy.json: ${e.message}`); }
    check(eq(got, exp.policy), `${tag} policy.json is values.policy`);
  }

  // Flags from values.
  for (const [f, v] of Object.entries(exp.flags))
    check(flags.get(f) === v, `${tag} ${f}=${v}`, flags.get(f));
  for (const [f, on, value] of [['--events', exp.events, 'true'], ['--event-queue-size', exp.events, exp.eventQueueSize],
    ['--metrics-lease-label', exp.leaseLabel, 'true']])
    check(on ? flags.get(f) === value : !flags.has(f), `${tag} ${f} ${on ? value : 'absent'}`, flags.get(f));
  check(flags.has('--mode') === Boolean(exp.mode) && (!exp.mode || flags.get('--mode') === exp.mode),
    `${tag} --mode ${exp.mode ? `=${exp.mode}` : 'absent (the policy decides)'}`, flags.get('--mode'));
  if (exp.clientCA) {
    const caVol = (spec.volumes || []).find((v) => (v.configMap?.name || v.secret?.secretName) === exp.clientCA.name);
    const caMount = caVol && mountOf(caVol.name)[0];
    check(caMount && flags.get('--client-ca-file') === `${caMount.mountPath}/${exp.clientCA.key}`,
      `${tag} --client-ca-file is ${exp.clientCA.key} of ${exp.clientCA.name}, mounted whole`, flags.get('--client-ca-file'));
  } else {
    check(!flags.has('--client-ca-file'), `${tag} no --client-ca-file without mtls`);
  }

  // PodDisruptionBudget.
  const pdbs = all('PodDisruptionBudget');
  if (exp.replicas > 1) {
    check(pdbs.length === 1 && pdbs[0].spec.minAvailable === 1 && matches(pdbs[0].spec.selector.matchLabels, podLabels),
      `${tag} PodDisruptionBudget minAvailable 1 over the webhook pods`);
  } else {
    check(pdbs.length === 0, `${tag} no PodDisruptionBudget with one replica`);
  }

  // RBAC: events when enabled; the certificate controller's Secret and webhook configuration,
  // by name, in controller mode; nothing else.
  const saName = spec.serviceAccountName;
  const sa = all('ServiceAccount').find((s) => s.metadata.name === saName && !isHook(s));
  check(sa, `${tag} ServiceAccount ${saName} of the Deployment is rendered`);
  let roles = objs.filter((o) => /Role$/.test(o.kind) && !isHook(o) && isComp('webhook')(o));
  let bindings = objs.filter((o) => /RoleBinding$/.test(o.kind) && !isHook(o) && isComp('webhook')(o));
  const certRoles = roles.filter((r) => /-(certs|cabundle)$/.test(r.metadata.name));
  const certBindings = bindings.filter((r) => /-(certs|cabundle)$/.test(r.metadata.name));
  if (exp.certMode === 'controller') {
    const role = certRoles.find((r) => r.kind === 'Role');
    const cr = certRoles.find((r) => r.kind === 'ClusterRole');
    check(certRoles.length === 2 && role?.metadata.namespace === ns &&
          eq(role.rules, [{ apiGroups: [''], resources: ['secrets'], resourceNames: [exp.tlsSecret], verbs: ['get', 'update'] },
            { apiGroups: [''], resources: ['secrets'], verbs: ['create'] }]),
      `${tag} Role in ${ns}: get/update of Secret ${exp.tlsSecret} only, create of Secrets (not limitable by name)`, show(role?.rules));
    check(cr && eq(cr.rules, [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations'],
      resourceNames: [vwc.metadata.name], verbs: ['get', 'patch'] }]),
      `${tag} ClusterRole: get/patch of ValidatingWebhookConfiguration ${vwc.metadata.name} only`, show(cr?.rules));
    check(certBindings.length === 2 && certBindings.every((b) => certRoles.some((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name) &&
          eq(b.subjects, [{ kind: 'ServiceAccount', name: saName, namespace: ns }])),
      `${tag} RoleBinding and ClusterRoleBinding give them to ${ns}/${saName} only`);
  } else {
    check(certRoles.length === 0 && certBindings.length === 0, `${tag} no certificate controller RBAC outside controller mode`);
  }
  roles = roles.filter((r) => !certRoles.includes(r));
  bindings = bindings.filter((b) => !certBindings.includes(b));
  // The lease watch (leaseWatch, fencing): get/list/watch on leases, cluster-wide.
  const leaseRoles = roles.filter((r) => /-leases$/.test(r.metadata.name));
  const leaseBindings = bindings.filter((b) => /-leases$/.test(b.metadata.name));
  if (exp.watchLeases) {
    check(leaseRoles.length === 1 && leaseRoles[0].kind === 'ClusterRole' &&
          eq(leaseRoles[0].rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] }]),
      `${tag} ClusterRole ${leaseRoles[0]?.metadata.name}: get/list/watch on leases, nothing else (the lease watch)`, show(leaseRoles.map((r) => r.rules)));
    check(leaseBindings.length === 1 && leaseBindings[0].kind === 'ClusterRoleBinding' && leaseBindings[0].roleRef.name === leaseRoles[0]?.metadata.name &&
          eq(leaseBindings[0].subjects, [{ kind: 'ServiceAccount', name: saName, namespace: ns }]),
      `${tag} ClusterRoleBinding gives it to ${ns}/${saName} only`);
  } else {
    check(leaseRoles.length === 0 && leaseBindings.length === 0, `${tag} no lease RBAC for the webhook without leaseWatch or fencing`);
  }
  roles = roles.filter((r) => !leaseRoles.includes(r));
  bindings = bindings.filter((b) => !leaseBindings.includes(b));
  if (exp.events) {
    const cr = roles.filter((r) => r.kind === 'ClusterRole');
    check(roles.length === 1 && cr.length === 1 && eq(cr[0].rules, [{ apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] }]),
      `${tag} one ClusterRole: core events create/patch, nothing else`, show(roles.map((r) => r.rules)));
    check(bindings.length === 1 && bindings[0].kind === 'ClusterRoleBinding' && bindings[0].roleRef.name === cr[0]?.metadata.name &&
          eq(bindings[0].subjects, [{ kind: 'ServiceAccount', name: saName, namespace: ns }]),
      `${tag} ClusterRoleBinding gives it to ${ns}/${saName} only`);
    check(sa?.automountServiceAccountToken === true, `${tag} ServiceAccount token mounted (events need the API)`);
  } else {
    check(roles.length === 0 && bindings.length === 0, `${tag} no events RBAC without events`);
    check(sa?.automountServiceAccountToken === usesApi, `${tag} ServiceAccount mounts a token only for the certificate controller or the lease watch (${usesApi})`);
  }

  // ServiceMonitor.
  const sms = all('ServiceMonitor').filter(isComp('webhook'));
  if (exp.serviceMonitor) {
    const ep = sms[0]?.spec.endpoints?.[0] || {};
    check(sms.length === 1 && matches(sms[0].spec.selector.matchLabels, svc.metadata.labels) && ep.port === mp?.name &&
          ep.scheme === 'http' && ep.path === '/metrics' && !ep.tlsConfig,
      `${tag} ServiceMonitor scrapes the Service's http-metrics port (the metrics listener), /metrics over plain HTTP`, show(ep));
    check(sms[0]?.spec.endpoints.length === 1 && ep.honorLabels === true,
      `${tag} ServiceMonitor honorLabels: the metrics' namespace label (the lease's) is kept, not renamed exported_namespace`, show(ep.honorLabels));
  } else {
    check(sms.length === 0, `${tag} no ServiceMonitor`);
  }

  // helm test.
  const hooks = objs.filter(isHook);
  if (exp.selftestNamespace) {
    const pod = one('Pod', isHook);
    const ann = pod.metadata.annotations;
    check(ann['helm.sh/hook'] === 'test' && ann['helm.sh/hook-delete-policy'] === 'before-hook-creation',
      `${tag} test Pod: helm.sh/hook test, delete before-hook-creation`);
    const tc = pod.spec.containers[0];
    check(eq(tc.args, ['selftest', `--namespace=${exp.selftestNamespace}`, `--expect=${exp.expect}`]),
      `${tag} test Pod runs selftest --namespace=${exp.selftestNamespace} --expect=${exp.expect}`, show(tc.args));
    check(tc.image === exp.image, `${tag} test Pod uses the webhook's image`);
    check(!matches(svc.spec.selector, pod.metadata.labels), `${tag} the Service does not select the test Pod`);
    check(pdbs.every((p) => !matches(p.spec.selector.matchLabels, pod.metadata.labels)), `${tag} the PDB does not count the test Pod`);
    const tsc2 = tc.securityContext || {};
    check(tsc2.runAsNonRoot && tsc2.readOnlyRootFilesystem && tsc2.allowPrivilegeEscalation === false && eq(tsc2.capabilities?.drop, ['ALL']),
      `${tag} test Pod is locked down like the webhook`);
    check(exp.selftestNamespace !== ns && !exp.excluded.includes(exp.selftestNamespace),
      `${tag} selftest namespace ${exp.selftestNamespace} is one the webhook sees`);
    const tsa = hooks.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.spec.serviceAccountName);
    const rb = hooks.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === exp.selftestNamespace &&
      o.subjects.some((s) => s.kind === 'ServiceAccount' && s.name === tsa?.metadata.name && s.namespace === ns));
    const role = rb && hooks.find((o) => o.kind === 'Role' && o.metadata.name === rb.roleRef.name && o.metadata.namespace === exp.selftestNamespace);
    check(tsa && rb && role && eq(role.rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] }]),
      `${tag} test ServiceAccount may get/list/watch/create/update/delete leases in ${exp.selftestNamespace}, nothing else`, show(role?.rules));
    check(hooks.every((o) => o.metadata.annotations['helm.sh/hook'] === 'test' &&
          o.metadata.annotations['helm.sh/hook-delete-policy'].split(',').includes('before-hook-creation')),
      `${tag} every hook object is a test hook, replaced on the next run (before-hook-creation)`);
    check(hooks.filter((o) => o.kind !== 'Pod').every((o) => Number(o.metadata.annotations['helm.sh/hook-weight']) < 0),
      `${tag} the test's ServiceAccount and RBAC are created before the Pod (negative hook weight)`);
  } else {
    check(hooks.length === 0, `${tag} no helm test objects when selftest is off`);
  }

  // The lease-health observer: audit --watch, read-only on leases, plain HTTP metrics.
  const lh = exp.values.leaseHealth;
  const lhObjs = objs.filter(isComp('lease-health'));
  if (!lh.enabled) {
    check(lhObjs.length === 0, `${tag} no lease-health objects`);
  } else {
    const ld = one('Deployment', isComp('lease-health'));
    const ls = one('Service', isComp('lease-health'));
    const lspec = ld.spec.template.spec;
    const lpl = ld.spec.template.metadata.labels;
    const lc = lspec.containers[0];
    check(ld.spec.replicas === 1 && lspec.containers.length === 1, `${tag} lease-health: one replica, one container`);
    check(matches(ld.spec.selector.matchLabels, lpl) && ld.spec.selector.matchLabels['app.kubernetes.io/component'] === 'lease-health',
      `${tag} lease-health: Deployment selector matches its pods, component lease-health`);
    check(!matches(svc.spec.selector, lpl) && pdbs.every((p) => !matches(p.spec.selector.matchLabels, lpl)) &&
          !matches(dep.spec.selector.matchLabels, lpl),
      `${tag} lease-health: the webhook's Service, Deployment and PDB do not select the observer`);
    check(matches(ls.spec.selector, lpl) && !matches(ls.spec.selector, podLabels),
      `${tag} lease-health: its Service selects the observer, not the webhook pods`);
    check(lc.image === exp.image, `${tag} lease-health: the webhook's image`, lc.image);
    const la = lc.args || [];
    const lf = new Map();
    const lbad = [];
    for (const a of la.slice(2)) {
      const mm = a === '--policy-reports' ? [a, a, 'true'] : /^(--[a-z-]+)=(.*)$/.exec(a);
      if (!mm || lf.has(mm[1])) lbad.push(a);
      else lf.set(mm[1], mm[2]);
    }
    check(la[0] === 'audit' && la[1] === '--watch' && lbad.length === 0,
      `${tag} lease-health: args are "audit --watch" then --flag=value (or --policy-reports), each once`, lbad.join(' '));
    const pr = lh.policyReports;
    check(pr.enabled ? lf.get('--policy-reports') === 'true' && lf.get('--policy-report-ttl') === pr.ttl
      : !lf.has('--policy-reports') && !lf.has('--policy-report-ttl'),
    `${tag} lease-health: ${pr.enabled ? `--policy-reports --policy-report-ttl=${pr.ttl}` : 'no --policy-reports'}`,
    `${lf.get('--policy-reports')} ${lf.get('--policy-report-ttl')}`);
    const lport = (lc.ports || []).find((p) => p.name === 'http-metrics');
    check(lport?.containerPort === lh.port && lf.get('--http') === hostPort(lh.port),
      `${tag} lease-health: --http=${hostPort(lh.port)} (server.bindAddress) is the container port http-metrics`, `${lf.get('--http')} ${show(lc.ports)}`);
    const lsp = ls.spec.ports.find((p) => p.name === 'http-metrics');
    check(ls.spec.ports.length === 1 && lsp?.port === lh.port && (lsp.targetPort === 'http-metrics' || lsp.targetPort === lh.port),
      `${tag} lease-health: Service port http-metrics (${lh.port}) targets the container's http-metrics port`, show(ls.spec.ports));
    check(lh.namespace ? lf.get('--namespace') === lh.namespace : !lf.has('--namespace'),
      `${tag} lease-health: --namespace ${lh.namespace ? `=${lh.namespace}` : 'absent (all namespaces)'}`, lf.get('--namespace'));
    check(flags.has('--mode') ? lf.get('--mode') === flags.get('--mode') : !lf.has('--mode'),
      `${tag} lease-health: --mode as the webhook's (${flags.get('--mode') || 'absent'})`, lf.get('--mode'));
    check(lf.get('--log-level') === flags.get('--log-level') && lf.get('--watch-timeout') === lh.watchTimeout,
      `${tag} lease-health: --log-level as the webhook's, --watch-timeout=${lh.watchTimeout}`);
    const lpf = lf.get('--policy-file') || '';
    const lmounts = lc.volumeMounts || [];
    const lpv = (lspec.volumes || []).find((v) => v.configMap && lmounts.some((m) => m.name === v.name && m.mountPath === path.posix.dirname(lpf)));
    check(lpf === pf && lpv?.configMap.name === cm?.metadata.name && !lpv.configMap.items && lmounts.every((m) => !m.subPath && !m.subPathExpr),
      `${tag} lease-health: --policy-file=${pf}, the webhook's policy ConfigMap mounted whole`, `${lpf} ${show(lpv)}`);
    check(Boolean(ld.spec.template.metadata.annotations?.['checksum/policy']),
      `${tag} lease-health: checksum/policy annotation (audit --watch reads the policy once)`);
    const httpProbe = (p, want) => p?.httpGet?.path === want && p.httpGet.scheme === 'HTTP' &&
      (p.httpGet.port === 'http-metrics' || p.httpGet.port === lh.port);
    check(httpProbe(lc.readinessProbe, '/readyz') && httpProbe(lc.livenessProbe, '/healthz'),
      `${tag} lease-health: readinessProbe GET /readyz, livenessProbe GET /healthz, plain HTTP on http-metrics`,
      `${show(lc.readinessProbe)} ${show(lc.livenessProbe)}`);
    check(eq(lc.securityContext, c.securityContext) && eq(lspec.securityContext, spec.securityContext),
      `${tag} lease-health: the webhook's pod and container securityContexts`, show(lc.securityContext));
    check(eq(lc.resources, lh.resources), `${tag} lease-health: resources are leaseHealth.resources`, show(lc.resources));
    check(eq(lspec.nodeSelector || {}, lh.nodeSelector) && eq(lspec.tolerations || [], lh.tolerations),
      `${tag} lease-health: nodeSelector and tolerations from leaseHealth`);
    const lsa = one('ServiceAccount', (x) => x.metadata.name === lspec.serviceAccountName && isComp('lease-health')(x));
    check(lsa.automountServiceAccountToken === true && lspec.automountServiceAccountToken === true && lsa.metadata.name !== saName,
      `${tag} lease-health: its own ServiceAccount ${lsa.metadata.name}, token mounted (it watches the API)`);
    const lroles = lhObjs.filter((o) => /^(Cluster)?Role$/.test(o.kind));
    const lbind = lhObjs.filter((o) => /RoleBinding$/.test(o.kind));
    const kind = lh.namespace ? 'Role' : 'ClusterRole';
    const reportRule = { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['get', 'create', 'update', 'delete'] };
    check(lroles.length === 1 && lroles[0].kind === kind &&
          eq(lroles[0].rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] },
            ...(lh.policyReports.enabled ? [reportRule] : [])]),
      `${tag} lease-health: one ${kind}${lh.namespace ? ` in ${lh.namespace}` : ''}: get/list/watch on coordination.k8s.io leases` +
      `${lh.policyReports.enabled ? ', get/create/update/delete on policyreports' : ''}, nothing else`,
      show(lroles.map((r) => [r.kind, r.rules])));
    check(lbind.length === 1 && lbind[0].kind === `${kind}Binding` && lbind[0].roleRef.kind === kind &&
          lbind[0].roleRef.name === lroles[0]?.metadata.name && (lbind[0].metadata.namespace || '') === lh.namespace &&
          eq(lbind[0].subjects, [{ kind: 'ServiceAccount', name: lsa.metadata.name, namespace: ns }]),
      `${tag} lease-health: ${kind}Binding gives it to ${ns}/${lsa.metadata.name} only`);
    const lsm = all('ServiceMonitor').filter(isComp('lease-health'));
    if (exp.serviceMonitor) {
      const lep = lsm[0]?.spec.endpoints?.[0] || {};
      check(lsm.length === 1 && matches(lsm[0].spec.selector.matchLabels, ls.metadata.labels) &&
            !matches(lsm[0].spec.selector.matchLabels, svc.metadata.labels) && lsm[0].spec.endpoints.length === 1 &&
            lep.port === 'http-metrics' && lep.scheme === 'http' && lep.path === '/metrics' && lep.honorLabels === true && !lep.tlsConfig,
        `${tag} lease-health: a second ServiceMonitor scrapes its Service's http-metrics port, /metrics over plain HTTP, honorLabels`, show(lsm.map((x) => x.spec)));
    } else {
      check(lsm.length === 0, `${tag} lease-health: no ServiceMonitor without serviceMonitor.enabled`);
    }
    rendered.push({ name, audit: true, args: la, policy: policyText });
  }

  // PrometheusRule: the alerts, their labels and annotations, metric families that exist.
  const prs = all('PrometheusRule');
  const pv = exp.values.prometheusRule;
  if (!pv.enabled) {
    check(prs.length === 0, `${tag} no PrometheusRule`);
  } else {
    const pr = one('PrometheusRule');
    check(Object.entries(pv.labels).every(([k, v]) => pr.metadata.labels[k] === v), `${tag} PrometheusRule carries prometheusRule.labels`);
    const rules = pr.spec.groups.flatMap((g) => g.rules);
    const want = ALERTS.filter((a) => !pv.disabled.includes(a) && (lh.enabled || !LEASE_HEALTH_ALERTS.includes(a)));
    check(eq(rules.map((r) => r.alert).sort(), [...want].sort()),
      `${tag} PrometheusRule alerts: ${want.join(', ')}`, rules.map((r) => r.alert).join(', '));
    const auto = exp.failurePolicy === 'Fail' ? 'critical' : 'warning';
    for (const r of rules) {
      const key = ALERT_KEYS[r.alert];
      const a = pv[key];
      const sev = a.severity || (key === 'errors' || key === 'absent' ? auto : 'warning');
      check(eq(r.labels, { ...pv.alertLabels, severity: sev }) && r.for === a.for,
        `${tag} ${r.alert}: severity ${sev}, for ${a.for}, alertLabels`, show([r.labels, r.for]));
      const ann = r.annotations || {};
      const lease = LEASE_HEALTH_ALERTS.includes(r.alert) && r.alert !== 'LeaseHealthAbsent' ? '{{ $labels.namespace }}/{{ $labels.name }}'
        : r.alert === 'LeaseguardViolations' ? '{{ $labels.namespace }}/{{ or $labels.name "*" }}' : null;
      check(ann.summary && ann.description && ann.description.includes('3 a.m.') && Object.keys(ann).length === 2 &&
            (!lease || (ann.summary.includes(lease) && ann.description.includes(lease))),
        `${tag} ${r.alert}: summary and description${lease ? ` naming the lease as ${lease}` : ''}, saying what to do at 3 a.m.`);
      const unknown = metricNames(r.expr).filter((m) => !EMITTED.has(m) && m !== 'up');
      check(unknown.length === 0, `${tag} ${r.alert}: its expression uses only metric families src/obs/metrics.c emits (or up)`, unknown.join(' '));
    }
    const rule = (n) => rules.find((r) => r.alert === n);
    const has = (n, ...parts) => !rule(n) || parts.every((p) => rule(n).expr.includes(p));
    check(has('LeaseguardViolations', 'leaseguard_lease_violations_total', `[${pv.violations.window}]`, `offset ${pv.violations.window}`) &&
          has('LeaseguardDenials', 'decision="denied"', `[${pv.denials.window}]`) &&
          has('LeaseguardErrors', 'decision="error"') &&
          has('LeaseFlappingLeader', `[${pv.flappingLeader.window}]`, `> ${pv.flappingLeader.threshold}`) &&
          has('LeaseStuckLeader', `> ${pv.stuckLeader.seconds}`, 'and on (namespace, name)', 'holder!=""') &&
          has('LeaseguardCertificateExpiry', `< ${pv.certificateExpiry.days * 86400}`) &&
          has('LeaseguardAbsent', `up{job="${pv.absent.job || svc.metadata.name}", namespace="${ns}"}`) &&
          has('LeaseHealthAbsent', `up{job="${pv.absent.job || svc.metadata.name}-lease-health", namespace="${ns}"}`),
      `${tag} PrometheusRule thresholds and windows are the values'; LeaseguardAbsent looks for job ${pv.absent.job || svc.metadata.name} in ${ns}`);
    const certAdvice = { generate: `delete secret ${exp.tlsSecret}`, 'cert-manager': 'describe certificate', secret: `your Secret ${exp.tlsSecret}`,
      controller: 'leaseguard_certificate_secret_writes_total' }[exp.certMode];
    check(!rule('LeaseguardCertificateExpiry') || rule('LeaseguardCertificateExpiry').annotations.description.includes(certAdvice),
      `${tag} LeaseguardCertificateExpiry says how to renew in ${exp.certMode} mode ("${certAdvice}")`);
    const excl = pv.excludedNamespaces.length ? `namespace!~"${pv.excludedNamespaces.join('|')}"` : null;
    check(['LeaseFlappingLeader', 'LeaseStuckLeader'].every((n) => !rule(n) || (excl ? rule(n).expr.includes(excl) : !rule(n).expr.includes('namespace!~'))),
      `${tag} lease alerts leave out ${excl || 'no namespace'}`);
  }

  // Grafana dashboard ConfigMap.
  const gv = exp.values.grafanaDashboard;
  const dcms = all('ConfigMap').filter(isComp('monitoring'));
  if (!gv.enabled) {
    check(dcms.length === 0, `${tag} no dashboard ConfigMap`);
  } else {
    const dcm = one('ConfigMap', isComp('monitoring'));
    check(dcm.metadata.labels[gv.labelKey] === gv.labelValue && Object.keys(dcm.data || {}).length === 1,
      `${tag} dashboard ConfigMap ${dcm.metadata.name} carries the label ${gv.labelKey}: "${gv.labelValue}" and one dashboard`, show(dcm.metadata.labels));
    check(eq(dcm.metadata.annotations || {}, gv.annotations), `${tag} dashboard ConfigMap annotations are grafanaDashboard.annotations`);
    const [key, text] = Object.entries(dcm.data || {})[0] || [];
    let parsed = null;
    try { parsed = JSON.parse(text); } catch (e) { fail(`${tag} dashboard ${key}: ${e.message}`); }
    check(parsed && key.endsWith('.json') && text.trim() === DASHBOARD_TEXT.trim(),
      `${tag} dashboard ${key} parses and is files/dashboard.json as is`);
  }
}

// ---------------------------------------------------------------------------------------
// Expectations of each case that run.sh rendered.

const fullValues = YAML.parse(fs.readFileSync(path.join(opt.repo, 'tests', 'chart', 'values', 'full.yaml'), 'utf8'));
const chartValues = YAML.parse(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
// Helm's merge of a values file over values.yaml: maps merge, a null removes the key,
// anything else replaces.
const mergeValues = (base, over) => (isObj(base) && isObj(over)
  ? Object.fromEntries([...new Set([...Object.keys(base), ...Object.keys(over)])]
    .filter((k) => !(k in over && over[k] === null))
    .map((k) => [k, k in over ? mergeValues(base[k], over[k]) : base[k]]))
  : over);
const valuesFile = (f) => YAML.parse(fs.readFileSync(path.join(opt.repo, 'tests', 'chart', 'values', f), 'utf8'));
const monitoringValues = { leaseHealth: { enabled: true }, serviceMonitor: { enabled: true },
  prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } };
const chartYaml = YAML.parse(fs.readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'));
const defaults = {
  namespace: opt.namespace, replicas: 2, image: `ghcr.io/leaseguard/leaseguard:${chartYaml.appVersion}`,
  events: false, securePort: 8443, webhookName: 'leases.leaseguard.io',
  failurePolicy: 'Ignore', timeoutSeconds: 3, excluded: [], objectSelector: {},
  certMode: 'controller', tlsSecret: `${opt.release}-certs`, policy: 'default', mode: '',
  flags: { '--log-level': 'info', '--max-request-bytes': '33554432', '--max-connections': '1024',
    '--connection-timeout': '30', '--threads': '0', '--policy-check-interval': '1000',
    '--lease-memory-size': '16384' },
  clientCA: null, serviceMonitor: false, selftestNamespace: 'default', expect: 'enforce',
  eventQueueSize: '1000', leaseLabel: false, values: chartValues,
};
const defaultCa = fs.readFileSync(path.join(opt.dir, 'secret-ca.b64'), 'utf8').trim();
const cases = {
  default: {},
  generate: { certMode: 'generate', tlsSecret: `${opt.release}-tls` },
  'cert-manager': { certMode: 'cert-manager', tlsSecret: `${opt.release}-tls`, serviceMonitor: true,
    values: mergeValues(chartValues, { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } }) },
  'cert-manager-issuer': { certMode: 'cert-manager', tlsSecret: `${opt.release}-tls`, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
  secret: { certMode: 'secret', tlsSecret: 'my-webhook-tls', caBundle: defaultCa, clientCA: { name: 'apiserver-ca', key: 'ca.crt' },
    values: mergeValues(chartValues, { prometheusRule: { enabled: true } }) },
  single: { replicas: 1, selftestNamespace: null },
  full: {
    namespace: 'kube-guard', replicas: 3, image: `${fullValues.image.repository}@${fullValues.image.digest}`,
    events: true, securePort: 9443, webhookName: 'leases.guard.example.com',
    failurePolicy: 'Fail', timeoutSeconds: 2, excluded: ['kube-node-lease', 'sandbox'],
    objectSelector: fullValues.webhook.objectSelector,
    tlsSecret: fullValues.certificates.controller.secretName, policy: fullValues.policy, mode: 'warn',
    flags: { '--log-level': 'debug', '--max-request-bytes': '1048576', '--max-connections': '256',
      '--connection-timeout': '10', '--threads': '4', '--policy-check-interval': '500',
      '--lease-memory-size': '4096' },
    clientCA: { name: 'apiserver-client-ca', key: 'client-ca.crt' }, serviceMonitor: true,
    eventQueueSize: String(fullValues.events.queueSize), leaseLabel: true,
    selftestNamespace: 'leaseguard-selftest', expect: 'warn', values: mergeValues(chartValues, fullValues),
  },
  monitoring: { serviceMonitor: true, values: mergeValues(chartValues, monitoringValues) },
  // vap.enabled: the ValidatingAdmissionPolicies beside the webhook (tests/chart/vap.mjs checks them further).
  vap: { values: mergeValues(chartValues, { vap: { enabled: true } }) },
  // Clusters the chart is fitted to: OpenShift's restricted-v2, EKS with a custom CNI (host
  // network), the NetworkPolicies at their defaults, and the webhook's default skips turned off.
  openshift: { values: mergeValues(chartValues, valuesFile('openshift.yaml')) },
  eks: { securePort: 9443, values: mergeValues(chartValues, valuesFile('eks-hostnetwork.yaml')) },
  netpol: { values: mergeValues(chartValues, { networkPolicy: { enabled: true }, leaseHealth: { enabled: true } }) },
  'opt-in': { values: mergeValues(chartValues, { webhook: { nodeLeases: true, metadataOnlyUpdates: true },
    priorityClassName: '', podSecurityContext: { runAsUser: null } }) },
  // The fence where the chart renders the caBundle, with API egress and no Events; the lease
  // watch alone, beside PolicyReports of one namespace.
  fencing: { certMode: 'generate', tlsSecret: `${opt.release}-tls`, values: mergeValues(chartValues,
    { fencing: { enabled: true }, certificates: { mode: 'generate' }, networkPolicy: { enabled: true, egress: { enabled: true } } }) },
  'lease-watch': { values: mergeValues(chartValues, { leaseWatch: { enabled: true },
    leaseHealth: { enabled: true, namespace: 'team-a', policyReports: { enabled: true } } }) },
};
try {
  check(selfCheck(), 'the unknown-field check finds misspelt fields (Deployment container, Certificate issuerRef, a CRD schema\'s items)');
} catch (e) { fail(`unknown-field self-check: ${e.stack || e}`); }
try { dashboard(); } catch (e) { fail(`dashboard: ${e.stack || e}`); }
for (const [name, over] of Object.entries(cases)) {
  try {
    checkCase(name, { ...defaults, ...over });
  } catch (e) {
    fail(`[${name}] ${e.stack || e}`);
  }
}

// ---------------------------------------------------------------------------------------
// The real binary: the rendered flags parse, the rendered policies load.

const bin = process.env.LEASEGUARD_BIN;
if (bin && fs.existsSync(bin)) {
  const help = execFileSync(bin, ['serve', '--help'], { encoding: 'utf8' });
  const known = new Set([...help.matchAll(/(--[a-z-]+)/g)].map((m) => m[1]));
  // Chart values map one-to-one to flags: every serve flag is rendered in the "full" case,
  // except those the chart leaves out on purpose.
  // In a pod, the in-cluster service account: the API access flags are not chart values.
  const NOT_EXPOSED = new Set(['--kubeconfig', '--context', '--server', '--token-file', '--certificate-authority']);
  // extraArgs refuses exactly the flags that have a chart value (templates/_fit.tpl).
  const refused = valueFlags(chartDir);
  const valued = [...known].filter((f) => f !== '--help' && !NOT_EXPOSED.has(f));
  check(valued.length === refused.size && valued.every((f) => refused.has(f)),
    `extraArgs refuses the ${refused.size} serve flags that have a chart value (leaseguard.valueFlags), and only those`,
    `not refused: ${valued.filter((f) => !refused.has(f)).join(' ') || '-'}; refused but no value: ${[...refused].filter((f) => !valued.includes(f)).join(' ') || '-'}`);
  // The certificate modes exclude each other's flags: the full case and the file modes together.
  const fullFlags = new Set(rendered.filter((r) => ['full', 'generate'].includes(r.name) && !r.audit)
    .flatMap((r) => r.args.slice(1).map((a) => a.split('=')[0])));
  const unwired = [...known].filter((f) => f !== '--help' && !NOT_EXPOSED.has(f) && !fullFlags.has(f));
  check(unwired.length === 0, `every flag of leaseguard serve has a chart value (${known.size} flags; not exposed: ${[...NOT_EXPOSED].join(' ')})`,
    `no value renders ${unwired.join(' ')}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lg-chart-policy-'));
  const review = path.join(opt.repo, 'tests', 'fixtures', 'reviews', 'kcm-renew.json');
  for (const r of rendered.filter((x) => !x.audit)) {
    let args = r.args;
    const missing = args.slice(1).map((a) => a.split('=')[0]).filter((f) => !known.has(f));
    if (missing.length === 1 && missing[0] === '--client-ca-file') {
      console.log(`skip: [${r.name}] ${bin} has no --client-ca-file yet; the other flags are still checked`);
      args = args.filter((a) => !a.startsWith('--client-ca-file='));
    } else if (missing.length) {
      fail(`[${r.name}] flags unknown to leaseguard serve: ${missing.join(' ')}`);
      continue;
    }
    // Flags are parsed in order, so a trailing --help checks every value and then exits 0.
    const res = spawnSync(bin, [...args, '--help'], { encoding: 'utf8' });
    check(res.status === 0, `[${r.name}] leaseguard serve accepts the rendered flags`, res.stderr.trim());
    const pf = path.join(tmp, `${r.name}.json`);
    fs.writeFileSync(pf, r.policy ?? '');
    const chk = spawnSync(bin, ['check', `--policy-file=${pf}`, review], { encoding: 'utf8' });
    check(chk.status === 0 || chk.status === 1, `[${r.name}] leaseguard check loads the rendered policy`, chk.stderr.trim());
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  auditFlags(bin);
} else {
  console.log('skip: LEASEGUARD_BIN not set: rendered flags and policies not given to the binary');
}

// The lease-health observer's args to `leaseguard audit`: every flag known, every value
// accepted. audit stops at --help before it checks values, so the rendered args are also run
// for real with no cluster around (no KUBERNETES_SERVICE_HOST): the values pass (exit 2 is a
// usage error) and it stops at the in-cluster config (exit 1), before it listens on --http.
function auditFlags(binPath) {
  const help = spawnSync(binPath, ['audit', '--help'], { encoding: 'utf8' });
  if (help.status !== 0 && /unknown command/.test(help.stderr)) {
    console.log(`skip: ${binPath} has no audit command yet ("unknown command"): the lease-health args are not given to it`);
    return;
  }
  if (help.status !== 0) {
    fail(`leaseguard audit --help failed (${help.status}): ${help.stderr.trim()}`);
    return;
  }
  // Flags are the indented option lines of the help ("  --flag=…").
  const known = new Set(help.stdout.split('\n').filter((l) => /^\s+--[a-z]/.test(l))
    .flatMap((l) => [...l.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1])));
  // Not chart values: --output is for recorded histories (--watch refuses it); in a pod the
  // API is reached with the in-cluster service account.
  const NOT_EXPOSED = new Set(['--output', '--kubeconfig', '--context', '--server', '--token-file', '--certificate-authority']);
  const audits = rendered.filter((r) => r.audit);
  const full = audits.find((r) => r.name === 'full');
  const fullFlags = new Set((full?.args || []).slice(1).map((a) => a.split('=')[0]));
  const unwired = [...known].filter((f) => f !== '--help' && !NOT_EXPOSED.has(f) && !fullFlags.has(f));
  check(full && unwired.length === 0,
    `every flag of leaseguard audit --watch has a chart value (${known.size} flags; not exposed: ${[...NOT_EXPOSED].join(' ')})`,
    `no value renders ${unwired.join(' ')}`);
  const env = { ...process.env };
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lg-chart-audit-'));
  // Nor a kubeconfig: without a cluster, audit would fall back to $KUBECONFIG or ~/.kube/config.
  delete env.KUBECONFIG;
  env.HOME = tmp;
  for (const r of audits) {
    const missing = r.args.slice(1).map((a) => a.split('=')[0]).filter((f) => !known.has(f));
    if (missing.length) {
      fail(`[${r.name}] flags unknown to leaseguard audit: ${missing.join(' ')}`);
      continue;
    }
    const h = spawnSync(binPath, [...r.args, '--help'], { encoding: 'utf8' });
    check(h.status === 0, `[${r.name}] leaseguard audit knows the rendered flags`, h.stderr.trim());
    const pf = path.join(tmp, `${r.name}.json`);
    fs.writeFileSync(pf, r.policy ?? '');
    const args = r.args.map((a) => (a.startsWith('--policy-file=') ? `--policy-file=${pf}` : a));
    const run = spawnSync(binPath, args, { encoding: 'utf8', env, timeout: 10000 });
    check(run.status === 1, `[${r.name}] leaseguard audit accepts the rendered values and policy (then stops: no cluster here)`,
      `exit ${run.status}${run.signal ? ` (${run.signal})` : ''}: ${(run.stderr || '').trim()}`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// Documentation: every value in values.yaml has a comment, a README row with its default,
// and a place in values.schema.json; every schema property is a value.

function docs() {
  const doc = YAML.parseDocument(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const readme = fs.readFileSync(path.join(chartDir, 'README.md'), 'utf8');
  const schema = JSON.parse(fs.readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8'));
  const rows = new Map();
  const section = readme.split(/^## /m).find((x) => x.startsWith('Values\n')) || '';
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*`(.*)`\s*\|/.exec(line);
    if (m) rows.set(m[1], { type: m[2], def: m[3] });
  }
  const values = [];
  (function walk(map, prefix, inherited) {
    map.items.forEach((pair, idx) => {
      const key = `${prefix}${pair.key.value}`;
      const comment = pair.key.commentBefore || (idx === 0 && map.commentBefore) || pair.value?.comment;
      const nested = YAML.isMap(pair.value) && pair.value.items.length > 0;
      if (nested && !comment) walk(pair.value, `${key}.`, inherited);
      else values.push({ key, comment: comment || inherited, value: pair.value?.toJSON() ?? null });
    });
  })(doc.contents, '', null);
  const undocumented = values.filter((v) => !v.comment).map((v) => v.key);
  check(undocumented.length === 0, `values.yaml: all ${values.length} values have a comment`, undocumented.join(', '));
  const noRow = values.filter((v) => !rows.has(v.key)).map((v) => v.key);
  check(noRow.length === 0, 'README.md: every value has a row in the values table', noRow.join(', '));
  const wrong = values.filter((v) => rows.has(v.key) && rows.get(v.key).def !== JSON.stringify(v.value))
    .map((v) => `${v.key}: README ${rows.get(v.key).def}, values.yaml ${JSON.stringify(v.value)}`);
  check(wrong.length === 0, 'README.md: every default is the one in values.yaml', wrong.join('; '));
  const extra = [...rows.keys()].filter((k) => !values.some((v) => v.key === k));
  check(extra.length === 0, 'README.md: no row for a value that does not exist', extra.join(', '));
  const schemaKeys = [];
  (function walk(s, prefix) {
    for (const [k, v] of Object.entries(s.properties || {})) {
      if (k === 'global') continue;
      const key = `${prefix}${k}`;
      if (v.properties && !['policy', 'issuerRef', 'objectSelector', 'resources', 'alertLabels'].includes(k)) walk(v, `${key}.`);
      else schemaKeys.push(key);
    }
  })(schema, '');
  const valueKeys = new Set(values.map((v) => v.key));
  const notValues = schemaKeys.filter((k) => !valueKeys.has(k) && ![...valueKeys].some((v) => v.startsWith(`${k}.`)));
  check(notValues.length === 0, `values.schema.json: its ${schemaKeys.length} properties are all values`, notValues.join(', '));
  const notInSchema = [...valueKeys].filter((k) => !schemaKeys.includes(k) && !schemaKeys.some((s) => k.startsWith(`${s}.`)));
  check(notInSchema.length === 0, 'values.schema.json: every value has a schema', notInSchema.join(', '));
}
try { docs(); } catch (e) { fail(`documentation: ${e.stack || e}`); }

console.log(failures ? `validate.mjs: ${failures} failed` : 'validate.mjs: all passed');
process.exit(failures ? 1 : 0);
