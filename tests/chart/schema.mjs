// schema.mjs -- validate.mjs's schema check of rendered objects: the classes of the npm
// package kubernetes-models (and its cert-manager and Prometheus Operator packages) validate
// types, enums and required fields; their .d.ts files, read by a small parser, give the
// fields that exist, so that unknown (misspelt) fields fail too.
import fs from 'node:fs';
import path from 'node:path';

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// require: a require() that resolves in the tools' node_modules. Returns
// { validateObject(obj): null or the reason it is invalid, selfCheck(): true when the
// unknown-field check finds misspelt fields }.
export function schemaChecker(require) {
  const packages = [
    { pkg: 'kubernetes-models', match: (g) => !g.includes('.') || g.endsWith('.k8s.io') },
    { pkg: '@kubernetes-models/cert-manager', match: (g) => g.endsWith('cert-manager.io') },
    { pkg: '@kubernetes-models/prometheus-operator', match: (g) => g === 'monitoring.coreos.com' },
  ];

  function modelFor(apiVersion, kind) {
    const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
    const p = packages.find((x) => x.match(group));
    if (!p) return null;
    const spec = `${p.pkg}/${apiVersion}`;
    const cls = require(spec)[kind];
    if (!cls) return null;
    const js = require.resolve(`${spec}/${kind}`);
    return { cls, dts: js.replace(/\.js$/, '.d.ts'), iface: `I${kind}` };
  }

  // A small parser for the subset of TypeScript declarations those .d.ts files use.
  const dtsCache = new Map();
  function tokenize(src) {
    const toks = [];
    const re = /\s+|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([A-Za-z_$][\w$]*)|(-?\d+(?:\.\d+)?)|([{}[\]<>();:?|&,.=])/gy;
    let m;
    while (re.lastIndex < src.length) {
      const at = re.lastIndex;
      if (!(m = re.exec(src))) throw new Error(`cannot tokenize at ${src.slice(at, at + 40)}`);
      if (m[1] !== undefined || m[2] !== undefined) toks.push({ t: 'str', v: m[1] ?? m[2] });
      else if (m[3]) toks.push({ t: 'id', v: m[3] });
      else if (m[4]) toks.push({ t: 'num', v: m[4] });
      else if (m[5]) toks.push({ t: 'p', v: m[5] });
    }
    return toks;
  }
  const BUILTIN = new Set(['string', 'number', 'boolean', 'any', 'unknown', 'null', 'undefined', 'object', 'true', 'false', 'never']);
  function parseTypeTokens(toks, pos) {
    let i = pos;
    const peek = (v) => toks[i] && toks[i].v === v && toks[i].t === 'p';
    const expect = (v) => { if (!peek(v)) throw new Error(`expected ${v} at token ${i}: ${JSON.stringify(toks.slice(i, i + 5))}`); i++; };
    function members() { // after '{'
      const props = new Map();
      let index = null;
      while (!peek('}')) {
        if (peek('[')) { // [key: string]: T
          i++; i++; expect(':'); i++; expect(']'); expect(':');
          index = type();
        } else {
          const key = toks[i++].v;
          if (peek('?')) i++;
          expect(':');
          props.set(key, type());
        }
        if (peek(';') || peek(',')) i++;
      }
      expect('}');
      return { k: 'obj', props, index };
    }
    function primary() {
      const tk = toks[i];
      if (tk.t === 'p' && tk.v === '{') { i++; return members(); }
      if (tk.t === 'p' && tk.v === '(') { i++; const t = type(); expect(')'); return t; }
      if (tk.t === 'str' || tk.t === 'num') { i++; return { k: 'leaf' }; }
      if (tk.t === 'id') {
        i++;
        if (peek('<')) {
          i++;
          const args = [type()];
          while (peek(',')) { i++; args.push(type()); }
          expect('>');
          if (tk.v === 'Array') return { k: 'array', of: args[0] };
          if (tk.v === 'Record') return { k: 'obj', props: new Map(), index: args[1] };
          return { k: 'any' };
        }
        if (tk.v === 'any' || tk.v === 'unknown' || tk.v === 'object') return { k: 'any' };
        if (BUILTIN.has(tk.v)) return { k: 'leaf' };
        let name = tk.v;
        while (peek('.')) { i++; name += `.${toks[i++].v}`; }
        return { k: 'ref', name };
      }
      throw new Error(`unexpected token ${JSON.stringify(tk)}`);
    }
    function postfix() {
      let t = primary();
      while (peek('[')) {
        i++;
        if (peek(']')) { i++; t = { k: 'array', of: t }; } else { i++; expect(']'); t = { k: 'leaf' }; }
      }
      return t;
    }
    function type() {
      if (peek('|')) i++;
      const alts = [postfix()];
      while (peek('|') || peek('&')) { i++; alts.push(postfix()); }
      return alts.length === 1 ? alts[0] : { k: 'union', alts };
    }
    const t = type();
    return [t, i];
  }
  function resolveModule(fromFile, spec) {
    const cands = [];
    if (spec.startsWith('.')) cands.push(path.resolve(path.dirname(fromFile), spec));
    else for (let d = path.dirname(fromFile); ; d = path.dirname(d)) {
      cands.push(path.join(d, 'node_modules', spec));
      if (d === path.dirname(d)) break;
    }
    for (const c of cands) for (const f of [`${c}.d.ts`, path.join(c, 'index.d.ts')]) if (fs.existsSync(f)) return f;
    return null;
  }
  function loadDts(file) {
    if (dtsCache.has(file)) return dtsCache.get(file);
    const src = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const info = { file, imports: new Map(), aliases: new Map(), decls: new Map(), bases: new Map() };
    for (const m of src.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"([^"]+)"/g))
      for (const s of m[1].split(',').map((x) => x.trim()).filter(Boolean)) {
        const [orig, local] = s.split(/\s+as\s+/);
        info.imports.set((local || orig).trim(), { from: m[2], name: orig.trim() });
      }
    for (const m of src.matchAll(/export\s*\{([^}]*)\}(?:\s*from\s*"([^"]+)")?/g))
      for (const s of m[1].split(',').map((x) => x.trim()).filter(Boolean)) {
        const [orig, exported] = s.split(/\s+as\s+/);
        if (m[2]) info.imports.set((exported || orig).trim(), { from: m[2], name: orig.trim() });
        else if (exported) info.aliases.set(exported.trim(), orig.trim());
      }
    for (const m of src.matchAll(/export\s+interface\s+(\w+)(?:\s+extends\s+([^{]+))?\s*\{/g)) {
      const toks = tokenize(src.slice(m.index + m[0].length - 1, m.index + m[0].length - 1 + 400000));
      const [t] = parseTypeTokens(toks, 0);
      info.decls.set(m[1], t);
      if (m[2]) info.bases.set(m[1], m[2].split(',').map((x) => x.trim().replace(/<.*$/, '')));
    }
    for (const m of src.matchAll(/export\s+declare\s+type\s+(\w+)(?:<[^=]*>)?\s*=/g)) {
      const toks = tokenize(src.slice(m.index + m[0].length, src.indexOf(';\n', m.index) + 1 || undefined));
      try { info.decls.set(m[1], parseTypeTokens(toks, 0)[0]); } catch { info.decls.set(m[1], { k: 'any' }); }
    }
    dtsCache.set(file, info);
    return info;
  }
  // Returns {file, type} for a name seen in file, or null when it is not ours to check.
  function resolveName(file, name, depth = 0) {
    if (depth > 20) return null;
    const info = loadDts(file);
    if (info.aliases.has(name)) return resolveName(file, info.aliases.get(name), depth + 1);
    if (info.decls.has(name)) {
      let t = info.decls.get(name);
      for (const b of info.bases.get(name) || []) {
        const r = resolveName(file, b, depth + 1);
        if (r && r.type.k === 'obj') t = { ...t, props: new Map([...r.type.props, ...t.props]) };
      }
      return { file, type: t };
    }
    const imp = info.imports.get(name);
    if (imp) {
      const f = resolveModule(file, imp.from);
      return f ? resolveName(f, imp.name, depth + 1) : null;
    }
    return null;
  }
  function unknownFields(value, type, file, where, out) {
    if (!type) return;
    switch (type.k) {
      case 'ref': {
        const r = resolveName(file, type.name);
        if (!r && /^I/.test(type.name)) out.push(`${where}: cannot resolve type ${type.name}`);
        // A CRD schema's items and additionalProperties: JSONSchemaProps (or an array of them,
        // or a bool), which kubernetes-models declares as an empty interface.
        const or = r && /JSONSchemaPropsOr(Array|Bool)$/.test(type.name) &&
          resolveName(path.join(path.dirname(r.file), 'JSONSchemaProps.d.ts'), 'IJSONSchemaProps');
        if (or) {
          if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, or.type, or.file, `${where}[${i}]`, out));
          else if (typeof value !== 'boolean') unknownFields(value, or.type, or.file, where, out);
          return;
        }
        if (r) unknownFields(value, r.type, r.file, where, out);
        return;
      }
      case 'array':
        if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, type.of, file, `${where}[${i}]`, out));
        return;
      case 'obj':
        if (!isObj(value)) return;
        for (const [k, v] of Object.entries(value)) {
          if (type.props.has(k)) unknownFields(v, type.props.get(k), file, `${where}.${k}`, out);
          else if (type.index) unknownFields(v, type.index, file, `${where}.${k}`, out);
          else out.push(`${where}.${k}: unknown field`);
        }
        return;
      case 'union': {
        const structured = type.alts.filter((a) => a.k !== 'leaf' && a.k !== 'any');
        if (structured.length === 0 || type.alts.some((a) => a.k === 'any')) return;
        const tries = structured.map((a) => { const o = []; unknownFields(value, a, file, where, o); return o; });
        if (!tries.some((o) => o.length === 0)) out.push(...tries[0]);
        return;
      }
      default:
    }
  }

  // The checker must see a misspelt field deep inside an object, in a core kind and in a CRD:
  // true when it does.
  function selfCheck() {
    const probe = (obj, needle) => {
      const model = modelFor(obj.apiVersion, obj.kind);
      const r = resolveName(model.dts, model.iface);
      const out = [];
      unknownFields(obj, r.type, r.file, obj.kind, out);
      return out.length === 1 && out[0].includes(needle);
    };
    const dep = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', labels: { a: 'b' } },
      spec: { selector: {}, template: { spec: { containers: [{ name: 'c', readinesProbe: {} }] } } } };
    const cert = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'x' },
      spec: { secretName: 's', issuerRef: { name: 'i', kindd: 'Issuer' } } };
    const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'x' },
      spec: { group: 'g', names: { kind: 'K', plural: 'ks' }, scope: 'Namespaced', versions: [{ name: 'v1', served: true,
        storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { a: { type: 'array', items: { type: 'string', formt: 'x' } } } } } }] } };
    return probe(dep, 'spec.template.spec.containers[0].readinesProbe') && probe(cert, 'spec.issuerRef.kindd') &&
      probe(crd, 'properties.a.items.formt');
  }

  // Returns null when obj is valid and has no unknown field, else the reason.
  function validateObject(obj) {
    const model = modelFor(obj.apiVersion, obj.kind);
    if (!model) return `no schema for ${obj.apiVersion} ${obj.kind}`;
    try {
      new model.cls(obj).validate();
    } catch (e) {
      return `schema: ${String(e.message || e).split('\n').slice(0, 6).join(' | ')}`;
    }
    const r = resolveName(model.dts, model.iface);
    if (!r) return `cannot read the fields of ${model.iface} from ${model.dts}`;
    const unknown = [];
    unknownFields(obj, r.type, r.file, obj.kind, unknown);
    return unknown.length ? unknown.join('; ') : null;
  }

  return { validateObject, selfCheck };
}
