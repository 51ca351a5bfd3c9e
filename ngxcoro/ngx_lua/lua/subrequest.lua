---------------------------------------------------------------------------
-- ngx.location.capture[_multi]  (ngx_http_lua_subrequest.c)
---------------------------------------------------------------------------
ngx.location = {}
local function capture_query(q, i)
  if type(q) ~= "table" then
    raw_error("only one argument is expected, but got " .. tostring(i), 3)
  end
  local uri, opts = q[1], q[2] or {}
  if type(uri) ~= "string" or uri == "" then raw_error("The uri argument is empty", 3) end
  local args = opts.args
  if type(args) == "table" then args = encode_args(args) end
  return uri, opts.method or ngx.HTTP_GET, args or "", opts.body
end

function ngx.location.capture_multi(reqs, ...)
  if select('#', ...) > 0 then
    raw_error("only one argument is expected, but got " .. (select('#', ...) + 1), 2)
  end
  if type(reqs) ~= "table" then argerror(1, 1, "table expected, got " .. type(reqs)) end
  local flat, n = {}, 0
  for i = 1, #reqs do
    local uri, method, args, body = capture_query(reqs[i], i)
    flat[n + 1], flat[n + 2], flat[n + 3], flat[n + 4] = uri, method, args, body
    n = n + 4
  end
  local code, a = P.capture_multi(unpack(flat, 1, n))
  if code == YIELD then return raw_yield() end
  raw_error(a, 2)
end

function ngx.location.capture(uri, opts)
  local code, a = P.capture_multi(capture_query({uri, opts}, 1))
  if code == YIELD then return raw_yield() end
  raw_error(a, 2)
end
ngx.HTTP_GET, ngx.HTTP_HEAD, ngx.HTTP_PUT, ngx.HTTP_POST, ngx.HTTP_DELETE = 2, 4, 16, 8, 32
ngx.HTTP_OPTIONS, ngx.HTTP_PATCH = 512, 16384

-- handle_subreq_responses: one {status, header, body, truncated} per subrequest
function K.push_results(id, ...)
  local s = stk[id]
  if not s then s = {n = 0}; stk[id] = s end
  for i = 1, select('#', ...), 3 do
    local status, body, truncated = select(i, ...)
    s.n = s.n + 1
    s[s.n] = {status = status, header = {}, body = body, truncated = truncated}
  end
end
