---------------------------------------------------------------------------
-- query strings and URI escaping: ngx.req.get_uri_args, get_post_args,
-- ngx.decode_args, ngx.encode_args (ngx_http_lua_args.c), ngx.escape_uri,
-- ngx.unescape_uri, ngx.quote_sql_str (ngx_http_lua_string.c).  No Python half.
---------------------------------------------------------------------------
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
function ngx.req.get_uri_args(max)
  bad_context(2)
  local _, args = P.var_get("args")
  return decode_args(args or "", max == nil and 100 or max)
end
function ngx.req.get_post_args(max)
  bad_context(2)                       -- ngx_http_lua_check_fake_request
  local code, body, read, in_file, discarded = P.get_body_data()
  if discarded then return {} end
  if not read then
    raw_error("no request body found; maybe you should turn on lua_need_request_body?", 2)
  end
  if in_file then return nil, "request body in temp file not supported" end
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

-- ngx.encode_args (ngx_http_lua_process_args_option's rules); hash keys are
-- taken in sorted order here: nginx takes them in lua_next order, which for
-- several string keys changes from one nginx process to the next (LuaJIT
-- seeds its string hashes at random; args.py says more), and the run gets a
-- note (P.args_sorted).  A bad key or value is an error raised at `lvl`
-- (from this function's caller; 2 when not given)
local function encode_args(t, lvl)
  lvl = (lvl or 2) + 1
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      raw_error('attempt to use a non-string key in the "args" option table', lvl)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  if #keys > 1 then P.args_sorted(concat(keys, ", ")) end
  local out = {}
  local function add(ek, x)
    local tx = type(x)
    if x == true then out[#out + 1] = ek
    elseif tx == "string" or tx == "number" then
      out[#out + 1] = ek .. "=" .. ngx.escape_uri(tostring(x))
    elseif x ~= false then
      raw_error("attempt to use " .. tx .. " as query arg value", lvl + 1)
    end
  end
  for _, k in ipairs(keys) do
    local v = t[k]
    local ek = ngx.escape_uri(k)
    if type(v) == "table" then
      for _, x in ipairs(v) do
        if type(x) == "table" then
          raw_error("attempt to use table as query arg value", lvl)
        end
        add(ek, x)
      end
    else add(ek, v) end
  end
  return concat(out, "&")
end
ngx.encode_args = function(t)
  local s = encode_args(t, 2)          -- not a tail call: level 3 is our caller
  return s
end

-- ngx.req.set_uri_args(args) (ngx_http_lua_ngx_req_set_uri_args): r->args, from a
-- string (its bytes up to a space, and DEL, %-escaped, as real nginx does), a
-- number or a table (encoded as the "args" option of a capture)
function ngx.req.set_uri_args(...)
  local n = select("#", ...)
  if n ~= 1 then raw_error("expecting 1 argument but seen " .. n, 2) end
  bad_context(2)                       -- ngx_http_lua_check_fake_request
  local args = ...
  local tp = type(args)
  if tp == "table" then args = encode_args(args, 2)
  elseif tp == "number" then args = tostring(args)
  elseif tp == "string" then
    args = args:gsub("[%z\1-\32\127]", function(c) return sformat("%%%02X", sbyte(c)) end)
  else
    argerror(1, 1, "string, number, or table expected, but got " .. tp)
  end
  P.var_set("args", args)
end
