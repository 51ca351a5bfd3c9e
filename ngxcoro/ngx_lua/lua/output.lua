---------------------------------------------------------------------------
-- output (ngx_http_lua_output.c)
---------------------------------------------------------------------------

-- the say/print argument rules; `lvl` as in argerror
local function flatten(lvl, argi, t, buf)
  local max = 0
  for k in pairs(t) do
    if type(k) == "number" and floor(k) == k and k >= 1 then
      if k > max then max = k end
    else
      argerror(lvl + 1, argi, "non-array table found")
    end
  end
  for i = 1, max do
    local v = rawget(t, i)
    local text = scalar_text(v)
    if text then buf[#buf + 1] = text
    elseif type(v) == "table" then flatten(lvl + 1, argi, v, buf)
    else
      argerror(lvl + 1, argi, "bad data type " .. type(v) .. " found")
    end
  end
end

local function echo(newline, ...)
  local buf = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    local text = scalar_text(v)
    if text then buf[#buf + 1] = text
    elseif type(v) == "table" then flatten(2, i, v, buf)
    else
      argerror(2, i, "string, number, boolean, nil, ngx.null, or array table expected, "
                     .. "but got " .. type(v))
    end
  end
  if newline then buf[#buf + 1] = "\n" end
  local code, a, b = P.output(concat(buf))
  if code ~= RETURN then raw_error(a, 3) end
  return a, b
end

function ngx.say(...)
  local a, b = echo(true, ...)
  return a, b
end

function ngx.print(...)
  local a, b = echo(false, ...)
  return a, b
end

ngx.flush = simple("flush")
ngx.eof = simple("eof")
