-- wrk script: a weighted mix of POST /earn, GET /balance, POST /event, each request
-- authenticated as a random seeded user. Arguments (after `--` on wrk's command line):
--   tokens=<path of a Lua file returning an array of JWTs>  users=<draw from the first N>
--   earn=<weight> balance=<weight> event=<weight> [reason=<earn reason, default bench>]
-- done() prints one line "WRK_JSON {...}" that bench/api_load.py parses.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
  table.insert(threads, thread)
end

local tokens, user_count
local earn_cut, balance_cut
local earn_body
local event_body = '{"eventType":"bench_event","meta":"{\\"level\\":3}"}'
local json_headers = {}

function init(args)
  local options = {}
  for _, arg in ipairs(args) do
    local key, value = arg:match("^(%w+)=(.*)$")
    if key then options[key] = value end
  end
  tokens = dofile(options.tokens)
  earn_body = '{"amount":1,"reason":"' .. (options.reason or "bench") .. '"}'
  user_count = math.min(tonumber(options.users or #tokens), #tokens)
  local earn = tonumber(options.earn or 1)
  local balance = tonumber(options.balance or 0)
  local event = tonumber(options.event or 0)
  local total = earn + balance + event
  earn_cut = earn / total
  balance_cut = (earn + balance) / total
  math.randomseed(os.time() * 1000 + thread_index)
  json_headers["Content-Type"] = "application/json"
end

function request()
  json_headers["Authorization"] = "Bearer " .. tokens[math.random(user_count)]
  local pick = math.random()
  if pick < earn_cut then
    return wrk.format("POST", "/earn", json_headers, earn_body)
  elseif pick < balance_cut then
    return wrk.format("GET", "/balance", json_headers, nil)
  end
  return wrk.format("POST", "/event", json_headers, event_body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    string.format('"duration_us":%d', summary.duration),
    string.format('"requests":%d', summary.requests),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors_connect":%d', e.connect),
    string.format('"errors_read":%d', e.read),
    string.format('"errors_write":%d', e.write),
    string.format('"errors_timeout":%d', e.timeout),
    string.format('"non_2xx_3xx":%d', e.status),
    string.format('"latency_mean_us":%.1f', latency.mean),
    string.format('"latency_max_us":%d', latency.max),
  }
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    table.insert(parts, string.format('"p%s_us":%d', tostring(p), latency:percentile(p)))
  end
  io.write("WRK_JSON {" .. table.concat(parts, ",") .. "}\n")
end
