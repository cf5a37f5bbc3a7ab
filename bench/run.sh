#!/usr/bin/env bash
# run.sh -- leaseguard's benchmark: the in-process review (time and instruction counts),
# then `serve` over TLS under wrk and h2load, with nginx answering a fixed body as the
# ceiling. Prints figures and a summary table; asserts nothing (targets are reported, not
# enforced). Everything runs on 127.0.0.1; every loop is bounded; every process it starts
# is stopped on exit.
#
#   bash bench/run.sh            # about 5 minutes
#   bash bench/run.sh --quick    # about 1 minute: single runs, shorter loads
#
# LG_BENCH_BUILD=DIR builds there instead of bench/.build. LG_BENCH_BASELINE=BIN also serves
# another leaseguard binary (e.g. main's) in the same interleaved rounds of section 2.
# shellcheck disable=SC2154 # port_NAME and pid_NAME are set by start_* with printf -v
set -euo pipefail

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bash bench/run.sh [--quick]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${LG_BENCH_BUILD:-$here/.build}
work=$(mktemp -d /tmp/lg-bench.XXXXXX)
pids=()

if ((quick)); then
  runs=1 in_seconds=0.3 cg_count=72 main_d=4 short_d=2 paced_n=2000 long_d=12
else
  runs=3 in_seconds=1 cg_count=240 main_d=10 short_d=3 paced_n=5000 long_d=60
fi

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# ---- tools and build ----

section "setup"
bash "$root/scripts/deps.sh"
missing=()
for t in wrk:wrk nginx:nginx h2load:nghttp2-client valgrind:valgrind curl:curl; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
# cJSON only for lg-bench serve-model --answer parse-cjson (the parser comparison).
dpkg -s libcjson-dev >/dev/null 2>&1 || missing+=(libcjson-dev)
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DLG_WERROR=OFF \
  -DLG_BENCH=ON >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" --target leaseguard lg-bench >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; exit 1; }
