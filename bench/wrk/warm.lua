-- warm.lua: requests spread over every (user, device) pair, like real traffic; every token's
-- claims are already cached, so each answer should cost one Redis command.
-- Args: <warm.tsv>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local reqs = {}

function init(args)
  for _, row in ipairs(load_rows(args[1])) do reqs[#reqs + 1] = get_device(row[1], row[2]) end
  math.randomseed(1000 + (id or 1))
end

function request()
  return send_random(reqs)
end
