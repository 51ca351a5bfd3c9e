---------------------------------------------------------------------------
-- ngx.socket.*  (ngx_http_lua_socket_tcp.c, _socket_udp.c): the constructors
-- check their context; the cosockets themselves are not modelled
---------------------------------------------------------------------------
ngx.socket = {tcp = simple("socket_tcp"), udp = simple("socket_udp")}
ngx.socket.stream = ngx.socket.tcp

-- ngx.socket.connect is a Lua chunk of the module named "ngx.socket.connect"
-- that calls tcp() on its line 1: its errors carry that position
function ngx.socket.connect(...)
  local code, a = P.socket_connect(...)
  if code == ERROR then raw_error("ngx.socket.connect:1: " .. a, 0) end
  raw_error(a, 2)
end