lgb=$build/bench/lg-bench
"$build/leaseguard" certs --out-dir "$work/certs" >/dev/null
mkdir -p "$work/live" "$work/sizes"
bodies=("$here"/bodies/*.json)
say "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
say "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p;T;q' /proc/cpuinfo)," \
  "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo);" \
  "shared with other work, so every wall-clock figure is noisy"
say "build:   Release (-O3), $(gcc -dumpfullversion 2>/dev/null || echo gcc), jansson" \
  "$(pkg-config --modversion jansson), libmicrohttpd $(pkg-config --modversion libmicrohttpd)," \
  "GnuTLS $(pkg-config --modversion gnutls); wrk, h2load and the servers share the same 2 cores"
say "source:  $(git -C "$root" describe --always --dirty 2>/dev/null || echo "not a git checkout")" \
  "($root)"
say "mode:    $([[ $quick == 1 ]] && echo "--quick (single runs)" || echo "full (median of $runs runs)")"

# ---- 1. in-process ----

section "1. in-process: lg_webhook_handle (decode -> decide -> encode), one thread"
say "decisions at the bodies' reference time (sanity):"
"$lgb" check "${bodies[@]}" | sed 's/^/  /'
"$lgb" time --runs "$runs" --seconds "$in_seconds" "${bodies[@]}" >"$work/time.txt"
grep -v '^RESULT' "$work/time.txt" | sed 's/^/  /'
R[in.ns]=$(awk '$2 == "mix_ns_per_review" {print $3}' "$work/time.txt")
R[in.rps]=$(awk '$2 == "mix_reviews_per_s" {print $3}' "$work/time.txt")

# Instruction counts of what serve does per request less HTTP and TLS: only
# lg_webhook_handle, lg_decision_from_webhook, lg_metrics_decision, lg_log_decision (audit
# lines, to /dev/null here) and lg_webhook_result_free are collected.
say ""
say "instructions per review (callgrind; stable under load), by step:"
printf '  %-19s %8s %8s %7s %6s %7s %6s %7s %7s %7s %7s %6s  %4s\n' "bodies" total json_loadb \
  decode policy witness rules encode free metrics "audit" other parse
cg_run "$work/cg.mix" "$cg_count" "${bodies[@]}"
cg_split "$work/cg.mix" "$cg_count" "mix of ${#bodies[@]}" | tee "$work/cg.mix.txt"
R[in.ir]=$(awk '{print $4}' "$work/cg.mix.txt")
R[in.parse]=$(awk '{print $NF}' "$work/cg.mix.txt")
for b in renew-kcm violation-steal; do
  cg_run "$work/cg.$b" $((cg_count / 4)) "$here/bodies/$b.json"
  cg_split "$work/cg.$b" $((cg_count / 4)) "$b"
done
say "  (decode = the walk over the parsed tree and the lease fields; witness = the lease memory"
say "   (serve's, 16384 entries: its digests, lookups and records); encode = the response body;"
say "   free = json_decref of the request tree; metrics = lg_metrics_decision; audit = the"
say "   decision record and lg_log_decision's audit lines (one per violation; the write itself"
say "   is a system call, not counted); other = lg_webhook_handle's own work)"

say ""
say "cost against body size (renew-kcm with its managedFields stripped, or padded with"
say "entries of a second field manager, in object and oldObject alike):"
printf '  %-8s %8s %12s %14s %10s %10s\n' target bytes ns/review instructions "Ir/byte" parse%
for kb in 1 2 8 32 128; do
  "$lgb" pad --bytes $((kb * 1024)) --out "$work/sizes/size-${kb}k.json" "$here/bodies/renew-kcm.json"
done
"$lgb" time --runs "$runs" --seconds "$in_seconds" "$work"/sizes/size-{1,2,8,32,128}k.json >"$work/sizes.txt"
for kb in 1 2 8 32 128; do
  n=$((cg_count * 2 / 4 / kb + 2))
  cg_run "$work/cg.size$kb" "$n" "$work/sizes/size-${kb}k.json"
  total=$(cg_fn "$work/cg.size$kb" TOTAL) parse=$(cg_fn "$work/cg.size$kb" json_loadb)
  bytes=$(stat -c %s "$work/sizes/size-${kb}k.json")
  ns=$(awk -v f="size-${kb}k.json" '$2 == "body" && $3 == f {print $5}' "$work/sizes.txt")
  awk -v kb="$kb" -v b="$bytes" -v ns="$ns" -v t="$total" -v p="$parse" -v n="$n" 'BEGIN {
    printf "  %-8s %8d %12d %14.0f %10.0f %9.0f%%\n", kb " KB", b, ns, t / n, t / n / b, 100 * p / t }'
  R[size$kb.ns]=$ns
done

# ---- 1b. logging ----

section "1b. what an audit line costs the thread that answers: written at once, or queued (serve)"
# The decision record and lg_log_decision over the 4 violation bodies (one audit line each); stdout to a file, as a
# container runtime's log pipe that keeps up; then queued into a FIFO that nobody reads.
log_bench() { # LABEL MODE-FLAGS... (stdout already redirected by the caller)
  local label=$1
  shift
  "$lgb" log --runs "$runs" --seconds "$in_seconds" "$@" "${bodies[@]}" 2>&1 >&3 |
    awk -v l="$label" '$1 == "RESULT" {printf "  %-34s %6d ns CPU %6d ns wall per line; %d lines, %d dropped\n", l, $4, $6, $8, $10}'
}
{
  log_bench "at once, stdout a file (before)" 3>"$work/log-at-once.out"
  log_bench "queued, stdout a file (serve now)" --queue 3>"$work/log-queued.out"
  mkfifo "$work/stalled"
  exec {hold}<>"$work/stalled" # a reader that never reads
  log_bench "queued, stdout a stalled pipe" --queue 3>"$work/stalled"
  exec {hold}>&-
} | tee "$work/log.txt"
say "  (an at-once write into the stalled pipe would block for good: not run)"

# ---- 2./3. serve and nginx over TLS, keep-alive ----

section "2-3. serve (default policy, --threads default) and nginx (fixed answer) over TLS"
start_serve lg
start_nginx
# LG_BENCH_BASELINE=BIN: another leaseguard binary (say, main's Release build) served the same
# way and loaded in the same interleaved rounds, so that a change is compared on equal terms.
if [[ -n ${LG_BENCH_BASELINE:-} ]]; then
  serve_bin=$LG_BENCH_BASELINE start_serve base
  say "baseline: $LG_BENCH_BASELINE ($("$LG_BENCH_BASELINE" version))"
fi
# The floor of leaseguard's HTTP + TLS stack: libmicrohttpd + GnuTLS in serve's model (epoll,
# one thread per CPU) answering nginx's fixed answer without reading the review.
start_model floor epoll "$(nproc)" --answer fixed
# The ceiling of a webhook on each JSON parser: the floor plus parsing (and freeing) the body.
start_model pjansson epoll "$(nproc)" --answer parse-jansson
have_cjson=0
if grep -q "parse-cjson is available" <<<"$("$build/bench/lg-bench" --help 2>&1)"; then
  start_model pcjson epoll "$(nproc)" --answer parse-cjson
  have_cjson=1
fi
"$lgb" rebase --to now --out "$work/live" "${bodies[@]}"
agree=0
for b in "${bodies[@]}"; do
  want=$("$lgb" check "$b" | awk '{print $4}')
  got=$(curl -fs --max-time 5 --cacert "$work/certs/ca.crt" -H 'Content-Type: application/json' \
    --data-binary @"$work/live/${b##*/}" "https://127.0.0.1:$port_lg/validate" |
    grep -o '"allowed":[a-z]*' || true)
  [[ $got == '"allowed":true' && $want == allow || $got == '"allowed":false' && $want == deny ]] &&
    agree=$((agree + 1))
