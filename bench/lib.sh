# lib.sh -- what bench/run.sh and bench/steps.sh share: processes (serve, lg-bench
# serve-model, nginx) on free ports, wrk rounds interleaved across servers with CPU per
# request, medians, and the callgrind split of the in-process review. Sourced, not run: the
# caller sets here, work, build, lgb, runs and pids=() and traps cleanup on EXIT.
# shellcheck shell=bash disable=SC2154 # port_NAME and pid_NAME are set by start_* with printf -v
say() { printf '%s\n' "$*"; }
section() { printf '\n== %s  [%s; load average %s]\n' "$1" "$(date -u +%H:%M:%S)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"; }

# ---- processes ----

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "run.sh: no free port found" >&2
  return 1
}

# Waits (at most 10 s) until pid answers GET path on port over TLS: with 200 for /readyz,
# with anything for other paths.
wait_ready() {
  local pid=$1 port=$2 path=$3 i code
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: process $pid exited" >&2; return 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$work/certs/ca.crt" \
      "https://127.0.0.1:$port$path" || true)
    [[ $code == 200 || ($path != /readyz && $code != 000 && -n $code) ]] && return 0
    sleep 0.1
  done
  echo "run.sh: nothing answers on port $port" >&2
  return 1
}

# start_serve NAME [serve flags...]: leaseguard serve on a free port; sets port_NAME, pid_NAME.
# The binary is $serve_bin (default: the one built here).
start_serve() {
  local name=$1 port pid
  shift
  port=$(free_port)
  "${serve_bin:-$build/leaseguard}" serve --secure-port "$port" --bind-address 127.0.0.1 \
    --tls-cert-file "$work/certs/tls.crt" --tls-private-key-file "$work/certs/tls.key" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  pids+=("$pid")
  wait_ready "$pid" "$port" /readyz || { tail -3 "$work/$name.err" >&2; return 1; }
  printf -v "port_$name" '%s' "$port"
  printf -v "pid_$name" '%s' "$pid"
}

# start_model NAME MODEL THREADS [serve-model flags...]: lg-bench serve-model on a free port.
start_model() {
  local name=$1 model=$2 threads=$3 port pid
  shift 3
  port=$(free_port)
  "$build/bench/lg-bench" serve-model --model "$model" --threads "$threads" --port "$port" \
    --cert "$work/certs/tls.crt" --key "$work/certs/tls.key" "$@" >"$work/$name.out" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_ready "$pid" "$port" /validate || { cat "$work/$name.out" >&2; return 1; }
  printf -v "port_$name" '%s' "$port"
  printf -v "pid_$name" '%s' "$pid"
}

start_nginx() {
  local port pid response dir=$work/nginx
  port=$(free_port)
  mkdir -p "$dir/tmp"
  response='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"0f1e2d3c-4b5a-4968-8776-000000000002","allowed":true}}'
  cat >"$dir/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/certs/tls.crt;
    ssl_certificate_key $work/certs/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /validate { return 200 '$response'; }
  }
}
EOF
  nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_ready "$pid" "$port" /validate || { cat "$dir/error.log" "$dir/stdout" >&2; return 1; }
  port_nginx=$port
  pid_nginx=$pid
}

# CPU seconds (user + system, all threads) used so far by pid and its children processes.
cpu_ticks() {
  local total=0 p t
  for p in "$1" $(pgrep -P "$1" || true); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# ---- numbers ----

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
  if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2];
  else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
declare -A R

# load NAME PID PORT CONNS DURATION FILES...: one wrk run; sets last_* (and prints a line
# when runs > 1). Half-way through it reads the server's VmRSS and thread count.
load() {
  local name=$1 pid=$2 port=$3 c=$4 d=$5 t=2 before after line wrk_pid
  shift 5
  ((c < 2)) && t=1
  before=$(cpu_ticks "$pid")
  timeout $((d + 30)) wrk -t"$t" -c"$c" -d"${d}s" --timeout 5s -s "$here/wrk.lua" \
    "https://127.0.0.1:$port/validate" -- "$@" >"$work/wrk.out" 2>&1 &
  wrk_pid=$!
  sleep "$(awk -v d="$d" 'BEGIN {print d / 2}')"
  last_rss=$(kib "$pid" VmRSS) last_threads=$(kib "$pid" Threads)
  wait "$wrk_pid" || true
  after=$(cpu_ticks "$pid")
  line=$(grep '^RESULT' "$work/wrk.out" || true)
  if [[ -z $line ]]; then
    say "  $name c=$c: wrk failed: $(tail -2 "$work/wrk.out")"
    return 1
  fi
  last_rps=$(field "$line" rps)
  last_p50=$(field "$line" p50_us)
  last_p99=$(field "$line" p99_us)
  last_p999=$(field "$line" p999_us)
  last_cpu=$(awk -v a="$before" -v b="$after" -v n="$(field "$line" requests)" \
    'BEGIN {printf "%.0f", (b - a) * 10000 / (n ? n : 1)}')
  last_err=$(($(field "$line" errors_connect) + $(field "$line" errors_read) + \
    $(field "$line" errors_write) + $(field "$line" errors_status) + $(field "$line" errors_timeout)))
  ((runs > 1)) || return 0
  printf '    %-20s c=%-4s %7s req/s  p50 %6s us  p99 %6s us  p99.9 %6s us  %4s us CPU/req  errors %s\n' \
    "$name" "$c" "$last_rps" "$last_p50" "$last_p99" "$last_p999" "$last_cpu" "$last_err"
}

