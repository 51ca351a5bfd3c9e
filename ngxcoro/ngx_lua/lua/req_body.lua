---------------------------------------------------------------------------
-- ngx.req.read_body, ngx.req.get_body_data  (ngx_http_lua_req_body.c)
---------------------------------------------------------------------------
ngx.req.read_body = simple("read_body")
ngx.req.get_body_data = function()
  bad_context(2)                       -- ngx_http_lua_check_fake_request
  local code, a = P.get_body_data()
  return a
end
