-- list.lua: ListDevices (Limit 60) of users with 60 remembered devices each, their tokens warm.
-- Args: <list.tsv>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")
dofile(dir .. "ops.lua")

local reqs = {}

function init(args)
  for _, row in ipairs(load_rows(args[1])) do reqs[#reqs + 1] = list_devices(row[1]) end
  math.randomseed(3000 + (id or 1))
end

function request()
  return send_random(reqs)
end
