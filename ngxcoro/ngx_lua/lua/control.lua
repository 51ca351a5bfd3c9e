---------------------------------------------------------------------------
-- ngx.exit, ngx.exec, ngx.redirect  (ngx_http_lua_control.c)
---------------------------------------------------------------------------
ngx.exit = simple("exit")
ngx.redirect = simple("redirect")

local function exec_shim(uri, args, ...)
  if type(args) == "table" then args = encode_args(args) end
  local code, a, b
  if args == nil and select('#', ...) == 0 then
    code, a, b = P.exec(uri)
  else
    code, a, b = P.exec(uri, args, ...)
  end
  if code == YIELD then return raw_yield() end
  if code == ARGERROR then argerror(1, a, b) end
  raw_error(a, 2)
end
ngx.exec = exec_shim
