---------------------------------------------------------------------------
-- ngx.arg in body_filter_by_lua*  (ngx_http_lua_bodyfilterby.c: the FFI
-- getters lua-resty-core's resty/core/param.lua reads ngx.arg[1] and
-- ngx.arg[2] with, and the C __newindex ngx_http_lua_param_set)
---------------------------------------------------------------------------
local function arg_answer(code, a, b)
  if code == RETURN then return a end
  if code == ARGERROR then argerror(2, a, b) end
  raw_error(a, 3)                       -- at the line of the user's ngx.arg[i]
end

-- lua_tolstring of a number, or the strings of an array table joined
local function chunk_data(v)
  local tv = type(v)
  if tv == "number" then return tostring(v) end
  if tv == "table" then
    local buf = {}
    flatten(2, 3, v, buf)
    return concat(buf)
  end
  return v
end

ngx.arg = setmetatable({}, {
  __index = function(_, idx)
    local code, a, resty_err = P.arg_get(idx)
    if resty_err then raw_error(resty_err, 0) end    -- error() in resty/core/param.lua
    return arg_answer(code, a)
  end,
  __newindex = function(_, idx, v)
    if tonumber(idx) == 1 then v = chunk_data(v) end
    arg_answer(P.arg_set(idx, v))
  end,
})