done
say "serve pid $pid_lg port $port_lg, nginx pid $pid_nginx port $port_nginx;" \
  "serve's decisions on the re-stamped bodies match the in-process ones: $agree/${#bodies[@]}"
say "wrk -t2 -c64 -d${main_d}s, the ${#bodies[@]} bodies round-robin, keep-alive:"
say "(mhd-fixed = lg-bench serve-model --answer fixed: libmicrohttpd + GnuTLS, epoll, $(nproc)" \
  "threads, nginx's fixed answer: the floor of serve's HTTP + TLS stack; +jansson / +cjson:"
say " the same after parsing the body with jansson (as serve does) or cJSON and freeing it)"
main_servers="leaseguard:$pid_lg:$port_lg nginx:$pid_nginx:$port_nginx mhd-fixed:$pid_floor:$port_floor"
[[ -n ${LG_BENCH_BASELINE:-} ]] && main_servers="leaseguard:$pid_lg:$port_lg baseline:$pid_base:$port_base ${main_servers#* }"
main_servers+=" +jansson:$pid_pjansson:$port_pjansson"
((have_cjson)) && main_servers+=" +cjson:$pid_pcjson:$port_pcjson"
series main "$main_servers" 64 "$main_d" "${bodies[@]}"
if [[ -n ${LG_BENCH_BASELINE:-} ]]; then
  say "the 4 violation bodies only (an audit line per request), keep-alive:"
  series viol "leaseguard:$pid_lg:$port_lg baseline:$pid_base:$port_base" 64 "$main_d" \
    "$here"/bodies/violation-*.json
  stop_pid "$pid_base"
fi
stop_pid "$pid_floor"
stop_pid "$pid_pjansson"
((have_cjson)) && stop_pid "$pid_pcjson"
R[lg.hwm]=$(kib "$pid_lg" VmHWM)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
R[ratio]=$(ratio "${R[leaseguard.main.rps]}" "${R[nginx.main.rps]}")
R[ratio.floor]=$(ratio "${R[mhd-fixed.main.rps]}" "${R[nginx.main.rps]}")
R[ratio.jansson]=$(ratio "${R[+jansson.main.rps]}" "${R[nginx.main.rps]}")
R[ratio.cjson]=$(ratio "${R[+cjson.main.rps]:-0}" "${R[nginx.main.rps]}")
say "  leaseguard / nginx throughput: ${R[ratio]}; mhd-fixed / nginx: ${R[ratio.floor]};" \
  "+jansson / nginx: ${R[ratio.jansson]}; +cjson / nginx: ${R[ratio.cjson]}"
say "  serve's peak RSS so far (VmHWM): ${R[lg.hwm]} KiB"

section "3. paced: h2load --h1 -c 10 --rps 100 (1,000 requests/s), renew-kcm, $paced_n requests"
say "even:  the 10 connections open 1 ms apart (-r 1 --rate-period 1ms), so their 10 ms"
say "       timers interleave: one request every millisecond, the fixed rate of the target"
say "burst: the 10 connections open together and send in step: 10 requests at once every"
say "       10 ms, the same rate as a worst case for the tail (the last waits for 9)"
for ((r = 0; r < runs; r++)); do
  for pace in even burst; do
    for s in leaseguard:$port_lg nginx:$port_nginx; do
      stagger=()
      [[ $pace == even ]] && stagger=(-r 1 --rate-period 1ms)
      "$lgb" rebase --to now --out "$work/live" "$here/bodies/renew-kcm.json"
      rm -f "$work/h2.log"
      timeout 120 h2load --h1 -n "$paced_n" -c 10 --rps 100 "${stagger[@]}" \
        -H 'content-type: application/json' -d "$work/live/renew-kcm.json" \
        --log-file "$work/h2.log" "https://127.0.0.1:${s#*:}/validate" >"$work/h2.out" 2>&1 || true
      line=$(h2_percentiles "$work/h2.log")
      printf '  %-5s %-10s %s us; %s\n' "$pace" "${s%%:*}" "$line" \
        "$(grep -m1 -o '[0-9.]* req/s' "$work/h2.out" || true)"
      k=paced.$pace.${s%%:*}
      R[$k.p50]+=" $(field "$line" p50)" R[$k.p99]+=" $(field "$line" p99)"
      R[$k.p999]+=" $(field "$line" p999)"
    done
  done
