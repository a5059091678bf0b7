-- cold.lua: every request carries a token the service has never seen, so each one is a full
-- RS256 verification plus (at most) two Redis commands. Each token is used once; a thread that
-- runs out stops, and done() reports answers per second over the span it was busy.
-- Args: <cold.tsv> <threads>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local reqs = {}
local next_i = 1
exhausted = false
sent = 0 -- requests sent, answered or not (the server did the work for each)

function init(args)
  local nthreads = tonumber(args[2]) or 1
  local me = (id or 1) - 1
  for i, row in ipairs(load_rows(args[1])) do
    if (i - 1) % nthreads == me then reqs[#reqs + 1] = get_device(row[1], row[2]) end
  end
end

function request()
  if t_first == 0 then t_first = now_s() end
  local req = reqs[next_i]
  if req == nil then
    exhausted = true
    wrk.thread:stop()
    -- wrk still wants a request string: a repeat (warm, one command), which may still reach
    -- the server before the loop stops, so it counts as sent.
    sent = sent + 1
    return reqs[#reqs]
  end
  next_i = next_i + 1
  sent = sent + 1
  return req
end
