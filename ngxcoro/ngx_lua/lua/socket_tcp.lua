---------------------------------------------------------------------------
-- ngx.socket.*  (ngx_http_lua_socket_tcp.c, _socket_udp.c)
-- A tcp cosocket is a table whose metatable holds the methods (C functions
-- in ngx_lua); slot 1 (SOCKET_CTX_INDEX) holds the upstream's number, which
-- the Python half (socket_tcp.py) knows as its `u`.  Every check lives in
-- Python, which reads and writes the table's slots itself.
---------------------------------------------------------------------------
do
  local sock_methods = {}
  local sock_mt = {__index = sock_methods}

  -- the tail every method shares: the code Python answered, as the C
  -- function's return (values, a yield, a Lua error or an argument error)
  local function done(t)
    local code = t[1]
    if code == RETURN then return unpack(t, 2, t.n) end
    if code == YIELD then return raw_yield() end
    if code == ARGERROR then argerror(2, t[2], t[3]) end
    raw_error(t[2], 3)
  end

  local function method(api)
    local f = function(...)
      local r = pack(done(pack(api(...))))
      return unpack(r, 1, r.n)
    end
    CSTACK[f] = 0
    return f
  end

  sock_methods.connect = method(function(...) return P.sock_connect(...) end)
  sock_methods.send = method(function(...) return P.sock_send(...) end)
  sock_methods.receive = method(function(...) return P.sock_receive(...) end)
  sock_methods.receiveany = method(function(...) return P.sock_receiveany(...) end)
  sock_methods.receiveuntil = method(function(...) return P.sock_receiveuntil(...) end)
  sock_methods.close = method(function(...) return P.sock_close(...) end)
  sock_methods.settimeout = method(function(...) return P.sock_settimeout(...) end)
  sock_methods.settimeouts = method(function(...) return P.sock_settimeouts(...) end)
  sock_methods.getreusedtimes = method(function(...) return P.sock_getreusedtimes(...) end)
  sock_methods.setkeepalive = method(function(...) return P.sock_setkeepalive(...) end)
  sock_methods.sslhandshake = method(function(...) return P.sock_sslhandshake(...) end)

  -- getoption and setoption are lua-resty-core's (resty/core/socket.lua) over
  -- the FFI functions ngx_http_lua_ffi_socket_tcp_{get,set}option
  local OPTIONS = {keepalive = 1, reuseaddr = 2, ["tcp-nodelay"] = 3, sndbuf = 4, rcvbuf = 5}
  local RESTY_SOCKET = "/usr/share/lua/5.1/resty/core/socket.lua"
  local function get_tcp_socket(cosocket)
    local u = cosocket[1]
    if not u then
      raw_error(RESTY_SOCKET .. ":81: socket is never created nor connected", 0)
    end
    return u
  end
  function sock_methods.getoption(cosocket, option)
    local u = get_tcp_socket(cosocket)
    if option == nil then return nil, 'missing the "option" argument' end
    if OPTIONS[option] == nil then return nil, "unsupported option " .. tostring(option) end
    local code, v, err = P.sock_getoption(u, OPTIONS[option])
    if code ~= RETURN then raw_error(v, 0) end
    if v == nil then return nil, err end
    return v
  end
  function sock_methods.setoption(cosocket, option, value)
    local u = get_tcp_socket(cosocket)
    if option == nil then return nil, 'missing the "option" argument' end
    if value == nil then return nil, 'missing the "value" argument' end
    if OPTIONS[option] == nil then return nil, "unsupported option " .. tostring(option) end
    local code, ok, err = P.sock_setoption(u, OPTIONS[option], value)
    if code ~= RETURN then raw_error(ok, 0) end
    if not ok then return nil, err end
    return true
  end

  -- the iterator receiveuntil returns: a closure over the socket and the
  -- compiled pattern (ngx_http_lua_socket_receiveuntil_iterator)
  function K.until_iterator(sock, cp)
    local f = function(...)
      local r = pack(done(pack(P.sock_until_iterator(sock, cp, ...))))
      return unpack(r, 1, r.n)
    end
    CSTACK[f] = 0
    return f
  end

  local function new_tcp(...)
    local code, a = P.socket_tcp(...)
    if code ~= RETURN then raw_error(a, 2) end
    return setmetatable({}, sock_mt)
  end
  CSTACK[new_tcp] = 0
  ngx.socket = {tcp = new_tcp, udp = simple("socket_udp")}
  ngx.socket.stream = ngx.socket.tcp

  -- ngx.req.socket(): the request body's reader, a socket whose metatable has
  -- the reading methods only (ngx_http_lua_req_socket)
  local req_methods = {receive = sock_methods.receive, receiveuntil = sock_methods.receiveuntil,
                       receiveany = sock_methods.receiveany, settimeout = sock_methods.settimeout,
                       settimeouts = sock_methods.settimeouts}
  local req_mt = {__index = req_methods}
  function ngx.req.socket(...)
    local code, a, b = P.req_socket(...)
    if code == ERROR then raw_error(a, 2) end
    if a == nil then return nil, b end
    return setmetatable({a}, req_mt)
  end
  CSTACK[ngx.req.socket] = 0

  -- the values a cosocket's resume handler pushes (any number, nils kept)
  function K.push_values(id, ...)
    local s = stk[id]
    if not s then s = {n = 0}; stk[id] = s end
    local n = select('#', ...)
    for i = 1, n do s[s.n + i] = (select(i, ...)) end
    s.n = s.n + n
  end
end

-- ngx.socket.connect is a Lua chunk of the module named "ngx.socket.connect"
-- that calls tcp() on its line 1: its errors carry that position
function ngx.socket.connect(...)
  local code, a = P.socket_connect(...)
  if code == ERROR then raw_error("ngx.socket.connect:1: " .. a, 0) end
  local sock = ngx.socket.tcp()
  local ok, err = sock:connect(...)
  if not ok then return nil, err end
  return sock
end
