---------------------------------------------------------------------------
-- ngx.exit, ngx.exec, ngx.redirect  (ngx_http_lua_control.c)
---------------------------------------------------------------------------
-- lua-resty-core's ngx.exit (resty/core/exit.lua) hands its argument to the FFI
-- function ngx_http_lua_ffi_exit(r, status, ...) on line 52; a value the FFI cannot
-- convert to an int fails there, named by that file and line (a boolean converts: 1 or 0)
local EXIT_FFI = "/usr/share/lua/5.1/resty/core/exit.lua:52: "
local exit_simple = simple("exit")
-- its other errors: error(ffi_string(err, errlen[0]), 2) on line 60 of the function
-- defined on line 44
RESTY_LUA[exit_simple] = {"/usr/share/lua/5.1/resty/core/exit.lua", 60, defined = 44}
-- ... by Lua's error(): no C frame of ngx_lua is left on the dead thread's stack
CSTACK[exit_simple] = nil
ngx.exit = function(rc)
  if type(rc) == "boolean" then rc = rc and 1 or 0 end
  if type(rc) ~= "number" then
    raw_error(EXIT_FFI .. "bad argument #2 to 'ngx_lua_ffi_exit' (cannot convert '"
              .. type(rc) .. "' to 'int')", 0)
  end
  return exit_simple(rc)
end
ngx.redirect = simple("redirect")

local function exec_shim(...)
  local n = select('#', ...)
  local t = {...}
  if type(t[2]) == "table" then t[2] = encode_args(t[2], 2) end
  local code, a, b = P.exec(unpack(t, 1, n))
  if code == YIELD then return raw_yield() end
  if code == ARGERROR then argerror(1, a, b) end
  raw_error(a, 2)
end
ngx.exec = exec_shim

-- ngx.on_abort(f): f's coroutine is made here and handed over; Python keeps it as
-- the on_abort handler, or answers nil and a message (or an error) first
function ngx.on_abort(f)
  local id = lua_function(f) and reg(raw_create(f))
  local code, a, b = P.on_abort(id)
  if code == RETURN and a == 1 then return a end    -- lua_pushinteger(L, 1); return 1
  if code == RETURN then return a, b end
  if code == ARGERROR then argerror(1, a, b) end
  raw_error(a, 2)
end
