-- wrk.lua -- POSTs the bodies named after `--` round-robin to /validate (one rotation per
-- wrk thread, each starting at a different body) and prints one RESULT line at the end.
local requests, n, i = {}, 0, 0

function setup(thread)
  -- Offsets the threads so that they do not send the same body at the same time.
  thread:set("offset", n)
  n = n + 1
end

function init(args)
  for _, path in ipairs(args) do
    local f = assert(io.open(path, "rb"))
    local body = f:read("*a")
    f:close()
    requests[#requests + 1] = wrk.format("POST", nil,
      { ["Content-Type"] = "application/json" }, body)
  end
  assert(#requests > 0, "wrk.lua: name the body files after --")
  i = (offset or 0) % #requests
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f requests=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
