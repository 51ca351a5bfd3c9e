---------------------------------------------------------------------------
-- require "ngx.semaphore"  (lua-resty-core's ngx/semaphore.lua over
-- ngx_http_lua_semaphore.c): the Lua checks of the resty module, the C
-- halves in P.sema_*.  A semaphore object is {sem = <handle>}; the handle
-- stands for the cdata pointer (a proxy known to SEMS).
---------------------------------------------------------------------------
do
  local SRC = "/usr/share/lua/5.1/ngx/semaphore.lua"
  local SEMS = setmetatable({}, {__mode = "k"})      -- handle -> semaphore number
  local sema = {version = "0.1.25"}
  local mt = {__index = sema}

  local function check(self)
    if type(self) ~= "table" or SEMS[self.sem] == nil then
      raw_error("not a semaphore instance", 3)
    end
    return SEMS[self.sem]
  end

  function sema.new(n)
    n = tonumber(n) or 0
    if n < 0 then raw_error("no negative number", 2) end
    local code, id = P.sema_new(n)
    if code ~= RETURN then return nil, id end
    local h = newproxy(false)
    SEMS[h] = id
    return setmetatable({sem = h}, mt)
  end

  function sema.wait(self, seconds)
    local id = check(self)
    local n = tonumber(seconds)
    if n == nil then
      -- "local milliseconds = tonumber(seconds) * 1000" in the resty module
      raw_error(SRC .. ":129: attempt to perform arithmetic on a nil value", 0)
    end
    local ms = n * 1000
    if ms < 0 then raw_error("no negative number", 2) end
    local code, a, b = P.sema_wait(id, ms)
    if code == RETURN then return a, b end
    if code ~= YIELD then raw_error(a, 2) end
    local ok, err = raw_yield()
    return ok, err
  end

  function sema.post(self, n)
    local id = check(self)
    local num = n and tonumber(n) or 1
    if num < 1 then raw_error("positive number required", 2) end
    P.sema_post(id, num)
    return true
  end

  function sema.count(self)
    local id = check(self)
    local code, c = P.sema_count(id)
    return c
  end

  -- lua_resume's arguments of ngx_http_lua_sema_resume: pushed on the stack
  function K.push2(id, a, b)
    local s = stk[id]
    if not s then s = {n = 0}; stk[id] = s end
    s[s.n + 1], s[s.n + 2] = a, b
    s.n = s.n + 2
  end

  LOADED["ngx.semaphore"] = sema
end
