---------------------------------------------------------------------------
-- ngx.timer.at / every / running_count / pending_count  (ngx_http_lua_timer.c)
---------------------------------------------------------------------------
ngx.timer = {}
-- a timer's coroutine id -> {f, args}: what ngx_http_lua_timer_copy copies
-- onto the next thread of an every timer
local timer_fns = {}

-- ngx_http_lua_ngx_timer_helper: the checks of the C, in its order, then
-- the timer's thread (its function, and the arguments moved onto it)
local function timer_helper(every, ...)
  local nargs = select('#', ...)
  if nargs < 2 then
    raw_error(sformat("expecting at least 2 arguments but got %d", nargs), 3)
  end
  local sec, f = ...
  local n = tonumber(sec)
  if type(sec) ~= "number" and type(sec) ~= "string" or n == nil then
    argerror(2, 1, "number expected, got " .. (sec == nil and "no value" or type(sec)))
  end
  local delay = floor(n * 1000)
  if every and delay == 0 then raw_error("delay cannot be zero", 3) end
  if not lua_function(f) then argerror(2, 2, "Lua function expected") end
  local co = raw_create(f)
  local id = reg(co)
  local args = pack(select(3, ...))
  stk[id] = pack(select(3, ...))
  local code, a, b = P.timer_at(id, delay, every, nargs)
  if code ~= RETURN then K.drop(id); raw_error(a, 3) end
  if a == nil then K.drop(id); return nil, b end
  timer_fns[id] = {f = f, args = args}
  return a
end

-- (not tail calls: the helper's error levels count the shim's frame)
function ngx.timer.at(...)
  local res = pack(timer_helper(false, ...))
  return unpack(res, 1, res.n)
end
function ngx.timer.every(...)
  local res = pack(timer_helper(true, ...))
  return unpack(res, 1, res.n)
end
-- (one value: "no request" is raised in init_by_lua*)
local function count(code, a)
  if code ~= RETURN then raw_error(a, 3) end
  return a
end
function ngx.timer.running_count() return (count(P.timer_running_count())) end
function ngx.timer.pending_count() return (count(P.timer_pending_count())) end
CSTACK[ngx.timer.running_count], CSTACK[ngx.timer.pending_count] = 0, 0

-- ngx_http_lua_timer_copy: a new thread with the function and the original arguments
function K.timer_copy(id)
  local t = timer_fns[id]
  local nid = reg(raw_create(t.f))
  stk[nid] = pack(unpack(t.args, 1, t.args.n))
  timer_fns[nid] = t
  return nid
end

-- the source and first line of a timer's function (lua_getinfo ">Sf"), for the
-- "lua failed to run timer" alert; the thread is then dropped (luaL_unref)
function K.timer_source(id)
  local t = timer_fns[id]
  if not t then return nil end
  local ar = getinfo(t.f, "S")
  return ar.source, ar.linedefined
end

function K.timer_fail(id)
  local source, line = K.timer_source(id)
  timer_fns[id] = nil
  K.drop(id)
  return source, line
end

