---------------------------------------------------------------------------
-- coroutine.*  (ngx_http_lua_coroutine.c; resty.core's wrappers pick these)
---------------------------------------------------------------------------

-- in header_filter_by_lua* and body_filter_by_lua* resty.core's wrappers
-- fall back to the standard Lua coroutine functions
local raw_wrap = coroutine.wrap
-- the coroutines that stand for the main state in a lua_pcall'd log or
-- filter chunk (boot.lua K.new_entry): yielding there crosses the C call,
-- and coroutine.running() sees the main state (nil)
local PLAIN = setmetatable({}, {__mode = "k"})
local fast_ctx_on = K.fast_ctx_on
local function native()
  if fast_ctx_on() then return false end  -- a yieldable context: no filter, a request
  local _, yes = P.co_native()
  return yes
end

-- forget a coroutine the module refused to create, or the scheduler will
-- never run (a timer that could not run)
function K.drop(id)
  local co = cos[id]
  cos[id] = nil
  stk[id] = nil
  if co then ids[co] = nil end
end

local function create_helper(f, is_wrap)
  if not lua_function(f) then
    argerror(2, 1, "Lua function expected")
  end
  local co = raw_create(f)
  local id = reg(co)
  local code, a = P.co_create(id, is_wrap, K.sync_args())
  if code ~= RETURN then K.drop(id); raw_error(a, 3) end
  K.fast_new(co)
  return co, id
end

function co_lib.create(f)
  if native() then return raw_create(f) end
  local co = create_helper(f, false)
  return co
end

-- the fast path (vm.lua): a switch inside Lua, when nothing observes the run
local fast_ok, fast_resume, fast_yield_ok = K.fast_ok, K.fast_resume, K.fast_yield_ok
local fast_leave, FAST_YIELD = K.fast_leave, K.FAST_YIELD

function co_lib.resume(co, ...)
  if fast_ok(co) then return fast_resume(co, false, ...) end
  if native() then return check_runaway(raw_resume(co, ...)) end
  if type(co) ~= "thread" then argerror(1, 1, "coroutine expected") end
  fast_leave(co)
  local code, a, b = P.co_resume(ids[co] or 0)
  if code == RETURN then return a, b end
  if code ~= YIELD then raw_error(a, 2) end
  return raw_yield(...)
end

function co_lib.wrap(f)
  if native() then return raw_wrap(f) end
  local co = create_helper(f, true)
  return function(...)
    if fast_ok(co) then return fast_resume(co, true, ...) end
    fast_leave(co)
    local code, a, b = P.co_resume(ids[co] or 0)
    if code == RETURN then return a, b end
    if code ~= YIELD then raw_error(a, 2) end
    return raw_yield(...)
  end
end

function co_lib.yield(...)
  if fast_yield_ok() then return raw_yield(FAST_YIELD, ...) end
  if native() then
    if PLAIN[raw_running()] then raw_error("attempt to yield across C-call boundary", 2) end
    return raw_yield(...)
  end
  local code, a = P.co_yield()
  if code ~= YIELD then raw_error(a, 2) end
  return raw_yield(...)
end

function co_lib.status(co)
  if native() then return raw_status(co) end
  if type(co) ~= "thread" then argerror(1, 1, "coroutine expected") end
  local code, a = P.co_status(ids[co] or 0)
  if code ~= RETURN then raw_error(a, 2) end
  return a
end

function co_lib.running()
  local co = raw_running()
  if PLAIN[co] then return nil end
  return co
end
-- lua-resty-core keeps the module's C functions as __name and the standard
-- ones as _name; OpenResty's LuaJIT has no coroutine.isyieldable
co_lib.__create, co_lib.__resume, co_lib.__yield = co_lib.create, co_lib.resume, co_lib.yield
co_lib.__status, co_lib.__wrap = co_lib.status, co_lib.wrap
co_lib._create, co_lib._yield = raw_create, raw_yield
co_lib._resume = function(...) return check_runaway(raw_resume(...)) end
co_lib._status, co_lib._wrap = raw_status, coroutine.wrap
