---------------------------------------------------------------------------
-- ngx.arg in body_filter_by_lua*  (ngx_http_lua_bodyfilterby.c: the FFI
-- getters lua-resty-core reads ngx.arg[1] / ngx.arg[2] with, and
-- ngx_http_lua_body_filter_param_set)
---------------------------------------------------------------------------
local function arg_answer(code, a, b)
  if code == RETURN then return a end
  if code == ARGERROR then argerror(2, a, b) end
  raw_error(a, 3)                       -- at the line of the user's ngx.arg[i]
end

ngx.arg = setmetatable({}, {
  __index = function(_, idx) return arg_answer(P.arg_get(idx)) end,
  __newindex = function(_, idx, v) arg_answer(P.arg_set(idx, v)) end,
})
