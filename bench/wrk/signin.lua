-- signin.lua: InitiateAuth of random seeded sign-in users, one round trip a sign-in:
-- password (USER_PASSWORD_AUTH with the user's password) or refresh (REFRESH_TOKEN_AUTH with
-- the user's refresh token). A 200 carries AuthenticationResult (tokens).
-- Args: <signin.tsv> <password|refresh>
-- (signin.tsv: pool, client, username, password, refresh token.)
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local reqs = {}

local HEADERS = {
  ["Content-Type"] = "application/x-amz-json-1.1",
  ["X-Amz-Target"] = "AWSCognitoIdentityProviderService.InitiateAuth",
}

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
    local headers = {}
    for k, v in pairs(HEADERS) do headers[k] = v end
    reqs[#reqs + 1] = wrk.format("POST", "/", headers, build(row))
  end
  math.randomseed(2000 + (id or 1))
end

function request()
  if t_first == 0 then t_first = now_s() end
  sent = sent + 1
  return reqs[math.random(#reqs)]
end
