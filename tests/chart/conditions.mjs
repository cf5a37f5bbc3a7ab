// conditions.mjs -- the matchConditions the chart renders, run with a real CEL implementation
// (@bufbuild/cel) as the API server runs them: on every review of tests/fixtures/reviews and
// on a table of requests made for the edge cases (DELETE with no object, CREATE with no
// oldObject, no spec on one side, a node writing another node's lease, ...). Each condition
// must evaluate without error on all of them and send exactly what it is meant to send; and
// every request the chart's conditions skip is given to `leaseguard check` in every mode: it
// must be allowed, and a skipped metadata-only update must carry no finding at all (the
// webhook would have recorded nothing). A skipped node heartbeat may carry audit findings:
// those are the audit lines given up with webhook.nodeLeases=false; their number is printed.
//
// usage: node conditions.mjs --modules DIR --dir DIR --repo DIR --bin LEASEGUARD
// Prints "ok: ..." and "FAIL: ..." lines; exit status 1 when anything failed.
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CHART_CONDITIONS } from './fit.mjs';

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['modules', 'dir', 'repo', 'bin'])
  if (!opt[k]) { console.error(`conditions.mjs: --${k} is required`); process.exit(2); }
const require = createRequire(path.join(opt.modules, 'noop.js'));
const { celEnv, plan, parse, isCelError } = await import(require.resolve('@bufbuild/cel'));
const YAML = require('yaml');

let failures = 0;
const ok = (msg) => console.log(`ok: ${msg}`);
const fail = (msg) => { failures++; console.log(`FAIL: ${msg}`); };
const check = (cond, msg, detail) => (cond ? ok(msg) : fail(detail === undefined ? msg : `${msg} (${detail})`));
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const canon = (v) => (Array.isArray(v) ? v.map(canon) : isObj(v)
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));

// JSON -> CEL values as the API server builds them: objects as maps, integers as int, an
// absent side (object on DELETE, oldObject on CREATE) as null.
const env = celEnv({});
const toCel = (v) => (Array.isArray(v) ? v.map(toCel)
  : isObj(v) ? new Map(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, toCel(x)]))
    : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : v);
function evaluate(expr, req) {
  const r = plan(env, parse(expr))({ request: toCel(req), object: toCel(req.object ?? null), oldObject: toCel(req.oldObject ?? null) });
  if (isCelError(r)) return { error: r.message };
  if (typeof r !== 'boolean') return { error: `not a bool: ${String(r)}` };
  return { value: r };
}

// What each chart condition is meant to send (true) or skip (false), said plainly.
const INTENT = {
  'skip-node-heartbeats': (r) => !(r.namespace === 'kube-node-lease' && r.userInfo.username === `system:node:${r.name}`),
  'skip-metadata-only-updates': (r) => r.operation !== 'UPDATE' || !same(r.object?.spec, r.oldObject?.spec),
};

