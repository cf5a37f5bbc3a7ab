#!/usr/bin/env bash
# run.sh -- the quick check of the container image, in seconds and without building it:
# the runtime stage installs the package of every library the binary needs, and the
# binary serves as a non-root user from a read-only directory. scripts/image.sh builds the
# image for real and runs the same checks inside it (test.sh runs both).
set -euo pipefail
bin=${1:?usage: run.sh LEASEGUARD_BIN}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dockerfile="$repo/Dockerfile"
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The runtime stage (after the last FROM) names each NEEDED library's Debian package.
runtime=$(awk '/^FROM /{stage=$0; buf=""} {buf=buf"\n"$0} END{print buf}' "$dockerfile")
checked=0
for lib in $(objdump -p "$bin" | awk '/NEEDED/{print $2}'); do
  # awk reads to the end (no early exit): with pipefail, ldconfig must not get SIGPIPE
  path=$(ldconfig -p | awk -v l="$lib" '$1==l && /x86-64|x86_64/ && !p {p=$NF} END{print p}')
  [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1==l && !p {p=$NF} END{print p}')
  # usrmerge: dpkg may know the file under /lib or under /usr/lib, by link or by target
  pkg=$( { dpkg -S "$path" || dpkg -S "$(readlink -f "$path")" || dpkg -S "/usr$path" \
           || dpkg -S "${path#/usr}"; } 2>/dev/null | awk -F: 'NR==1{print $1}' || true)
  [ -n "$pkg" ] || fail "no Debian package owns $lib"
  # libc is in every image; sanitizer runtimes only in a sanitizer build of the tests
  case "$pkg" in libc6 | libasan* | libubsan* | liblsan* | libtsan*) continue ;; esac
  grep -qw -- "$pkg" <<<"$runtime" || fail "$lib comes from $pkg, which the runtime stage does not install"
  echo "ok: $lib from $pkg is installed by the runtime stage"
  checked=$((checked + 1))
done
[ "$checked" -ge 4 ] || fail "expected several shared libraries, checked $checked"
grep -q '^USER 65532:65532' "$dockerfile" || fail "the image does not run as a non-root user"

# 2. Non-root from a read-only directory: the binary needs no writable file.
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; chmod -R u+w "$work"; rm -rf "$work"' EXIT
pid=
mkdir -p "$work/bin" "$work/certs"
cp "$bin" "$work/bin/leaseguard"
"$bin" certs --out-dir="$work/certs" >/dev/null
chmod 0555 "$work/bin" "$work/bin/leaseguard"
chmod 0755 "$work/certs"
chmod 0644 "$work/certs/"*
chown -R 65532:65532 "$work/certs"
chmod 0555 "$work/certs"
chmod 0711 "$work"
as_user() { setpriv --reuid=65532 --regid=65532 --clear-groups -- "$@"; }
grep -q '^leaseguard ' <<<"$(as_user "$work/bin/leaseguard" version)" || fail "version did not run as uid 65532"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# setpriv execs in place, so $! is the server itself (a shell function would add a subshell)
setpriv --reuid=65532 --regid=65532 --clear-groups -- "$work/bin/leaseguard" serve --bind-address=127.0.0.1 --secure-port="$port" \
  --tls-cert-file="$work/certs/tls.crt" --tls-private-key-file="$work/certs/tls.key" \
  >"$work.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/certs/ca.crt" "https://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf --cacert "$work/certs/ca.crt" "https://127.0.0.1:$port/readyz" >/dev/null \
  || { cat "$work.out" >&2; fail "serve as uid 65532 from a read-only directory did not answer"; }
[ "$(ps -o uid= -p "$pid" | tr -d ' ')" = 65532 ] || fail "serve is not running as uid 65532"
kill -TERM "$pid"
wait "$pid" || fail "serve did not exit 0 on SIGTERM"
pid=
rm -f "$work.out"
echo "ok: serve ran as uid 65532 from a read-only directory and stopped cleanly"
echo "2 passed, 0 failed"
