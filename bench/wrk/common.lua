-- common.lua: what every bench script shares. Each mode's script loads it with dofile().
--
-- Data files are tab-separated, one request a line (written by bench/seed.py).
-- Every answer is counted by its __type (200 answers count as "OK"); done() prints one line,
-- "BENCH_JSON {...}", that bench/loadgen.py reads. Latencies there are in microseconds.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")

-- Monotonic wall clock, seconds (CLOCK_MONOTONIC = 1).
function now_s()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- One raw HTTP request of an operation (AWS JSON 1.1 on POST /), its body already JSON.
function api_request(operation, body)
  local headers = {
    ["Content-Type"] = "application/x-amz-json-1.1",
    ["X-Amz-Target"] = "AWSCognitoIdentityProviderService." .. operation,
  }
  return wrk.format("POST", "/", headers, body)
end

-- One raw HTTP request for GetDevice(token, device).
function get_device(token, device)
  return api_request("GetDevice", '{"AccessToken":"' .. token .. '","DeviceKey":"' .. device .. '"}')
end

-- The rows of a tab-separated file, each a list of fields.
function load_rows(path)
  local rows = {}
  for line in io.lines(path) do
    local row = {}
    for field in line:gmatch("[^\t]+") do row[#row + 1] = field end
    if #row > 0 then rows[#rows + 1] = row end
  end
  if #rows == 0 then error("no rows in " .. path) end
  return rows
end

-- Per-thread state (each wrk thread has its own Lua state).
counts = {}
t_first = 0
t_last = 0
sent = 0 -- requests sent, answered or not (wrk does not count those still in flight at the end)

-- Counts a request as sent (and when the first went) and returns it: every request() does.
function sending(req)
  if t_first == 0 then t_first = now_s() end
  sent = sent + 1
  return req
end

-- One of the prepared requests `reqs`, at random: the request() of the replaying modes.
function send_random(reqs)
  return sending(reqs[math.random(#reqs)])
end

-- One request from one of `lists`, picked with the percentages `pcts` (the last list takes
-- what they leave), then one of its requests at random.
function send_weighted(lists, pcts)
  local roll, bound = math.random(100), 0
  for i, pct in ipairs(pcts) do
    bound = bound + pct
    if roll <= bound then return send_random(lists[i]) end
  end
  return send_random(lists[#lists])
end

function response(status, headers, body)
  local key = "OK"
  if status ~= 200 then
    key = body and body:match('"__type"%s*:%s*"([^"]+)"') or ("HTTP_" .. status)
  end
  counts[key] = (counts[key] or 0) + 1
  t_last = now_s()
end

-- Main-state bookkeeping: setup() runs once per thread before it starts.
threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    for k, v in pairs(value) do
      parts[#parts + 1] = encode(tostring(k)) .. ":" .. encode(v)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    return '"' .. value:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif kind == "boolean" then
    return tostring(value)
  elseif value ~= value or value == math.huge or value == -math.huge then
    return "null"
  else
    return string.format("%.17g", value)
  end
end

function done(summary, latency, requests)
  local answers, extra = {}, {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts") or {}
    for k, v in pairs(c) do answers[k] = (answers[k] or 0) + v end
    local first, last = thread:get("t_first") or 0, thread:get("t_last") or 0
    local n = 0
    for _, v in pairs(c) do n = n + v end
    -- Answers per second over the span this thread was busy (the cold mode may stop early).
    if last > first then
      extra.window_rps = (extra.window_rps or 0) + n / (last - first)
    end
    extra.exhausted = extra.exhausted or thread:get("exhausted") or false
    extra.sent = (extra.sent or 0) + (thread:get("sent") or 0)
  end
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    bytes = summary.bytes,
    socket_errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      timeout = summary.errors.timeout,
    },
    latency_us = {
      min = latency.min,
      max = latency.max,
      mean = latency.mean,
      stdev = latency.stdev,
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p99 = latency:percentile(99),
      p999 = latency:percentile(99.9),
    },
    answers = answers,
    extra = extra,
  }
  io.write("BENCH_JSON " .. encode(out) .. "\n")
end