done
for pace in even burst; do
  for s in leaseguard nginx; do
    for k in p50 p99 p999; do
      # shellcheck disable=SC2086
      R[paced.$pace.$s.$k]=$(median ${R[paced.$pace.$s.$k]})
    done
    k=paced.$pace.$s
    say "  $pace $s median: p50 ${R[$k.p50]} us, p99 ${R[$k.p99]} us, p99.9 ${R[$k.p999]} us"
  done
done

section "3. memory: wrk -t2 -c256 -d${long_d}s against the same serve, VmRSS every 5 s"
"$lgb" rebase --to now --out "$work/live" "${bodies[@]}"
timeout $((long_d + 30)) wrk -t2 -c256 -d"${long_d}s" --timeout 5s -s "$here/wrk.lua" \
  "https://127.0.0.1:$port_lg/validate" -- "$work"/live/*.json >"$work/long.txt" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
series_rss="" conns=0
for ((t = 0; t <= long_d; t += 5)); do
  rss=$(kib "$pid_lg" VmRSS)
  series_rss+=" $rss"
  ((t == 5)) && conns=$(ss -Htn state established "( sport = :$port_lg )" 2>/dev/null | wc -l || true)
  ((t + 5 <= long_d)) && sleep 5
done
wait "$wrk_pid" || true
line=$(grep '^RESULT' "$work/long.txt" || true)
R[rss.max]=$(tr ' ' '\n' <<<"$series_rss" | sort -n | tail -1)
R[rss.hwm]=$(kib "$pid_lg" VmHWM)
R[rss.series]=$series_rss
R[rss.growth]=$(awk -v s="$series_rss" 'BEGIN {n = split(s, a, " "); printf "%+d", a[n] - a[(n > 2) ? 3 : 1]}')
say "  open connections to serve at t=5 s: $conns"
say "  VmRSS KiB at t=0,5,10,...:$series_rss"
say "  max VmRSS ${R[rss.max]} KiB, VmHWM ${R[rss.hwm]} KiB; change from t=10 s to the end: ${R[rss.growth]} KiB"
say "  throughput at c=256: $(field "$line" rps) req/s, p99 $(field "$line" p99_us) us"

# ---- 4. latency against concurrency and body size ----

section "4. latency against concurrency (wrk ${short_d}s runs; c=64 is the run above)"
for c in 1 16 256; do
  series c$c "leaseguard:$pid_lg:$port_lg" "$c" "$short_d" "${bodies[@]}"
done

section "4. latency against body size: renew-kcm at 2 KB and padded to 32 KB, c=64"
cp "$work/sizes/size-32k.json" "$work/sizes/renew-kcm-32k.json"
series body2k "leaseguard:$pid_lg:$port_lg" 64 "$short_d" "$here/bodies/renew-kcm.json"
series body32k "leaseguard:$pid_lg:$port_lg" 64 "$short_d" "$work/sizes/renew-kcm-32k.json"
R[lg.hwm.end]=$(kib "$pid_lg" VmHWM)

# ---- threading ----

section "threading: serve --threads=1,2,4 and one bare handler in three libmicrohttpd models"
stop_pid "$pid_nginx"
start_serve t1 --threads 1
start_serve t4 --threads 4
start_model epoll epoll 2
start_model perconn per-connection 1
say "(bare = lg-bench serve-model: the same review, no logs, no metrics, no policy reload)"
series thr "serve-t1:$pid_t1:$port_t1 serve-t2:$pid_lg:$port_lg serve-t4:$pid_t4:$port_t4 bare-epoll-2:$pid_epoll:$port_epoll bare-per-conn:$pid_perconn:$port_perconn" \
  64 "$short_d" "${bodies[@]}"
series thr256 "bare-epoll-2:$pid_epoll:$port_epoll bare-per-conn:$pid_perconn:$port_perconn" \
  256 "$short_d" "${bodies[@]}"
say "  VmHWM KiB: serve-t1 $(kib "$pid_t1" VmHWM), serve-t2 $(kib "$pid_lg" VmHWM)," \
  "serve-t4 $(kib "$pid_t4" VmHWM), bare-epoll-2 $(kib "$pid_epoll" VmHWM)," \
  "bare-per-conn $(kib "$pid_perconn" VmHWM) (threads now: $(kib "$pid_perconn" Threads))"

# ---- summary ----

section "summary (targets are reported, not enforced; 2 shared cores: wall-clock figures are noisy)"
row() { printf '  %-48s %-26s %s\n' "$1" "$2" "$3"; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
  if (v == "" || v == "n/a") print "n/a"; else if ((op == "<" && v + 0 < t + 0) || (op == ">=" && v + 0 >= t + 0)) print "met";
  else print "NOT met" }'; }
row "figure" "value" "target"
row "in-process review, one thread (mix; CPU time)" "${R[in.ns]} ns = ${R[in.rps]} /s" ""
row "instructions per review (mix; json_loadb share)" "${R[in.ir]} (${R[in.parse]})" ""
row "in-process review, 1.6 KB / 128 KB body" "${R[size1.ns]} / ${R[size128.ns]} ns" ""
row "serve, c=64: throughput" "${R[leaseguard.main.rps]} req/s" ""
row "serve, c=64: p50 / p99 / p99.9" "${R[leaseguard.main.p50]} / ${R[leaseguard.main.p99]} / ${R[leaseguard.main.p999]} us" ""
row "serve, c=64: CPU per request (serve's own)" "${R[leaseguard.main.cpu]} us" ""
if [[ -n ${LG_BENCH_BASELINE:-} ]]; then
  row "baseline serve, c=64: req/s, p99, CPU/req" \
    "${R[baseline.main.rps]}, ${R[baseline.main.p99]} us, ${R[baseline.main.cpu]} us" ""
  row "violations only, serve / baseline: CPU/req" \
    "${R[leaseguard.viol.cpu]} / ${R[baseline.viol.cpu]} us" ""
  row "violations only, serve / baseline: p99" \
    "${R[leaseguard.viol.p99]} / ${R[baseline.viol.p99]} us" ""
fi
row "nginx fixed answer, c=64: throughput" "${R[nginx.main.rps]} req/s (${R[nginx.main.cpu]} us CPU/req)" ""
row "serve / nginx throughput" "${R[ratio]}" ">= 0.8: $(verdict "${R[ratio]}" 0.8 '>=')"
row "libmicrohttpd+GnuTLS fixed answer / nginx" "${R[ratio.floor]} (${R[mhd-fixed.main.cpu]} us CPU/req)" \
  "the stack's floor"
row "  + parse with jansson / nginx" "${R[ratio.jansson]} (${R[+jansson.main.cpu]} us CPU/req)" \
  "ceiling on jansson"
row "  + parse with cJSON / nginx" "${R[ratio.cjson]} (${R[+cjson.main.cpu]:-n/a} us CPU/req)" \
  "ceiling on cJSON"
row "p99 at 1,000 req/s, even (h2load, renew-kcm)" \
  "${R[paced.even.leaseguard.p99]} us (nginx ${R[paced.even.nginx.p99]})" \
  "< 1000 us: $(verdict "${R[paced.even.leaseguard.p99]}" 1000 '<')"
row "p99 at 1,000 req/s, bursts of 10" \
  "${R[paced.burst.leaseguard.p99]} us (nginx ${R[paced.burst.nginx.p99]})" ""
row "VmRSS max with 256 connections" "${R[rss.max]} KiB" "< 32768 KiB: $(verdict "${R[rss.max]}" 32768 '<')"
row "VmRSS change over the ${long_d}s run (from 10 s)" "${R[rss.growth]} KiB" "flat"
row "serve's VmHWM at the end" "${R[lg.hwm.end]} KiB" ""
row "p99 at c=1 / 16 / 64 / 256" "${R[leaseguard.c1.p99]} / ${R[leaseguard.c16.p99]} / ${R[leaseguard.main.p99]} / ${R[leaseguard.c256.p99]} us" ""
row "req/s and p99, body 2 KB (c=64)" "${R[leaseguard.body2k.rps]}, ${R[leaseguard.body2k.p99]} us" ""
row "req/s and p99, body 32 KB (c=64)" "${R[leaseguard.body32k.rps]}, ${R[leaseguard.body32k.p99]} us" ""
row "req/s serve --threads 1 / 2 / 4 (c=64)" "${R[serve-t1.thr.rps]} / ${R[serve-t2.thr.rps]} / ${R[serve-t4.thr.rps]}" ""
row "req/s bare epoll-2 / per-connection (c=64)" "${R[bare-epoll-2.thr.rps]} / ${R[bare-per-conn.thr.rps]}" ""
row "req/s bare epoll-2 / per-connection (c=256)" "${R[bare-epoll-2.thr256.rps]} / ${R[bare-per-conn.thr256.rps]}" ""
