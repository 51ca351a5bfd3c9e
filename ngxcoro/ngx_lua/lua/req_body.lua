---------------------------------------------------------------------------
-- the request-body API  (ngx_http_lua_req_body.c; C functions, not FFI)
---------------------------------------------------------------------------
ngx.req.read_body = simple("read_body")

-- the others check ngx_http_lua_check_fake_request first
local function body_api(call)
  local f = function(...)
    if P.fake_request() then raw_error("API disabled in the current context", 2) end
    local code, a, b = call(...)
    if code == RETURN then return a end
    if code == ARGERROR then argerror(1, a, b) end
    raw_error(a, 2)
  end
  CSTACK[f] = 0
  return f
end
ngx.req.get_body_data = body_api(function(...) return P.get_body_data(...) end)
ngx.req.get_body_file = body_api(function(...) return P.get_body_file(...) end)
ngx.req.discard_body = body_api(function(...) return P.discard_body(...) end)
ngx.req.set_body_data = body_api(function(...) return P.set_body_data(...) end)
ngx.req.set_body_file = body_api(function(...) return P.set_body_file(...) end)
ngx.req.init_body = body_api(function(...) return P.init_body(...) end)
ngx.req.append_body = body_api(function(...) return P.append_body(...) end)
ngx.req.finish_body = body_api(function(...) return P.finish_body(...) end)
