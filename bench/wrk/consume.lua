-- consume.lua: operations that use up what they act on, each request on its own row: confirm
-- (ConfirmDevice of a device a sign-in left unconfirmed), forget (ForgetDevice of a device), or
-- signout (GlobalSignOut of a throwaway user). As in cold.lua, a thread that runs out stops,
-- and done() reports answers per second over the span it was busy.
-- Args: <rows.tsv> <threads> <confirm|forget|signout> <warm.tsv>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")
dofile(dir .. "ops.lua")

local reqs = {}
local next_i = 1
local filler
exhausted = false
sent = 0 -- requests sent, answered or not

local BUILD = {
  confirm = function(row) return confirm_device(row[1], row[2]) end,
  forget = function(row) return forget_device(row[1], row[2]) end,
  signout = function(row) return global_sign_out(row[1]) end,
}

function init(args)
  local nthreads = tonumber(args[2]) or 1
  local build = BUILD[args[3]] or error("unknown operation " .. tostring(args[3]))
  local me = (id or 1) - 1
  for i, row in ipairs(load_rows(args[1])) do
    if (i - 1) % nthreads == me then reqs[#reqs + 1] = build(row) end
  end
  -- Once out of rows, wrk still wants a request string: a warm GetDevice (one command, OK),
  -- since repeating the last row would find it used up.
  local warm = load_rows(args[4])[1]
  filler = get_device(warm[1], warm[2])
end

function request()
  if t_first == 0 then t_first = now_s() end
  local req = reqs[next_i]
  sent = sent + 1
  if req == nil then
    exhausted = true
    wrk.thread:stop()
    return filler
  end
  next_i = next_i + 1
  return req
end
