---------------------------------------------------------------------------
-- coroutine.*  (ngx_http_lua_coroutine.c; resty.core's wrappers pick these)
---------------------------------------------------------------------------

local function create_helper(f, is_wrap)
  if not lua_function(f) then
    argerror(2, 1, "Lua function expected")
  end
  local co = raw_create(f)
  local id = reg(co)
  local code, a = P.co_create(id, is_wrap)
  if code ~= RETURN then K.drop(id); raw_error(a, 3) end
  return co, id
end

function co_lib.create(f)
  local co = create_helper(f, false)
  return co
end

function co_lib.resume(co, ...)
  if type(co) ~= "thread" then argerror(1, 1, "coroutine expected") end
  local code, a, b = P.co_resume(ids[co] or 0)
  if code == RETURN then return a, b end
  if code ~= YIELD then raw_error(a, 2) end
  return raw_yield(...)
end

function co_lib.wrap(f)
  local co = create_helper(f, true)
  return function(...)
    local code, a, b = P.co_resume(ids[co] or 0)
    if code == RETURN then return a, b end
    if code ~= YIELD then raw_error(a, 2) end
    return raw_yield(...)
  end
end

function co_lib.yield(...)
  local code, a = P.co_yield()
  if code ~= YIELD then raw_error(a, 2) end
  return raw_yield(...)
end

function co_lib.status(co)
  if type(co) ~= "thread" then argerror(1, 1, "coroutine expected") end
  local code, a = P.co_status(ids[co] or 0)
  if code ~= RETURN then raw_error(a, 2) end
  return a
end

co_lib.running = raw_running
-- lua-resty-core keeps the module's C functions as __name and the standard
-- ones as _name; OpenResty's LuaJIT has no coroutine.isyieldable
co_lib.__create, co_lib.__resume, co_lib.__yield = co_lib.create, co_lib.resume, co_lib.yield
co_lib.__status, co_lib.__wrap = co_lib.status, co_lib.wrap
co_lib._create, co_lib._yield = raw_create, raw_yield
co_lib._resume = function(...) return check_runaway(raw_resume(...)) end
co_lib._status, co_lib._wrap = raw_status, coroutine.wrap
