-- wrk script: every request carries a different valid bearer token, cycling through the
-- tokens in BENCH_TOKENS_FILE (one per line); each thread starts at its own offset.
local tokens = {}
local f = assert(io.open(assert(os.getenv("BENCH_TOKENS_FILE"), "BENCH_TOKENS_FILE unset"), "r"))
for line in f:read("*a"):gmatch("[^\n]+") do
  tokens[#tokens + 1] = line
end
f:close()
assert(#tokens > 0, "no tokens")

local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local i
function request()
  if i == nil then
    i = ((id or 0) * 10007) % #tokens
  end
  i = i % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[i]
  return wrk.format(nil, nil, wrk.headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d,"distinct_tokens":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout, #tokens))
end
