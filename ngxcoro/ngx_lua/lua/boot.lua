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
-- globals table of its own; a new global is the write guard's warning, below)
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

-- the "_G write guard" ngx_http_lua_init_globals puts on _G (OpenResty's LuaJIT):
-- a new global made outside init_by_lua* and init_worker_by_lua* is logged at
-- warn with the writer's traceback.  Its own chunk, so the log line says where it
-- is, "_G write guard:12: __newindex(): " (nginx's buffer has the call on line 12)
local function guard_traceback()
  local frames, parts, seen = user_frames(raw_running()), {"\nstack traceback:"}, false
  for _, ar in ipairs(frames) do
    if seen then parts[#parts + 1] = "\n\t" .. frame_text(ar) end
    seen = seen or ar.source == "=_G write guard"
  end
  return concat(parts)
end
local GUARD_MSG = "') which may lead to race conditions between concurrent requests, so "
                  .. "prefer the use of 'local' variables"
local write_guard = raw_loadstring(concat({
  "local ngx_log, ngx_WARN, tostring, ngx_get_phase, traceback, rawset, msg = ...",
  "", "", "", "",
  "local function newindex(table, key, value)",              -- line 6
  "rawset(table, key, value)",
  "local phase = ngx_get_phase()",
  "if phase == 'init_worker' or phase == 'init' then",
  "return",
  "end",
  "ngx_log(ngx_WARN, \"writing a global Lua variable ('\", tostring(key), msg, traceback())",
  "end",
  "return newindex"}, "\n"), "=_G write guard")

for _, f in ipairs{SAFE.print, ngx.say, ngx.print, ngx.log, ngx.sleep, ngx.flush, ngx.eof,
                   ngx.thread.spawn, ngx.thread.wait, ngx.thread.kill} do
  CFUNC[f] = true
  CSTACK[f] = 0
end
for _, f in ipairs{ngx.exec, ngx.location.capture, ngx.location.capture_multi, co_lib.create,
                   co_lib.resume, co_lib.wrap, co_lib.yield, co_lib.status} do
  CSTACK[f] = 0
end

function K.init(api, limit)
  for k, v in pairs(api) do P[k] = v end
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
  setmetatable(SAFE, {__newindex = write_guard(ngx.log, ngx.WARN, tostring, ngx.get_phase,
                                                guard_traceback, rawset, GUARD_MSG)})
  sethook(hook, "", 1000)
  -- nothing dangerous stays reachable, even through a hole we missed
  for _, k in ipairs{"io", "require", "dofile", "loadfile", "load", "package", "python",
                     "module", "os", "debug"} do
    REAL_G[k] = nil
  end
end

function K.runaway() return runaway end

return K
