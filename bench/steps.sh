#!/usr/bin/env bash
# steps.sh -- what each step of a change costs, measured in one run: builds each git revision
# named (Release leaseguard and lg-bench), splits its in-process review by callgrind, then
# serves every revision and nginx's fixed answer over TLS, all up at once, and loads them
# with wrk in interleaved rounds (each server in turn within a round, `runs` rounds). Prints
# one table: instructions per review by step, then CPU per request, req/s and the ratio to
# nginx of the same rounds. Asserts nothing.
#
#   bash bench/steps.sh [--quick] REV...      e.g. bash bench/steps.sh main HEAD~2 HEAD
#
# Builds are kept by commit in ${LG_BENCH_BUILD:-bench/.build}/steps/<sha>. The libmicrohttpd
# + GnuTLS floor (lg-bench serve-model --answer fixed) and that floor plus a jansson parse
# (--answer parse-jansson) of the last revision are loaded in the same rounds.
set -euo pipefail

quick=0
[[ ${1:-} == --quick ]] && quick=1 && shift
if [[ $# -lt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -lt 1 ]] && exit 2
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${LG_BENCH_BUILD:-$here/.build}/steps
work=$(mktemp -d /tmp/lg-steps.XXXXXX)
pids=()
if ((quick)); then
  runs=1 cg_count=72 main_d=4 cg_serve_d=4
else
  runs=5 cg_count=240 main_d=8 cg_serve_d=10
fi

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

section "setup"
bash "$root/scripts/deps.sh"
missing=()
for t in wrk:wrk nginx:nginx valgrind:valgrind curl:curl; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# build_rev REV: the Release binaries of REV in $cache/<sha>/ (kept: a commit never changes).
build_rev() {
  local sha dir
  sha=$(git -C "$root" rev-parse --verify "$1^{commit}")
  dir=$cache/$sha
  if [[ ! -x $dir/leaseguard || ! -x $dir/lg-bench ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/src"
    git -C "$root" archive "$sha" | tar -x -C "$dir/src"
    cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DLG_WERROR=OFF -DLG_BENCH=ON >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; return 1; }
    cmake --build "$dir/build" -j"$(nproc)" --target leaseguard lg-bench >"$work/build.log" 2>&1 ||
      { tail -30 "$work/build.log" >&2; return 1; }
    cp "$dir/build/leaseguard" "$dir/build/bench/lg-bench" "$dir/"
    rm -rf "$dir/src" "$dir/build"
  fi
  echo "$dir"
}

names=() dirs=()
for rev in "$@"; do
  dir=$(build_rev "$rev")
  names+=("$(git -C "$root" rev-parse --short "$rev")")
  dirs+=("$dir")
  say "  ${names[-1]}  $(git -C "$root" log -1 --format=%s "$rev" | cut -c1-90)"
done
build=$work/last # lib.sh's series() re-stamps the bodies with $build/bench/lg-bench
mkdir -p "$build/bench"
cp "${dirs[-1]}/lg-bench" "$build/bench/lg-bench"
"${dirs[-1]}/leaseguard" certs --out-dir "$work/certs" >/dev/null
mkdir -p "$work/live"
bodies=("$here"/bodies/*.json)
say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); wall-clock figures are noisy"

section "1. instructions per review (callgrind, lg-bench loop --serve-extras, the 12 bodies)"
printf '  %-19s %8s %8s %7s %6s %7s %6s %7s %7s %7s %7s %6s  %4s\n' "revision" total json_loadb \
  decode policy witness rules encode free metrics "audit" other parse
for i in "${!names[@]}"; do
  lgb=${dirs[$i]}/lg-bench
  cg_run "$work/cg.$i" "$cg_count" "${bodies[@]}"
  cg_split "$work/cg.$i" "$cg_count" "${names[$i]}"
done

# cg_serve BIN: serve under callgrind, warmed with 3 s of the mix, then counted over
# ${cg_serve_d}s of the mix at c=8 (callgrind_control zeroes and dumps): user-space
# instructions per request of the whole process (libmicrohttpd, GnuTLS, libc, jansson, ours),
# and of jansson's parse alone.
cg_serve() {
  local bin=$1 port pid n i total parse
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$work/cgs.out" "$bin" serve --secure-port "$port" \
    --bind-address 127.0.0.1 --tls-cert-file "$work/certs/tls.crt" \
    --tls-private-key-file "$work/certs/tls.key" >/dev/null 2>&1 &
  pid=$!
  pids+=("$pid")
  for ((i = 0; i < 200; i++)); do
    curl -fs -o /dev/null --max-time 2 --cacert "$work/certs/ca.crt" "https://127.0.0.1:$port/readyz" && break
    sleep 0.2
  done
  "$build/bench/lg-bench" rebase --to now --out "$work/live" "${bodies[@]}"
  timeout 60 wrk -t1 -c8 -d3s -s "$here/wrk.lua" "https://127.0.0.1:$port/validate" -- "$work"/live/*.json >/dev/null 2>&1 || true
  callgrind_control -z "$pid" >/dev/null 2>&1
  timeout 120 wrk -t1 -c8 -d"${cg_serve_d}s" -s "$here/wrk.lua" "https://127.0.0.1:$port/validate" -- "$work"/live/*.json >"$work/cgs.wrk" 2>&1 || true
  callgrind_control -d "$pid" >/dev/null 2>&1
  n=$(field "$(grep '^RESULT' "$work/cgs.wrk" || true)" requests)
  stop_pid "$pid"
  total=$(cg_fn "$work/cgs.out.1" TOTAL) parse=$(cg_fn "$work/cgs.out.1" json_loadb)
  rm -f "$work"/cgs.out*
  awk -v t="$total" -v p="$parse" -v n="${n:-0}" 'BEGIN {
    if (n > 0) printf "%d %.0f %.0f\n", n, t / n, p / n; else print "0 n/a n/a" }'
}

section "1b. serve's instructions per request (callgrind on serve, the mix at c=8, ${cg_serve_d}s)"
printf '  %-19s %8s %12s %12s %12s\n' revision requests "Ir/request" "json_loadb" "the rest"
for i in "${!names[@]}"; do
  read -r n ir parse < <(cg_serve "${dirs[$i]}/leaseguard")
  R[${names[$i]}.serve.ir]=$ir
  printf '  %-19s %8s %12s %12s %12s\n' "${names[$i]}" "$n" "$ir" "$parse" \
    "$(awk -v a="$ir" -v b="$parse" 'BEGIN {if (a + 0 > 0) printf "%.0f", a - b; else print "n/a"}')"
done

section "2. serve over TLS, keep-alive, wrk -t2 -c64 -d${main_d}s, $runs interleaved rounds"
servers=""
for i in "${!names[@]}"; do
  serve_bin=${dirs[$i]}/leaseguard start_serve "s$i"
  pid_var=pid_s$i port_var=port_s$i
  servers+=" ${names[$i]}:${!pid_var}:${!port_var}"
done
start_nginx
start_model floor epoll "$(nproc)" --answer fixed
start_model pjansson epoll "$(nproc)" --answer parse-jansson
servers+=" nginx:$pid_nginx:$port_nginx mhd-fixed:$pid_floor:$port_floor +jansson:$pid_pjansson:$port_pjansson"
series steps "$servers" 64 "$main_d" "${bodies[@]}"

section "summary: median of $runs rounds; ratio = req/s / nginx's req/s in the same rounds"
printf '  %-12s %12s %10s %10s %10s %9s\n' server "serve Ir/req" "CPU/req us" "req/s" "/ nginx" "RSS KiB"
for s in $servers; do
  IFS=: read -r name _ _ <<<"$s"
  printf '  %-12s %12s %10s %10s %10s %9s\n' "$name" "${R[$name.serve.ir]:--}" "${R[$name.steps.cpu]}" \
    "${R[$name.steps.rps]}" \
    "$(awk -v a="${R[$name.steps.rps]}" -v b="${R[nginx.steps.rps]}" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')" \
    "$([[ $name == nginx ]] && echo - || echo "${R[$name.steps.rss]}")"
done
