-- mixed.lua: an app's session traffic over the warm users: <get %> GetDevice, <list %>
-- ListDevices (each user's own few devices), the rest UpdateDeviceStatus ("remembered").
-- Args: <warm.tsv> <get %> <list %>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")
dofile(dir .. "ops.lua")

local gets, lists, updates = {}, {}, {}
local get_pct, list_pct = 60, 30
local choices, pcts

function init(args)
  local seen = {}
  for _, row in ipairs(load_rows(args[1])) do
    gets[#gets + 1] = get_device(row[1], row[2])
    updates[#updates + 1] = update_device_status(row[1], row[2], "remembered")
    if not seen[row[1]] then
      seen[row[1]] = true
      lists[#lists + 1] = list_devices(row[1])
    end
  end
  get_pct = tonumber(args[2]) or get_pct
  list_pct = tonumber(args[3]) or list_pct
  choices, pcts = { gets, lists, updates }, { get_pct, list_pct }
  math.randomseed(5000 + (id or 1))
end

function request()
  return send_weighted(choices, pcts)
end
