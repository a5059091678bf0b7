-- update.lua: UpdateDeviceStatus ("remembered": the device stays visible to the other modes)
-- over every warm (user, device) pair. Args: <warm.tsv>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")
dofile(dir .. "ops.lua")

local reqs = {}

function init(args)
  for _, row in ipairs(load_rows(args[1])) do
    reqs[#reqs + 1] = update_device_status(row[1], row[2], "remembered")
  end
  math.randomseed(4000 + (id or 1))
end

function request()
  return send_random(reqs)
end
