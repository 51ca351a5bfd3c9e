---------------------------------------------------------------------------
-- ngx.var  (ngx_http_lua_variable.c)
---------------------------------------------------------------------------
ngx.var = setmetatable({}, {
  __index = function(_, k)
    local code, a = P.var_get(k)
    if code ~= RETURN then raw_error(a, 2) end
    return a
  end,
  __newindex = function(_, k, v)
    local code, a = P.var_set(k, v)
    if code ~= RETURN then raw_error(a, 2) end
  end,
})
