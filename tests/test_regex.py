"""ngx.re (ngx_lua/regex.py, lua/regex.lua): what the recordings 1140-1151 do not show.

Reasoning, not recordings:
* the replacement template compiler follows ngx_http_lua_script_compile: `$N`,
  `${N}` and `$$`; a `$` at the end, an unclosed `${`, a name, or `$` followed
  by nothing usable fails the whole template;
* without libpcre.so.3 the model refuses ngx.re with one clear line instead of
  a traceback (bad input never gives a Python traceback).
"""
from __future__ import annotations

import ngxcoro
from ngxcoro.ngx_lua import regex
from ngxcoro.ngx_lua.protocol import RETURN


def _template(text):
    return regex.compile_replace_template(None, text)


def test_template_pieces():
    # "$2, $1" is capture 2, a literal, capture 1; "${1}0" keeps the 0 literal;
    # "$$" is one dollar
    assert _template(b"$2, $1") == (RETURN, True, 2, b", ", 1)
    assert _template(b"${1}0") == (RETURN, True, 1, b"0")
    assert _template(b"a$$b") == (RETURN, True, b"a", b"$", b"b")
    assert _template(b"$12x") == (RETURN, True, 12, b"x")
    assert _template(b"") == (RETURN, True)


def test_bad_templates():
    # each stops the C compiler (NGX_ERROR): resty.core then says
    # "failed to compile the replacement template"
    for bad in (b"$", b"${", b"${1", b"$x", b"${name}", b"$-", b"${1a}"):
        assert _template(bad) == (RETURN, False), bad


def test_no_pcre_is_refused(monkeypatch):
    monkeypatch.setattr(regex, "_LIB", False)
    res = ngxcoro.run("location /t { content_by_lua_block { ngx.say(ngx.re.find('ab', 'b')) } }")
    assert res.refused and "libpcre.so.3" in res.message
