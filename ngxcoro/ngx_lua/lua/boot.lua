---------------------------------------------------------------------------
-- set-up from Python (ngx_http_lua_cache.c, _clfactory.c: chunks; the entry
-- coroutines of ngx_http_lua_new_thread; K.init)
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

-- ngx_http_lua_new_thread: a coroutine running a new closure of chunk i, whose
-- globals are the main state's (_G, SAFE here: ngx_lua 0.10.23 gives a request no
-- globals table of its own; a new global is the write guard's warning, K.init)
-- (`plain`: a log or filter chunk, which nginx runs with lua_pcall on the
-- main state: the coroutine stands for the main state, see coroutine.lua)
function K.new_entry(i, plain)
  local fn = chunks[i]()
  K.entry_fns[fn] = true                 -- a chunk's main function, for tracebacks
  local co = raw_create(fn)
  if plain then PLAIN[co] = true end
  return reg(co)
end

function K.set_request(id) cur_req = id end

for _, f in ipairs{SAFE.print, ngx.say, ngx.print, ngx.log, ngx.sleep, ngx.flush, ngx.eof,
                   ngx.thread.spawn, ngx.thread.wait, ngx.thread.kill} do
  CFUNC[f] = true
  CSTACK[f] = 0
end
for _, f in ipairs{ngx.exec, ngx.location.capture, ngx.location.capture_multi, co_lib.create,
                   co_lib.resume, co_lib.wrap, co_lib.yield, co_lib.status} do
  CSTACK[f] = 0
end

-- ngx_http_lua_init_globals (ngx_http_lua_util.c, an OpenResty LuaJIT build):
-- a chunk named "=_G write guard" sets a __newindex on _G that stores the
-- value, then (outside the init phases) logs a [warn] with a traceback of
-- the writer.  Its ngx.log call is on line 12 of that chunk, as in the C
-- string, so the log prefix reads "_G write guard:12: __newindex(): ".
local WRITE_GUARD = [[
local log, WARN = ngx.log, ngx.WARN
local tostring, rawset = tostring, rawset
local get_phase = ngx.get_phase
local traceback = require('debug').traceback
local function newindex(t, k, v)
  -- store first, then tell
  rawset(t, k, v)
  local phase = get_phase()
  if phase == 'init' or phase == 'init_worker' then
    return
  end
  log(WARN, "writing a global Lua variable ('", tostring(k), "') which may lead to race conditions between concurrent requests, so prefer the use of 'local' variables", traceback('', 2))
end
setmetatable(_G, {__newindex = newindex})
]]

-- the guard's traceback('', 2): the writer's frames (those below the
-- guard's own), named as ngx_http_lua_thread_traceback names them, cut as
-- LuaJIT's luaL_traceback cuts a long stack: over 21 frames, the first 10,
-- "...", the last 10 (seen on nginx with 20 to 30 nested calls)
local function guard_traceback()
  local frames, mine, seen = K.user_frames(raw_running()), {}, false
  for _, ar in ipairs(frames) do
    if seen then mine[#mine + 1] = "\n\t" .. K.frame_text(ar)
    elseif ar.short_src == "_G write guard" then seen = true end
  end
  local n, out = #mine, {"\nstack traceback:"}
  for i = 1, n do
    if n <= 21 or i <= 10 or i > n - 10 then out[#out + 1] = mine[i]
    elseif i == 11 then out[#out + 1] = "\n\t..." end
  end
  return concat(out)
end

local function install_write_guard()
  local f = raw_loadstring(WRITE_GUARD, "=_G write guard")
  setfenv(f, {ngx = ngx, tostring = tostring, rawset = rawset, setmetatable = setmetatable,
              _G = SAFE, require = function() return {traceback = guard_traceback} end})
  f()
end

function K.init(api, limit)
  -- every P call but these sees the fast path's bookkeeping first (vm.lua K.sync)
  -- (co_create sends it along itself: coroutine.lua create_helper)
  local sync, raw = K.sync, {tick = true, co_sync = true, co_create = true}
  for k, v in pairs(api) do
    if raw[k] then P[k] = v else P[k] = function(...) sync(); return v(...) end end
  end
  K.inject_shdict()
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
  install_write_guard()
  -- nothing dangerous stays reachable, even through a hole we missed
  for _, k in ipairs{"io", "require", "dofile", "loadfile", "load", "package", "python",
                     "module", "os", "debug"} do
    REAL_G[k] = nil
  end
end

function K.runaway() return runaway end

return K
