-- wrk script for the gemini-gateway benchmark: one POST per request, machine-readable summary.
-- Configured by environment variables (set by bench/run.sh):
--   BENCH_PATH  request path, e.g. /v2/models/gemini-2.5-flash:generateContent
--   BENCH_HEADER  name of the credential header (default x-goog-api-key)
--   BENCH_KEY   its value (e.g. "pw", or "Bearer pw" with BENCH_HEADER=authorization)
--   BENCH_BODY  request body (JSON); BENCH_BODY_FILE: read it from this file instead
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.body = os.getenv("BENCH_BODY") or "{}"
-- A body too large for an environment variable (> 128 KiB) comes from a file.
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
wrk.headers["Content-Type"] = "application/json"
wrk.headers[os.getenv("BENCH_HEADER") or "x-goog-api-key"] = os.getenv("BENCH_KEY") or ""

function request()
  return wrk.format(nil, wrk.path, nil, wrk.body)
end

-- One line of JSON on stdout, prefixed with "BENCH ", read by bench/run.sh.
-- Latencies are in microseconds (wrk's native unit).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.1f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"lat_mean_us":%.1f,"lat_min_us":%d,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_p999_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.min, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
