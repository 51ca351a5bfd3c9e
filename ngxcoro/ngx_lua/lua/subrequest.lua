---------------------------------------------------------------------------
-- ngx.location.capture[_multi]  (ngx_http_lua_subrequest.c)
---------------------------------------------------------------------------
ngx.location = {}
-- the response headers each request set through ngx.header (misc.lua), by
-- request id: lower-case name with '-' -> {name as first set, value}; a
-- capture's res.header is its subrequest's
local resp_headers_of = {}
-- ctx->ctx_ref (misc.py ctx_ref) -> ngx.ctx table; misc.lua's ngx.ctx reads it,
-- and a capture's `ctx` option puts its table there for the subrequest
local ngx_ctxs = {}
-- the checks of ngx_http_lua_ngx_location_capture_multi, in its order, on query
-- `q` (index `i`, from 0); `lvl` is the error level of the API's caller
local OPTION_TYPES = {
  {"vars", {table = true, ["nil"] = true}, "Bad vars option value"},
  {"share_all_vars", {boolean = true, ["nil"] = true}, "Bad share_all_vars option value"},
  {"copy_all_vars", {boolean = true, ["nil"] = true}, "Bad copy_all_vars option value"},
}
local function capture_query(q, i, lvl)
  if q == nil then raw_error("only array-like tables are allowed", lvl) end
  if type(q) ~= "table" then
    raw_error(sformat("the query argument %d is not a table, but a %s", i, type(q)), lvl)
  end
  local nargs = #q
  if nargs ~= 1 and nargs ~= 2 then
    raw_error(sformat("query argument %d expecting one or two arguments", i), lvl)
  end
  local uri, opts, args, method, body = rawget(q, 1), {}, nil, nil, nil
  local vars, action, ctx = nil, 8, nil   -- 8: no options table
  if nargs == 2 then
    opts = rawget(q, 2)
    if type(opts) ~= "table" then
      raw_error(sformat("expecting table as the 2nd argument for subrequest %d, but got %s",
                        i, type(opts)), lvl)
    end
    args = opts.args
    if type(args) == "table" then args = encode_args(args, lvl)
    elseif args ~= nil and type(args) ~= "string" and type(args) ~= "number" then
      raw_error("Bad args option value", lvl)
    end
    for _, o in ipairs(OPTION_TYPES) do
      if not o[2][type(opts[o[1]])] then raw_error(o[3], lvl) end
    end
    if opts.vars then                   -- ngx_http_lua_process_vars_option (lua_next order)
      vars = {}
      for k, v in pairs(opts.vars) do
        if type(k) ~= "string" then
          raw_error('attempt to use a non-string key in the "vars" option table', lvl)
        end
        if type(v) ~= "string" and type(v) ~= "number" then
          raw_error("attempt to use bad variable value type " .. type(v), lvl)
        end
        vars[#vars + 1], vars[#vars + 2] = k, tostring(v)
      end
    end
    -- vars_action: 1 share_all_vars, 2 copy_all_vars; 4 always_forward_body
    action = 0
    if opts.share_all_vars then action = action + 1 end
    if opts.copy_all_vars then action = action + 2 end
    if opts.always_forward_body then action = action + 4 end
    method = opts.method
    if method ~= nil and type(method) ~= "number" then
      raw_error("Bad http request method", lvl)
    end
    ctx = opts.ctx
    if ctx ~= nil and type(ctx) ~= "table" then
      raw_error(sformat("Bad ctx option value type %s, expected a Lua table", type(ctx)), lvl)
    end
    body = opts.body
    if body ~= nil and type(body) ~= "string" and type(body) ~= "number" then
      raw_error("Bad http request body", lvl)
    end
  end
  if type(uri) ~= "string" and type(uri) ~= "number" then      -- luaL_checklstring(L, 3)
    argerror(lvl - 1, 3, "string expected, got " .. type(uri))
  end
  uri = tostring(uri)
  if uri == "" then raw_error("unsafe uri in argument #1: " .. uri, lvl) end
  return uri, method or ngx.HTTP_GET, args and tostring(args) or "",
         body and tostring(body), vars or false, action, ctx
end

local function capture(reqs, lvl)
  local nreqs = #reqs
  if nreqs == 0 then raw_error("at least one subrequest should be specified", lvl) end
  local code, a = P.capture_begin()
  if code ~= RETURN then raw_error(a, lvl) end
  local flat, n, ctxs = {}, 0, {}
  for i = 1, nreqs do
    local uri, method, args, body, vars, action, ctx =
      capture_query(rawget(reqs, i), i - 1, lvl + 1)
    flat[n + 1], flat[n + 2], flat[n + 3], flat[n + 4] = uri, method, args, body
    flat[n + 5], flat[n + 6], flat[n + 7] = vars, action, ctx ~= nil
    ctxs[i] = ctx
    n = n + 7
  end
  local res = pack(P.capture_multi(unpack(flat, 1, n)))
  local code, a = res[1], res[2]
  -- on the yield, the ctx ref of each subrequest (0: no `ctx` option): its
  -- ngx.ctx is the option's table (ngx_http_lua_ngx_set_ctx_helper)
  if code == YIELD then
    for i = 1, nreqs do
      if res[i + 1] ~= 0 then ngx_ctxs[res[i + 1]] = ctxs[i] end
    end
  end
  if code == YIELD then return raw_yield() end
  raw_error(a, lvl)
end

function ngx.location.capture_multi(...)
  local n = select('#', ...)
  if n ~= 1 then raw_error("only one argument is expected, but got " .. n, 2) end
  local reqs = ...
  if type(reqs) ~= "table" then argerror(1, 1, "table expected, got " .. type(reqs)) end
  -- not a tail call: a failure leaves this C function's frame (its table)
  local r = pack(capture(reqs, 3))
  return unpack(r, 1, r.n)
end

-- ngx_http_lua_ngx_location_capture: a thin wrapper around capture_multi
function ngx.location.capture(...)
  local n = select('#', ...)
  if n ~= 1 and n ~= 2 then raw_error("expecting one or two arguments", 2) end
  local uri, opts = ...
  return capture({{uri, opts, n = n}}, 2)
end
ngx.HTTP_GET, ngx.HTTP_HEAD, ngx.HTTP_PUT, ngx.HTTP_POST, ngx.HTTP_DELETE = 2, 4, 16, 8, 32
ngx.HTTP_OPTIONS, ngx.HTTP_PATCH = 512, 16384
ngx.HTTP_MKCOL, ngx.HTTP_COPY, ngx.HTTP_MOVE, ngx.HTTP_PROPFIND = 64, 128, 256, 1024
ngx.HTTP_PROPPATCH, ngx.HTTP_LOCK, ngx.HTTP_UNLOCK, ngx.HTTP_TRACE = 2048, 4096, 8192, 32768

-- handle_subreq_responses: one {status, header, body, truncated} per subrequest
-- (each comes as status, body, truncated, the number of headers, then each
-- header's name and value: a name seen again makes its value a table)
function K.push_results(id, ...)
  local s = stk[id]
  if not s then s = {n = 0}; stk[id] = s end
  local i, n = 1, select('#', ...)
  while i <= n do
    local status, body, truncated, nh = select(i, ...)
    local header = {}
    for j = i + 4, i + 3 + 2 * nh, 2 do
      local k, v = select(j, ...)
      local old = rawget(header, k)
      if old == nil then header[k] = v
      elseif type(old) == "table" then old[#old + 1] = v
      else header[k] = {old, v} end
    end
    s.n = s.n + 1
    s[s.n] = {status = status, header = header, body = body, truncated = truncated}
    i = i + 4 + 2 * nh
  end
end
