// vap.mjs -- checks the ValidatingAdmissionPolicies that run.sh rendered with vap.enabled:
// each case renders exactly what `leaseguard vap --output=json` prints for the same name,
// mode and failurePolicy (labels aside: the chart's own), with the chart's labels; with
// vap.enabled=false nothing. Without LEASEGUARD_BIN the comparison is skipped, saying so.
//
// usage: node vap.mjs --modules DIR --dir DIR --helm N [--bin LEASEGUARD]
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const require = createRequire(path.join(opt.modules, 'noop.js'));
const YAML = require('yaml');
let failures = 0;
const check = (cond, msg, detail) => {
  if (cond) console.log(`ok: helm ${opt.helm}: ${msg}`);
  else { failures++; console.log(`FAIL: helm ${opt.helm}: ${msg}${detail ? ` (${detail})` : ''}`); }
};
const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object'
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
const VAP_KINDS = new Set(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
const load = (name) => YAML.parseAllDocuments(fs.readFileSync(path.join(opt.dir, `case-${name}.yaml`), 'utf8'))
  .map((d) => d.toJS()).filter((o) => o && VAP_KINDS.has(o.kind));

// case -> [object name prefix, --mode, --failure-policy]
const cases = { default: ['leaseguard', null, 'Fail'], 'mode-warn': ['leaseguard', 'warn', 'Fail'],
  'vap-mode-audit': ['lease-guard', 'audit', 'Ignore'] };
check(load('off').length === 0, 'vap.enabled=false renders no ValidatingAdmissionPolicy');
const bin = opt.bin && fs.existsSync(opt.bin) ? opt.bin : null;
if (!bin) console.log('skip: LEASEGUARD_BIN not set: the rendered policies are not compared with `leaseguard vap`');
for (const [name, [prefix, mode, fp]] of Object.entries(cases)) {
  const objs = load(name);
  const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
  check(objs.length === 6 && ['enforce', 'warn', 'audit'].every((m) => objs.filter((o) => o.metadata.name === `${prefix}-${m}`).length === 2),
    `[${name}] a policy and a binding for each mode: ${names.join(', ')}`);
  check(objs.every((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'vap' &&
      o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'Helm' && o.metadata.labels?.['leaseguard.io/mode'] === o.metadata.name.slice(prefix.length + 1)),
    `[${name}] the chart's labels, component vap, leaseguard.io/mode`);
  if (!bin) continue;
  const args = ['vap', '--output=json', `--name=${prefix}`, `--failure-policy=${fp}`];
  if (mode) args.push(`--mode=${mode}`);
  const res = spawnSync(bin, args, { encoding: 'utf8' });
  if (res.status !== 0) { check(false, `[${name}] leaseguard ${args.join(' ')}`, res.stderr); continue; }
  const strip = (o) => ({ ...o, metadata: { ...o.metadata, labels: undefined } });
  // Helm orders the objects by kind: compare them by kind and name.
  const key = (o) => `${o.kind}/${o.metadata.name}`;
  const byKey = (a, b) => key(a).localeCompare(key(b));
  const want = JSON.parse(res.stdout).items.map(strip).sort(byKey);
  const got = objs.map(strip).sort(byKey);
  const diff = got.map((o, i) => (same(o, want[i]) ? null : key(o))).filter(Boolean);
  check(same(got, want), `[${name}] renders what \`leaseguard ${args.slice(0, 1).concat(args.slice(2)).join(' ')}\` prints (labels aside)`,
    `${diff.join(', ') || 'object lists'} differ: regenerate with cmake --build build --target vap-chart-template`);
}
console.log(failures ? `vap.mjs: ${failures} failed` : 'vap.mjs: all passed');
process.exit(failures ? 1 : 0);
