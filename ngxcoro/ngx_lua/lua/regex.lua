---------------------------------------------------------------------------
-- ngx.re.match, find, gmatch, sub, gsub  (ngx_http_lua_regex.c)
--
-- lua-resty-core's resty/core/regex.lua, written again: the options string,
-- the `o` caches, the captures table (numbered, then named; `D` gives lists),
-- ctx.pos, nth, the empty-match step, the replacement (a template or a
-- function).  The FFI calls (compile, exec, the template) are the Python
-- half, P.re_*, which runs PCRE itself.  Nothing here yields.
---------------------------------------------------------------------------
do
local R = {}
R.RE_FILE = "/usr/share/lua/5.1/resty/core/regex.lua"
R.FLAG_COMPILE_ONCE, R.FLAG_DFA, R.FLAG_JIT = 0x01, 0x02, 0x04
R.FLAG_DUPNAMES, R.FLAG_NO_UTF8_CHECK = 0x08, 0x10
R.RE_OPTS = {
  o = {R.FLAG_COMPILE_ONCE, 0}, j = {R.FLAG_JIT, 0}, i = {0, 0x1}, s = {0, 0x4}, m = {0, 0x2},
  u = {0, 0x800}, U = {R.FLAG_NO_UTF8_CHECK, 0x800}, x = {0, 0x8}, d = {R.FLAG_DFA, 0},
  a = {0, 0x10}, D = {R.FLAG_DUPNAMES, 0x80000}, J = {0, 0x2000000},
}
R.bor, R.band = bit.bor, bit.band
R.re_cached_opts = {}
R.re_match_cache = {}                        -- regex .. "\0" .. opts -> compiled
R.re_sub_func_cache, R.re_sub_str_cache = {}, {}
R.re_cache_size, R.RE_CACHE_MAX = 0, 1024      -- lua_regex_cache_max_entries

-- an error in resty/core/regex.lua: the message carries that file's line, and
-- the traceback (vm.lua RESTY_LUA) the frames nginx shows: the API's own at
-- its call of re_match_compile / re_sub_compile (R.api, set there), and the
-- `inner` ones (innermost first); `raised` false for a runtime error of
-- resty's own code, `cfunc` the FFI function that raised instead of error()
R.SITE = setmetatable({}, {__mode = "k"})
function R.re_raise(file, line, msg, inner, raised, cfunc)
  R.SITE[raw_running()] = {R.api.file, R.api.line, inner = inner, raised = raised,
                           cfunc = cfunc}
  raw_error(file .. ":" .. line .. ": " .. msg, 0)
end

-- the flags string: error() at level 3, the API's line
function R.parse_regex_opts(opts)
  local t = R.re_cached_opts[opts]
  if t then return t[1], t[2] end
  local flags, pcre_opts = 0, 0
  for i = 1, #opts do
    local o = R.RE_OPTS[ssub(opts, i, i)]
    if not o then
      R.re_raise(R.api.file, R.api.line, sformat('unknown flag "%s" (flags "%s")', ssub(opts, i, i), opts),
                 {{399, "parse_regex_opts"}, {R.api.cline, R.api.compile}})
    end
    flags, pcre_opts = R.bor(flags, o[1]), R.bor(pcre_opts, o[2])
  end
  R.re_cached_opts[opts] = {flags, pcre_opts}
  return flags, pcre_opts
end

