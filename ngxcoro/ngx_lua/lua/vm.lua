-- ngxcoro's Lua side, first part: what every shim file after it uses.
--
-- The Lua half of ngxcoro is one chunk made of the files of this folder, in
-- the order ngx_lua/vm.py names them: this one, one file per C file of
-- lua-nginx-module that it stands for (beside the Python module of the
-- same name), and boot.lua last.  Here: the coroutine table the Python
-- scheduler resumes from, the stacks run_thread moves values between, the
-- sandbox learners' code runs in, and the helpers of the protocol.
--
-- Each shim checks its arguments as the C function does, asks its Python
-- half (table P) to do the bookkeeping, then yields to run_thread or
-- returns.  Nothing here decides scheduling.  A P.* call answers a code
-- and values (ngx_lua/protocol.py says each in full):
local RETURN    = 0   -- return the values to the Lua caller
local YIELD     = 1   -- yield to run_thread (the API blocked, or co_op is set)
local ERROR     = 2   -- raise the first value as a Lua error at the caller's position
local ABORT     = 3   -- raise with no position: the run stops (Python re-raises)
local STACK     = 4   -- return what Python moved onto the caller's own stack
local ARGERROR  = 5   -- luaL_argerror(narg, extramsg)

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

local OURS = "=[ngxcoro]"            -- the source name of this chunk's functions
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
-- the coroutine the last resume saw fail, kept for its traceback
local failed_id, failed_co = nil, nil
-- entry chunks (their frames are "main chunk"), and the coroutines whose
-- stack overflowed in our count hook (by the frame that made the call)
K.entry_fns = setmetatable({}, {__mode = "k"})
local overflowed = setmetatable({}, {__mode = "k"})

local function reg(co)
  nco = nco + 1
  cos[nco] = co
  ids[co] = nco
  return nco
end

-- runaway-loop guard: a count hook (LuaJIT hooks are global; jit.off()
-- makes sure compiled traces do not skip it).
local steps, step_limit, runaway = 0, 0, false
local switched                  -- (the fast path, below)
local RUNAWAY = "ngxcoro: runaway"
local function hook()
  steps = steps + 1
  if steps > step_limit then
    runaway = true
    raw_error(RUNAWAY, 0)
  end
  if steps % 64 == 0 then
    local over = P.tick(switched)         -- a fast switch counts as a new resume
    switched = false
    if over then
      runaway = true                      -- too long in wall time (slow C calls)
      raw_error(RUNAWAY, 0)
    end
  end
end

-- A C function of ngx_lua that fails leaves its frame on the dead coroutine's
-- stack, under the error value, for a waiting parent (LuaJIT's luaL_error and
-- lj_err_argmsg push the message, then lj_err_callermsg its positioned copy):
-- the C function's arguments; luaL_argerror's extramsg when the C code
-- formatted it (lua_pushfstring, luaL_checktype's "X expected, got Y"; a
-- literal one is not on the stack); then the message.  CSTACK names the shims
-- of C functions, each with how many leading parameters of its own to skip
-- (a helper such as log_msg whose varargs are the C stack at that point);
-- boot.lua fills it from CFUNC, the others register themselves.
local CSTACK = {}
local LITERAL_EXTRAMSG = {["Lua function expected"] = true, ["lua thread expected"] = true,
                          ["coroutine expected"] = true, ["non-array table found"] = true}
local argerror

local function cstack(co)
  local ar0 = getinfo(co, 0, "f")
  if not ar0 or ar0.func ~= raw_error then return nil end
  local _, msg = getlocal(co, 0, 1)
  local extra
  for level = 1, 30 do
    local ar = getinfo(co, level, "fSu")
    if not ar or ar.source ~= OURS then return nil end
    if ar.func == argerror and extra == nil then
      local _, e = getlocal(co, level, 3)
      if LITERAL_EXTRAMSG[e] then extra = false else extra = e end
    end
    local skip = CSTACK[ar.func]
    if skip then
      local s = {n = 0}
      for i = skip + 1, ar.nparams do
        local _, v = getlocal(co, level, i)
        s.n = s.n + 1
        s[s.n] = v
      end
      local nva = 0
      for i = 1, ar.isvararg and 250 or 0 do
        local name, v = getlocal(co, level, -i)
        if not name then break end
        s.n = s.n + 1
        s[s.n] = v
        nva = i
      end
      -- a named parameter left nil with nothing after it was not passed
      while nva == 0 and s.n > 0 and s[s.n] == nil do s.n = s.n - 1 end
      if extra then s.n = s.n + 1; s[s.n] = extra end
      s.n = s.n + 1
      s[s.n] = msg
      return s
    end
  end
  return nil
