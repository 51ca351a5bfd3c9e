---------------------------------------------------------------------------
-- ngx.shared.DICT  (ngx_http_lua_shdict.c)
--
-- ngx.shared is made as ngx_http_lua_inject_shdict_api makes it: one table
-- {zone} per lua_shared_dict, all with one metatable whose __index is
-- itself.  Its methods are lua-resty-core's resty/core/shdict.lua (get,
-- get_stale, set, safe_set, add, safe_add, replace, delete, incr,
-- flush_all, ttl, expire, capacity, free_space: Lua that checks its
-- arguments, then calls an FFI function) and the C file's lua_CFunctions
-- (flush_expired, get_keys, lpush, rpush, lpop, rpop, llen).  Both are
-- written here as they are there; the FFI functions and the zones are
-- the Python half (P.shdict_*).  Nothing here yields.
---------------------------------------------------------------------------
local RESTY_FILE = "/usr/share/lua/5.1/resty/core/shdict.lua"
local ZONES = setmetatable({}, {__mode = "k"})   -- zone userdata -> its name
local SHDICT_MT = {}
SHDICT_MT.__index = SHDICT_MT

-- where in resty/core/shdict.lua a coroutine's last error was raised, for its
-- traceback (vm.lua RESTY_LUA): the method's line, the frames inside it
local RESTY_SITE = setmetatable({}, {__mode = "k"})
local function resty_site(co) return RESTY_SITE[co] end

-- error(msg, level) in resty/core/shdict.lua: in the method at `line`, or in
-- the `inner` frames it called
local function resty_raise(msg, level, line, inner)
  RESTY_SITE[raw_running()] = {RESTY_FILE, line, inner = inner}
  raw_error(msg, level + 1)
end

-- an error LuaJIT raises running resty/core/shdict.lua's code, at that line
-- (its traceback shows that frame without a line; an FFI call's refusal of an
-- argument shows the C function first, `cfunc`)
local function resty_error(line, msg, cfunc)
  RESTY_SITE[raw_running()] = {RESTY_FILE, -1, raised = false, cfunc = cfunc}
  if cfunc then RESTY_SITE[raw_running()][2] = line end
  raw_error(RESTY_FILE .. ":" .. line .. ": " .. msg, 0)
end

-- the FFI's refusal of a value that is no number for a C int
local function ffi_cannot(line, narg, fname, v, ctype)
  resty_error(line, sformat("bad argument #%d to '%s' (cannot convert '%s' to '%s')",
                            narg, fname, type(v), ctype), fname)
end

-- `line` is the line of the method's call to check_zone
local function check_zone(zone, line)
  if not zone or type(zone) ~= "table" then
    resty_raise("bad \"zone\" argument", 3, line, {{468, "check_zone"}})
  end
  zone = zone[1]
  if type(zone) ~= "userdata" then
    resty_raise("bad \"zone\" argument", 3, line, {{473, "check_zone"}})
  end
  zone = ZONES[zone]                  -- ngx_http_lua_ffi_shdict_udata_to_zone
  if zone == nil then
    resty_raise("bad \"zone\" argument", 3, line, {{478, "check_zone"}})
  end
  return zone
end

-- resty.core's key checks (a nil return means the key is good)
local function check_key(key)
  if key == nil then return nil, "nil key" end
  if type(key) ~= "string" then key = tostring(key) end
  local key_len = #key
  if key_len == 0 then return nil, "empty key" end
  if key_len > 65535 then return nil, "key too long" end
  return key
end

local function shdict_store(zone, op, key, value, exptime, flags)
  zone = check_zone(zone, 486)
  if not exptime then
    exptime = 0
  else
    if type(exptime) ~= "number" then
      resty_error(490, "attempt to compare " .. type(exptime) .. " with number")
    end
    if exptime < 0 then resty_raise('bad "exptime" argument', 2, 491) end
  end
  if not flags then flags = 0 end
  local k, err = check_key(key)
  if not k then return nil, err end
  key = k
  local valtyp, val = type(value), value
  if valtyp == "string" then valtyp = 4
  elseif valtyp == "number" then valtyp = 3
  elseif value == nil then valtyp = 0
  elseif valtyp == "boolean" then valtyp = 1
  else return nil, "bad value type" end
  if type(flags) ~= "number" then
    ffi_cannot(542, 10, "ngx_lua_ffi_shdict_store", flags, "int")
  end
  local rc, errmsg, forcible = P.shdict_store(zone, op, key, valtyp, val, exptime * 1000, flags)
  if rc == 0 then return true, nil, forcible end
  if rc == ABORT then raw_error(errmsg, 0) end      -- the zone is too full for the model
  return false, errmsg, forcible
