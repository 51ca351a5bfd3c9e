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
