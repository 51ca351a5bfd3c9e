"""ngx.re.match, find, gmatch, sub, gsub (src/ngx_http_lua_regex.c, the
replacement templates of _script.c; the Lua side is lua-resty-core's
resty/core/regex.lua, our lua/regex.lua).

Debian's ngx_http_lua_module.so links PCRE 1 (libpcre.so.3), not nginx's
PCRE2, so ngx.re speaks PCRE 1.  Translating PCRE to Python's `re` would
differ at the edges (possessive quantifiers, \\h, \\R, (?|...), callouts,
DFA mode, every compile error's words), so the model calls the very library
nginx's Lua module calls, through ctypes: results and messages are PCRE's
own.  Without that library ngx.re is refused with a clear message.

These calls never yield: no events, no scheduling.  Compiled patterns live
in a per-worker table (handle -> code) for the run; lua/regex.lua keeps the
`o` caches as resty.core does.
"""
from __future__ import annotations

import ctypes

from .protocol import ret, abort

# ngx_http_lua_regex.c: the flags resty.core passes beside PCRE's options
FLAG_DFA = 0x02
FLAG_NO_UTF8_CHECK = 0x10
PCRE_NO_UTF8_CHECK = 0x2000
PCRE_INFO_CAPTURECOUNT, PCRE_INFO_NAMEENTRYSIZE = 2, 7
PCRE_INFO_NAMECOUNT, PCRE_INFO_NAMETABLE = 8, 9
PCRE_STUDY_JIT_COMPILE, PCRE_EXTRA_MATCH_LIMIT = 0x0001, 0x0002
FLAG_JIT = 0x04
DFA_WORKSPACE_COUNT = 100           # NGX_LUA_RE_DFA_MODE_WORKSPACE_COUNT
MAX_ERR_MSG_LEN = 128               # resty.core's error buffer

_LIB = None


def _pcre():
    """libpcre.so.3 with the prototypes used here, or None."""
    global _LIB
    if _LIB is None:
        import ctypes.util               # (here: it imports subprocess, which a run rarely needs)
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("pcre") or "libpcre.so.3")
        except OSError:
            _LIB = False
            return None
        vp, ip, cp = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_char_p
        lib.pcre_compile.restype = vp
        lib.pcre_compile.argtypes = [cp, ctypes.c_int, ctypes.POINTER(cp), ip, vp]
        lib.pcre_fullinfo.argtypes = [vp, vp, ctypes.c_int, vp]
        lib.pcre_study.restype = ctypes.POINTER(PcreExtra)
        lib.pcre_study.argtypes = [vp, ctypes.c_int, ctypes.POINTER(cp)]
        lib.pcre_exec.argtypes = [vp, vp, cp, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                  ip, ctypes.c_int]
        lib.pcre_dfa_exec.argtypes = [vp, vp, cp, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                      ip, ctypes.c_int, ip, ctypes.c_int]
        _LIB = lib
    return _LIB or None


class PcreExtra(ctypes.Structure):
    """pcre.h's pcre_extra (PCRE 8.x)."""
    _fields_ = [("flags", ctypes.c_ulong), ("study_data", ctypes.c_void_p),
                ("match_limit", ctypes.c_ulong), ("callout_data", ctypes.c_void_p),
                ("tables", ctypes.c_void_p), ("match_limit_recursion", ctypes.c_ulong),
                ("mark", ctypes.c_void_p), ("executable_jit", ctypes.c_void_p)]


class Regex:
    """ngx_http_lua_regex_t: the code, its study data, capture count and name table."""

    def __init__(self, code, sd, ncaptures, names):
        self.code, self.sd, self.ncaptures, self.names = code, sd, ncaptures, names


def _info(lib, code, what, ctype):
    v = ctype()
    lib.pcre_fullinfo(code, None, what, ctypes.byref(v))
    return v.value


