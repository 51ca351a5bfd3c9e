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
local getinfo, sethook = debug.getinfo, debug.sethook
local raw_loadstring, setfenv, getfenv = loadstring, setfenv, getfenv

local function pack(...) return {n = select('#', ...), ...} end
local EMPTY = {n = 0}

---------------------------------------------------------------------------
-- Coroutines known to the scheduler, by id.  stk[id] stands for the Lua
-- stack of that coroutine as run_thread sees it: what it yielded or
-- returned, or what is waiting to be passed in on its next resume.
---------------------------------------------------------------------------
local cos, ids, stk = {}, {}, {}
local nco = 0
local err_args = {}          -- id -> arguments of the last error() call in it

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
  if steps % 64 == 0 then P.tick() end
end

local function settle(id, co, ok, ...)
  if not ok then
    local e = err_args[id]
    local v = ...
    err_args[id] = nil
    if e and e.n > 0 and (type(e[1]) == "string" or type(e[1]) == "number")
       and type(v) == "string" and ssub(v, -#tostring(e[1])) == tostring(e[1]) then
      -- LuaJIT leaves error()'s arguments below the message on the dead stack
      e[e.n + 1] = v
      e.n = e.n + 1
      stk[id] = e
    else
      stk[id] = pack(...)
    end
    return 2
  end
  stk[id] = pack(...)
  if raw_status(co) == "dead" then return 0 end
  return 1
end

-- lua_resume(co, nrets): the top nrets values of its stack go in.
function K.resume(id, nrets)
  local co = cos[id]
  local s = stk[id] or EMPTY
  stk[id] = nil
  err_args[id] = nil
  steps = 0
  local rv = settle(id, co, raw_resume(co, unpack(s, s.n - nrets + 1, s.n)))
  if runaway then return -1 end
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
  cos[id], stk[id], err_args[id] = nil, nil, nil
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

local function safe_error(...)
  local co = raw_running()
  if co and ids[co] then err_args[ids[co]] = pack(...) end
  local msg, level = ...
  level = level == nil and 1 or level
  if type(level) == "number" and level > 0 then level = level + 1 end
  raw_error(msg, level)
end

local function check_runaway(...)
  if runaway then raw_error(RUNAWAY, 0) end
  return ...
end

local function safe_pcall(...) return check_runaway(raw_pcall(...)) end
local function safe_xpcall(...) return check_runaway(raw_xpcall(...)) end

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
                   "unpack", "_VERSION", "gcinfo", "newproxy", "setfenv", "getfenv"} do
  SAFE[k] = _G[k]
