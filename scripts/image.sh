#!/usr/bin/env bash
# image.sh -- build leaseguard's container image for real, with no container registry:
#  1. base: a Debian 12 root made by mmdebstrap from Debian's mirror, imported under the
#     name(s) the Dockerfile's FROM lines use (debian:12-slim);
#  2. build: buildah bud --isolation=chroot --pull=never;
#  3. smoke test: the image's libraries resolve, and `serve` runs as uid 65532 from a
#     read-only root, no capabilities, answering /healthz, /readyz, AdmissionReviews
#     (a steal denied with 403, a renewal allowed) and /metrics, and exits 0 on SIGTERM;
#  4. save: an OCI archive (checked blob by blob, then loaded back) and an SPDX SBOM of
#     the image's Debian packages.
#
#   bash scripts/image.sh [--out DIR] [--tag NAME:TAG] [--keep-storage]
#
# Everything it makes stays in DIR (default build/image): container storage, the base
# tarball, leaseguard-<version>.oci.tar, leaseguard-<version>.spdx.json. The storage is
# removed at the end unless --keep-storage. Needs root (installs buildah, podman, runc and
# mmdebstrap with apt when missing). LG_DEBIAN_MIRROR picks the mirror;
# LG_IMAGE_RUNNER=podman|chroot picks how the smoke test runs the image (default: podman,
# or chroot + unshare when podman cannot start a container here).
# Exit: 0 every check passed; 1 a check failed; 2 usage; 77 this machine cannot build
# images (the reason is printed).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
args=("$@")
out=$repo/build/image
tag=
keep=0
usage() { echo "Usage: bash scripts/image.sh [--out DIR] [--tag NAME:TAG] [--keep-storage]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --tag) [ $# -ge 2 ] || usage; tag=$2; shift 2 ;;
    --tag=*) tag=${1#--tag=}; shift ;;
    --keep-storage) keep=1; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    *) usage ;;
  esac
