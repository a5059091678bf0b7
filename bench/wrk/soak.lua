-- soak.lua: mixed traffic for the soak mode: valid requests spread over every pair, requests
-- that must be refused (bad, tampered and expired tokens, unknown devices), and requests for
-- the hammered user that must be throttled. Args: <soak.tsv> <valid %> <invalid %>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local by_kind = { valid = {}, invalid = {}, throttled = {} }
local valid_pct, invalid_pct = 80, 10
local choices, pcts

function init(args)
  for _, row in ipairs(load_rows(args[1])) do
    local list = by_kind[row[1]]
    list[#list + 1] = get_device(row[2], row[3])
  end
  valid_pct = tonumber(args[2]) or valid_pct
  invalid_pct = tonumber(args[3]) or invalid_pct
  choices = { by_kind.valid, by_kind.invalid, by_kind.throttled }
  pcts = { valid_pct, invalid_pct }
  math.randomseed(2000 + (id or 1))
end

function request()
  return send_weighted(choices, pcts)
end
