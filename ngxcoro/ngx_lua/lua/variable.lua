---------------------------------------------------------------------------
-- ngx.var  (ngx_http_lua_variable.c)
---------------------------------------------------------------------------
ngx.var = setmetatable({}, {
  -- resty.core.var: a number reads a regex capture, any other non-string is refused
  __index = function(_, k)
    if type(k) ~= "string" and type(k) ~= "number" then raw_error("bad variable name", 2) end
    bad_context(2)
    local code, a = P.var_get(k)
    if code ~= RETURN then raw_error(a, 2) end
    return a
  end,
  __newindex = function(_, k, v)
    if type(k) ~= "string" then raw_error("bad variable name", 2) end
    bad_context(2)
    local code, a = P.var_set(k, v)
    if code ~= RETURN then raw_error(a, 2) end
  end,
})