# series TAG "NAME:PID:PORT ..." CONNS DURATION FILES...: `runs` rounds, the servers
# interleaved within each round (so that load from elsewhere hits them alike); the medians
# go into R[NAME.TAG.rps|p50|p99|p999|cpu|err].
series() {
  local tag=$1 servers=$2 c=$3 d=$4 r s name pid port k
  shift 4
  declare -A acc=()
  for ((r = 0; r < runs; r++)); do
    for s in $servers; do
      IFS=: read -r name pid port <<<"$s"
      # Bodies are re-stamped before each run so that the steal is still a steal.
      "$build/bench/lg-bench" rebase --to now --out "$work/live" "$@"
      load "$name" "$pid" "$port" "$c" "$d" "${@/#*\//$work/live/}" || continue
      acc[$name.rps]+=" $last_rps" acc[$name.p50]+=" $last_p50" acc[$name.p99]+=" $last_p99"
      acc[$name.p999]+=" $last_p999" acc[$name.cpu]+=" $last_cpu" acc[$name.err]+=" $last_err"
      acc[$name.rss]+=" $last_rss" acc[$name.threads]+=" $last_threads"
    done
  done
  for s in $servers; do
    IFS=: read -r name pid port <<<"$s"
    for k in rps p50 p99 p999 cpu err rss threads; do
      # shellcheck disable=SC2086
      R[$name.$tag.$k]=$(median ${acc[$name.$k]:-})
    done
    printf '  %-22s c=%-4s %7s req/s  p50 %6s us  p99 %6s us  p99.9 %6s us  %4s us CPU/req' \
      "$name" "$c" "${R[$name.$tag.rps]}" "${R[$name.$tag.p50]}" "${R[$name.$tag.p99]}" \
      "${R[$name.$tag.p999]}" "${R[$name.$tag.cpu]}"
    # nginx's master process says nothing about its workers' memory.
    [[ $name == nginx ]] || printf '  RSS %6s KiB  threads %3s' "${R[$name.$tag.rss]}" \
      "${R[$name.$tag.threads]}"
    printf '  errors %s  (median of %d)\n' "${R[$name.$tag.err]}" "$runs"
  done
}

# Nearest-rank percentiles of h2load's per-request log (3rd column: microseconds).
h2_percentiles() {
  awk '{print $3}' "$1" | sort -n | awk '{a[NR] = $1} END {
    i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999); i999 = int(NR * 0.999 + 0.999);
    printf "n=%d p50=%d p99=%d p999=%d max=%d\n", NR, a[i50], a[i99], a[i999], a[NR] }'
}

cg_run() { # OUT COUNT FILES...
  local out=$1 n=$2
  shift 2
  timeout 600 valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect=lg_webhook_handle --toggle-collect=lg_webhook_result_free \
    --toggle-collect=lg_decision_from_webhook --toggle-collect=lg_metrics_decision \
    --toggle-collect=lg_log_decision \
    "$lgb" loop --serve-extras --count "$n" "$@" >/dev/null 2>&1
}
cg_fn() { # FILE FUNCTION -> inclusive Ir (0 when absent)
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | awk -v f="$2" '
    !found && / PROGRAM TOTALS/ && f == "TOTAL" {gsub(",", "", $1); v = $1; found = 1}
    !found && NF > 2 && $(NF - 1) ~ (":" f "$") {gsub(",", "", $1); v = $1; found = 1}
    END {print found ? v : 0}'
}
cg_split() { # FILE COUNT LABEL
  local f=$1 n=$2 total parse decode policy witness rules encode free metrics log
  total=$(cg_fn "$f" TOTAL) parse=$(cg_fn "$f" json_loadb) decode=$(cg_fn "$f" lg_admission_decode)
  policy=$(cg_fn "$f" lg_policy_resolve) rules=$(cg_fn "$f" lg_rules_evaluate)
  witness=$(($(cg_fn "$f" lg_witness_evidence) + $(cg_fn "$f" lg_witness_record)))
  encode=$(cg_fn "$f" lg_admission_encode) free=$(cg_fn "$f" lg_webhook_result_free)
  metrics=$(cg_fn "$f" lg_metrics_decision)
  log=$(($(cg_fn "$f" lg_log_decision) + $(cg_fn "$f" lg_decision_from_webhook)))
  awk -v n="$n" -v label="$3" -v t="$total" -v p="$parse" -v d="$decode" -v po="$policy" \
    -v w="$witness" -v r="$rules" -v e="$encode" -v fr="$free" -v m="$metrics" -v l="$log" 'BEGIN {
    other = t - d - po - w - r - e - fr - m - l
    printf "  %-19s %8.0f %8.0f %7.0f %6.0f %7.0f %6.0f %7.0f %7.0f %7.0f %7.0f %6.0f  %3.0f%%\n",
      label, t / n, p / n, (d - p) / n, po / n, w / n, r / n, e / n, fr / n, m / n,
      l / n, other / n, 100 * p / t }'
}
