-- paced.lua: warm traffic (as warm.lua), paced: each connection waits between requests, so that
-- all connections together offer about <rate> requests a second. Latency then measures the
-- answer, not the queue: with every connection always busy (warm), mean latency is simply
-- connections / throughput, whatever the server does.
-- Args: <warm.tsv> <rate, req/s over all connections> <connections>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local reqs = {}
local gap_ms = 1

function init(args)
  for _, row in ipairs(load_rows(args[1])) do reqs[#reqs + 1] = get_device(row[1], row[2]) end
  -- Each connection's cycle (wait + answer) at the asked rate; wrk counts waits in whole ms.
  gap_ms = 1000 * tonumber(args[3]) / tonumber(args[2])
  math.randomseed(2000 + (id or 1))
end

function delay()
  -- Uniform over [0.5, 1.5] x the gap, so that connections do not fall into step.
  return math.floor(gap_ms * (0.5 + math.random()) + 0.5)
end

function request()
  return send_random(reqs)
end
