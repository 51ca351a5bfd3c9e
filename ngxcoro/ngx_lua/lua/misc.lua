---------------------------------------------------------------------------
-- the small APIs (ngx_http_lua_misc.c, _headers.c, _phase.c, _log.c,
-- _time.c, _ctx.c, _worker.c): ngx.status, ngx.headers_sent, ngx.is_subrequest,
-- ngx.send_headers, ngx.header, ngx.req.get_headers / get_method /
-- http_version / is_internal / start_time, ngx.get_phase, ngx.ctx,
-- ngx.log and print, ngx.now and friends, ngx.worker; and the model's answer to the
-- APIs it does not have
---------------------------------------------------------------------------
ngx.send_headers = simple("send_headers")
-- resty/core/worker.lua: the FFI calls, no context check
ngx.worker = {
  exiting = function() return P.worker_exiting() end,
  pid = function() return P.worker_pid() end,
  id = function() return P.worker_id() end,
  count = function() return P.worker_count() end,
}
ngx.now = function() return P.now() end
ngx.time = function() return floor(P.now()) end
ngx.update_time = function() P.update_time() end
ngx.today = function() return P.today() end
ngx.localtime = function() return P.localtime() end
ngx.utctime = function() return P.localtime() end

local function log_msg(fname, argi0, ...)
  local buf = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    local text = scalar_text(v)
    if text then buf[#buf + 1] = text
    elseif type(v) == "table" and getmetatable(v) and getmetatable(v).__tostring then
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

-- what ngx.log (after lua_remove(L, 1)) and print have on the C stack as they check
CSTACK[log_msg] = 2

-- ngx_http_lua_ngx_log: luaL_checkint(L, 1), the level's range, then lua_remove(L, 1),
-- so the message arguments are counted from 1 as print's are
function ngx.log(...)
  local level = ...
  if tonumber(level) == nil or type(level) == "boolean" then
    local got = select('#', ...) == 0 and "no value" or type(level)
    argerror(1, 1, "number expected, got " .. got)
  end
  level = tonumber(level)
  level = level >= 0 and floor(level) or -floor(-level)
  if level < 0 or level > 8 then argerror(1, 1, "bad log level: " .. level) end
  local msg = log_msg("log", 0, select(2, ...))
  local code, a = P.log(level, msg)
  if code ~= RETURN then raw_error(a, 2) end
end

SAFE.print = function(...)
  local msg = log_msg("print", 0, ...)
  P.log(6, msg)
end

function ngx.req.get_method()
  bad_context(2)
  return P.get_method()
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
  if kv[1] == false then raw_error("API disabled in the current context", 2) end
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

-- ngx.req.set_header / clear_header (lua-resty-core's, over
-- ngx_http_lua_ffi_req_set_header): the values go to Python as strings; none clears
local function set_req_header(name, value, override)
  if name == nil then raw_error("bad 'name' argument: string expected, got nil", 3) end
  if type(name) ~= "string" then name = tostring(name) end
  local vals = {}
  if value == nil then
    if not override then
      raw_error("bad 'value' argument: string or table expected, got nil", 3)
    end
  elseif type(value) == "table" then
    if #value == 0 and not override then
      raw_error("bad 'value' argument: non-empty table expected", 3)
    end
    for i = 1, #value do
      local s = value[i]
      if type(s) ~= "string" then s = tostring(s) value[i] = s end
      vals[i] = s
    end
  else
    vals[1] = tostring(value)
  end
  local _, ok = P.req_set_header(name, override, unpack(vals))
  if not ok then raw_error("API disabled in the current context", 3) end
end
function ngx.req.set_header(name, value)
  set_req_header(name, value, true)
end
function ngx.req.clear_header(name)
  if type(name) ~= "string" then name = tostring(name) end
  local _, ok = P.req_set_header(name, true)
  if not ok then raw_error("API disabled in the current context", 2) end
end

-- APIs of ngx_lua 0.10.23 that this model does not have: a clear error
-- instead of "attempt to index a nil value"
local NOT_MODELLED = {}
for name in ([[socket md5 md5_bin sha1_bin crc32_short crc32_long
  encode_base64 decode_base64 hmac_sha1 cookie_time http_time parse_http_time
  config resp run_worker_thread thread_pool escape_html
  get_now_ts raw_header get_headers_raw
  set_method socket]]):gmatch("%S+") do NOT_MODELLED[name] = true end

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
  bad_context(2)
  local _, v = P.var_get("server_protocol")
  return tonumber((v or ""):match("HTTP/(%d%.%d)"))
end
function ngx.req.is_internal()
  -- resty/core/misc.lua raises this one at level 1: its own file and line
  if P.fake_request() then
    raw_error("/usr/share/lua/5.1/resty/core/misc.lua:181: API disabled in the current context", 0)
  end
  return P.is_internal()
end
function ngx.req.start_time()
  return P.start_time()
end

local cur_req = 1      -- the request id ngx_http_lua_get_req answers (K.set_request)

-- ngx.header: the current request's response headers (kept per request for
-- res.header of a capture; misc.py set_resp_header keeps nginx's ordered list
-- that the header filter writes)
local function resp_headers()
  local t = resp_headers_of[cur_req]
  if t == nil then t = {}; resp_headers_of[cur_req] = t end
  return t
