---------------------------------------------------------------------------
-- ngx.thread.*  (ngx_http_lua_uthread.c)
---------------------------------------------------------------------------
ngx.thread = {}

function ngx.thread.spawn(f, ...)
  if not lua_function(f) then
    argerror(1, 1, "Lua function expected")
  end
  local co = raw_create(f)
  local id = reg(co)
  stk[id] = pack(...)
  local code, a = P.spawn(id)
  if code ~= YIELD then K.drop(id); raw_error(a, 2) end
  return raw_yield(co)
end

function ngx.thread.wait(...)
  local n = select('#', ...)
  local t = {}
  for i = 1, n do
    local co = select(i, ...)
    -- a non-thread is refused when the C loop reaches it (luaL_argcheck)
    t[i] = type(co) == "thread" and (ids[co] or 0)
  end
  local code, a, b = P.wait(unpack(t, 1, n))
  if code == RETURN then return a, b end
  if code == ARGERROR then argerror(1, a, b) end
  if code == STACK then
    -- a zombie answered at once: its values were moved onto our own stack (a)
    local me = a
    local s = stk[me] or EMPTY
    stk[me] = nil
    return unpack(s, 1, s.n)
  end
  if code ~= YIELD then raw_error(a, 2) end
  return raw_yield()
end

function ngx.thread.kill(co)
  if type(co) ~= "thread" then argerror(1, 1, "lua thread expected") end
  local code, a, b = P.kill(ids[co] or 0)
  if code ~= RETURN then raw_error(a, 2) end
  if a ~= nil then return a end           -- success: one value (1)
  return a, b
end