end

local function settle(id, co, ok, ...)
  if not ok then
    -- LuaJIT leaves the failing frame's slots on the dead coroutine's stack
    -- under the error value: run_thread hands all of it to a waiting parent
    local s = cstack(co) or {n = 0}
    for i = 1, (s.n == 0 and getinfo(co, 0, "l")) and 250 or 0 do
      local name, v = getlocal(co, 0, i)
      if not name then break end
      s.n = i
      s[i] = v
    end
    s.n = s.n + 1
    s[s.n] = ...
    if s[s.n] == "stack overflow" then
      -- LuaJIT adds the position unless the overflow hits in our count hook
      -- (nginx runs no hook): add it as LuaJIT would, from the calling frame
      for level = 0, 250 do
        local ar = getinfo(co, level, "Sl")
        if not ar then break end
        if ar.currentline > 0 and ar.what ~= "C" and ar.source ~= OURS then
          s[s.n] = ar.short_src .. ":" .. ar.currentline .. ": stack overflow"
          overflowed[co] = true
          break
        end
      end
    end
    stk[id] = s
    return 2
  end
  stk[id] = pack(...)
  if raw_status(co) == "dead" then return 0 end
  return 1
end

-- lua_resetthread: an entry state put back in the thread cache is empty;
-- resuming it again (a stale wake-up) calls the nil at its stack base.  Its
-- stack slots become nil and its open upvalues are not closed, so a closure
-- still alive that captured a local of a frame left on it reads nil (a state
-- that died by an error keeps its frames too; one that returned has none)
local reset = {}
-- id -> a state that died by an error, until its reset (strong: a collected state
-- would close its upvalues and the closure would keep the values; the table is
-- emptied when it grows, the ids of light threads are never reset)
local errored, nerrored = {}, 0
local SUBNORMAL = 2.2250738585072014e-308     -- DBL_MIN
local setlocal = debug.setlocal
function K.reset(id)
  reset[id] = true
  local co = cos[id] or errored[id]
  errored[id] = nil
  if co == nil or co == raw_running() then return end
  for level = 0, 250 do
    if not getinfo(co, level, "l") then break end
    for i = 1, 250 do
      local name, v = getlocal(co, level, i)
      if name == nil then break end
      -- every slot but a frame link: LuaJIT keeps a frame's link (a metamethod's
      -- continuation, ngx.var.x = 1 failing in our __newindex) in a slot, where it
      -- reads as a subnormal number, and nil there crashes LuaJIT; the other
      -- slots of a frame that died by an error may all read "(*temporary)"
      if not (type(v) == "number" and v ~= 0 and v > -SUBNORMAL and v < SUBNORMAL) then
        setlocal(co, level, i, nil)
      end
    end
  end
end