def compile_regex(w, pattern, flags, pcre_opts):
    """ngx_http_lua_ffi_compile_regex: a handle, ncaptures and the name
    table flattened (number, name, ...); or nil and PCRE's message as
    ngx_http_lua_regex_compile words it (cut to resty.core's buffer)."""
    lib = _pcre()
    if lib is None:
        w.abort = w.refuse("ngx.re needs libpcre.so.3, the PCRE library "
                           "Debian's ngx_http_lua_module links")
        return abort(b"ngxcoro: not modelled")
    errptr, erroff = ctypes.c_char_p(), ctypes.c_int()
    code = lib.pcre_compile(pattern, pcre_opts, ctypes.byref(errptr), ctypes.byref(erroff), None)
    if not code:
        pat = pattern.split(b"\0")[0]
        msg = b"pcre_compile() failed: " + errptr.value + b' in "' + pat + b'"'
        if erroff.value != len(pat):
            msg += b' at "' + pat[erroff.value:] + b'"'
        return ret(None, msg[:MAX_ERR_MSG_LEN])
    # pcre_study, JIT-compiling for `j`; the match limit goes in its data (none
    # when the study found nothing to keep: then PCRE's default limit holds)
    msg = ctypes.c_char_p()
    sd = lib.pcre_study(code, PCRE_STUDY_JIT_COMPILE if flags & FLAG_JIT else 0,
                        ctypes.byref(msg))
    limit = w.config.settings.get("lua_regex_match_limit", 0)
    if sd and limit > 0 and not flags & FLAG_DFA:
        sd.contents.flags |= PCRE_EXTRA_MATCH_LIMIT
        sd.contents.match_limit = limit
    sd = ctypes.cast(sd, ctypes.c_void_p) if sd else None
    ncap = 0 if flags & FLAG_DFA else _info(lib, code, PCRE_INFO_CAPTURECOUNT, ctypes.c_int)
    names = []
    count = _info(lib, code, PCRE_INFO_NAMECOUNT, ctypes.c_int)
    if count and not flags & FLAG_DFA:
        size = _info(lib, code, PCRE_INFO_NAMEENTRYSIZE, ctypes.c_int)
        table = _info(lib, code, PCRE_INFO_NAMETABLE, ctypes.c_void_p)
        raw = ctypes.string_at(table, count * size)
        for i in range(count):
            entry = raw[i * size:(i + 1) * size]
            names += [entry[0] << 8 | entry[1], entry[2:].split(b"\0")[0]]
    w.regexes.append(Regex(code, sd, ncap, names))
    return ret(len(w.regexes), ncap, *names)


def exec_regex(w, handle, flags, subj, pos):
    """ngx_http_lua_ffi_exec_regex: rc, then the ovector's pairs."""
    lib, re_ = _pcre(), w.regexes[int(handle) - 1]
    opts = PCRE_NO_UTF8_CHECK if flags & FLAG_NO_UTF8_CHECK else 0
    if flags & FLAG_DFA:
        ovec = (ctypes.c_int * 2)()
        ws = (ctypes.c_int * DFA_WORKSPACE_COUNT)()
        rc = lib.pcre_dfa_exec(re_.code, re_.sd, subj, len(subj), int(pos), opts, ovec, 2,
                               ws, DFA_WORKSPACE_COUNT)
        n = 2
    else:
        n = (re_.ncaptures + 1) * 3
        ovec = (ctypes.c_int * n)()
        rc = lib.pcre_exec(re_.code, re_.sd, subj, len(subj), int(pos), opts, ovec, n)
        n = (re_.ncaptures + 1) * 2
    return ret(rc, *ovec[:n])


def compile_replace_template(w, template):
    """ngx_http_lua_ffi_compile_replace_template (ngx_http_lua_compile_complex_value,
    ngx_http_lua_script_compile): the template as pieces, a literal string or a
    capture number; or false after nginx's [error] line."""
    pieces, i, n = [], 0, len(template)
    while i < n:
        if template[i:i + 1] != b"$":
            j = template.find(b"$", i)
            j = n if j < 0 else j
            pieces.append(template[i:j])
            i = j
            continue
        i += 1
        if i == n:
            return _bad_template(w, f'lua script: invalid capturing variable name found in '
                                    f'"{_s(template)}"')
        if template[i:i + 1] == b"$":
            pieces.append(b"$")
            i += 1
            continue
        num = template[i:i + 1].isdigit()
        bracket = template[i:i + 1] == b"{"
        if bracket:
            i += 1
            if i == n:
                return _bad_template(w, f'lua script: invalid capturing variable name found '
                                        f'in "{_s(template)}"')
            num = template[i:i + 1].isdigit()
        start, end, value = i, None, 0
        while i < n:
            ch = template[i:i + 1]
            if ch == b"}" and bracket:
                bracket, end = False, i
                i += 1
                break
            if num:
                if ch.isdigit():
                    value = value * 10 + int(ch)
                    i += 1
                    continue
                break
            if ch.isalnum() or ch == b"_":
                i += 1
                continue
            break
        name = template[start:i if end is None else end]
        if bracket:
            return _bad_template(w, f'the closing bracket in "{_s(name)}" '
                                    f'variable is missing')
        if not name:
            return _bad_template(w, f'lua script: invalid capturing variable name found in '
                                    f'"{_s(template)}"')
        if not num:
            return _bad_template(w, f'attempt to use named capturing variable "{_s(name)}" '
                                    f'(named captures not supported yet)')
        pieces.append(value)
    return ret(True, *pieces)


def _s(b):
    return b.decode("utf-8", "surrogateescape")


def _bad_template(w, msg):
    """ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ...): an [error] line with no
    request (real nginx's raw log has it; the compared, per-request log does not)."""
    if w is not None:
        w.log_error("error", msg)
    return ret(False)


API = {"re_compile": compile_regex, "re_exec": exec_regex,
       "re_template": compile_replace_template}