// The requests: every fixture review, and variants for the edges.
const fixtures = path.join(opt.repo, 'tests', 'fixtures', 'reviews');
const requests = [];
for (const f of fs.readdirSync(fixtures).filter((x) => x.endsWith('.json')).sort()) {
  let review;
  try { review = JSON.parse(fs.readFileSync(path.join(fixtures, f), 'utf8')); } catch { continue; } // malformed.json
  // The webhook's rules send Leases only (configmap.json is for a misconfigured webhook).
  if (review.request?.kind?.kind === 'Lease') requests.push({ name: f.replace(/\.json$/, ''), review });
}
const base = (n) => structuredClone(requests.find((x) => x.name === n).review);
const variant = (name, from, edit) => { const r = base(from); edit(r.request); requests.push({ name, review: r, variant: true }); };
variant('node-lease-create-by-its-kubelet', 'node-lease-renew', (q) => { q.operation = 'CREATE'; delete q.oldObject; });
variant('node-lease-delete-by-its-kubelet', 'node-lease-renew', (q) => { q.operation = 'DELETE'; delete q.object; });
variant('node-lease-renewed-by-another-node', 'node-lease-renew', (q) => { q.userInfo.username = 'system:node:node-2'; });
variant('node-lease-written-by-a-user', 'node-lease-renew', (q) => { q.userInfo.username = 'alice@example.com'; });
variant('node-named-lease-elsewhere', 'node-lease-renew', (q) => { q.namespace = 'kube-system'; q.object.metadata.namespace = 'kube-system'; });
variant('node-lease-metadata-only', 'node-lease-renew', (q) => { q.object.spec = structuredClone(q.oldObject.spec); q.object.metadata.labels = { a: 'b' }; });
variant('metadata-only-by-the-holder', 'metadata-only', (q) => { q.userInfo.username = 'system:kube-controller-manager'; });
variant('metadata-only-no-spec-either-side', 'metadata-only', (q) => { delete q.object.spec; delete q.oldObject.spec; });
variant('spec-added', 'metadata-only', (q) => { delete q.oldObject.spec; });
variant('spec-removed', 'metadata-only', (q) => { delete q.object.spec; });
variant('spec-emptied', 'metadata-only', (q) => { q.object.spec = {}; });
variant('only-strategy-added', 'metadata-only', (q) => { q.object.spec.strategy = 'OldestEmulationVersion'; });
variant('only-preferred-holder-changed', 'coordinated-controller-move', (q) => {
  q.object.spec = { ...structuredClone(q.oldObject.spec), preferredHolder: 'somebody-else' };
});
variant('renew-time-same-instant-other-text', 'metadata-only', (q) => {
  q.object.spec.renewTime = q.object.spec.renewTime.replace('.000000Z', '.000000+00:00');
});
variant('create-of-a-metadata-only-object', 'kcm-create', () => {});

function judge(req, mode) { // leaseguard check of one request: {allowed, findings}
  const args = ['check'];
  if (mode) args.push(`--mode=${mode}`);
  args.push(`--now=${req.object?.spec?.renewTime || req.oldObject?.spec?.renewTime || '2026-11-25T10:00:00.000000Z'}`, '-');
  const res = spawnSync(opt.bin, args, { input: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req }), encoding: 'utf8' });
  if (res.status !== 0 && res.status !== 1) return { error: `exit ${res.status}: ${res.stderr.trim()}` };
  const r = JSON.parse(res.stdout).response;
  return { allowed: r.allowed, findings: (r.warnings || []).length + Object.keys(r.auditAnnotations || {}).length };
}

const MODES = ['', 'enforce', 'warn', 'audit'];
for (const caseName of ['default', 'full', 'opt-in']) {
  const file = path.join(opt.dir, `${caseName}.yaml`);
  const vwc = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS())
    .find((o) => o?.kind === 'ValidatingWebhookConfiguration');
  const conds = vwc.webhooks[0].matchConditions || [];
  const tag = `[${caseName}]`;
  const ours = conds.filter((c) => c.name in CHART_CONDITIONS);
  console.log(`# case ${caseName}: ${conds.length} matchConditions (${conds.map((c) => c.name).join(', ') || 'none'}), ${requests.length} requests`);
  // Every condition, the operator's too, is total: no error on any request.
  const errors = [];
  const results = new Map();
  for (const { name, review } of requests) {
    const r = conds.map((c) => ({ c, ...evaluate(c.expression, review.request) }));
    r.filter((x) => x.error).forEach((x) => errors.push(`${x.c.name} on ${name}: ${x.error}`));
    results.set(name, r);
  }
  check(errors.length === 0, `${tag} every matchCondition evaluates to a bool on all ${requests.length} requests (DELETE without object, CREATE without oldObject, no spec on a side)`, errors.slice(0, 4).join('; '));
  for (const c of ours) {
    const wrong = requests.filter(({ name, review }) => results.get(name).find((x) => x.c === c).value !== INTENT[c.name](review.request))
      .map(({ name }) => name);
    const skipped = requests.filter(({ name }) => results.get(name).find((x) => x.c === c).value === false).map(({ name }) => name);
    check(wrong.length === 0 && skipped.length > 0,
      `${tag} ${c.name} sends what it is meant to and skips ${skipped.length}: ${skipped.join(', ')}`, `wrong on ${wrong.join(', ') || 'none'}`);
  }
  // What the chart's conditions skip, given to the webhook's own judgement.
  const skippedBy = (name) => results.get(name).filter((x) => x.c.name in CHART_CONDITIONS && x.value === false).map((x) => x.c.name);
  const problems = [];
  const lostAudit = new Set();
  let skippedCount = 0;
  for (const { name, review } of requests) {
    const by = skippedBy(name);
    if (!by.length) continue;
    skippedCount++;
    for (const mode of MODES) {
      const v = judge(review.request, mode);
      if (v.error) problems.push(`${name} (mode ${mode || 'policy'}): ${v.error}`);
      else if (!v.allowed) problems.push(`${name} (mode ${mode || 'policy'}): the webhook would deny it`);
      else if (by.includes('skip-metadata-only-updates') && v.findings) problems.push(`${name} (mode ${mode || 'policy'}): ${v.findings} findings`);
      else if (v.findings) lostAudit.add(name);
    }
  }
  check(problems.length === 0 && (skippedCount > 0) === (ours.length > 0),
    `${tag} all ${skippedCount} skipped requests are allowed by leaseguard check in every mode (policy, enforce, warn, audit); the metadata-only ones without a finding`,
    problems.slice(0, 4).join('; '));
  if (ours.some((c) => c.name === 'skip-node-heartbeats'))
    console.log(`  ${tag} skipped node heartbeats whose audit findings are given up (the shipped policy only audits kube-node-lease): ${[...lostAudit].join(', ') || 'none'}`);
}

