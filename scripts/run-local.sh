#!/usr/bin/env bash
# run-local.sh -- build leaseguard and run the webhook on https://127.0.0.1:8443 with dev
# certificates (made once in dev-certs/) and the built-in default policy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
[ -f dev-certs/tls.crt ] || ./build/leaseguard certs --out-dir=dev-certs
cat <<MSG

leaseguard is starting on https://127.0.0.1:8443 (Ctrl-C stops it). In another shell:

  # a live lease stolen before it expires: denied
  curl -s --cacert dev-certs/ca.crt -H 'Content-Type: application/json' \\
       --data "\$(bash scripts/sample-review.sh steal)" https://127.0.0.1:8443/validate
  # the holder renewing it: allowed
  curl -s --cacert dev-certs/ca.crt -H 'Content-Type: application/json' \\
       --data "\$(bash scripts/sample-review.sh renew)" https://127.0.0.1:8443/validate

MSG
exec ./build/leaseguard serve --bind-address=127.0.0.1 --secure-port=8443 \
  --tls-cert-file=dev-certs/tls.crt --tls-private-key-file=dev-certs/tls.key
