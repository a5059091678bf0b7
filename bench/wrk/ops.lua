-- ops.lua: requests for the access-token operations besides GetDevice (common.lua's
-- get_device). Loaded by the modes' scripts after common.lua.

local call = api_request

-- One page of up to 60 devices (what Amplify's fetchDevices asks for).
function list_devices(token)
  return call("ListDevices", '{"AccessToken":"' .. token .. '","Limit":60}')
end

function update_device_status(token, device, status)
  return call("UpdateDeviceStatus", '{"AccessToken":"' .. token .. '","DeviceKey":"' .. device
    .. '","DeviceRememberedStatus":"' .. (status or "remembered") .. '"}')
end

function forget_device(token, device)
  return call("ForgetDevice", '{"AccessToken":"' .. token .. '","DeviceKey":"' .. device .. '"}')
end

-- An SRP verifier of the size an SDK sends (a 3072-bit value, base64: 512 characters).
local VERIFIER = string.rep("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw", 12):sub(1, 512)

function confirm_device(token, device)
  return call("ConfirmDevice", '{"AccessToken":"' .. token .. '","DeviceKey":"' .. device
    .. '","DeviceName":"bench device","DeviceSecretVerifierConfig":{"PasswordVerifier":"'
    .. VERIFIER .. '","Salt":"c2FsdHNhbHRzYWx0c2FsdA=="}}')
end

function global_sign_out(token)
  return call("GlobalSignOut", '{"AccessToken":"' .. token .. '"}')
end