---------------------------------------------------------------------------
-- The fast path (coroutine.lua): with nothing observing the run (K.set_fast),
-- a plain coroutine made by coroutine.create / wrap is resumed and yields
-- inside Lua, by the coroutine.resume shim of its resumer, as long as both
-- only switch between each other.  The scheduler's bookkeeping is the same
-- as run_thread's (USER_CORO_RESUME / USER_CORO_YIELD, user_co_done); it is
-- kept here in a mirror (tst, tpar) and handed to Python (P.co_sync) before any
-- other P call, and before a resume returns to Python.  Anything else the
-- child does (an API that yields to run_thread, an error) falls back: each
-- fast resumer passes the yield on down to the resume Python made ("relay"),
-- and from then on Python runs those coroutines as it runs any other.
---------------------------------------------------------------------------
local fast_on = false           -- K.set_fast: nothing observes the run
-- this resume's request, when its context may yield (K.resume), else false
local fast_ctx, fast_req = false, nil
-- coroutine -> the request it was made in, while it is suspended on the fast path
-- (made there and never run by Python): coroutine.resume may switch to it in Lua
local fsusp = setmetatable({}, {__mode = "k"})
local infast = {}               -- coroutine -> true while a fast resume runs it
local fbase, ftop = nil, nil    -- the coroutine Python resumed; the top of the fast chain
-- how many fast resumes are nested now: each nests a C call of lua_resume (nginx nests
-- none, run_thread resumes them one by one); past FAST_DEPTH the slow path takes over,
-- so a deep chain never meets the C stack's limits
local fdepth, FAST_DEPTH = 0, 50
switched = false                -- a fast switch since the last tick (the wall-clock guard)
-- since the last sync: coroutine -> its status as Python would have it, and -> its
-- new resumer; `dirty` when there is anything in them
local tst, tpar, dirty = {}, {}, false
local RELAY = {}                -- the yield a fast resumer passes on down
local relay_id, relay_rv = nil, nil
local FAST_YIELD = {}           -- what a fast coroutine.yield yields first
local ST_RUNNING, ST_SUSPENDED, ST_NORMAL, ST_DEAD = 0, 1, 2, 3   -- common.CoStatus's values

-- the mirror as (id, status, id of the new resumer or 0) three by three
local function sync_items()
  local items, n = {}, 0
  for co, st in pairs(tst) do             -- each item stands alone: any order will do
    local id = ids[co]
    if id then
      local p = tpar[co]
      items[n + 1], items[n + 2], items[n + 3] = id, st, p and ids[p] or 0
      n = n + 3
    end
  end
  tst, tpar, dirty = {}, {}, false
  return items, n
end

-- hand the mirror to Python (coroutine.sync): the items, and the current
-- coroutine (ctx->cur_co_ctx), as plain arguments, at most SYNC_MAX a call
local SYNC_MAX = 240
local function send(items, n)
  local top = ids[ftop] or 0
  for i = 1, math.max(n, 1), SYNC_MAX do
    P.co_sync(i + SYNC_MAX > n and top or 0, unpack(items, i, math.min(n, i + SYNC_MAX - 1)))
  end
end

local function sync()
  if dirty then send(sync_items()) end
end
K.sync = sync

-- what sync would send, as values to append to a P call's arguments (the top,
-- then the items; nothing when nothing changed): coroutine.create sends it along
function K.sync_args()
  if not dirty then return end
  local items, n = sync_items()
  if n > SYNC_MAX then send(items, n) return end
  return ids[ftop] or 0, unpack(items, 1, n)
end

-- the end of a fast resume: the child yielded, returned, or falls back
local function fast_after(parent, co, is_wrap, ok, ...)
  steps = 0                               -- run_thread resumes the parent afresh
  fdepth = fdepth - 1
  if runaway then raw_error(RUNAWAY, 0) end
  if ok and ... == FAST_YIELD then        -- coroutine.yield: back to the resumer
    infast[co], fsusp[co] = nil, fast_req
    tst[co], tst[parent], ftop, dirty = ST_SUSPENDED, ST_RUNNING, parent, true
    if is_wrap then return select(2, ...) end
    return true, select(2, ...)
  end
  local id = ids[co]
  if ok and raw_status(co) == "dead" then  -- returned: user_co_done
    infast[co] = nil
    cos[id], stk[id] = nil, nil
    tst[co], tst[parent], ftop, dirty = ST_DEAD, ST_RUNNING, parent, true
    if is_wrap then return ... end
    return true, ...
  end
  -- anything else is run_thread's: Python learns where everyone is, and the
  -- yield (or the error) of the child goes on down as the child's own
  if not (ok and ... == RELAY) then
    sync()
    relay_rv = settle(id, co, ok, ...)
    relay_id = id
  end
  infast[co] = nil
  return raw_yield(RELAY)
end

-- coroutine.resume / a wrap's function on the fast path (coroutine.lua)
function K.fast_resume(co, is_wrap, ...)
  local parent = ftop
  fsusp[co], infast[co] = nil, true
  tst[parent], tst[co], tpar[co], dirty = ST_NORMAL, ST_RUNNING, parent, true
  ftop, steps, switched, fdepth = co, 0, true, fdepth + 1
  return fast_after(parent, co, is_wrap, raw_resume(co, ...))
