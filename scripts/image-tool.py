#!/usr/bin/env python3
"""image-tool.py -- the parts of scripts/image.sh that read or write JSON.

  sbom PACKAGES.tsv OUT.json --image REF --digest DIGEST --version V --source URL
      SPDX 2.3 JSON of the image: the image itself, leaseguard, and every Debian package
      of the image (PACKAGES.tsv: dpkg-query lines, see image.sh).
  check-sbom SBOM.json PACKAGES.tsv --needs PKG,...
      the SBOM is well formed, lists exactly the installed packages and those PKGs.
  check-archive ARCHIVE.tar --ref REF --user U --entrypoint PATH --version V
      an OCI image-layout archive: every blob matches its digest and size, the index
      names REF, and the image config runs PATH as U with the version label V.

Prints one "ok: ..." line per check passed; exits 1 with "FAIL: ..." on the first failure.
"""
import argparse
import datetime
import hashlib
import json
import sys
import tarfile
import urllib.parse
import uuid

FIELDS = ("package", "version", "arch", "source", "source_version", "maintainer", "status")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def read_packages(path):
    """Installed packages from dpkg-query's tab-separated lines (FIELDS)."""
    pkgs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != len(FIELDS):
                fail(f"{path}: expected {len(FIELDS)} fields, got {len(cols)}: {line!r}")
            p = dict(zip(FIELDS, cols))
            if p["status"].endswith(" installed"):
                pkgs.append(p)
    if not pkgs:
        fail(f"{path}: no installed package")
    return pkgs


def spdx_id(kind, name):
    safe = "".join(c if c.isalnum() or c in ".-" else "-" for c in name)
    return f"SPDXRef-{kind}-{safe}"


def purl(p):
    version = urllib.parse.quote(p["version"], safe=".-~_:")
    return (f"pkg:deb/debian/{p['package']}@{version}"
            f"?arch={p['arch']}&distro=debian-12")


def cmd_sbom(a):
    pkgs = read_packages(a.packages)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    image_id = spdx_id("Image", "leaseguard")
    app_id = spdx_id("Package", "leaseguard")
    packages = [{
        "name": a.image, "SPDXID": image_id, "versionInfo": a.digest,
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER", "supplier": "Organization: leaseguard",
        "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    }, {
        "name": "leaseguard", "SPDXID": app_id, "versionInfo": a.version,
        "downloadLocation": a.source, "homepage": a.source, "filesAnalyzed": False,
        "primaryPackagePurpose": "APPLICATION", "supplier": "Organization: leaseguard",
        "licenseConcluded": "Apache-2.0", "licenseDeclared": "Apache-2.0",
        "copyrightText": "NOASSERTION",
        "comment": "/usr/bin/leaseguard, built from source in the Dockerfile's build stage",
    }]
    rels = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
             "relatedSpdxElement": image_id},
            {"spdxElementId": image_id, "relationshipType": "CONTAINS",
             "relatedSpdxElement": app_id}]
    for p in pkgs:
        pid = spdx_id("Package", f"deb-{p['package']}-{p['arch']}")
        src = p["source"] or p["package"]
        packages.append({
            "name": p["package"], "SPDXID": pid, "versionInfo": p["version"],
            "supplier": "Organization: Debian",
            "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
            "comment": "Debian maintainer: " + (p["maintainer"] or "unknown"),
            "sourceInfo": f"built package from: {src} {p['source_version'] or p['version']}",
            "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl(p)}],
        })
        rels.append({"spdxElementId": image_id, "relationshipType": "CONTAINS",
                     "relatedSpdxElement": pid})
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{a.image} ({a.digest})",
        "documentNamespace": f"{a.source}/spdx/image/{a.version}/{uuid.uuid4()}",
        "creationInfo": {"created": now, "creators": ["Tool: leaseguard-scripts-image.sh"],
                         "comment": "Debian packages from the image's dpkg database"},
        "packages": packages, "relationships": rels,
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"ok: SBOM {a.out}: {len(pkgs)} Debian packages and leaseguard {a.version}")