end
SAFE.error = safe_error
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
-- Calling the scheduler
---------------------------------------------------------------------------
-- Every shim below calls P.<api>(...) and acts on the code it returns.
-- (Written out in each shim so that error levels point at the user's line.)

---------------------------------------------------------------------------
-- coroutine.*  (ngx_http_lua_coroutine.c; resty.core's wrappers pick these)
---------------------------------------------------------------------------
local function create_helper(f, is_wrap, fname)
  if type(f) ~= "function" then
    raw_error(sformat("bad argument #1 to '%s' (Lua function expected)", fname), 3)
  end
  local co = raw_create(f)
  local id = reg(co)
  local code, a = P.co_create(id, is_wrap)
  if code ~= 0 then K.drop(id); raw_error(a, 3) end
  return co, id
end

function co_lib.create(f)
  local co = create_helper(f, false, "create")
  return co
end

local function coro_resume(fname, co, ...)
  if type(co) ~= "thread" then
    raw_error(sformat("bad argument #1 to '%s' (coroutine expected)", fname), 3)
  end
  local code, a, b = P.co_resume(ids[co] or 0)
  if code == 0 then return a, b end
  if code ~= 1 then raw_error(a, 3) end
  return raw_yield(...)
end

function co_lib.resume(co, ...)
  return coro_resume("resume", co, ...)
end

function co_lib.wrap(f)
  local co = create_helper(f, true, "wrap")
  return function(...)
    return coro_resume("wrap", co, ...)
  end
end

function co_lib.yield(...)
  local code, a = P.co_yield()
  if code ~= 1 then raw_error(a, 2) end
  return raw_yield(...)
end

function co_lib.status(co)
  if type(co) ~= "thread" then
    raw_error("bad argument #1 to 'status' (coroutine expected)", 2)
  end
  local code, a = P.co_status(ids[co] or 0)
  if code ~= 0 then raw_error(a, 2) end
  return a
end

co_lib.running = raw_running
co_lib.isyieldable = raw_isyieldable

---------------------------------------------------------------------------
-- ngx.thread.*  (ngx_http_lua_uthread.c)
---------------------------------------------------------------------------
ngx.thread = {}

function ngx.thread.spawn(f, ...)
  if type(f) ~= "function" then
    raw_error("bad argument #1 to 'spawn' (Lua function expected)", 2)
  end
  local co = raw_create(f)
  local id = reg(co)
  stk[id] = pack(...)
  local code, a = P.spawn(id)
  if code ~= 1 then K.drop(id); raw_error(a, 2) end
  return raw_yield(co)
end

local function thread_ids(fname, ...)
  local n = select('#', ...)
  local t = {n = n}
  for i = 1, n do
    local co = select(i, ...)
    if type(co) ~= "thread" then
      raw_error(sformat("bad argument #%d to '%s' (lua thread expected)", i, fname), 3)
    end
    t[i] = ids[co] or 0
  end
  return t
end

function ngx.thread.wait(...)
  local t = thread_ids("wait", ...)
  local code, a, b = P.wait(unpack(t, 1, t.n))
  if code == 0 then return a, b end
  if code == 4 then
    -- a zombie answered at once: run_thread-style, its values were moved
    -- onto our own stack
    local me = ids[raw_running()]
    local s = stk[me] or EMPTY
    stk[me] = nil
    return unpack(s, 1, s.n)
  end
  if code ~= 1 then raw_error(a, 2) end
  return raw_yield()
end

function ngx.thread.kill(co)
  local t = thread_ids("kill", co)
  local code, a, b = P.kill(t[1])
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

local function flatten(fname, argi, t, buf)
  local max = 0
  for k in pairs(t) do
    if type(k) == "number" and floor(k) == k and k >= 1 then
      if k > max then max = k end
    else
      raw_error(sformat("bad argument #%d to '%s' (non-array table found)", argi, fname), 4)
    end
  end
  for i = 1, max do
    local v = rawget(t, i)
    local tv = type(v)
    if tv == "string" then buf[#buf + 1] = v
    elseif tv == "number" then buf[#buf + 1] = fmt_number(v)
    elseif tv == "nil" then buf[#buf + 1] = "nil"
    elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
    elseif tv == "table" then flatten(fname, argi, v, buf)
    elseif v == null then buf[#buf + 1] = "null"
    elseif tv ~= "userdata" then
      raw_error(sformat("bad argument #%d to '%s' (bad data type %s found)", argi, fname, tv), 4)
    end
  end
end

local function echo(fname, newline, ...)
  local buf = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    local tv = type(v)
    if tv == "string" then buf[#buf + 1] = v
    elseif tv == "number" then buf[#buf + 1] = fmt_number(v)
    elseif tv == "nil" then buf[#buf + 1] = "nil"
    elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
    elseif tv == "table" then flatten(fname, i, v, buf)
    elseif v == null then buf[#buf + 1] = "null"
    elseif tv ~= "userdata" then
      raw_error(sformat("bad argument #%d to '%s' (string, number, boolean, nil, ngx.null, "
                        .. "or array table expected, but got %s)", i, fname, tv), 3)
    end
  end
  if newline then buf[#buf + 1] = "\n" end
  local code, a, b = P.output(concat(buf))
  if code ~= 0 then raw_error(a, 3) end
  return a, b
end

function ngx.say(...) return echo("say", true, ...) end
function ngx.print(...) return echo("print", false, ...) end

local function simple(name, nmax)
  return function(...)
    local code, a, b = P[name](...)
    if code == 0 then return a, b end
    if code == 1 then return raw_yield() end
    if code == 3 then raw_error(a, 0) end
    raw_error(a, 2)
  end
end

ngx.flush = simple("flush")
ngx.eof = simple("eof")
ngx.send_headers = simple("send_headers")
ngx.sleep = simple("sleep")
ngx.exit = simple("exit")
ngx.exec = simple("exec")
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
ngx.req.read_body = simple("read_body")
ngx.req.get_body_data = function()
  local code, a = P.get_body_data()
  return a
end
ngx.req.set_uri = simple("set_uri")
ngx.decode_args = function(s, max) return decode_args(s, max or 100) end
ngx.escape_uri = function(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return sformat("%%%02X", sbyte(c)) end))
end
ngx.unescape_uri = function(s)
  return (tostring(s):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
ngx.quote_sql_str = function(s) return "'" .. tostring(s):gsub("'", "\\'") .. "'" end

ngx.location = {}
ngx.location.capture_multi = simple("capture_multi")
ngx.location.capture = function(uri, opts)
  local code, a = P.capture_multi({{uri, opts}})
  if code == 1 then
    return raw_yield()
  end
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

local ctxs = {}        -- request id -> ngx.ctx table
local cur_req = 1
setmetatable(ngx, {
  __index = function(_, k)
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
  local f, err = raw_loadstring("return function(...) " .. source .. "\nend", "=" .. chunkname)
  if not f then return nil, err end
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

function K.init(api, limit)
  for k, v in pairs(api) do P[k] = v end
  step_limit = limit
  null = newproxy(true)
  getmetatable(null).__tostring = function() return "userdata: NULL" end
  ngx.null = null
  SAFE.os.time = function(t)
    if t ~= nil then return os.time(t) end
    return floor(P.now())
  end
  SAFE.os.clock = function() return P.clock() end
  SAFE.os.date = function(f, t) return os.date(f or "%c", t or floor(P.now())) end
  SAFE.os.difftime = os.difftime
  SAFE.os.getenv = function() return nil end
  sethook(hook, "", 1000)
end

function K.runaway() return runaway end

return K