// The fence's conditions (case full has fencing.enabled): total on every operation, and sending
// exactly what is not a lease, an event or a webhook configuration (what leaseguard and the
// control plane need: gatekeeper#3829), subresources included.
{
  const vwc = YAML.parseAllDocuments(fs.readFileSync(path.join(opt.dir, 'full.yaml'), 'utf8')).map((d) => d.toJS())
    .find((o) => o?.kind === 'ValidatingWebhookConfiguration');
  const f = vwc.webhooks.find((w) => w.clientConfig?.service?.path === '/fence');
  const resources = [
    ['coordination.k8s.io', 'leases', '', false], ['', 'events', '', false], ['events.k8s.io', 'events', '', false],
    ['admissionregistration.k8s.io', 'validatingwebhookconfigurations', '', false],
    ['admissionregistration.k8s.io', 'mutatingwebhookconfigurations', '', false],
    ['admissionregistration.k8s.io', 'validatingadmissionpolicies', 'status', false],
    ['', 'configmaps', '', true], ['', 'secrets', '', true], ['apps', 'deployments', '', true],
    ['apps', 'deployments', 'status', true], ['', 'pods', 'status', true], ['example.com', 'widgets', '', true],
    ['coordination.k8s.io', 'leasecandidates', '', true], ['', 'namespaces', '', true],
  ];
  const object = { metadata: { name: 'x', namespace: 'team-a', labels: { 'leaseguard.io/fenced': 'true' } } };
  const errors = [];
  const wrong = [];
  let n = 0;
  for (const [group, resource, sub, send] of resources) {
    for (const op of ['CREATE', 'UPDATE', 'DELETE']) {
      const req = { uid: 'u', kind: { group, version: 'v1', kind: 'X' }, resource: { group, version: 'v1', resource },
        subResource: sub || undefined, name: 'x', namespace: 'team-a', operation: op, userInfo: { username: 'u' },
        object: op === 'DELETE' ? null : object, oldObject: op === 'CREATE' ? null : object };
      const r = (f?.matchConditions || []).map((c) => ({ c, ...evaluate(c.expression, req) }));
      r.filter((x) => x.error).forEach((x) => errors.push(`${x.c.name} on ${op} ${group}/${resource}: ${x.error}`));
      if (r.every((x) => x.value === true) !== send) wrong.push(`${op} ${group || 'core'}/${resource}${sub ? `/${sub}` : ''}`);
      n++;
    }
  }
  check(f && f.matchConditions.length === 3 && errors.length === 0,
    `[full] the fence's ${f?.matchConditions.length} matchConditions evaluate to a bool on all ${n} requests`, errors.slice(0, 4).join('; '));
  check(f && wrong.length === 0,
    '[full] the fence is sent every resource and subresource but leases, events (core and events.k8s.io) and admissionregistration.k8s.io',
    `wrong on ${wrong.join(', ')}`);
}

console.log(failures ? `conditions.mjs: ${failures} failed` : 'conditions.mjs: all passed');
process.exit(failures ? 1 : 0);