def cmd_check_sbom(a):
    pkgs = read_packages(a.packages)
    with open(a.sbom, encoding="utf-8") as f:
        doc = json.load(f)
    for key in ("spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace",
                "creationInfo", "packages", "relationships"):
        if key not in doc:
            fail(f"SBOM has no {key}")
    if doc["spdxVersion"] != "SPDX-2.3":
        fail(f"SBOM spdxVersion {doc['spdxVersion']}")
    ids = [p["SPDXID"] for p in doc["packages"]]
    if len(ids) != len(set(ids)):
        fail("SBOM has duplicate SPDXIDs")
    for p in doc["packages"]:
        for key in ("name", "SPDXID", "downloadLocation", "versionInfo"):
            if not p.get(key):
                fail(f"SBOM package {p.get('name')} has no {key}")
    for r in doc["relationships"]:
        for end in (r["spdxElementId"], r["relatedSpdxElement"]):
            if end != "SPDXRef-DOCUMENT" and end not in ids:
                fail(f"SBOM relationship names unknown element {end}")
    listed = {(p["name"], p["versionInfo"]) for p in doc["packages"]
              if any(r.get("referenceType") == "purl" for r in p.get("externalRefs", []))}
    installed = {(p["package"], p["version"]) for p in pkgs}
    if listed != installed:
        fail(f"SBOM and dpkg differ: only in SBOM {sorted(listed - installed)[:5]}, "
             f"only in dpkg {sorted(installed - listed)[:5]}")
    names = {n for n, _ in listed}
    missing = [n for n in a.needs.split(",") if n and n not in names]
    if missing:
        fail(f"SBOM lacks {', '.join(missing)}")
    if not any(p["name"] == "leaseguard" and p.get("licenseDeclared") == "Apache-2.0"
               for p in doc["packages"]):
        fail("SBOM does not list leaseguard under Apache-2.0")
    print(f"ok: SBOM is SPDX 2.3, lists the {len(installed)} installed packages "
          f"(dpkg's list exactly), leaseguard and {a.needs}")


def cmd_check_archive(a):
    with tarfile.open(a.archive) as tar:
        def blob(digest):
            algo, _, hexd = digest.partition(":")
            if algo != "sha256":
                fail(f"archive: digest {digest} is not sha256")
            data = tar.extractfile(f"blobs/sha256/{hexd}").read()
            if hashlib.sha256(data).hexdigest() != hexd:
                fail(f"archive: blob {digest} does not match its digest")
            return data

        def checked(desc):
            data = blob(desc["digest"])
            if len(data) != desc["size"]:
                fail(f"archive: blob {desc['digest']} has {len(data)} bytes, descriptor says {desc['size']}")
            return data

        layout = json.loads(tar.extractfile("oci-layout").read())
        if layout.get("imageLayoutVersion") != "1.0.0":
            fail(f"archive: oci-layout {layout}")
        index = json.loads(tar.extractfile("index.json").read())
        refs = [m for m in index.get("manifests", [])
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == a.ref]
        if len(refs) != 1:
            fail(f"archive: index.json does not name {a.ref} once: {index.get('manifests')}")
        manifest = json.loads(checked(refs[0]))
        config = json.loads(checked(manifest["config"]))
        for layer in manifest["layers"]:
            checked(layer)
        cfg = config.get("config", {})
        if cfg.get("User") != a.user:
            fail(f"archive: image user is {cfg.get('User')!r}, not {a.user!r}")
        if cfg.get("Entrypoint") != [a.entrypoint]:
            fail(f"archive: entrypoint is {cfg.get('Entrypoint')}, not [{a.entrypoint!r}]")
        labels = cfg.get("Labels") or {}
        if labels.get("org.opencontainers.image.version") != a.version:
            fail(f"archive: version label {labels.get('org.opencontainers.image.version')!r}")
        if labels.get("org.opencontainers.image.licenses") != "Apache-2.0":
            fail("archive: no org.opencontainers.image.licenses=Apache-2.0 label")
        print(f"ok: OCI archive names {a.ref}; manifest, config and {len(manifest['layers'])} "
              f"layers match their digests; runs {a.entrypoint} as {a.user}, version {a.version}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sbom")
    s.add_argument("packages")
    s.add_argument("out")
    for opt in ("--image", "--digest", "--version", "--source"):
        s.add_argument(opt, required=True)
    c = sub.add_parser("check-sbom")
    c.add_argument("sbom")
    c.add_argument("packages")
    c.add_argument("--needs", default="")
    r = sub.add_parser("check-archive")
    r.add_argument("archive")
    for opt in ("--ref", "--user", "--entrypoint", "--version"):
        r.add_argument(opt, required=True)
    a = ap.parse_args()
    {"sbom": cmd_sbom, "check-sbom": cmd_check_sbom, "check-archive": cmd_check_archive}[a.cmd](a)


if __name__ == "__main__":
    main()
