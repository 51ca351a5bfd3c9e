-- ngxcoro's Lua side: the sandbox learners' code runs in, the coroutine
-- table the Python scheduler resumes from, and thin shims for ngx.* and
-- coroutine.* that do what the C functions do: check their arguments, ask
-- the scheduler (Python, table P) to do the bookkeeping, then yield to
-- run_thread or return.  Nothing here decides scheduling.
--
-- Protocol of a P.* call: it returns a code and values.
--   0  return the values to the Lua caller
--   1  yield the values to run_thread (the API blocked, or co_op is set)
--   2  raise the first value as a Lua error at the caller's position
--   3  raise the first value as a Lua error with no position

local P = {}
local K = {}

local raw_create, raw_resume, raw_yield = coroutine.create, coroutine.resume, coroutine.yield
local raw_status, raw_running, raw_isyieldable = coroutine.status, coroutine.running,
                                                 coroutine.isyieldable
local raw_error, raw_pcall, raw_xpcall = error, pcall, xpcall
local select, type, tostring, setmetatable, getmetatable, rawget, rawset =
      select, type, tostring, setmetatable, getmetatable, rawget, rawset
local unpack, concat, floor, pairs, next = unpack, table.concat, math.floor, pairs, next
local sformat, sbyte, ssub = string.format, string.byte, string.sub
local getinfo, getlocal, sethook = debug.getinfo, debug.getlocal, debug.sethook
local raw_loadstring, setfenv, getfenv = loadstring, setfenv, getfenv
local os_time, os_date, os_difftime = os.time, os.date, os.difftime
local REAL_G = _G

local function pack(...) return {n = select('#', ...), ...} end
local EMPTY = {n = 0}

---------------------------------------------------------------------------
-- Coroutines known to the scheduler, by id.  stk[id] stands for the Lua
-- stack of that coroutine as run_thread sees it: what it yielded or
-- returned, or what is waiting to be passed in on its next resume.
---------------------------------------------------------------------------
-- cos holds a coroutine only while it can still run; ids is weak, so a
-- finished coroutine nobody refers to is collected, as in nginx
local cos, ids, stk = {}, setmetatable({}, {__mode = "k"}), {}
local nco = 0

local function reg(co)
  nco = nco + 1
  cos[nco] = co
  ids[co] = nco
  return nco
end

-- runaway-loop guard: a count hook (LuaJIT hooks are global; jit.off()
-- makes sure compiled traces do not skip it).
local steps, step_limit, runaway = 0, 0, false
local RUNAWAY = "ngxcoro: runaway"
local function hook()
  steps = steps + 1
  if steps > step_limit then
    runaway = true
    raw_error(RUNAWAY, 0)
  end
  if steps % 64 == 0 and P.tick() then
    runaway = true                        -- too long in wall time (slow C calls)
    raw_error(RUNAWAY, 0)
  end
end

local function settle(id, co, ok, ...)
  if not ok then
    -- LuaJIT leaves the failing frame's slots on the dead coroutine's stack
    -- under the error value: run_thread hands all of it to a waiting parent
    local s = {n = 0}
    for i = 1, getinfo(co, 0, "l") and 250 or 0 do
      local name, v = getlocal(co, 0, i)
      if not name then break end
      s.n = i
      s[i] = v
    end
    s.n = s.n + 1
    s[s.n] = ...
    stk[id] = s
    return 2
  end
  stk[id] = pack(...)
  if raw_status(co) == "dead" then return 0 end
  return 1
end

-- lua_resetthread: an entry state put back in the thread cache is empty;
-- resuming it again (a stale wake-up) calls the nil at its stack base
local reset = {}
function K.reset(id) reset[id] = true end