end

function SHDICT_MT.set(zone, key, value, exptime, flags)
  return shdict_store(zone, 0, key, value, exptime, flags)
end
function SHDICT_MT.safe_set(zone, key, value, exptime, flags)
  return shdict_store(zone, 0x0004, key, value, exptime, flags)
end
function SHDICT_MT.add(zone, key, value, exptime, flags)
  return shdict_store(zone, 0x0001, key, value, exptime, flags)
end
function SHDICT_MT.safe_add(zone, key, value, exptime, flags)
  return shdict_store(zone, 0x0005, key, value, exptime, flags)
end
function SHDICT_MT.replace(zone, key, value, exptime, flags)
  return shdict_store(zone, 0x0002, key, value, exptime, flags)
end
function SHDICT_MT.delete(zone, key)
  return SHDICT_MT.set(zone, key, nil)
end

local function shdict_get(zone, key, get_stale)
  local rc, typ, val, flags, stale, err = P.shdict_get(zone, key, get_stale)
  if rc ~= 0 then
    if err ~= nil then return nil, err end
    raw_error("failed to get the key", 1)
  end
  if typ == 0 then return nil end
  if get_stale then
    if flags ~= 0 then return val, flags, stale end
    return val, nil, stale
  end
  if flags ~= 0 then return val, flags end
  return val
end

function SHDICT_MT.get(zone, key)
  zone = check_zone(zone, 590)
  local k, err = check_key(key)
  if not k then return nil, err end
  return shdict_get(zone, k, false)
end

function SHDICT_MT.get_stale(zone, key)
  zone = check_zone(zone, 665)
  local k, err = check_key(key)
  if not k then return nil, err end
  return shdict_get(zone, k, true)
end

function SHDICT_MT.incr(zone, key, value, init, init_ttl)
  zone = check_zone(zone, 739)
  local k, err = check_key(key)
  if not k then return nil, err end
  key = k
  if type(value) ~= "number" then value = tonumber(value) end
  if value == nil then resty_error(760, "cannot convert 'nil' to 'double'") end
  if init then
    local typ = type(init)
    if typ ~= "number" then
      init = tonumber(init)
      if not init then resty_raise("bad init arg: number expected, got " .. typ, 2, 768) end
    end
  end
  if init_ttl ~= nil then
    local typ = type(init_ttl)
    if typ ~= "number" then
      init_ttl = tonumber(init_ttl)
      if not init_ttl then
        resty_raise("bad init_ttl arg: number expected, got " .. typ, 2, 779)
      end
    end
    if init_ttl < 0 then resty_raise('bad "init_ttl" argument', 2, 784) end
    if not init then resty_raise('must provide "init" when providing "init_ttl"', 2, 788) end
  else
    init_ttl = 0
  end
  local rc, num, errmsg, forcible = P.shdict_incr(zone, key, value, init and true or false,
                                                  init or 0, init_ttl * 1000)
  if rc == ABORT then raw_error(num, 0) end         -- the zone is too full for the model
  if rc ~= 0 then return nil, errmsg end
  if not init then return num end
  return num, nil, forcible
end

function SHDICT_MT.flush_all(zone)
  zone = check_zone(zone, 812)
  P.shdict_flush_all(zone)
end

function SHDICT_MT.ttl(zone, key)
  zone = check_zone(zone, 819)
  local k, err = check_key(key)
  if not k then return nil, err end
  local rc = P.shdict_get_ttl(zone, k)
  if rc == -5 then return nil, "not found" end     -- FFI_DECLINED
  return rc / 1000
end

function SHDICT_MT.expire(zone, key, exptime)
  zone = check_zone(zone, 849)
  if not exptime then resty_raise('bad "exptime" argument', 2, 852) end
  local k, err = check_key(key)
  if not k then return nil, err end
  local ms = tonumber(exptime)
  if ms == nil then
    resty_error(873, "attempt to perform arithmetic on local 'exptime' (a "
                     .. type(exptime) .. " value)")
  end
  local rc = P.shdict_set_expire(zone, k, ms * 1000)
  if rc == -5 then return nil, "not found" end
  return true
end

function SHDICT_MT.capacity(zone)
  zone = check_zone(zone, 886)
  return P.shdict_capacity(zone)
end

function SHDICT_MT.free_space(zone)
  zone = check_zone(zone, 895)
  local code, a = P.shdict_free_space(zone)
  raw_error(a, 0)
end

