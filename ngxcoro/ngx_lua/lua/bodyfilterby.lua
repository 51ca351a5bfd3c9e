---------------------------------------------------------------------------
-- ngx.arg in body_filter_by_lua*  (ngx_http_lua_bodyfilterby.c: the FFI
-- getters lua-resty-core reads ngx.arg[1] / ngx.arg[2] with, and
-- ngx_http_lua_body_filter_param_set)
---------------------------------------------------------------------------
local arg_get, arg_set = simple("arg_get"), simple("arg_set")
ngx.arg = setmetatable({}, {
  __index = function(_, idx) return (arg_get(idx)) end,
  __newindex = function(_, idx, v) arg_set(idx, v) end,
})