-- lua_resume(co, nrets): the top nrets values of its stack go in.
function K.resume(id, nrets)
  if reset[id] then
    stk[id] = {n = 1, "attempt to call a nil value"}
    return 2
  end
  local co = cos[id]
  if co == nil then
    stk[id] = {n = 1, "cannot resume dead coroutine"}
    return 2
  end
  local s = stk[id] or EMPTY
  stk[id] = nil
  steps = 0
  local rv = settle(id, co, raw_resume(co, unpack(s, s.n - nrets + 1, s.n)))
  if runaway then return -1 end
  if rv ~= 1 then cos[id] = nil end
  return rv
end

function K.top(id)
  local s = stk[id]
  return s and s.n or 0
end

-- lua_xmove(from, to, n), with an optional boolean pushed first on `to`
function K.xmove(from, to, n, flag)
  local s, d = stk[from] or EMPTY, stk[to]
  if not d then d = {n = 0}; stk[to] = d end
  if flag ~= nil then d.n = d.n + 1; d[d.n] = flag end
  for i = s.n - n + 1, s.n do d.n = d.n + 1; d[d.n] = s[i] end
  local rest = s.n - n
  if s ~= EMPTY then
    for i = rest + 1, s.n do s[i] = nil end
    s.n = rest
  end
  return (flag ~= nil) and n + 1 or n
end

-- lua_pushboolean + lua_insert(co, 1): put a boolean under the whole stack
function K.insert_bool(id, b)
  local s = stk[id]
  if not s then s = {n = 0}; stk[id] = s end
  for i = s.n, 1, -1 do s[i + 1] = s[i] end
  s[1] = b
  s.n = s.n + 1
  return s.n
end

function K.settop0(id) stk[id] = nil end

-- the error value on top of a dead coroutine's stack, as the C reads it:
-- a string (numbers convert), or nil for "unknown reason"
function K.errmsg(id)
  local s = stk[id]
  if not s or s.n == 0 then return nil end
  local v = s[s.n]
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" then return tostring(v) end
  return nil
end

-- luaL_traceback's first line is enough for the log; the rest varies
function K.drop(id)
  local co = cos[id]
  if co then ids[co] = nil end
  cos[id], stk[id] = nil, nil
end

-- the line each live coroutine is at, for snapshots
function K.where(id)
  local co = cos[id]
  if not co or raw_status(co) == "dead" then return nil end
  for level = 0, 20 do
    local info = getinfo(co, level, "Sl")
    if not info then return nil end
    if info.what ~= "C" and info.currentline and info.currentline > 0
       and info.source ~= "=[ngxcoro]" then
      return ssub(info.source, 2), info.currentline
    end
  end
  return nil
end

---------------------------------------------------------------------------
-- The sandbox
---------------------------------------------------------------------------
local SAFE = {}
local null = nil   -- set below to a lightuserdata

local function check_runaway(...)
  if runaway then raw_error(RUNAWAY, 0) end
  return ...
end

local function safe_pcall(...) return check_runaway(raw_pcall(...)) end
local function safe_xpcall(f, handler, ...)
  -- a runaway's error must not reach a handler that could loop again
  return check_runaway(raw_xpcall(f, function(...)
    if runaway then return RUNAWAY end
    return handler(...)
  end, ...))
end

-- getfenv must never hand out the real globals (the prelude's functions and
-- C functions live there): the sandbox is what learners' code sees as _G
local function safe_getfenv(f)
  if f == nil then f = 1 end
  if type(f) == "number" and f > 0 then f = f + 1 end
  local ok, env = raw_pcall(getfenv, f)
  if not ok then raw_error(env, 2) end
  if env == REAL_G then return SAFE end
  return env
end

local function safe_loadstring(s, name)
  if type(s) == "string" and sbyte(s, 1) == 27 then
    return nil, "ngxcoro: loading bytecode is not allowed"
  end
  if type(s) ~= "string" then
    return nil, "ngxcoro: load() takes a string here"
  end
  local f, err = raw_loadstring(s, name)
  if f then setfenv(f, SAFE) end
  return f, err
end