-- ngx_http_lua_ffi_compile_regex (called on the line of #regex, R.api.len_line)
function R.re_compile(regex, flags, pcre_opts)
  local a = R.api
  if type(regex) == "table" then          -- #regex passes, the FFI call does not
    R.re_raise(R.RE_FILE, a.len_line, "bad argument #1 to 'ngx_lua_ffi_compile_regex' (cannot convert "
                           .. "'table' to 'const unsigned char *')",
               {{a.len_line, a.compile}}, false, "ngx_lua_ffi_compile_regex")
  elseif type(regex) ~= "string" then
    R.re_raise(R.RE_FILE, a.len_line, "attempt to get length of local 'regex' (a " .. type(regex)
                           .. " value)", {{-1, a.compile}}, false)
  end
  local r = {P.re_compile(regex, flags, pcre_opts)}
  if r[1] == ABORT then raw_error(r[2], 0) end     -- no PCRE library: the run stops
  if r[2] == nil then return nil, r[3] end
  local names = {}
  for i = 4, #r, 2 do names[#names + 1] = {r[i], r[i + 1]} end
  return {id = r[2], ncaptures = r[3], names = names}
end

function R.re_match_compile(regex, opts, line, file)
  R.api = {file = file or R.RE_FILE, line = line, compile = "re_match_compile", cline = 564,
           len_line = 594}
  local flags, pcre_opts = 0, 0
  if opts then flags, pcre_opts = R.parse_regex_opts(opts) else opts = "" end
  local once = R.band(flags, R.FLAG_COMPILE_ONCE) == 1
  local key, compiled = nil, nil
  if once then
    key = tostring(regex) .. "\0" .. opts
    compiled = R.re_match_cache[key]
  end
  if compiled == nil then
    local e
    compiled, e = R.re_compile(regex, flags, pcre_opts)
    if compiled == nil then return nil, e end
    if once then R.re_match_cache[key] = compiled end
  end
  return compiled, once, flags
end

-- ngx_http_lua_ffi_exec_regex: rc and the ovector (0-based pairs in cap[1..])
function R.re_exec(compiled, flags, subj, pos)
  local r = {P.re_exec(compiled.id, flags, subj, pos)}
  local cap = {}
  for i = 3, #r do cap[i - 3] = r[i] end
  return r[2], cap
end

function R.collect_captures(compiled, rc, cap, subj, flags, res)
  res = res or {}
  local n = 0
  for i = 0, compiled.ncaptures do
    if i > rc then res[i] = false
    else
      local from = cap[n]
      if from >= 0 then res[i] = ssub(subj, from + 1, cap[n + 1]) else res[i] = false end
    end
    n = n + 2
  end
  local dup = R.band(flags, R.FLAG_DUPNAMES) ~= 0
  for _, e in ipairs(compiled.names) do
    local c, name = res[e[1]], e[2]
    if dup then
      if c then
        local old = res[name]
        if old then old[#old + 1] = c else res[name] = {c} end
      end
    else
      res[name] = c
    end
  end
  return res
end

function R.re_match_helper(subj, regex, opts, ctx, want_caps, res, nth)
  subj = tostring(subj)
  local compiled, once, flags = R.re_match_compile(regex, opts, 624)
  if compiled == nil then
    if not want_caps then return nil, nil, once end
    return nil, once
  end
  local pos = 0
  if ctx then
    pos = ctx.pos
    if not pos or pos <= 0 then pos = 0 else pos = pos - 1 end
  end
  local rc, cap = R.re_exec(compiled, flags, subj, pos)
  if rc == -1 then return nil end
  if rc < 0 then
    if not want_caps then return nil, nil, "pcre_exec() failed: " .. rc end
    return nil, "pcre_exec() failed: " .. rc
  end
  if rc == 0 then
    if R.band(flags, R.FLAG_DFA) == 0 then
      if not want_caps then return nil, nil, "capture size too small" end
      return nil, "capture size too small"
    end
    rc = 1
  end
  if ctx then ctx.pos = cap[1] + 1 end
  if not want_caps then
    if not nth or nth < 0 then nth = 0 end
    if nth > compiled.ncaptures then return nil, nil, "nth out of bound" end
    if nth >= rc then return nil, nil end
    local from, to = cap[nth * 2] + 1, cap[nth * 2 + 1]
    if from < 0 or to < 0 then return nil, nil end
    return from, to
  end
  return R.collect_captures(compiled, rc, cap, subj, flags, res)
end

R.ngx_re = {}
ngx.re = R.ngx_re

function R.ngx_re.match(subj, regex, opts, ctx, res)
  return R.re_match_helper(subj, regex, opts, ctx, true, res)
end

function R.ngx_re.find(subj, regex, opts, ctx, nth)
  return R.re_match_helper(subj, regex, opts, ctx, false, nil, nth)
end

R.gmatch_mt = {__call = function(self)
  local pos = self._pos
  if not pos then return nil end                 -- the iterator is exhausted
  local compiled, flags, subj = self._compiled, self._flags, self._subj
  local rc, cap = R.re_exec(compiled, flags, subj, pos)
  if rc == -1 then self._pos = nil; return nil end
  if rc < 0 then self._pos = nil; return nil, "pcre_exec() failed: " .. rc end
  if rc == 0 then
    if R.band(flags, R.FLAG_DFA) == 0 then
      self._pos = nil
      return nil, "capture size too small"
    end
    rc = 1
  end
  local cp = cap[1]
  if cp == cap[0] then
    cp = cp + 1
    if cp > #subj then
      self._pos = nil
      return R.collect_captures(compiled, rc, cap, subj, flags)
    end
  end
  self._pos = cp
  return R.collect_captures(compiled, rc, cap, subj, flags)
end}

function R.ngx_re.gmatch(subj, regex, opts)
  subj = tostring(subj)
  local compiled, once, flags = R.re_match_compile(regex, opts, 794)
  if compiled == nil then return nil, once end
  return setmetatable({_compiled = compiled, _subj = subj, _flags = flags, _pos = 0}, R.gmatch_mt)
end

function R.re_sub_compile(regex, opts, replace, func, line)
  R.api = {file = R.RE_FILE, line = line, compile = "re_sub_compile", cline = 851,
           len_line = 884}
  local flags, pcre_opts = 0, 0
  if opts then flags, pcre_opts = R.parse_regex_opts(opts) else opts = "" end
  local once = R.band(flags, R.FLAG_COMPILE_ONCE) == 1
  local cache = func and R.re_sub_func_cache or R.re_sub_str_cache
  local key = tostring(regex) .. "\0" .. opts .. (func and "" or "\0" .. replace)
  local compiled = once and cache[key] or nil
  if compiled == nil then
    local e
    compiled, e = R.re_compile(regex, flags, pcre_opts)
    if compiled == nil then return nil, e end
    if not func then
      local t = {P.re_template(replace)}
      if not t[2] then return nil, "failed to compile the replacement template" end
      compiled.replace = {select(3, unpack(t))}
    end
    if once then
      if R.re_cache_size < R.RE_CACHE_MAX then
        cache[key] = compiled
        R.re_cache_size = R.re_cache_size + 1
      else
        once = false
      end
    end
  end
  return compiled, once, flags
end

-- the replacement template's value for one match (ngx_http_lua_complex_value):
-- a capture past rc, or unset, is empty
function R.eval_template(pieces, rc, cap, subj)
  local out = {}
  for _, p in ipairs(pieces) do
    if type(p) == "string" then out[#out + 1] = p
    elseif p < rc and cap[2 * p] >= 0 then
      out[#out + 1] = ssub(subj, cap[2 * p] + 1, cap[2 * p + 1])
    end
  end
  return concat(out)
end

function R.re_sub_helper(subj, regex, replace, opts, global)
  local func = type(replace) == "function"
  if not func and type(replace) ~= "string" then replace = tostring(replace) end
  local compiled, once, flags = R.re_sub_compile(regex, opts, replace, func,
                                               func and 952 or 1062)
  if not compiled then return nil, nil, once end
  subj = tostring(subj)
  local subj_len, count, pos, cp_pos, out = #subj, 0, 0, 0, {}
  while true do
    local rc, cap = R.re_exec(compiled, flags, subj, pos)
    if rc == -1 then break end
    if rc < 0 then return nil, nil, "pcre_exec() failed: " .. rc end
    if rc == 0 then
      if R.band(flags, R.FLAG_DFA) == 0 then return nil, nil, "capture size too small" end
      rc = 1
    end
    count = count + 1
    out[#out + 1] = ssub(subj, cp_pos + 1, cap[0])
    if func then
      out[#out + 1] = tostring(replace(R.collect_captures(compiled, rc, cap, subj, flags)))
    else
      out[#out + 1] = R.eval_template(compiled.replace, rc, cap, subj)
    end
    cp_pos = cap[1]
    pos = cp_pos
    if pos == cap[0] then
      pos = pos + 1
      if pos > subj_len then break end
    end
    if not global then break end
  end
  if count > 0 then
    if cp_pos < subj_len then out[#out + 1] = ssub(subj, cp_pos + 1) end
    return concat(out), count
  end
  return subj, 0
end

function R.ngx_re.sub(subj, regex, replace, opts)
  return R.re_sub_helper(subj, regex, replace, opts, false)
end

function R.ngx_re.gsub(subj, regex, replace, opts)
  return R.re_sub_helper(subj, regex, replace, opts, true)
end

-- (the APIs tail-call their helpers: the helper's frame is the one the user called)
for _, f in ipairs{R.ngx_re.gmatch, R.re_match_helper, R.re_sub_helper} do
  RESTY_LUA[f] = function(co) return R.SITE[co] end
end

-- lua-resty-core's ngx/re.lua (require "ngx.re"): split and opt
R.NGX_RE_FILE = "/usr/share/lua/5.1/ngx/re.lua"
R.ngx_re_mod = {version = "0.1.25"}

-- re_split_helper: the next match from ctx.pos (0-based), as 1-based from/to
-- and the first capture
function R.split_next(subj, compiled, flags, ctx)
  local rc, cap = R.re_exec(compiled, flags, subj, math.max(ctx.pos, 0))
  if rc == -1 then return nil end
  if rc < 0 then return nil, nil, nil, "pcre_exec() failed: " .. rc end
  if rc == 0 then
    if R.band(flags, R.FLAG_DFA) == 0 then return nil, nil, nil, "capture size too small" end
    rc = 1
  end
  local from, to = cap[0], cap[1]
  if from < 0 or to < 0 then return nil end
  ctx.pos = from == to and to + 1 or to          -- an empty match steps on
  if compiled.ncaptures > 0 and rc > 1 then
    return from + 1, to + 1, ssub(subj, cap[2] + 1, cap[3])
  end
  return from + 1, to + 1
end

R.split_ctx = {}
function R.ngx_re_mod.split(subj, regex, opts, ctx, max, res)
  subj = tostring(subj)
  if not ctx then
    ctx = R.split_ctx
    ctx.pos = 1
  elseif not ctx.pos then
    ctx.pos = 1
  end
  max = max or 0
  if not res then res = {}
  elseif type(res) ~= "table" then raw_error("res is not a table", 2) end
  local len = #subj
  if ctx.pos > len then
    res[1] = nil
    return res
  end
  local compiled, once, flags = R.re_match_compile(regex, opts, 173, R.NGX_RE_FILE)
  if compiled == nil then return nil, once end
  local sub_idx, n, last_empty = ctx.pos, 0, nil
  ctx.pos = sub_idx - 1
  local count = 1
  while max <= 0 or count < max do
    local from, to, capture, err = R.split_next(subj, compiled, flags, ctx)
    if err then return nil, err end
    if not from then break end
    if last_empty then sub_idx = last_empty end
    if from == to then last_empty = from end
    if from > sub_idx or not last_empty then
      count = count + 1
      n = n + 1
      res[n] = ssub(subj, sub_idx, from - 1)
      if capture then
        n = n + 1
        res[n] = capture
      end
      sub_idx = to
      if sub_idx > len then break end
    end
  end
  if max <= 0 and sub_idx > len then
    for i = n, 1, -1 do          -- drop the empty trailing pieces
      if res[i] ~= "" then
        n = i
        break
      end
      res[i] = nil
    end
  else
    n = n + 1
    res[n] = ssub(subj, sub_idx)
  end
  res[n + 1] = nil
  return res
end

-- ngx.re's opt("jit_stack_size", n): allowed while no `o` match regex is cached
-- (the stack itself is nothing the model needs)
function R.ngx_re_mod.opt(option, value)
  if option == "jit_stack_size" then
    if next(R.re_match_cache) ~= nil then
      raw_error("changing jit stack size is not allowed when some regexs have already "
                .. "been compiled and cached", 2)
    end
    return
  end
  raw_error("unrecognized option name", 2)
end
RESTY_LUA[R.ngx_re_mod.split] = function(co) return R.SITE[co] end
LOADED["ngx.re"] = R.ngx_re_mod
end
