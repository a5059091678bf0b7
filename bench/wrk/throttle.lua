-- throttle.lua: every request for one user, so its token bucket runs dry; most answers are
-- TooManyRequestsException. Args: <hammer.tsv>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local req

function init(args)
  local row = load_rows(args[1])[1]
  req = get_device(row[1], row[2])
end

function request()
  return sending(req)
end