end

-- may coroutine.resume(co) stay in Lua?
function K.fast_ok(co)
  local req = fsusp[co]
  return fast_ctx and req ~= nil and req == fast_req and raw_running() == ftop
         and fdepth < FAST_DEPTH and ids[co] ~= nil
end

-- may the running coroutine's coroutine.yield stay in Lua?
function K.fast_yield_ok()
  local me = raw_running()
  return infast[me] and me == ftop
end

-- a coroutine coroutine.create / wrap just made: on the fast path?
function K.fast_new(co)
  if fast_on and fast_ctx and raw_running() == ftop then fsusp[co] = fast_req end
end

-- a coroutine that leaves the fast path (Python resumes it from now on)
function K.fast_leave(co) fsusp[co] = nil end

function K.set_fast(on) fast_on = on end
function K.fast_ctx_on() return fast_ctx end
K.FAST_YIELD = FAST_YIELD

-- after a resume (or a fast one that fell back): cos, the failed and errored states
local function resumed(id, co, rv)
  if rv ~= 1 then cos[id] = nil end
  if rv == 2 then failed_id, failed_co = id, co else failed_id, failed_co = nil, nil end
  if rv == 2 then
    if nerrored >= 4096 then errored, nerrored = {}, 0 end
    errored[id], nerrored = co, nerrored + 1
  end
end

-- lua_resume(co, nrets): the top nrets values of its stack go in.  Answers
-- the result (0 finished, 1 yielded, 2 error, -1 runaway), then the size of
-- the stack it left (lua_gettop), then the id of the coroutine that yielded
-- or failed when a fast resume passed it on (nil: `id` itself).  `req`: the
-- id of the request when its context may yield (the fast path may run), or 0.
function K.resume(id, nrets, req)
  if reset[id] then
    stk[id] = {n = 1, "attempt to call a nil value"}
    return 2, 1, nil
  end
  local co = cos[id]
  if co == nil then
    stk[id] = {n = 1, "cannot resume dead coroutine"}
    return 2, 1, nil
  end
  local s = stk[id] or EMPTY
  stk[id] = nil
  fsusp[co] = nil                         -- Python runs it
  steps = 0
  local saved_ctx, saved_req, saved_base, saved_top, saved_depth =
        fast_ctx, fast_req, fbase, ftop, fdepth
  fast_ctx = fast_on and req ~= nil and req ~= 0
  fast_req, fbase, ftop, fdepth = req, co, co, 0
  relay_id = nil
  local rv = settle(id, co, raw_resume(co, unpack(s, s.n - nrets + 1, s.n)))
  fast_ctx, fast_req, fbase, ftop, fdepth = saved_ctx, saved_req, saved_base, saved_top, saved_depth
  if runaway then return -1, 0, nil end
  local real = nil
  if rv == 1 and relay_id ~= nil and stk[id].n == 1 and stk[id][1] == RELAY then
    stk[id] = nil
    real, rv = relay_id, relay_rv
    resumed(real, cos[real], rv)
  else
    resumed(id, co, rv)
  end
  relay_id = nil
  if dirty then
    local t = ftop
    ftop = real and cos[real] or co
    sync()
    ftop = t
  end
  local top = stk[real or id]
  return rv, top and top.n or 0, real
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

-- lua_xmove(from, to, lua_gettop(from)), the same
function K.xmove_all(from, to, flag)
  local s = stk[from]
  return K.xmove(from, to, s and s.n or 0, flag)
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

-- ngx_http_lua_thread_traceback (ngx_http_lua_util.c): "stack traceback:",
-- then "coroutine N:" and the frames of each coroutine of the chain (the
-- failed one, then its parents), at most 22 frames and 5 coroutines.  The
-- shims of this chunk are C functions in nginx: a run of our frames (and
-- the C functions they call) stands for the C functions nginx has there;
-- our frames under the user's first function are not shown, and a user
-- function our code called has no name (C called it).
local BT_DEPTH, BT_MAX_COROS = 22, 5

local function internal(ar) return ar.what == "C" or ar.source == OURS end

