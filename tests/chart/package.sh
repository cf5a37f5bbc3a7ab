#!/usr/bin/env bash
# package.sh -- `helm package` of charts/leaseguard, then checks of the archive as a chart
# repository or Artifact Hub would read it: the files it holds (LICENSE, schema, README,
# policy), `helm lint --strict` of the .tgz, the same manifests rendered from the .tgz as
# from the directory, and the metadata (Chart.yaml: versions, kubeVersion, home, sources,
# maintainers, and the artifacthub.io annotations, which must parse and agree with the
# chart's values, the LICENSE and CHANGELOG.md).
#
# usage: bash package.sh HELM OUT_DIR NODE_MODULES   (run.sh calls it for Helm 3 and 4)
# Prints "ok: ..." and "FAIL: ..." lines; exit status 1 when anything failed.
set -euo pipefail
helm=${1:?usage: package.sh HELM OUT_DIR NODE_MODULES}
out=${2:?usage: package.sh HELM OUT_DIR NODE_MODULES}
modules=${3:?usage: package.sh HELM OUT_DIR NODE_MODULES}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
chart=$repo/charts/leaseguard
ns=leaseguard-system
failed=0
ok() { echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

rm -rf "$out"
mkdir -p "$out/unpacked"
version=$(sed -n 's/^version: *//p' "$chart/Chart.yaml" | tr -d '"')
tgz=$out/leaseguard-$version.tgz
if timeout 120 "$helm" package "$chart" -d "$out" >"$out/package.log" 2>&1 && [ -f "$tgz" ]; then
  ok "helm package: $(basename "$tgz") ($(du -k "$tgz" | cut -f1) KiB)"
else
  bad "helm package did not make $(basename "$tgz"): $(cat "$out/package.log")"
  exit 1
fi

# What the archive holds: every file of the chart directory but .helmignore's patterns.
tar --warning=no-timestamp -xzf "$tgz" -C "$out/unpacked"
(cd "$out/unpacked/leaseguard" && find . -type f | sort) >"$out/files.txt"
(cd "$chart" && find . -type f ! -name '*.swp' ! -name '*.bak' ! -name '*.tmp' ! -name '*.orig' \
   ! -name '*~' ! -name .DS_Store ! -name .gitignore | sort) >"$out/chart-files.txt"
if cmp -s "$out/files.txt" "$out/chart-files.txt"; then
  ok "the archive holds the chart's $(wc -l <"$out/files.txt") files, nothing else"
else
  bad "the archive's files differ from the chart directory's: $(diff "$out/chart-files.txt" "$out/files.txt" | grep '^[<>]' | head -5 | tr '\n' ' ')"
fi
for f in Chart.yaml values.yaml values.schema.json README.md LICENSE templates/NOTES.txt files/default-policy.json; do
  [ -s "$out/unpacked/leaseguard/$f" ] || bad "the archive has no $f"
done
if cmp -s "$out/unpacked/leaseguard/LICENSE" "$repo/LICENSE"; then
  ok "the archive's LICENSE is the repository's (Apache-2.0)"
else
  bad "charts/leaseguard/LICENSE differs from LICENSE (copy it)"
fi

# The packaged chart lints and renders exactly as the directory does (cert-manager mode:
# no certificate is generated at render time, so two renders can be compared byte for byte).
if timeout 120 "$helm" lint --strict "$tgz" -n "$ns" >"$out/lint.log" 2>&1; then
  ok "helm lint --strict $(basename "$tgz")"
else
  bad "helm lint --strict $(basename "$tgz"): $(cat "$out/lint.log")"
fi
render() { timeout 120 "$helm" template leaseguard "$1" -n "$ns" --set certificates.mode=cert-manager; }
if render "$tgz" >"$out/from-tgz.yaml" 2>"$out/from-tgz.err" && render "$chart" >"$out/from-dir.yaml" 2>&1 &&
   cmp -s "$out/from-tgz.yaml" "$out/from-dir.yaml" && [ -s "$out/from-tgz.yaml" ]; then
  ok "helm template of the archive renders what the directory renders ($(grep -c '^kind:' "$out/from-tgz.yaml") objects)"
else
  bad "helm template of the archive differs from the directory's: $(cat "$out/from-tgz.err"; diff "$out/from-dir.yaml" "$out/from-tgz.yaml" | head -5)"
fi

# Metadata, as `helm show chart` gives it from the archive.
"$helm" show chart "$tgz" >"$out/chart.yaml" 2>"$out/show.err" || bad "helm show chart: $(cat "$out/show.err")"
"$helm" show values "$tgz" >"$out/values.yaml" 2>"$out/show.err" || bad "helm show values: $(cat "$out/show.err")"
app_version=$(sed -n 's/^project(leaseguard VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
NODE_PATH=$modules node - "$out/chart.yaml" "$out/values.yaml" "$repo/LICENSE" "$repo/CHANGELOG.md" "$app_version" \
  >"$out/meta.log" 2>&1 <<'JS' || true
const fs = require('fs');
const YAML = require('yaml');
const [chartFile, valuesFile, licenseFile, changelogFile, appVersion] = process.argv.slice(2);
const chart = YAML.parse(fs.readFileSync(chartFile, 'utf8'));
const values = YAML.parse(fs.readFileSync(valuesFile, 'utf8'));
const ok = (m) => console.log(`ok: ${m}`);
const bad = (m) => console.log(`FAIL: ${m}`);
const check = (cond, m, detail) => (cond ? ok(m) : bad(detail ? `${m} (${detail})` : m));
const semver = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const https = (u) => typeof u === 'string' && /^https:\/\/\S+$/.test(u);

check(chart.apiVersion === 'v2' && chart.name === 'leaseguard' && chart.type === 'application',
  'Chart.yaml: apiVersion v2, name leaseguard, type application');
check(semver.test(chart.version), `version ${chart.version} is SemVer`);
check(chart.appVersion === appVersion, `appVersion ${chart.appVersion} is leaseguard's version`, `CMakeLists.txt says ${appVersion}`);
check(/^>=\s*1\.\d+\.\d+-0$/.test(chart.kubeVersion || ''), `kubeVersion ${chart.kubeVersion} is a lower bound that admits pre-releases (-0)`);
check(https(chart.home), `home ${chart.home}`);
check(Array.isArray(chart.sources) && chart.sources.length > 0 && chart.sources.every(https), 'sources: https URLs', JSON.stringify(chart.sources));
check(Array.isArray(chart.maintainers) && chart.maintainers.length > 0 &&
  chart.maintainers.every((m) => m.name && (m.email || https(m.url))), 'maintainers: each has a name and an email or URL', JSON.stringify(chart.maintainers));
check(chart.description && chart.description.length > 40, 'description');

const ann = chart.annotations || {};
const parsed = (key) => { try { return YAML.parse(ann[key] || ''); } catch (e) { return `unparsable: ${e.message}`; } };
const license = fs.readFileSync(licenseFile, 'utf8');
check(ann['artifacthub.io/license'] === 'Apache-2.0' && /Apache License\s+Version 2\.0, January 2004/.test(license),
  'artifacthub.io/license is Apache-2.0, as LICENSE says');
const changes = parsed('artifacthub.io/changes');
const kinds = ['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'];
check(Array.isArray(changes) && changes.length > 0 &&
  changes.every((c) => kinds.includes(c.kind) && typeof c.description === 'string' && c.description.length > 10),
  `artifacthub.io/changes: ${Array.isArray(changes) ? changes.length : 0} entries, each a kind (${kinds.join('|')}) and a description`,
  JSON.stringify(changes).slice(0, 200));
const images = parsed('artifacthub.io/images');
const want = `${values.image.repository}:${chart.appVersion}`;
check(Array.isArray(images) && images.length > 0 && images.every((i) => i.name && i.image) &&
  images.some((i) => i.image === want), `artifacthub.io/images lists ${want}, the image the default values run`, JSON.stringify(images));
const links = parsed('artifacthub.io/links');
check(Array.isArray(links) && links.every((l) => l.name && https(l.url)), 'artifacthub.io/links: names and https URLs', JSON.stringify(links));
for (const key of ['artifacthub.io/operator', 'artifacthub.io/prerelease', 'artifacthub.io/containsSecurityUpdates'])
  if (key in ann) check(ann[key] === 'true' || ann[key] === 'false', `${key} is "true" or "false"`, ann[key]);
const changelog = fs.readFileSync(changelogFile, 'utf8');
check(new RegExp(`^## \\[${chart.appVersion.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm').test(changelog) &&
  /^## \[Unreleased\]$/m.test(changelog), `CHANGELOG.md has an Unreleased section and a dated ${chart.appVersion} section`);
JS
cat "$out/meta.log"
grep -q '^ok: ' "$out/meta.log" || bad "the metadata checks did not run"
failed=$((failed + $(grep -c '^FAIL' "$out/meta.log" || true)))
[ "$failed" -eq 0 ]
