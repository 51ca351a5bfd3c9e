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

  -- where in ngx/semaphore.lua a coroutine's last error was raised, for its
  -- traceback (vm.lua RESTY_LUA): error() at `line` of the method, or (line
  -- -1, raised false) a runtime error LuaJIT raised running the method
  local SITE = setmetatable({}, {__mode = "k"})
  local function site(co) return SITE[co] end
  local function raise(msg, line, level)
    SITE[raw_running()] = {SRC, line}
    raw_error(msg, level + 1)
  end

  local function check(self, line)
    if type(self) ~= "table" or SEMS[self.sem] == nil then
      raise("not a semaphore instance", line, 3)
    end
    return SEMS[self.sem]
  end

  function sema.new(n)
    n = tonumber(n) or 0
    if n < 0 then raise("no negative number", 103, 2) end
    local code, id = P.sema_new(n)
    if code ~= RETURN then return nil, id end
    local h = newproxy(false)
    SEMS[h] = id
    CDATA[h] = true
    return setmetatable({sem = h}, mt)
  end

  function sema.wait(self, seconds)
    local id = check(self, 121)
    local n = tonumber(seconds)
    if n == nil then
      -- "local milliseconds = tonumber(seconds) * 1000" in the resty module
      SITE[raw_running()] = {SRC, -1, raised = false}
      raw_error(SRC .. ":129: attempt to perform arithmetic on a nil value", 0)
    end
    local ms = n * 1000
    if ms < 0 then raise("no negative number", 131, 2) end
    local code, a, b = P.sema_wait(id, ms)
    if code == RETURN then
      if a then return true end        -- FFI_OK
      return nil, b                    -- FFI_DECLINED ("timeout") or FFI_ERROR
    end
    if code ~= YIELD then raw_error(a, 2) end
    local ok, err = raw_yield()
    return ok, err
  end

  function sema.post(self, n)
    local id = check(self, 167)
    local num = n and tonumber(n) or 1
    if num < 1 then raise("positive number required", 174, 2) end
    P.sema_post(id, num)
    return true
  end

  function sema.count(self)
    local id = check(self, 186)
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

  for _, f in ipairs{sema.new, sema.wait, sema.post, sema.count} do RESTY_LUA[f] = site end
  LOADED["ngx.semaphore"] = sema
end