end
local header_mt = {
  __index = function(_, k)
    bad_context(2)
    local key = tostring(k):lower()
    if P.transform_underscores() then key = key:gsub("_", "-") end
    local h = resp_headers()[key]
    if h == nil and key == "content-type" then return P.sent_content_type() end
    return h and h[2]
  end,
  __newindex = function(_, k, v)
    bad_context(2)
    if P.headers_sent() then
      P.header_too_late()
      return
    end
    local t, name = resp_headers(), tostring(k)
    if P.transform_underscores() then name = name:gsub("_", "-") end
    local key = name:lower()
    if key == "content-length" and type(v) ~= "table" and v ~= nil
        and tostring(v) ~= "" and not tostring(v):match("^%d+$") then
      -- ngx_http_set_content_length_header: ngx_atoof fails, NGX_ERROR
      raw_error("failed to set header", 2)
    end
    if v == nil then t[key] = nil
    else t[key] = {t[key] and t[key][1] or name, v} end
    if type(v) == "table" then
      local vals = {}
      for i = 1, #v do vals[i] = tostring(v[i]) end
      P.set_resp_header(name, true, unpack(vals))
    elseif v == nil then P.set_resp_header(name, false)
    else P.set_resp_header(name, false, tostring(v)) end
  end,
}
ngx.header = setmetatable({}, header_mt)
-- its error(ffi_str(errmsg[0]), 2) in resty.core's set_resp_header
RESTY_LUA[header_mt.__newindex] = {"/usr/share/lua/5.1/resty/core/response.lua", 175}

local ctxs = ngx_ctxs  -- ctx->ctx_ref (misc.py ctx_ref) -> ngx.ctx table (subrequest.lua)
setmetatable(ngx, {
  __index = function(t, k)
    if NOT_MODELLED[k] then return not_modelled("ngx.")(t, k) end
    if k == "ctx" then
      local _, ref = P.ctx_ref()
      local t = ctxs[ref]
      if t == nil then t = {}; ctxs[ref] = t end
      return t
    elseif k == "status" then
      bad_context(2)
      return P.get_status()
    elseif k == "headers_sent" then
      bad_context(2)
      return P.headers_sent()
    elseif k == "is_subrequest" then
      bad_context(2)
      return P.is_subrequest()
    end
    return nil
  end,
  __newindex = function(t, k, v)
    if k == "ctx" then
      if type(v) ~= "table" then raw_error("ctx should be a table while getting a " .. type(v), 2) end
      local _, ref = P.ctx_ref()
      ctxs[ref] = v
    elseif k == "status" then
      bad_context(2)
      local code, a = P.set_status(v)
      if code ~= RETURN then raw_error(a, 2) end
    else
      rawset(t, k, v)
    end
  end,
})