---------------------------------------------------------------------------
-- the lua_CFunctions of ngx_http_lua_shdict.c: luaL_error is raised at the
-- caller's line (level 2 from these shims), luaL_argerror names the method
---------------------------------------------------------------------------
-- ngx_http_lua_shdict_get_zone after lua_type(L, 1) == LUA_TTABLE: a raw
-- lookup of [1], lua_touserdata
local function c_zone(z)
  local ud = rawget(z, 1)
  return type(ud) == "userdata" and ZONES[ud] or nil
end

-- flush_expired and get_keys: luaL_checktype(L, 1, LUA_TTABLE), luaL_checkint(L, 2)
local function c_zone_max(n, zone, max)
  if n ~= 1 and n ~= 2 then
    raw_error(sformat("expecting 1 or 2 argument(s), but saw %d", n), 3)
  end
  if type(zone) ~= "table" then
    argerror(2, 1, "table expected, got " .. type(zone))
  end
  local z = c_zone(zone)
  if z == nil then raw_error("bad user data for the ngx_shm_zone_t pointer", 3) end
  if n == 2 then
    local m = tonumber(max)
    if m == nil or type(max) == "boolean" then
      argerror(2, 2, "number expected, got " .. type(max))
    end
    max = m >= 0 and floor(m) or -floor(-m)
  end
  return z, max
end

function SHDICT_MT.flush_expired(...)
  local z, max = c_zone_max(select('#', ...), ...)
  return P.shdict_flush_expired(z, max or 0)
end

function SHDICT_MT.get_keys(...)
  local z, max = c_zone_max(select('#', ...), ...)
  return {P.shdict_get_keys(z, max or 1024)}
end

-- the list functions' checks, in their order: the count, the zone, then the key
-- (nil, luaL_checklstring: numbers become strings, empty, too long); answers the
-- zone and the key, or nil and the message to return
local function list_args(expect, ...)
  local n = select('#', ...)
  local zone, key = ...
  if n ~= expect then
    raw_error(sformat("expecting %d arguments, but only seen %d", expect, n), 3)
  end
  local z = type(zone) == "table" and c_zone(zone) or nil
  if z == nil then raw_error('bad "zone" argument', 3) end
  if key == nil then return nil, "nil key" end
  local t = type(key)
  if t == "number" then
    key = tostring(key)
  elseif t ~= "string" then
    argerror(2, 2, "string expected, got " .. t)
  end
  if #key == 0 then return nil, "empty key" end
  if #key > 65535 then return nil, "key too long" end
  return z, key
end

-- ngx_http_lua_shdict_push_helper: only strings and numbers go in a list
local function push_value(value)
  local vt = type(value)
  if vt == "string" then return 4 elseif vt == "number" then return 3 end
  return nil
end

-- the length, or nil and the message; a zone too full for the model stops the run
local function pushed(n, err)
  if err ~= nil and n == ABORT then raw_error(err, 0) end
  if err ~= nil then return nil, err end
  return n
end

function SHDICT_MT.lpush(...)
  local z, key = list_args(3, ...)
  if not z then return nil, key end
  local vt = push_value((select(3, ...)))
  if not vt then return nil, "bad value type" end
  return pushed(P.shdict_push(z, key, vt, (select(3, ...)), true))
end

function SHDICT_MT.rpush(...)
  local z, key = list_args(3, ...)
  if not z then return nil, key end
  local vt = push_value((select(3, ...)))
  if not vt then return nil, "bad value type" end
  return pushed(P.shdict_push(z, key, vt, (select(3, ...)), false))
end

function SHDICT_MT.lpop(...)
  local z, key = list_args(2, ...)
  if not z then return nil, key end
  return P.shdict_pop(z, key, true)
end

function SHDICT_MT.rpop(...)
  local z, key = list_args(2, ...)
  if not z then return nil, key end
  return P.shdict_pop(z, key, false)
end

function SHDICT_MT.llen(...)
  local z, key = list_args(2, ...)
  if not z then return nil, key end
  return P.shdict_llen(z, key)
end

for _, name in ipairs{"flush_expired", "get_keys", "lpush", "rpush", "lpop", "rpop", "llen"} do
  CSTACK[SHDICT_MT[name]] = 0
end
-- resty.core's methods (set and the others tail-call shdict_store: its frame is theirs)
RESTY_LUA[shdict_store] = resty_site
for _, name in ipairs{"get", "get_stale", "incr", "flush_all", "ttl", "expire", "capacity"} do
  RESTY_LUA[SHDICT_MT[name]] = resty_site
end

-- ngx_http_lua_inject_shdict_api, called by K.init once P is there
function K.inject_shdict()
  local shared = {}
  for _, name in ipairs{P.shdict_zones()} do
    local ud = newproxy()
    ZONES[ud] = name
    shared[name] = setmetatable({ud}, SHDICT_MT)
  end
  rawset(ngx, "shared", shared)
end
