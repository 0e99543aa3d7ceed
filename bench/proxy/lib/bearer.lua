-- wrk script: every request carries the same bearer token (read from BENCH_TOKEN_FILE) and
-- done() prints one JSON line with exact figures, so nothing parses wrk's human output.
local f = assert(io.open(assert(os.getenv("BENCH_TOKEN_FILE"), "BENCH_TOKEN_FILE unset"), "r"))
local token = f:read("*l")
f:close()
wrk.headers["Authorization"] = "Bearer " .. token

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