done
version=$(sed -n 's/^project(leaseguard VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
[ -n "$version" ] || { echo "image: no version in CMakeLists.txt" >&2; exit 1; }
tag=${tag:-localhost/leaseguard:$version}
source_url=https://github.com/leaseguard/leaseguard
start=$SECONDS
passed=0
ok() { passed=$((passed + 1)); echo "  ok: $*"; }
die() { echo "  FAIL: $*" >&2; echo "image: $passed passed, 1 failed"; exit 1; }
cannot() {
  echo "image: THIS MACHINE CANNOT BUILD THE CONTAINER IMAGE: $*" >&2
  echo "image: nothing was built or tested; run scripts/image.sh as root on a Debian 12 machine" >&2
  exit 77
}
step_start=$SECONDS
step_name=
times=()
step() { # step NAME [TITLE]: close the previous step's timing, open NAME (none if empty)
  [ -z "$step_name" ] || times+=("$step_name $((SECONDS - step_start)) s")
  step_name=$1
  step_start=$SECONDS
  [ -z "$1" ] || echo "-- $1: $2"
}

# --- what the machine must offer ------------------------------------------------------
[ "$(id -u)" = 0 ] || cannot "not root (rootless buildah needs /etc/subuid ranges this script does not set up)"
unshare --mount --pid --fork --mount-proc true 2>/dev/null ||
  cannot "no mount and PID namespaces (unshare --mount --pid failed): buildah's chroot isolation needs them"
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The rest runs in a private mount namespace, so that nothing is kept outside $out: the
# blob-info cache that containers/image keeps in /var/lib/containers/cache (no option
# moves it) and the temporary files podman puts in /var/tmp land in $out, and every mount
# of the build vanishes with the namespace however the script ends.
if [ "${LG_IMAGE_NS:-}" != "$out" ]; then
  mkdir -p /var/lib/containers
  exec env LG_IMAGE_NS="$out" unshare --mount --propagation private -- bash "$0" "${args[@]}"
fi
mkdir -p "$out/containers" "$out/tmp"
find "$out/tmp" "$out/containers" -mindepth 1 -delete
case $out/ in /var/lib/containers/* | /var/tmp/*) ;; *)
  mount --bind "$out/containers" /var/lib/containers
  mount --bind "$out/tmp" /var/tmp ;;
esac
need=()
for t in buildah:buildah podman:podman runc:runc mmdebstrap:mmdebstrap python3:python3 curl:curl \
         objdump:binutils dpkg-query:dpkg; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "image: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null ||
    die "apt-get install ${need[*]} failed"
fi

# --- private container storage under $out ---------------------------------------------
store=$out/storage
unmount_store() { grep -o " $store/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true; }
# each run starts from an empty storage (a --keep-storage run may have left one)
unmount_store
rm -rf "$store"
export TMPDIR=$out/tmp BUILDAH_TMPDIR=$out/tmp
rm -rf "$out/smoke"
mkdir -p "$out/smoke"
driver=vfs
grep -qw overlay /proc/filesystems && driver=overlay
B() { buildah --root "$store/root" --runroot "$store/run" --storage-driver "$driver" "$@"; }
P() {
  podman --root "$store/root" --runroot "$store/run" --storage-driver "$driver" --tmpdir "$store/podman" \
    --cgroup-manager cgroupfs --events-backend none --runtime runc --runtime-flag "root=$store/runc" "$@"
}
ctrs=()      # buildah working containers to remove
smoke_pid=   # chroot runner: the subshell that runs serve's unshare
pid=         # serve's process
cleanup() {
  set +e
  P rm -f -t 0 lg-image-smoke >/dev/null 2>&1
  if [ -n "$smoke_pid" ]; then
    # chroot runner: the server (its uid change cleared unshare's --kill-child), then the
    # unshare and the subshell that started it
    [ -z "$pid" ] || kill -KILL "$pid"
    pkill -KILL -P "$smoke_pid"
    kill -KILL "$smoke_pid"
    wait "$smoke_pid"
  fi 2>/dev/null
  for c in "${ctrs[@]}"; do B rm "$c" >/dev/null 2>&1; done
  if [ "$keep" = 0 ] && [ -d "$store" ]; then
    unmount_store
    rm -rf "$store" "$out/debian-12-slim.tar"
    find "$out/containers" "$out/tmp" -mindepth 1 -delete
  fi
}
trap cleanup EXIT
echo "image: $tag from $repo/Dockerfile into $out (storage driver $driver)"
probe_storage() { # a scratch container mounted and removed: the driver works here
  local c
  c=$(B from scratch 2>/dev/null) || return 1
  B mount "$c" >/dev/null 2>&1 && B umount "$c" >/dev/null 2>&1
  local rc=$?
  B rm "$c" >/dev/null 2>&1
  return $rc
}
if ! probe_storage; then
  rm -rf "$store"
  driver=vfs
  probe_storage || cannot "buildah cannot mount a container in $store (overlay nor vfs)"
  echo "image: overlay storage does not work here; using vfs (slower, more disk)"
fi

# --- 1. the Debian 12 base, under the Dockerfile's FROM names --------------------------
step base "mmdebstrap --variant=apt bookworm (slim: no docs but copyright, no man pages, no locales)"
froms=$(awk 'toupper($1) == "FROM" { n = $2; if (n ~ /^--/) n = $3; print n }' "$repo/Dockerfile" | sort -u)
stages=$(awk 'toupper($1) == "FROM" && toupper($(NF-1)) == "AS" { print $NF }' "$repo/Dockerfile")
names=()
for f in $froms; do
  grep -qxF "$f" <<<"$stages" && continue
  case $f in
    debian:12 | debian:12-slim | debian:bookworm | debian:bookworm-slim) names+=("docker.io/library/$f") ;;
    docker.io/library/debian:12 | docker.io/library/debian:12-slim) names+=("$f") ;;
    *) die "Dockerfile: FROM $f is not a Debian 12 image, which is all this script can make" ;;
  esac
done
[ ${#names[@]} -gt 0 ] || die "Dockerfile: no FROM line"
slim=()
for p in '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' \
         '/usr/share/groff/*' '/usr/share/lintian/*' '/usr/share/linda/*'; do
  slim+=("--dpkgopt=path-exclude=$p")
done
slim+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
rm -f "$out/debian-12-slim.tar"
# merged-usr hook: a merged /usr without installing the usrmerge package (and Perl)
mmdebstrap --quiet --variant=apt --mode=root --format=tar --skip=output/dev \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${slim[@]}" \
  bookworm "$out/debian-12-slim.tar" ${LG_DEBIAN_MIRROR:+"$LG_DEBIAN_MIRROR"} >"$out/mmdebstrap.log" 2>&1 ||
  { tail -20 "$out/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $out/mmdebstrap.log)"; }
ok "Debian 12 root: $(du -m "$out/debian-12-slim.tar" | cut -f1) MiB, $(tar -xOf "$out/debian-12-slim.tar" ./var/lib/dpkg/status | grep -c '^Package:') packages"
c=$(B from scratch)
ctrs+=("$c")
B add "$c" "$out/debian-12-slim.tar" / >/dev/null
B config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$c"
B commit --quiet --rm "$c" "${names[0]}" >/dev/null
ctrs=()
for n in "${names[@]:1}"; do B tag "${names[0]}" "$n"; done
ok "imported as ${names[*]}"

# --- 2. the build -----------------------------------------------------------------------
step build "buildah bud --isolation=chroot --pull=never"
rev=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
B bud --isolation=chroot --pull=never --layers=false -f "$repo/Dockerfile" -t "$tag" \
  --label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.revision=$rev" \
  --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$repo" >"$out/build.log" 2>&1 ||
  { tail -30 "$out/build.log" >&2; die "buildah bud failed (log: $out/build.log)"; }
image_id=$(B images --noheading --no-trunc --format '{{.ID}}' "$tag")
ok "built $tag ($(B images --noheading --format '{{.Size}}' "$tag")), id ${image_id:0:19}"
[ "$(B inspect --format '{{.OCIv1.Config.User}}' "$tag")" = 65532:65532 ] || die "the image does not run as 65532:65532"
ok "image config: user 65532:65532, entrypoint $(B inspect --format '{{.OCIv1.Config.Entrypoint}}' "$tag")"

# --- 3. smoke test ------------------------------------------------------------------------
step smoke "run the image as uid 65532 from a read-only root"
# podman's default process and open-file limits may be above what a sandbox allows: ask
# for the hard limits we have (at most 65536 and 32768).
cap_limit() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(cap_limit "$(ulimit -Hn)" 65536)
nproc=$(cap_limit "$(ulimit -Hu)" 32768)
podman_run=(run --pull=never --network=host --user=65532:65532 --read-only --read-only-tmpfs=false
            --cap-drop=ALL --security-opt=no-new-privileges
            --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
runner=${LG_IMAGE_RUNNER:-}
if [ -z "$runner" ]; then
  if P "${podman_run[@]}" --rm "$tag" version >"$out/smoke/probe.log" 2>&1; then
    runner=podman
  else
    echo "  podman cannot start a container here ($(tail -1 "$out/smoke/probe.log")): using chroot + unshare"
    runner=chroot
  fi
fi
root=
if [ "$runner" = chroot ]; then
  c=$(B from --pull=never "$tag")
  ctrs+=("$c")
  root=$(B mount "$c")
  mkdir -p "$root/certs"
fi
# in_image BINDS CMD...: run CMD in the image as 65532 with a read-only root; BINDS is
# "" or HOSTDIR:/certs[:ro]. The chroot runner mounts proc and /dev, binds, remounts / ro.
in_image() {
  local binds=$1
  shift
  if [ "$runner" = podman ]; then
    P "${podman_run[@]}" --rm ${binds:+-v "$binds"} --entrypoint "$1" "$tag" "${@:2}"
  else
    unshare --mount --pid --fork --kill-child -- bash -c '
      set -e; r=$1 binds=$2; shift 2
      mount --make-rprivate /
      mount --bind "$r" "$r"
      mount -t proc proc "$r/proc"
      mount --rbind /dev "$r/dev"
      if [ -n "$binds" ]; then
        IFS=: read -r src dst mode <<<"$binds"
        mount --bind "$src" "$r$dst"
        [ "$mode" != ro ] || mount -o remount,bind,ro "$r$dst"
      fi
      mount -o remount,bind,ro "$r"
      exec chroot --userspec=65532:65532 "$r" "$@"' in-image "$root" "$binds" "$@"
  fi
}
echo "  runner: $runner"
if in_image "" /usr/bin/ldd /usr/bin/leaseguard >"$out/smoke/ldd.txt" 2>&1 && ! grep -q 'not found' "$out/smoke/ldd.txt"; then
  ok "every shared library of /usr/bin/leaseguard resolves in the image ($(grep -c '=>' "$out/smoke/ldd.txt") libraries)"
else
  cat "$out/smoke/ldd.txt" >&2; die "ldd /usr/bin/leaseguard in the image"
fi
got=$(in_image "" /usr/bin/leaseguard version 2>&1) || die "leaseguard version in the image: $got"
[[ $got == "leaseguard $version"* ]] || die "leaseguard version printed '$got', expected leaseguard $version"
ok "leaseguard version in the image: $got"
certs=$out/smoke/certs
mkdir -p "$certs"
chown 65532:65532 "$certs"
in_image "$certs:/certs" /usr/bin/leaseguard certs --out-dir=/certs >"$out/smoke/certs.log" 2>&1 ||
  { cat "$out/smoke/certs.log" >&2; die "leaseguard certs in the image"; }
[ -s "$certs/tls.key" ] && [ -s "$certs/ca.crt" ] || die "leaseguard certs wrote no tls.key/ca.crt"
ok "leaseguard certs in the image wrote a CA and serving pair as uid 65532"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
serve_args=(serve --bind-address=127.0.0.1 "--secure-port=$port" --tls-cert-file=/certs/tls.crt
            --tls-private-key-file=/certs/tls.key --policy-file=/etc/leaseguard/default-policy.json)
pid=
if [ "$runner" = podman ]; then
  P "${podman_run[@]}" -d --name lg-image-smoke -v "$certs:/certs:ro" "$tag" "${serve_args[@]}" >/dev/null ||
    die "podman run serve"
  pid=$(P inspect --format '{{.State.Pid}}' lg-image-smoke)
else
  in_image "$certs:/certs:ro" /usr/bin/leaseguard "${serve_args[@]}" >"$out/smoke/serve.log" 2>&1 &
  smoke_pid=$!
  # the server is the leaseguard process whose command line has this port
  for _ in $(seq 1 50); do
    for p in $(pgrep -x leaseguard || true); do
      tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--secure-port=$port " && pid=$p
    done
    [ -n "$pid" ] && break
    sleep 0.1
  done
fi
serve_log() { if [ "$runner" = podman ]; then P logs lg-image-smoke 2>&1; else cat "$out/smoke/serve.log"; fi; }
url=https://127.0.0.1:$port
cu() { curl -sS --max-time 10 --cacert "$certs/ca.crt" "$@"; }
for _ in $(seq 1 100); do cu -o /dev/null "$url/healthz" 2>/dev/null && break; sleep 0.1; done
[ "$(cu "$url/healthz" 2>&1)" = ok ] || { serve_log >&2; die "GET /healthz did not answer ok"; }
cu -f -o /dev/null "$url/readyz" || { serve_log >&2; die "GET /readyz"; }
ok "serve answers GET /healthz (ok) and /readyz over TLS"
review() { # review KIND: the AdmissionReview response to scripts/sample-review.sh KIND
  bash "$repo/scripts/sample-review.sh" "$1" |
    cu -H 'Content-Type: application/json' --data-binary @- "$url/validate"
}
verdict() { python3 -c 'import json,sys; r=json.load(sys.stdin)["response"]; print(r["allowed"], (r.get("status") or {}).get("code"))'; }
got=$(review steal | verdict) || die "POST /validate (steal) gave no AdmissionReview"
[ "$got" = "False 403" ] || die "a stolen live lease: expected allowed=false code 403, got $got"
got=$(review renew | verdict) || die "POST /validate (renew) gave no AdmissionReview"
[ "$got" = "True None" ] || die "a renewal: expected allowed=true, got $got"
ok "POST /validate: a stolen live lease is denied (403), its holder's renewal allowed"
cu "$url/metrics" >"$out/smoke/metrics.txt" || die "GET /metrics"
grep -q '^leaseguard_admission_requests_total{operation="UPDATE",decision="denied"} 1$' "$out/smoke/metrics.txt" &&
  grep -q '^leaseguard_lease_violations_total{rule="holder-renew",.*} 1$' "$out/smoke/metrics.txt" ||
  { grep '^leaseguard_admission_requests_total\|^leaseguard_lease_violations_total' "$out/smoke/metrics.txt" >&2
    die "/metrics does not count the denial and its holder-renew violation"; }
ok "/metrics counts the denial and its holder-renew violation"
[ -n "$pid" ] && [ -r "/proc/$pid/status" ] || die "cannot find serve's process"
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
[ "$uids" = "65532 65532 65532 65532" ] || die "serve runs with uids $uids, not 65532"
[ "$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")" = 0000000000000000 ] || die "serve has capabilities"
rootopts=$(awk '$5 == "/" {print $6}' "/proc/$pid/mountinfo" | tail -1)
[[ ,$rootopts, == *,ro,* ]] || die "serve's root is mounted $rootopts, not read-only"
ok "serve runs as uid 65532, no capabilities, root mounted $rootopts"
if [ "$runner" = podman ]; then
  P stop -t 10 lg-image-smoke >/dev/null
  code=$(P inspect --format '{{.State.ExitCode}}' lg-image-smoke)
  serve_log >"$out/smoke/serve.log"
  P rm lg-image-smoke >/dev/null
else
  kill -TERM "$pid"
  code=0
  wait "$smoke_pid" || code=$?
  smoke_pid='' pid=''
fi
[ "$code" = 0 ] || { cat "$out/smoke/serve.log" >&2; die "serve exited $code on SIGTERM"; }
grep -q '"level":"info"' "$out/smoke/serve.log" || die "serve wrote no JSON log line"
ok "SIGTERM: serve exited 0; its log is JSON lines"

# --- 4. OCI archive and SBOM --------------------------------------------------------------
step save "OCI archive and SPDX SBOM"
archive=$out/leaseguard-$version.oci.tar
sbom=$out/leaseguard-$version.spdx.json
rm -f "$archive" "$sbom"
B push --quiet --format oci --digestfile "$out/digest" "$tag" "oci-archive:$archive:$tag" >/dev/null ||
  die "buildah push oci-archive"
digest=$(cat "$out/digest")
python3 "$repo/scripts/image-tool.py" check-archive "$archive" --ref "$tag" --user 65532:65532 \
  --entrypoint /usr/bin/leaseguard --version "$version" | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] || die "the OCI archive"
passed=$((passed + 1))
V() { podman --root "$store/verify" --runroot "$store/verify-run" --storage-driver "$driver" \
  --tmpdir "$store/podman-verify" --events-backend none "$@"; }
V load --quiet -i "$archive" >/dev/null || die "podman load -i $archive"
loaded=$(V images --noheading --no-trunc --format '{{.ID}}' "$tag")
[ "$loaded" = "$image_id" ] || die "loading the archive gave image $loaded, not $image_id"
ok "podman load of the archive gives back $tag, same image id"
c=$(B from --pull=never "$tag")
ctrs+=("$c")
m=$(B mount "$c")
dpkg-query --admindir="$m/var/lib/dpkg" -W \
  -f='${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${Maintainer}\t${Status}\n' \
  >"$out/packages.tsv"
needs=()
for lib in $(objdump -p "$m/usr/bin/leaseguard" | awk '/NEEDED/ {print $2}'); do
  owner=$(dpkg-query --admindir="$m/var/lib/dpkg" -S "*/$lib" 2>/dev/null | awk -F: 'NR==1 {print $1}')
  [ -n "$owner" ] || die "no package of the image owns $lib"
  needs+=("$owner")
done
python3 "$repo/scripts/image-tool.py" sbom "$out/packages.tsv" "$sbom" --image "$tag" --digest "$digest" \
  --version "$version" --source "$source_url" | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] || die "writing the SBOM"
python3 "$repo/scripts/image-tool.py" check-sbom "$sbom" "$out/packages.tsv" \
  --needs "$(printf '%s\n' "${needs[@]}" | sort -u | paste -sd,)" | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] || die "the SBOM"
passed=$((passed + 1))
(cd "$out" && sha256sum "$(basename "$archive")" "$(basename "$sbom")" >SHA256SUMS)
step ""
echo
echo "image: $tag $digest"
(IFS=,; echo "image: time per step: ${times[*]}" | sed 's/,/, /g')
echo "image: archive $archive ($(du -m "$archive" | cut -f1) MiB), SBOM $sbom"
echo "image: $((SECONDS - start)) s in all"
echo "image: $passed passed, 0 failed"
