-- signin.lua: InitiateAuth of random seeded sign-in users, one round trip a sign-in:
-- password (USER_PASSWORD_AUTH with the user's password) or refresh (REFRESH_TOKEN_AUTH with
-- the user's refresh token). A 200 carries AuthenticationResult (tokens).
-- Args: <signin.tsv> <password|refresh>
-- (signin.tsv: pool, client, username, password, refresh token.)
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local reqs = {}

local BUILD = {
  password = function(row)
    return '{"AuthFlow":"USER_PASSWORD_AUTH","ClientId":"' .. row[2]
      .. '","AuthParameters":{"USERNAME":"' .. row[3] .. '","PASSWORD":"' .. row[4] .. '"}}'
  end,
  refresh = function(row)
    return '{"AuthFlow":"REFRESH_TOKEN_AUTH","ClientId":"' .. row[2]
      .. '","AuthParameters":{"REFRESH_TOKEN":"' .. row[5] .. '"}}'
  end,
}

function init(args)
  local build = BUILD[args[2]] or error("unknown sign-in " .. tostring(args[2]))
  for _, row in ipairs(load_rows(args[1])) do
    reqs[#reqs + 1] = api_request("InitiateAuth", build(row))
  end
  math.randomseed(2000 + (id or 1))
end

function request()
  return send_random(reqs)
end