local LOADED = {}
local function safe_require(name)
  local m = LOADED[name]
  if m ~= nil then return m end
  raw_error(sformat("module '%s' not found: ngxcoro provides only the standard "
                    .. "modules (string, table, math, coroutine, bit, jit, ...)", tostring(name)), 2)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

for _, k in ipairs{"assert", "ipairs", "next", "pairs", "rawequal", "rawget", "rawset",
                   "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type",
                   "unpack", "_VERSION", "gcinfo", "newproxy", "setfenv"} do
  SAFE[k] = _G[k]
end
SAFE.getfenv = safe_getfenv
SAFE.error = raw_error
SAFE.pcall = safe_pcall
SAFE.xpcall = safe_xpcall
SAFE.loadstring = safe_loadstring
SAFE.load = function(s, name, ...)
  if type(s) == "function" then
    local parts = {}
    while true do
      local p = s()
      if p == nil or p == "" then break end
      parts[#parts + 1] = p
    end
    s = concat(parts)
  end
  return safe_loadstring(s, name)
end
SAFE.require = safe_require
SAFE.collectgarbage = collectgarbage
SAFE.string = string
SAFE.table = table
SAFE.math = math
SAFE.bit = bit
SAFE.jit = {version = jit.version, version_num = jit.version_num, os = jit.os, arch = jit.arch,
            on = function() end, off = function() end, flush = function() end,
            status = function() return false end}
SAFE.os = {}       -- time/clock/date/difftime follow the virtual clock (set in K.init)
SAFE.debug = {traceback = debug.traceback}
SAFE._G = SAFE

local co_lib = {}
SAFE.coroutine = co_lib
local ngx = {}
SAFE.ngx = ngx
SAFE.package = {loaded = LOADED}
for _, k in ipairs{"string", "table", "math", "bit", "jit", "os", "coroutine", "debug"} do
  LOADED[k] = SAFE[k]
end
LOADED.ngx = ngx
LOADED._G = SAFE

---------------------------------------------------------------------------
-- Errors as the C API raises them
---------------------------------------------------------------------------
-- luaL_argerror, worded as LuaJIT words it: the API function is named as
-- its caller named it ('?' when a C function such as pcall called it), and
-- the position is the caller's line (none when the caller is C).  `lvl` is
-- how many Lua frames lie between the caller of argerror and the API shim.
local function argerror(lvl, narg, extramsg)
  local info = getinfo(lvl + 1, "n")
  local name = info and info.name or "?"
  raw_error(sformat("bad argument #%d to '%s' (%s)", narg, name, extramsg), lvl + 2)
end

---------------------------------------------------------------------------
-- coroutine.*  (ngx_http_lua_coroutine.c; resty.core's wrappers pick these)
---------------------------------------------------------------------------
-- functions that are C functions in ngx_lua, though Lua shims here
local CFUNC = {}
local function lua_function(f)
  return type(f) == "function" and getinfo(f, "S").what ~= "C" and not CFUNC[f]
end

local function create_helper(f, is_wrap)
  if not lua_function(f) then
    argerror(2, 1, "Lua function expected")
  end
  local co = raw_create(f)
  local id = reg(co)
  local code, a = P.co_create(id, is_wrap)
  if code ~= 0 then K.drop(id); raw_error(a, 3) end
  return co, id
end

function co_lib.create(f)
  local co = create_helper(f, false)
  return co
end

function co_lib.resume(co, ...)
  if type(co) ~= "thread" then argerror(1, 1, "coroutine expected") end
  local code, a, b = P.co_resume(ids[co] or 0)
  if code == 0 then return a, b end
  if code ~= 1 then raw_error(a, 2) end
  return raw_yield(...)
end

function co_lib.wrap(f)
  local co = create_helper(f, true)
  return function(...)
    local code, a, b = P.co_resume(ids[co] or 0)
    if code == 0 then return a, b end
    if code ~= 1 then raw_error(a, 2) end
    return raw_yield(...)
  end
end

function co_lib.yield(...)
  local code, a = P.co_yield()
  if code ~= 1 then raw_error(a, 2) end
  return raw_yield(...)
end

function co_lib.status(co)
  if type(co) ~= "thread" then argerror(1, 1, "coroutine expected") end
  local code, a = P.co_status(ids[co] or 0)
  if code ~= 0 then raw_error(a, 2) end
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
  if code ~= 1 then K.drop(id); raw_error(a, 2) end
  return raw_yield(co)
end

function ngx.thread.wait(...)
  local n = select('#', ...)
  local t = {}
  for i = 1, n do
    local co = select(i, ...)
    if type(co) ~= "thread" then argerror(1, i, "lua thread expected") end
    t[i] = ids[co] or 0
  end
  local code, a, b = P.wait(unpack(t, 1, n))
  if code == 0 then return a, b end
  if code == 4 then
    -- a zombie answered at once: its values were moved onto our own stack
    local me = ids[raw_running()]
    local s = stk[me] or EMPTY
    stk[me] = nil
    return unpack(s, 1, s.n)
  end
  if code ~= 1 then raw_error(a, 2) end
  return raw_yield()
end

function ngx.thread.kill(co)
  if type(co) ~= "thread" then argerror(1, 1, "lua thread expected") end
  local code, a, b = P.kill(ids[co] or 0)
  if code ~= 0 then raw_error(a, 2) end
  return a, b
end

---------------------------------------------------------------------------
-- output (ngx_http_lua_output.c)
---------------------------------------------------------------------------
local function fmt_number(v)
  if v == floor(v) and v >= -9.2233720368547758e18 and v < 9.2233720368547758e18 then
    return sformat("%d", v)
  end
  return sformat("%.14g", v)
end

-- the say/print argument rules; `lvl` as in argerror
local function flatten(lvl, argi, t, buf)
  local max = 0
  for k in pairs(t) do
    if type(k) == "number" and floor(k) == k and k >= 1 then
      if k > max then max = k end
    else
      argerror(lvl + 1, argi, "non-array table found")
    end
  end
  for i = 1, max do
    local v = rawget(t, i)
    local tv = type(v)
    if tv == "string" then buf[#buf + 1] = v
    elseif tv == "number" then buf[#buf + 1] = fmt_number(v)
    elseif tv == "nil" then buf[#buf + 1] = "nil"
    elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
    elseif tv == "table" then flatten(lvl + 1, argi, v, buf)
    elseif v == null then buf[#buf + 1] = "null"
    else
      argerror(lvl + 1, argi, "bad data type " .. tv .. " found")
    end
  end
end

local function echo(newline, ...)
  local buf = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    local tv = type(v)
    if tv == "string" then buf[#buf + 1] = v
    elseif tv == "number" then buf[#buf + 1] = fmt_number(v)
    elseif tv == "nil" then buf[#buf + 1] = "nil"
    elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
    elseif tv == "table" then flatten(2, i, v, buf)
    elseif v == null then buf[#buf + 1] = "null"
    else
      argerror(2, i, "string, number, boolean, nil, ngx.null, or array table expected, "
                     .. "but got " .. tv)
    end
  end
  if newline then buf[#buf + 1] = "\n" end
  local code, a, b = P.output(concat(buf))
  if code ~= 0 then raw_error(a, 3) end
  return a, b
end

function ngx.say(...)
  local a, b = echo(true, ...)
  return a, b
end

function ngx.print(...)
  local a, b = echo(false, ...)
  return a, b
end

-- an API whose checks all live in Python
local function simple(name)
  return function(...)
    local code, a, b = P[name](...)
    if code == 0 then return a, b end
    if code == 1 then return raw_yield() end
    if code == 5 then argerror(1, a, b) end
    raw_error(a, 2)
  end
end

ngx.flush = simple("flush")
ngx.eof = simple("eof")
ngx.send_headers = simple("send_headers")
ngx.sleep = simple("sleep")
ngx.exit = simple("exit")
ngx.redirect = simple("redirect")
ngx.now = function() return P.now() end
ngx.time = function() return floor(P.now()) end
ngx.update_time = function() P.update_time() end
ngx.today = function() return P.today() end
ngx.localtime = function() return P.localtime() end
ngx.utctime = function() return P.localtime() end

---------------------------------------------------------------------------
-- logging (ngx_http_lua_log.c): "[lua] <source>:<line>: <func>(): <msg>"
---------------------------------------------------------------------------
local function log_msg(fname, argi0, ...)
  local buf = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    local tv = type(v)
    if tv == "string" then buf[#buf + 1] = v
    elseif tv == "number" then buf[#buf + 1] = fmt_number(v)
    elseif tv == "nil" then buf[#buf + 1] = "nil"
    elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
    elseif v == null then buf[#buf + 1] = "null"
    elseif tv == "table" and getmetatable(v) and getmetatable(v).__tostring then
      buf[#buf + 1] = tostring(v)
    else
      raw_error(sformat("bad argument #%d to '%s' (expected table to have __tostring metamethod)",
                        i + argi0, fname), 3)
    end
  end
  local info = getinfo(3, "Sln")
  local where = ""
  if info then
    where = sformat("%s:%d: ", info.short_src, info.currentline or -1)
    if info.name then where = where .. info.name .. "(): " end
  end
  return where .. concat(buf)
end

function ngx.log(level, ...)
  if type(level) ~= "number" then
    raw_error("bad argument #1 to 'log' (number expected, got " .. type(level) .. ")", 2)
  end
  local msg = log_msg("log", 1, ...)
  local code, a = P.log(level, msg)
  if code ~= 0 then raw_error(a, 2) end
end

SAFE.print = function(...)
  local msg = log_msg("print", 0, ...)
  P.log(6, msg)
end

ngx.STDERR, ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE, ngx.INFO, ngx.DEBUG =
  0, 1, 2, 3, 4, 5, 6, 7, 8
ngx.OK, ngx.ERROR, ngx.AGAIN, ngx.DONE, ngx.DECLINED = 0, -1, -2, -4, -5

---------------------------------------------------------------------------
-- request data: ngx.var, ngx.req, ngx.ctx, ngx.status, ngx.headers_sent
---------------------------------------------------------------------------
ngx.var = setmetatable({}, {
  __index = function(_, k)
    local code, a = P.var_get(k)
    if code ~= 0 then raw_error(a, 2) end
    return a
  end,
  __newindex = function(_, k, v)
    local code, a = P.var_set(k, v)
    if code ~= 0 then raw_error(a, 2) end
  end,
})

local function decode_args(s, max)
  local args, n = {}, 0
  for pair in (s .. "&"):gmatch("([^&]*)&") do
    if pair ~= "" then
      n = n + 1
      if max > 0 and n > max then break end
      local k, v = pair:match("^([^=]*)=(.*)$")
      if not k then k, v = pair, true end
      local function unesc(x)
        x = x:gsub("+", " ")
        return (x:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
      end
      k = unesc(k)
      if type(v) == "string" then v = unesc(v) end
      if k ~= "" then
        local old = rawget(args, k)
        if old == nil then args[k] = v
        elseif type(old) == "table" then old[#old + 1] = v
        else args[k] = {old, v} end
      end
    end
  end
  return args
end

ngx.req = {}
function ngx.req.get_method()
  local _, m = P.var_get("request_method")
  return m
end
function ngx.req.get_uri_args(max)
  local _, args = P.var_get("args")
  return decode_args(args or "", max == nil and 100 or max)
end
local function header_key(t, k)
  if type(k) == "string" then
    local norm = k:lower():gsub("_", "-")
    if norm ~= k then return rawget(t, norm) end
  end
  return nil
end

function ngx.req.get_headers(max, raw)
  local kv = pack(P.req_headers())
  local t = {}
  max = max == nil and 100 or max
  local n = 0
  for i = 1, kv.n, 2 do
    n = n + 1
    if max > 0 and n > max then break end
    local k, v = kv[i], kv[i + 1]
    if not raw then k = k:lower() end
    local old = rawget(t, k)
    if old == nil then t[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else t[k] = {old, v} end
  end
  if not raw then setmetatable(t, {__index = header_key}) end
  return t
end

ngx.req.read_body = simple("read_body")
ngx.req.get_body_data = function()
  local code, a = P.get_body_data()
  return a
end
ngx.req.set_uri = simple("set_uri")
function ngx.req.get_post_args(max)
  local code, body, read = P.get_body_data()
  if not read then raw_error("request body not read yet", 2) end
  return decode_args(body or "", max == nil and 100 or max)
end
ngx.decode_args = function(s, max) return decode_args(s, max or 100) end
ngx.escape_uri = function(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return sformat("%%%02X", sbyte(c)) end))
end
ngx.unescape_uri = function(s)
  return (tostring(s):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
ngx.quote_sql_str = function(s) return "'" .. tostring(s):gsub("'", "\\'") .. "'" end

-- ngx.encode_args; hash keys are taken in sorted order here (nginx takes
-- them in lua_next order, which varies from run to run)
local function encode_args(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local out = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    local ek = ngx.escape_uri(tostring(k))
    if type(v) == "table" then
      for _, x in ipairs(v) do
        if x == true then out[#out + 1] = ek else out[#out + 1] = ek .. "=" .. ngx.escape_uri(tostring(x)) end
      end
    elseif v == true then out[#out + 1] = ek
    elseif v ~= false then out[#out + 1] = ek .. "=" .. ngx.escape_uri(tostring(v)) end
  end
  return concat(out, "&")
end
ngx.encode_args = encode_args

local function exec_shim(uri, args, ...)
  if type(args) == "table" then args = encode_args(args) end
  local code, a, b
  if args == nil and select('#', ...) == 0 then
    code, a, b = P.exec(uri)
  else
    code, a, b = P.exec(uri, args, ...)
  end
  if code == 1 then return raw_yield() end
  if code == 5 then argerror(1, a, b) end
  raw_error(a, 2)
end
ngx.exec = exec_shim

ngx.location = {}
local function capture_query(q, i)
  if type(q) ~= "table" then
    raw_error("only one argument is expected, but got " .. tostring(i), 3)
  end
  local uri, opts = q[1], q[2] or {}
  if type(uri) ~= "string" or uri == "" then raw_error("The uri argument is empty", 3) end
  local args = opts.args
  if type(args) == "table" then args = encode_args(args) end
  return uri, opts.method or ngx.HTTP_GET, args or "", opts.body
end

function ngx.location.capture_multi(reqs, ...)
  if select('#', ...) > 0 then
    raw_error("only one argument is expected, but got " .. (select('#', ...) + 1), 2)
  end
  if type(reqs) ~= "table" then argerror(1, 1, "table expected, got " .. type(reqs)) end
  local flat, n = {}, 0
  for i = 1, #reqs do
    local uri, method, args, body = capture_query(reqs[i], i)
    flat[n + 1], flat[n + 2], flat[n + 3], flat[n + 4] = uri, method, args, body
    n = n + 4
  end
  local code, a = P.capture_multi(unpack(flat, 1, n))
  if code == 1 then return raw_yield() end
  raw_error(a, 2)
end

function ngx.location.capture(uri, opts)
  local code, a = P.capture_multi(capture_query({uri, opts}, 1))
  if code == 1 then return raw_yield() end
  raw_error(a, 2)
end

ngx.HTTP_GET, ngx.HTTP_HEAD, ngx.HTTP_PUT, ngx.HTTP_POST, ngx.HTTP_DELETE = 2, 4, 16, 8, 32
ngx.HTTP_OPTIONS, ngx.HTTP_PATCH = 512, 16384
for k, v in pairs{
  HTTP_CONTINUE = 100, HTTP_SWITCHING_PROTOCOLS = 101, HTTP_OK = 200, HTTP_CREATED = 201,
  HTTP_ACCEPTED = 202, HTTP_NO_CONTENT = 204, HTTP_PARTIAL_CONTENT = 206,
  HTTP_SPECIAL_RESPONSE = 300, HTTP_MOVED_PERMANENTLY = 301, HTTP_MOVED_TEMPORARILY = 302,
  HTTP_SEE_OTHER = 303, HTTP_NOT_MODIFIED = 304, HTTP_TEMPORARY_REDIRECT = 307,
  HTTP_PERMANENT_REDIRECT = 308, HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401,
  HTTP_PAYMENT_REQUIRED = 402, HTTP_FORBIDDEN = 403, HTTP_NOT_FOUND = 404,
  HTTP_NOT_ALLOWED = 405, HTTP_NOT_ACCEPTABLE = 406, HTTP_REQUEST_TIMEOUT = 408,
  HTTP_CONFLICT = 409, HTTP_GONE = 410, HTTP_UPGRADE_REQUIRED = 426,
  HTTP_TOO_MANY_REQUESTS = 429, HTTP_CLOSE = 444, HTTP_ILLEGAL = 451,
  HTTP_INTERNAL_SERVER_ERROR = 500, HTTP_METHOD_NOT_IMPLEMENTED = 501,
  HTTP_BAD_GATEWAY = 502, HTTP_SERVICE_UNAVAILABLE = 503, HTTP_GATEWAY_TIMEOUT = 504,
  HTTP_VERSION_NOT_SUPPORTED = 505, HTTP_INSUFFICIENT_STORAGE = 507,
} do ngx[k] = v end

-- APIs of ngx_lua 0.10.23 that this model does not have: a clear error
-- instead of "attempt to index a nil value"
local NOT_MODELLED = {}
for name in ([[socket timer shared re md5 md5_bin sha1_bin crc32_short crc32_long
  encode_base64 decode_base64 hmac_sha1 cookie_time http_time parse_http_time worker
  config on_abort arg resp run_worker_thread semaphore thread_pool escape_html
  get_now_ts raw_header set_header clear_header get_body_file get_headers_raw
  set_body_data set_body_file init_body append_body finish_body discard_body
  set_method set_uri_args socket]]):gmatch("%S+") do NOT_MODELLED[name] = true end

local function not_modelled(prefix)
  return function(_, k)
    if NOT_MODELLED[k] then
      P.not_modelled(sformat("%s%s (a real ngx_lua API)", prefix, k))
      raw_error("ngxcoro: not modelled", 0)
    end
    return nil
  end
end
setmetatable(ngx.req, {__index = not_modelled("ngx.req.")})

function ngx.get_phase()
  local _, ph = P.get_phase()
  return ph
end
function ngx.req.http_version()
  local _, v = P.var_get("server_protocol")
  return tonumber((v or ""):match("HTTP/(%d%.%d)"))
end
function ngx.req.is_internal()
  return P.is_internal()
end
function ngx.req.start_time()
  return P.start_time()
end

-- ngx.header: response headers (kept, not checked in depth)
local resp_headers = {}
ngx.header = setmetatable({}, {
  __index = function(_, k)
    return resp_headers[tostring(k):lower():gsub("_", "-")]
  end,
  __newindex = function(_, k, v)
    if P.headers_sent() then
      P.header_too_late()
      return
    end
    resp_headers[tostring(k):lower():gsub("_", "-")] = v
  end,
})

local ctxs = {}        -- request id -> ngx.ctx table
local cur_req = 1
setmetatable(ngx, {
  __index = function(t, k)
    if NOT_MODELLED[k] then return not_modelled("ngx.")(t, k) end
    if k == "ctx" then
      local t = ctxs[cur_req]
      if t == nil then t = {}; ctxs[cur_req] = t end
      return t
    elseif k == "status" then
      return P.get_status()
    elseif k == "headers_sent" then
      return P.headers_sent()
    elseif k == "is_subrequest" then
      return P.is_subrequest()
    end
    return nil
  end,
  __newindex = function(t, k, v)
    if k == "ctx" then
      if type(v) ~= "table" then raw_error("ctx should be a table while getting a " .. type(v), 2) end
      ctxs[cur_req] = v
    elseif k == "status" then
      local code, a = P.set_status(v)
      if code ~= 0 then raw_error(a, 2) end
    else
      rawset(t, k, v)
    end
  end,
})

---------------------------------------------------------------------------
-- set-up from Python
---------------------------------------------------------------------------
local chunks = {}

-- compile a chunk the way ngx_http_lua_clfactory_loadbuffer does: the
-- source becomes the body of a function, so a fresh closure can be made
-- for every run (and `return` works at its top level)
function K.compile(source, chunkname)
  -- the chunk on its own gives the syntax errors nginx reports (at <eof>, say)
  local f, err = raw_loadstring(source, "=" .. chunkname)
  if not f then return nil, err end
  f, err = raw_loadstring("return function(...) " .. source .. "\nend", "=" .. chunkname)
  if not f then return nil, err end
  setfenv(f, SAFE)
  chunks[#chunks + 1] = f
  return #chunks
end

-- ngx_http_lua_new_thread: a coroutine running a new closure of chunk i,
-- with its own globals table that falls back to the shared ones
function K.new_entry(i)
  local fn = chunks[i]()
  setfenv(fn, setmetatable({}, {__index = SAFE, __newindex = function(t, k, v) rawset(t, k, v) end}))
  return reg(raw_create(fn))
end

function K.set_request(id) cur_req = id end

-- handle_subreq_responses: one {status, header, body, truncated} per subrequest
function K.push_results(id, ...)
  local s = stk[id]
  if not s then s = {n = 0}; stk[id] = s end
  for i = 1, select('#', ...), 3 do
    local status, body, truncated = select(i, ...)
    s.n = s.n + 1
    s[s.n] = {status = status, header = {}, body = body, truncated = truncated}
  end
end

for _, f in ipairs{SAFE.print, ngx.say, ngx.print, ngx.log, ngx.sleep, ngx.flush, ngx.eof,
                   ngx.thread.spawn, ngx.thread.wait, ngx.thread.kill} do
  CFUNC[f] = true
end

function K.init(api, limit)
  for k, v in pairs(api) do P[k] = v end
  step_limit = limit
  null = newproxy(true)
  getmetatable(null).__tostring = function() return "userdata: NULL" end
  ngx.null = null
  -- the virtual clock, in UTC whatever the host's time zone
  SAFE.os.time = function(t)
    if t ~= nil then
      if type(t) ~= "table" then raw_error("bad argument #1 to 'time' (table expected, got "
                                           .. type(t) .. ")", 2) end
      return P.timegm(t.year, t.month, t.day, t.hour or 12, t.min or 0, t.sec or 0)
    end
    return floor(P.now())
  end
  SAFE.os.clock = function() return 0 end
  SAFE.os.date = function(f, t)
    f = f or "%c"
    if ssub(f, 1, 1) ~= "!" then f = "!" .. f end
    return os_date(f, t or floor(P.now()))
  end
  SAFE.os.difftime = os_difftime
  SAFE.os.getenv = function() return nil end
  sethook(hook, "", 1000)
  -- nothing dangerous stays reachable, even through a hole we missed
  for _, k in ipairs{"io", "require", "dofile", "loadfile", "load", "package", "python",
                     "module", "os", "debug"} do
    REAL_G[k] = nil
  end
end

function K.runaway() return runaway end

return K