-- shims that are Lua functions of lua-resty-core in nginx, where their error()
-- is: shim -> {file, line}; nginx's traceback shows "[C]: in function 'error'"
-- and that file and line for them (filled by the files that define them).  The
-- entry may also be a function(co) answering that table for the error co just
-- raised, with `inner` = {{line, name}, ...}: the resty frames between error()
-- and the shim's own (innermost first), `raised` false for a runtime error
-- of resty's own code (no error() frame), `cfunc` the C function in its place
local RESTY_LUA = {}

local function user_frames(co)
  local raw, level = {}, 0
  while true do
    local ar = getinfo(co, level, "Snlf")
    if not ar then break end
    if K.entry_fns[ar.func] then ar.what = "main" end
    raw[#raw + 1] = ar
    level = level + 1
  end

  -- a run of our frames and C frames (innermost first) is, in nginx, one C
  -- function per frame that the user's code or a C function called: pcall
  -- calling a wrap's function is two frames, the inner one nameless
  local out, run = {}, {}
  for i, ar in ipairs(raw) do
    if internal(ar) then
      run[#run + 1] = ar
    else
      for j, f in ipairs(run) do
        local caller = run[j + 1]
        local resty = caller == nil and RESTY_LUA[f.func]
        if type(resty) == "function" then resty = resty(co) end
        if resty then
          if resty.raised ~= false or resty.cfunc then
            out[#out + 1] = {short_src = "[C]", currentline = -1, what = "C",
                             namewhat = resty.cfunc and "upvalue" or "global",
                             name = resty.cfunc or "error"}
          end
          for _, fr in ipairs(resty.inner or EMPTY) do
            out[#out + 1] = {short_src = resty[1], currentline = fr[1], what = "Lua",
                             namewhat = "local", name = fr[2]}
          end
          out[#out + 1] = {short_src = resty[1], currentline = resty[2], what = "Lua",
                           namewhat = f.namewhat, name = f.name}
        elseif caller == nil or caller.what == "C" then
          out[#out + 1] = {short_src = "[C]", currentline = -1, what = "C",
                           namewhat = caller == nil and f.namewhat or "", name = f.name}
        end
      end
      run = {}
      if raw[i + 1] and internal(raw[i + 1]) then ar.namewhat = "" end
      out[#out + 1] = ar
    end
  end
  -- an API the user's code tail-called (`return ngx.exec(...)`) is the bottom
  -- frame: nginx shows the C function alone, unnamed; a resty Lua function whose
  -- line it is defined on is known (`defined`) shows as error() and that function,
  -- unnamed ("exit.lua:60: in function <exit.lua:44>")
  if #out == 0 and #run > 0 then
    local resty = RESTY_LUA[run[#run].func]
    if type(resty) == "function" then resty = resty(co) end
    if resty and resty.defined and resty.raised ~= false and not resty.inner then
      out[1] = {short_src = "[C]", currentline = -1, what = "C", namewhat = "global",
                name = "error"}
      out[2] = {short_src = resty[1], currentline = resty[2], what = "Lua", namewhat = "",
                linedefined = resty.defined}
    else
      out[1] = {short_src = "[C]", currentline = -1, what = "C", namewhat = ""}
    end
  end
  local top = out[1]
  if overflowed[co] and top and top.what ~= "C" and top.currentline > 0 then
    -- without our hook the overflow happens in the callee's new frame, not
    -- yet on a line (the callee is taken to be the caller: recursion)
    table.insert(out, 1, {short_src = top.short_src, currentline = -1, what = top.what,
                          namewhat = top.namewhat, name = top.name,
                          linedefined = top.linedefined})
  end
  return out
end

local function frame_text(ar)
  local t = ar.short_src .. ":"
  if ar.currentline and ar.currentline > 0 then t = t .. ar.currentline .. ":" end
  if ar.namewhat ~= "" then
    return t .. " in function '" .. tostring(ar.name) .. "'"
  elseif ar.what == "main" then
    return t .. " in main chunk"
  elseif ar.what == "C" or ar.what == "tail" then
    return t .. " ?"
  end
  return t .. " in function <" .. ar.short_src .. ":" .. ar.linedefined .. ">"
end

K.user_frames, K.frame_text = user_frames, frame_text

function K.traceback(...)
  local parts = {"stack traceback:"}
  for coid = 0, select("#", ...) - 1 do
    if coid >= BT_MAX_COROS then break end
    local id = select(coid + 1, ...)
    local co = cos[id] or (id == failed_id and failed_co) or nil
    if co == nil and not reset[id] then break end
    parts[#parts + 1] = "\ncoroutine " .. coid .. ":"
    -- a reset state (a stale wake-up) has no frames: nginx prints the header alone
    local frames = (co and not reset[id]) and user_frames(co) or {}
    for i, ar in ipairs(frames) do
      if i > BT_DEPTH then parts[#parts + 1] = "\n\t..."; break end
      parts[#parts + 1] = "\n\t" .. frame_text(ar)
    end
  end
  return concat(parts)
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
-- the guarded ones, and whole libraries (assignments: their order does not matter)
for k, v in pairs{getfenv = safe_getfenv, error = raw_error, pcall = safe_pcall,
                  xpcall = safe_xpcall, loadstring = safe_loadstring, require = safe_require,
                  collectgarbage = collectgarbage, string = string, table = table,
                  math = math, bit = bit} do
  SAFE[k] = v
end
-- values that are FFI cdata in nginx (a semaphore's pointer, ...): type() says so
local CDATA = setmetatable({}, {__mode = "k"})
local raw_type = type
SAFE.type = function(...)
  if select("#", ...) > 0 and CDATA[...] then return "cdata" end
  return raw_type(...)
end
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
-- lua-resty-core 0.1.25, which the Debian build loads at start-up: requiring it
-- again gives its module table (resty/core.lua returns {version = base.version})
LOADED["resty.core"] = {version = "0.1.25"}
LOADED._G = SAFE

---------------------------------------------------------------------------
-- Errors as the C API raises them
---------------------------------------------------------------------------
-- luaL_argerror, worded as LuaJIT words it: the API function is named as
-- its caller named it ('?' when a C function such as pcall called it), and
-- the position is the caller's line (none when the caller is C).  `lvl` is
-- how many Lua frames lie between the caller of argerror and the API shim.
function argerror(lvl, narg, extramsg)
  local info = getinfo(lvl + 1, "n")
  local name = info and info.name or "?"
  -- lj_err_argmsg: a method call (obj:f()) does not count its self
  if info and info.namewhat == "method" then
    narg = narg - 1
    if narg == 0 then
      raw_error(sformat("calling '%s' on bad self (%s)", name, extramsg), lvl + 2)
    end
  end
  raw_error(sformat("bad argument #%d to '%s' (%s)", narg, name, extramsg), lvl + 2)
end

-- functions that are C functions in ngx_lua, though Lua shims here
-- (boot.lua fills it once every shim exists)
local CFUNC = {}
local function lua_function(f)
  return type(f) == "function" and getinfo(f, "S").what ~= "C" and not CFUNC[f]
end

-- how say/print/log write a number
local function fmt_number(v)
  if v == floor(v) and v >= -9.2233720368547758e18 and v < 9.2233720368547758e18 then
    return sformat("%d", v)
  end
  return sformat("%.14g", v)
end

-- the text say, print and ngx.log give a string, number, nil, boolean or
-- ngx.null; nil for any other value
local function scalar_text(v)
  local tv = type(v)
  if tv == "string" then return v
  elseif tv == "number" then return fmt_number(v)
  elseif tv == "nil" then return "nil"
  elseif tv == "boolean" then return v and "true" or "false"
  elseif v == null then return "null"
  end
  return nil
end

-- an API whose checks all live in Python
local function simple(name)
  local f = function(...)
    local code, a, b = P[name](...)
    if code == RETURN then return a, b end
    if code == YIELD then return raw_yield() end
    if code == ARGERROR then argerror(1, a, b) end
    raw_error(a, 2)
  end
  CSTACK[f] = 0
  return f
end

ngx.req = {}

-- lua-resty-core's FFI request APIs get NGX_HTTP_LUA_FFI_BAD_CONTEXT in a timer's fake
-- request (fd -1) and raise error("API disabled in the current context", level)
local function bad_context(level)
  if P.fake_request() then raw_error("API disabled in the current context", level + 1) end
end
