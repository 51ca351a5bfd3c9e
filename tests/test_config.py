"""Tests for ngxcoro.nginx.conf, the nginx configuration reader.

Unless a comment gives the reasoning instead, every expected value here was read from real
nginx 1.22.1 with lua-nginx-module 0.10.23, ndk and echo (Debian 12): ``nginx -t`` for the
errors, requests to a running nginx for chunk names, Lua line numbers, response bodies and
the location a URI lands in. The tests marked ``nginx`` check those literals again against
the installed nginx.
"""

import http.client
import os
import socket
import subprocess
import time

import lupa.luajit21 as lupa
import pytest

from ngxcoro.nginx.conf import (
    DEFAULT_SETTINGS, Config, ConfigError, Directive, LuaChunk, load, lua_chunk, lua_load_error,
    parse,
)

# The configuration every observation was made with: a test body starts on line 14.
NGINX_HEAD = (
    "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
    "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n"
    "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;\n"
    "daemon off;\n"
    "master_process off;\n"
    "worker_processes 1;\n"
    "error_log logs/error.log info;\n"
    "pid logs/nginx.pid;\n"
    "events { worker_connections 64; }\n"
    "http {\n"
    " access_log off;\n"
    " server {\n"
    "  listen 127.0.0.1:@PORT@;\n"
)
MODULES = NGINX_HEAD.split("daemon")[0]            # the three load_module lines


def full(body: str, port: int = 8080) -> str:
    return NGINX_HEAD.replace("@PORT@", str(port)) + body + "\n }\n}\n"


def lua_compile(source: str, chunkname: str):
    """The compile function for load(..., compile_lua=...): Lua's message or None."""
    result = lupa.LuaRuntime().eval("loadstring")(source, chunkname)
    return result[1] if isinstance(result, tuple) else None


def run_lua(chunk: LuaChunk):
    """Run a chunk the way nginx does (loadstring with "=" + chunkname) with a stub ngx.say:
    returns (body, error message or None)."""
    lua = lupa.LuaRuntime()
    run = lua.eval("""function(src, name)
        local out = {}
        ngx = {say = function(...) out[#out + 1] = table.concat({...}) .. "\\n" end}
        local f = assert(loadstring(src, name))
        local ok, err = pcall(f)
        return table.concat(out), (not ok) and err or nil
    end""")
    return run(chunk.source, "=" + chunk.chunkname)


def location_chunks(config: Config):
    return {loc.pattern: loc for loc in config.server.locations}


# ---------------------------------------------------------------------------------------------
# Tokens (ngx_conf_read_token)
# ---------------------------------------------------------------------------------------------

def test_words_escapes_and_comments():
    # echo printed "a<TAB>b\qc\d#e x"y" /i" and "a<TAB>b\qc q'"": escapes apply to quoted and
    # unquoted words alike; "#" inside a word and quotes inside a word are plain characters.
    tree = parse('echo a\\tb\\qc\\\\d#e x"y" ${uri};  # a comment { ; }\n'
                 "echo 'a\\tb\\qc' \"q\\'\\\"\";\n")
    assert tree == [
        Directive("echo", ["a\tb\\qc\\d#e", 'x"y"', "${uri}"], 1),
        Directive("echo", ["a\tb\\qc", "q'\""], 2),
    ]


def test_close_paren_after_quote_starts_a_word():
    # nginx accepted 'if ($a = "b") {' (it only objected that $a is unknown): after a closing
    # quote ngx_conf_read_token allows ")" and starts a new word with it.
    (d,) = parse('if ($a = "b") { }')
    assert d.args == ["($a", "=", "b", ")"] and d.block == []


def test_lines_are_the_terminators():
    # nginx names the line of a directive's ";" or "{" (see ERRORS: 'location\n /a\n /b /c {}'
    # is reported on its third line); arg_lines are where each word starts.
    (d,) = parse("location\n  /a\n  /b {\n}\n")
    assert (d.line, d.arg_lines) == (3, [2, 3])


# ---------------------------------------------------------------------------------------------
# Lua blocks: the text nginx hands to Lua
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lua, source", [
    # each was accepted by nginx -t in 'location /a { content_by_lua_block <lua> }'
    ('{ ngx.say("}") }', ' ngx.say("}") '),
    ("{ local s = '\\'}' }", " local s = '\\'}' "),
    ("{ -- }\n }", " -- }\n "),
    ("{ --[==[ } ]==] }", " --[==[ } ]==] "),
    ("{ local s = [==[ } ]] ]==] }", " local s = [==[ } ]] ]==] "),
    ("{ local t = {a={}} }", " local t = {a={}} "),
    ("{ local n = #t }", " local n = #t "),
    ("{ [= }", " [= "),                           # not a long bracket
    # a quote that does not close on its own line is an ordinary character: the "}" counts
    ('{ ngx.say("x) }', ' ngx.say("x) '),
])
def test_lua_block_source(lua, source):
    (loc,) = parse("location /a { content_by_lua_block " + lua + " }")
    (d,) = loc.block
    assert d.args == [source] and d.block is None


E3 = {   # run on nginx: the body each location sent back
    "/a": "location /a { content_by_lua 'ngx.say([[a\\tb\\qc\\\\d\\'e\\\"f]])'; }",
    "/b": "location /b { content_by_lua_block { ngx.say([[a\\tb\\qc\\\\d]]) } }",
    "/c": "location /c { content_by_lua 'local s = 1 --\\n error(\"c2\")'; }",
    "/d": "location /d { content_by_lua 'local s = 1\n error(\"d2\")'\n\n ; }",
    "/e": "location /e { content_by_lua_block { local t = {1,2}; ngx.say(#t) } }",
    "/g": "location /g { content_by_lua_block { local = 1 } }",
    "/h": "location /h { content_by_lua 'local = 1'; }",
    "/i": "location /i { echo a\\tb\\qc\\\\d#e x\"y\" ${uri}; }",
    "/j": "location /j { echo 'a\\tb\\qc' \"q\\'\\\"\"; }",
    "/k": 'location /k { content_by_lua_block {\n\n ngx.say(debug.getinfo(1,"S").source, " ", '
          'debug.getinfo(1,"l").currentline) } }',
    "/l": 'location /l { rewrite_by_lua_block {\n\n ngx.say(debug.getinfo(1,"S").source) } }',
    "/m": "location /m { content_by_lua_block { ngx.say(\"-- }\") ngx.say('[[}') } }",
    "/n": 'location /n { content_by_lua_block { ngx.say("x") -- } \n } }',
    "/o": "location /o { content_by_lua_block { local s = [==[ } ]] ]==] ngx.say(s) } }",
    "/p": "location /p { content_by_lua_block { local s = [[\n}]] ngx.say(#s) } }",
    "/q": "location /q { content_by_lua_block {\n\n local s = [[\n]] error('q') } }",
}
E3_CONF = full("\n".join(E3.values()))
E3_SEEN = {   # (status, body) from nginx, and the error log line of the 500s
    "/a": (200, "a\tb\\qc\\d'e\"f\n"),            # string form: nginx unescapes first
    "/b": (200, "a\\tb\\qc\\\\d\n"),              # block form: the raw text
    "/c": (500, "content_by_lua(nginx.conf:16):2: c2"),   # "\n" became a line break
    "/d": (500, "content_by_lua(nginx.conf:20):2: d2"),   # N is the ";" line, k counts from the quote
    "/e": (200, "2\n"),
    "/k": (200, "=content_by_lua(nginx.conf:26) 3\n"),
    "/l": (200, "=rewrite_by_lua(nginx.conf:29)\n"),
    "/m": (200, "-- }\n[[}\n"),
    "/n": (200, "x\n"),
    "/o": (200, " } ]] \n"),
    "/p": (200, "1\n"),
    "/q": (500, "content_by_lua(nginx.conf:38):4: q"),
}


@pytest.mark.parametrize("uri", sorted(E3_SEEN))
def test_lua_sources_run_like_nginx(uri):
    loc = location_chunks(load(E3_CONF))[uri]
    chunk = loc.content_by_lua or loc.rewrite_by_lua
    body, error = run_lua(chunk)
    status, expected = E3_SEEN[uri]
    assert (error if status == 500 else body) == expected


def test_echo_arguments_like_nginx():
    locs = location_chunks(load(E3_CONF))
    # nginx sent 'a<TAB>b\qc\d#e x"y" /i' and 'a<TAB>b\qc q'"' (echo joins with spaces)
    assert locs["/i"].directives[0].args == ["a\tb\\qc\\d#e", 'x"y"', "${uri}"]
    assert locs["/j"].directives[0].args == ["a\tb\\qc", "q'\""]


# ---------------------------------------------------------------------------------------------
# Chunk names and line numbers
# ---------------------------------------------------------------------------------------------

E1 = [
    'location /a { content_by_lua_block { error("a1") } }',
    'location /b {\n content_by_lua_block {\n  local x = 1\n  error("b3")\n }\n}',
    'location /c { content_by_lua_block {local y = 2\n\n error("c3") } }',
    'location /d {\n content_by_lua_block\n {\n\n error("d")\n }\n}',
    "location /e { content_by_lua 'local a = 1\n error(\"e2\")'; }",
    "location /f { content_by_lua \"\n\n error('f3')\"; }",
    "location /g {\n content_by_lua\n  \"error('g1')\"; }",
    'location /h { content_by_lua_block { -- c }\n error("h2") } }',
    'location /i { rewrite_by_lua_block {\n error("i2") } }',
    'location /j { access_by_lua_block { error("j1") } }',
    "location /k { access_by_lua 'error(\"k1\")'; }",
    'location /l { rewrite_by_lua "error([[l1]])"; }',
]
E1_CONF = full("\n".join(E1))
E1_LOG = {   # "lua entry thread aborted: runtime error: <this>\nstack traceback: ...", 500s
    "/a": "content_by_lua(nginx.conf:14):1: a1",   # Lua starts right after "{"
    "/b": "content_by_lua(nginx.conf:16):3: b3",   # ... so the rest of the "{" line is line 1
    "/c": "content_by_lua(nginx.conf:21):3: c3",
    "/d": "content_by_lua(nginx.conf:26):3: d",    # N is the "{" line, not the directive's
    "/e": "content_by_lua(nginx.conf:32):2: e2",   # string form: N is where ";" is
    "/f": "content_by_lua(nginx.conf:35):3: f3",
    "/g": "content_by_lua(nginx.conf:38):1: g1",
    "/h": "content_by_lua(nginx.conf:39):2: h2",   # "}" in a Lua comment does not close
    "/i": "rewrite_by_lua(nginx.conf:41):2: i2",
    "/j": "access_by_lua(nginx.conf:43):1: j1",
    "/k": "access_by_lua(nginx.conf:44):1: k1",
    "/l": "rewrite_by_lua(nginx.conf:45):1: l1",
}


@pytest.mark.parametrize("uri", sorted(E1_LOG))
def test_chunk_names_and_lines(uri):
    loc = location_chunks(load(E1_CONF))[uri]
    (chunk,) = [c for c in (loc.rewrite_by_lua, loc.access_by_lua, loc.content_by_lua) if c]
    assert E1_LOG[uri].startswith(chunk.chunkname + ":")
    assert run_lua(chunk)[1] == E1_LOG[uri]


def test_line_and_first_line():
    locs = location_chunks(load(E1_CONF))
    # block form: Lua line 1 is on the "{" line; string form: on the opening quote's line
    assert (locs["/d"].content_by_lua.line, locs["/d"].content_by_lua.first_line) == (26, 26)
    assert (locs["/e"].content_by_lua.line, locs["/e"].content_by_lua.first_line) == (32, 31)
    assert (locs["/f"].content_by_lua.line, locs["/f"].content_by_lua.first_line) == (35, 33)
    assert (locs["/g"].content_by_lua.line, locs["/g"].content_by_lua.first_line) == (38, 38)
    assert locs["/i"].rewrite_by_lua.phase == "rewrite"


def test_chunk_name_uses_the_file_name():
    # ngx_http_lua_gen_chunk_name shortens ".../nginx.conf" to "nginx.conf" (reasoning from
    # src/ngx_http_lua_directive.c; the observed names above were all "nginx.conf").
    (d,) = parse("content_by_lua_block { x() }")
    assert lua_chunk(d, "/etc/nginx/nginx.conf").chunkname == "content_by_lua(nginx.conf:1)"
    assert lua_chunk(d, "lesson1.conf").chunkname == "content_by_lua(lesson1.conf:1)"


def test_lua_syntax_error_is_a_request_time_error():
    # nginx -t accepted both; each request to /g and /h got a 500 and this [error] line.
    config = load(E3_CONF, compile_lua=lua_compile)
    locs = location_chunks(config)
    assert locs["/g"].content_by_lua.load_error == (
        "failed to load inlined Lua code: content_by_lua(nginx.conf:22):1: '<name>' expected "
        "near '='")
    assert locs["/h"].content_by_lua.load_error == (
        "failed to load inlined Lua code: content_by_lua(nginx.conf:23):1: '<name>' expected "
        "near '='")
    assert locs["/e"].content_by_lua.load_error is None
    assert lua_load_error(locs["/e"].content_by_lua, lua_compile) is None


# ---------------------------------------------------------------------------------------------
# Errors: nginx -t's first line, after "nginx: "; "OK" = nginx accepts it
# ---------------------------------------------------------------------------------------------

ERRORS = [   # (server body wrapped by full(), what nginx -t printed)
    # ngx_conf_read_token / ngx_conf_parse
    ('location /a { echo "x"y; }', '[emerg] unexpected "y" in nginx.conf:14'),
    ('location /a { echo "x""y"; }', '[emerg] unexpected """ in nginx.conf:14'),
    ('location /a { echo "x"{ }', '[emerg] directive "echo" is not terminated by ";" in nginx.conf:14'),
    ('location /a { echo "x"} }', '[emerg] unexpected "}" in nginx.conf:14'),
    ('}', '[emerg] unexpected "}" in nginx.conf:16'),
    ('location /a { ; }', '[emerg] unexpected ";" in nginx.conf:14'),
    ('location /a { { }', '[emerg] unexpected "{" in nginx.conf:14'),
    ('location /a { echo x }', '[emerg] unexpected "}" in nginx.conf:14'),
    ('location /a { echo "a"#c; }', '[emerg] unexpected "#" in nginx.conf:14'),
    ('location /a { echo a;b; }', '[emerg] unknown directive "b" in nginx.conf:14'),
    ('location /a { echo x', '[emerg] unexpected "}" in nginx.conf:15'),
    ('location /a { echo "x', '[emerg] unexpected end of file, expecting ";" or "}" in nginx.conf:17'),
    ("location /a { echo 'x", '[emerg] unexpected end of file, expecting ";" or "}" in nginx.conf:17'),
    ('location /a { echo x; ', '[emerg] unexpected end of file, expecting "}" in nginx.conf:17'),
    ('location /a { echo $x{y; }', '[emerg] directive "echo" is not terminated by ";" in nginx.conf:14'),
    # ngx_conf_handler: name, context, terminator, arguments
    ('foo;', '[emerg] unknown directive "foo" in nginx.conf:14'),
    ('location /a { foo_by_lua_block { "}" } }', '[emerg] unknown directive "foo_by_lua_block" in nginx.conf:14'),
    ('echo x;', '[emerg] "echo" directive is not allowed here in nginx.conf:14'),
    ('content_by_lua_block { ngx.say(1) }', '[emerg] "content_by_lua_block" directive is not allowed here in nginx.conf:14'),
    ('if ($uri) { content_by_lua_block { x() } }', '[emerg] "content_by_lua_block" directive is not allowed here in nginx.conf:14'),
    ('location /a { if ($uri) { location /a/b {} } }', '[emerg] "location" directive is not allowed here in nginx.conf:14'),
    ('location /a { if ($uri) { internal; } }', '[emerg] "internal" directive is not allowed here in nginx.conf:14'),
    ('lua_thread_cache_max_entries 10;', '[emerg] "lua_thread_cache_max_entries" directive is not allowed here in nginx.conf:14'),
    ('location;', '[emerg] directive "location" has no opening "{" in nginx.conf:14'),
    ('location /a;', '[emerg] directive "location" has no opening "{" in nginx.conf:14'),
    ('location /a { content_by_lua_block; }', '[emerg] directive "content_by_lua_block" has no opening "{" in nginx.conf:14'),
    ('listen 80 {}', '[emerg] directive "listen" is not terminated by ";" in nginx.conf:14'),
    ('location /a /b /c {}', '[emerg] invalid number of arguments in "location" directive in nginx.conf:14'),
    ('location\n  /a\n  /b /c {}', '[emerg] invalid number of arguments in "location" directive in nginx.conf:16'),
    ('location /a { content_by_lua_block x { ngx.say(1) } }', '[emerg] invalid number of arguments in "content_by_lua_block" directive in nginx.conf:14'),
    ('location /a { content_by_lua_block x\n y {\n } }', '[emerg] invalid number of arguments in "content_by_lua_block" directive in nginx.conf:15'),
    ('location /a { content_by_lua; }', '[emerg] invalid number of arguments in "content_by_lua" directive in nginx.conf:14'),
    ('location /a { internal x; }', '[emerg] invalid number of arguments in "internal" directive in nginx.conf:14'),
    ('location /a { echo_sleep; }', '[emerg] invalid number of arguments in "echo_sleep" directive in nginx.conf:14'),
    ('location /a { echo_location_async /x y z; }', '[emerg] invalid number of arguments in "echo_location_async" directive in nginx.conf:14'),
    ('location /a { return; }', '[emerg] invalid number of arguments in "return" directive in nginx.conf:14'),
    ('location /a { return 200 x y; }', '[emerg] invalid number of arguments in "return" directive in nginx.conf:14'),
    # the directives' handlers
    ('location /a { return abc; }', '[emerg] invalid return code "abc" in nginx.conf:14'),
    ('location /a { return 1000; }', '[emerg] invalid return code "1000" in nginx.conf:14'),
    ('location /a { set x 1; }', '[emerg] invalid variable name "x" in nginx.conf:14'),
    ('location /a { set $ 1; }', '[emerg] invalid variable name "$" in nginx.conf:14'),
    ('location /a { rewrite ^ /b x; }', '[emerg] invalid parameter "x" in nginx.conf:14'),
    ('location /a { satisfy x; }', '[emerg] invalid value "x" in nginx.conf:14'),
    ('location /a { proxy_pass x; }', '[emerg] invalid URL prefix in nginx.conf:14'),
    ('location ~ a { proxy_pass http://127.0.0.1:1/x; }', '[emerg] "proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in nginx.conf:14'),
    ('location /a { proxy_pass http://127.0.0.1:1; proxy_pass http://127.0.0.1:1; }', '[emerg] "proxy_pass" directive is duplicate in nginx.conf:14'),
    ('listen 80 foo;', '[emerg] invalid parameter "foo" in nginx.conf:14'),
    ('error_log logs/e.log bogus;', '[emerg] invalid log level "bogus" in nginx.conf:14'),
    ('error_log x info debug;', '[emerg] duplicate log level "debug" in nginx.conf:14'),
    ('error_log x info debug_http;', '[emerg] invalid log level "debug_http" in nginx.conf:14'),
    ('lua_check_client_abort maybe;', '[emerg] invalid value "maybe" in "lua_check_client_abort" directive, it must be "on" or "off" in nginx.conf:14'),
    ('lua_check_client_abort on; lua_check_client_abort off;', '[emerg] "lua_check_client_abort" directive is duplicate in nginx.conf:14'),
    ('postpone_output abc;', '[emerg] "postpone_output" directive invalid value in nginx.conf:14'),
    ('location /a { internal; internal; }', '[emerg] "internal" directive is duplicate in nginx.conf:14'),
    ('location /a { internal; internal\n \n ; }', '[emerg] "internal" directive is duplicate in nginx.conf:16'),
    ('location /a { echo_status x; }', '[emerg] "echo_status" directive invalid number in nginx.conf:14'),
    ('location /a { echo a$; }', '[emerg] invalid variable name in nginx.conf:14'),
    ('location /a { echo ${a; }', '[emerg] the closing bracket in "a" variable is missing in nginx.conf:14'),
    ('location /a { return 200 ${}; }', '[emerg] invalid variable name in nginx.conf:14'),
    # Lua handlers; the block form logs a bare "is duplicate", on its closing "}" line
    ('location /a { content_by_lua_block { ngx.say(1) } content_by_lua_block { ngx.say(2) } }', '[emerg] is duplicate in nginx.conf:14'),
    ('location /a { content_by_lua_block {\n  x()\n }\n content_by_lua_block {\n  y()\n }\n }', '[emerg] is duplicate in nginx.conf:19'),
    ("location /a { content_by_lua 'x()'; content_by_lua 'y()'; }", '[emerg] "content_by_lua" directive is duplicate in nginx.conf:14'),
    ("location /a { content_by_lua_block { y() } content_by_lua 'x()'; }", '[emerg] "content_by_lua" directive is duplicate in nginx.conf:14'),
    ('location /a { if ($uri) { content_by_lua_block { a() } content_by_lua_block { b() } } }', '[emerg] is duplicate in nginx.conf:14'),
    ('location /a { content_by_lua_block {} }', '[error] invalid location config: no runnable Lua code in nginx.conf:14'),
    # the log and filter handlers, at location and server level
    ('location /a { log_by_lua_block { a() } log_by_lua_block { b() } }', '[emerg] is duplicate in nginx.conf:14'),
    ('log_by_lua_block { a() } log_by_lua_block { b() }', '[emerg] is duplicate in nginx.conf:14'),
    ("location /a { header_filter_by_lua 'x()'; header_filter_by_lua 'y()'; }", '[emerg] "header_filter_by_lua" directive is duplicate in nginx.conf:14'),
    ("location /a { body_filter_by_lua_block { x() } body_filter_by_lua 'y()'; }", '[emerg] "body_filter_by_lua" directive is duplicate in nginx.conf:14'),
    ('location /a { body_filter_by_lua_block {} }', '[error] invalid location config: no runnable Lua code in nginx.conf:14'),
    ('location /a { log_by_lua ""; }', '[error] invalid location config: no runnable Lua code in nginx.conf:14'),
    ('location /a { rewrite_by_lua "" ; }', '[error] invalid location config: no runnable Lua code in nginx.conf:14'),
    # the Lua block lexer
    ('location /a { content_by_lua_block { ngx.say([[x) } }', '[emerg] Lua code block missing the closing long bracket "]]", the inlined Lua code may be too long in nginx.conf:14'),
    ('location /a { content_by_lua_block {\n  local s = --[==[\n\n }\n }', '[emerg] Lua code block missing the closing long bracket "]==]", the inlined Lua code may be too long in nginx.conf:15'),
    ('location /a { content_by_lua_block {\n [=[\n \n ]]\n } }', '[emerg] Lua code block missing the closing long bracket "]=]", the inlined Lua code may be too long in nginx.conf:15'),
    ('location /a { content_by_lua_block { local s = "a\\\n}" } }', '[emerg] unexpected end of file, expecting ";" or "}" in nginx.conf:18'),
    ('location /a { content_by_lua_block { ngx.say(1) }; }', '[emerg] unexpected ";" in nginx.conf:14'),
    ('location /a { content_by_lua_block { ngx.say(1) } ngx.say(2) }', '[emerg] unexpected "}" in nginx.conf:14'),
    # locations
    ('location ~~ /a {}', '[emerg] invalid location modifier "~~" in nginx.conf:14'),
    ('location ~ ( {}', '[emerg] pcre2_compile() failed: missing closing parenthesis in "(" in nginx.conf:14'),
    ('location ~ a) {}', '[emerg] pcre2_compile() failed: unmatched closing parenthesis in "a)" at ")" in nginx.conf:14'),
    ('location ~ *a {}', '[emerg] pcre2_compile() failed: quantifier does not follow a repeatable item in "*a" at "*a" in nginx.conf:14'),
    ('location ~ [a {}', '[emerg] pcre2_compile() failed: missing terminating ] for character class in "[a" in nginx.conf:14'),
    ('location @a { location /b {} }', '[emerg] location "/b" cannot be inside the named location "@a" in nginx.conf:14'),
    ('location /a { location /b {} }', '[emerg] location "/b" is outside location "/a" in nginx.conf:14'),
    ('location = /a { location /a/b {} }', '[emerg] location "/a/b" cannot be inside the exact location "/a" in nginx.conf:14'),
    ('location /a { location @b {} }', '[emerg] named location "@b" can be on the server level only in nginx.conf:14'),
    ('location ~ /a { location /b {} }', '[emerg] location "/b" is outside location "/a" in nginx.conf:14'),
    ('location /a {} location /a {}', '[emerg] duplicate location "/a" in nginx.conf:14'),
    ('location /a {\n}\nlocation /b {}\nlocation /a {}', '[emerg] duplicate location "/a" in nginx.conf:17'),
    ('location /a {} location ^~ /a {}', '[emerg] duplicate location "/a" in nginx.conf:14'),
    ('location /a { location /a/b {} location /a/b {} }', '[emerg] duplicate location "/a/b" in nginx.conf:14'),
    ('location /b {} location /b {} location /a {} location /a {}', '[emerg] duplicate location "/a" in nginx.conf:14'),
    ('location /a {} location = /a {} location ~ /a {} location ~ /a {} location @x {} location @x {}', 'OK'),
    # if
    ('location /a { if $uri { } }', '[emerg] invalid condition "$uri" in nginx.conf:14'),
    ('location /a { if ($uri { } }', '[emerg] invalid condition "$uri" in nginx.conf:14'),
    ('location /a { if () { } }', '[emerg] invalid condition ")" in nginx.conf:14'),
    ('location /a { if ($uri = b c) { } }', '[emerg] invalid condition "$uri" in nginx.conf:14'),
    ('location /a { if ($uri ~~ y) { } }', '[emerg] unexpected "~~" in condition in nginx.conf:14'),
    ('location /a { if (-q $uri) { } }', '[emerg] invalid condition "-q" in nginx.conf:14'),
    ('location /a { if ($uri ~* "(") { } }', '[emerg] pcre2_compile() failed: missing closing parenthesis in "(" in nginx.conf:14'),
    # accepted, and ignored by the model
    ('location /a { root /tmp; index index.html; default_type text/plain; }', 'OK'),
    ('lua_socket_read_timeout 1s; sendfile on; keepalive_timeout 0; server_name x; client_max_body_size 1m;', 'OK'),
]

FILE_ERRORS = [   # (whole file after the load_module lines, what nginx -t printed)
    ("events {}\nhttp { server { location / { content_by_lua_block {\n ngx.say(1)\n", '[emerg] unexpected end of file, expecting terminating characters for lua code block in nginx.conf:5'),
    ("events {}\nhttp { server { location / { content_by_lua_block {\n local t = {\n ngx.say('}')\n", '[emerg] unexpected end of file, expecting terminating characters for lua code block in nginx.conf:6'),
    ("events {}\nhttp { server { location / { echo x", '[emerg] unexpected end of file, expecting ";" or "}" in nginx.conf:5'),
    ("events {}\nhttp { server { location / { echo x;", '[emerg] unexpected end of file, expecting "}" in nginx.conf:5'),
    ("events {}\nhttp { server { location / { echo x; } } }\n}", '[emerg] unexpected "}" in nginx.conf:6'),
    ("events {}\nhttp {}\nhttp {}", '[emerg] "http" directive is duplicate in nginx.conf:6'),
    ("events {} events {}", '[emerg] "events" directive is duplicate in nginx.conf:4'),
    ("http { server { location / { echo x; } } }", '[emerg] no "events" section in configuration'),
    ("events {}\nserver {}", '[emerg] "server" directive is not allowed here in nginx.conf:5'),
    ("events {}\nlocation / {}", '[emerg] "location" directive is not allowed here in nginx.conf:5'),
    ("events { http {} }", '[emerg] "http" directive is not allowed here in nginx.conf:4'),
    ("events { foo; }", '[emerg] unknown directive "foo" in nginx.conf:4'),
    ("events {}\nhttp { server { server {} } }", '[emerg] "server" directive is not allowed here in nginx.conf:5'),
    ("events {}\nhttp { location / {} }", '[emerg] "location" directive is not allowed here in nginx.conf:5'),
    ("events {}\nhttp { server { if ($uri) { echo x; } } }", '[emerg] "echo" directive is not allowed here in nginx.conf:5'),
    ("events {}\nhttp { server { location / { if ($uri) { if ($uri) {} } } } }", '[emerg] "if" directive is not allowed here in nginx.conf:5'),
    ("events {}\nhttp { lua_thread_cache_max_entries abc; }", '[emerg] "lua_thread_cache_max_entries" directive invalid number in nginx.conf:5'),
    ("events {}\nhttp { lua_thread_cache_max_entries 1; lua_thread_cache_max_entries 2; }", '[emerg] "lua_thread_cache_max_entries" directive is duplicate in nginx.conf:5'),
    ("events {}\nlua_thread_cache_max_entries 1;", '[emerg] "lua_thread_cache_max_entries" directive is not allowed here in nginx.conf:5'),
    ("events {}\nhttp { lua_max_pending_timers -1; }", '[emerg] "lua_max_pending_timers" directive invalid number in nginx.conf:5'),
    ("events {}\nhttp { types { text/html html; } server { } }", 'OK'),
]


def model_says(text: str) -> str:
    try:
        load(text)
    except ConfigError as e:
        return e.nginx_line
    return "OK"


@pytest.mark.parametrize("body, expected", ERRORS)
def test_errors_in_a_server(body, expected):
    assert model_says(full(body)) == expected


@pytest.mark.parametrize("text, expected", FILE_ERRORS)
def test_errors_in_a_whole_file(text, expected):
    assert model_says(MODULES + text) == expected


def test_error_str_and_attributes():
    with pytest.raises(ConfigError) as info:
        load("location /a {\n  echo x;\n}\n}\n")
    e = info.value
    assert str(e) == 'unexpected "}" in nginx.conf:4'
    assert (e.message, e.filename, e.line, e.level) == ('unexpected "}"', "nginx.conf", 4, "emerg")
    assert e.nginx_line == '[emerg] unexpected "}" in nginx.conf:4'


def test_block_duplicate_names_the_directive():
    # nginx logs a bare "[emerg] is duplicate"; str() says which directive it is.
    with pytest.raises(ConfigError) as info:
        load("location /a {\n content_by_lua_block { a() }\n content_by_lua_block { b() }\n}")
    assert info.value.nginx_line == "[emerg] is duplicate in nginx.conf:3"
    assert str(info.value) == '"content_by_lua_block" directive is duplicate in nginx.conf:3'


def test_no_runnable_lua_is_an_error_level_message():
    with pytest.raises(ConfigError) as info:
        load("location /a { access_by_lua_block {} }")
    assert info.value.level == "error"
    assert str(info.value) == "invalid location config: no runnable Lua code in nginx.conf:1"


@pytest.mark.parametrize("body, name", [
    # all accepted by nginx -t (directive names from the installed build's ngx_command_t)
    ("location /a { content_by_lua_file x.lua; }", "content_by_lua_file"),
    ("location /a { log_by_lua_file x.lua; }", "log_by_lua_file"),
    ("location /a { header_filter_by_lua_file x.lua; }", "header_filter_by_lua_file"),
    ("location /a { try_files $uri =404; }", "try_files"),
    ("location /a { limit_rate 10; }", "limit_rate"),
    ("server_rewrite_by_lua_block { x() }", "server_rewrite_by_lua_block"),
    ("location /a { set_by_lua_block $x { return 1 } }", "set_by_lua_block"),
])
def test_valid_nginx_that_is_not_modelled(body, name):
    want = f'directive "{name}" is valid nginx but is not modelled by ngxcoro in nginx.conf:1'
    if not body.startswith("location"):
        with pytest.raises(ConfigError) as info:
            load(body)
        assert str(info.value) == want
        assert info.value.nginx_line is None
        return
    # reasoning: a location's directives only change what the requests reaching it get, so
    # the config loads and only a request that reaches /a is refused, with the same words
    config = load(body)
    assert config.servers[0].find_location("/a").refused == want
    import ngxcoro
    res = ngxcoro.run(body, "GET /a")
    assert res.refused and res.message == want + " (the location /a reached)"


def test_not_modelled_in_http_context():
    # init_by_lua_file is valid in http (nginx -t accepts it; the model reads no files)
    with pytest.raises(ConfigError) as info:
        load(MODULES + "events {}\nhttp { init_by_lua_file /x.lua; }")
    assert 'directive "init_by_lua_file" is valid nginx' in str(info.value)


def test_init_chunks_are_named_as_nginx_names_them():
    # recorded on nginx 1.22.1 + ngx_lua 0.10.23 (scenarios 750-): the http-level chunks are
    # named like the request ones, after the line of the directive (its "{" for a block);
    # MODULES is three lines
    config = load(MODULES + "events {}\nhttp {\ninit_by_lua_block { x = 1 }\n"
                  "init_worker_by_lua 'y = 2';\n}")
    assert config.init_by_lua.chunkname == "init_by_lua(nginx.conf:6)"
    assert config.init_worker_by_lua.chunkname == "init_worker_by_lua(nginx.conf:7)"


def test_init_handlers_once_per_http_block():
    # nginx 1.22.1 + ngx_lua 0.10.23 refused both (python -m ngxcoro compare): the block form
    # gives ngx_lua's bare message, the string form nginx's own; they share one slot
    head = "events {}\nhttp {\ninit_by_lua_block { A = 1 }\n"
    assert model_says(head + "init_by_lua_block { A = 2 }\n}") == \
        "[emerg] is duplicate in nginx.conf:4"
    assert model_says(head + "init_by_lua 'A = 2';\n}") == \
        '[emerg] "init_by_lua" directive is duplicate in nginx.conf:4'


def test_errors_come_in_nginx_order():
    # nginx stops at the first problem in file order: the unknown directive on line 1, not
    # the stray "}" later (reasoning: ngx_conf_handler runs as each directive is read).
    assert model_says("foo;\nlocation /a { }\n}") == '[emerg] unknown directive "foo" in nginx.conf:1'
    assert model_says("location /a { }\n}\nfoo;") == '[emerg] unexpected "}" in nginx.conf:2'


# ---------------------------------------------------------------------------------------------
# Location matching (ngx_http_core_find_location)
# ---------------------------------------------------------------------------------------------

LOCATIONS = r'''location = / { return 200 "= /"; }
location / { return 200 "/"; }
location /images/ { return 200 "/images/"; }
location ^~ /static/ { return 200 "^~ /static/"; }
location ~* \.(gif|jpg)$ { return 200 "~* gif|jpg"; }
location ~ ^/images/.*\.png$ { return 200 "~ images png"; }
location = /exact { return 200 "= /exact"; }
location /exact { return 200 "/exact"; }
location ~ ^/ex { return 200 "~ ^/ex"; }
location /a { return 200 "/a"; location /a/b { return 200 "/a/b"; } location ~ c$ { return 200 "/a ~ c-end"; } }
location ~ /r/ { return 200 "~ /r/"; location ~ /r/x { return 200 "~ /r/ ~ /r/x"; } location /r/ { return 200 "~ /r/ /r/"; } }
location ^~ /n { return 200 "^~ /n"; location ~ x { return 200 "^~ /n ~ x"; } }
location ~ z$ { return 200 "~ z-end"; }
location ~ ^/case$ { return 200 "~ ^/case-end"; }
location ~* ^/icase$ { return 200 "~* ^/icase-end"; }
location ~ "^/cap/(?<name>[a-z]+)/[[:digit:]]{2}$" { return 200 "~ named capture, posix class"; }
location @named { return 200 "@named"; }'''

MATCHES = [   # (URI, the body nginx returned)
    ("/", "= /"),                       # exact wins
    ("/index.html", "/"),
    ("/images/", "/images/"),
    ("/images/a.png", "~ images png"),  # a regex beats the longest prefix
    ("/images/a.gif", "~* gif|jpg"),    # regexes in config order: the first match wins
    ("/static/a.gif", "^~ /static/"),   # ^~ stops the regex search
    ("/static/", "^~ /static/"),
    ("/x.JPG", "~* gif|jpg"),
    ("/exact", "= /exact"),
    ("/exact/", "~ ^/ex"),
    ("/exactly", "~ ^/ex"),
    ("/ex", "~ ^/ex"),
    ("/a", "/a"),
    ("/a/b", "/a/b"),                   # nested prefix
    ("/a/bc", "/a ~ c-end"),            # nested regex of the outer prefix
    ("/a/c", "/a ~ c-end"),
    ("/ac", "/a ~ c-end"),
    ("/az", "~ z-end"),
    ("/r/", "~ /r/"),
    ("/r/x", "~ /r/ ~ /r/x"),           # nested regex inside a regex location
    ("/r/y", "~ /r/"),                  # ... but never a nested prefix there
    ("/n", "^~ /n"),
    ("/nx", "^~ /n ~ x"),               # ^~ still searches its own nested regexes
    ("/nz", "^~ /n"),
    ("/z", "~ z-end"),
    ("/case", "~ ^/case-end"),
    ("/CASE", "/"),
    ("/icase", "~* ^/icase-end"),
    ("/ICASE", "~* ^/icase-end"),
    ("/cap/abc/12", "~ named capture, posix class"),
    ("/cap/abc/123", "/"),
    ("/@named", "/"),                   # named locations are not reachable by URI
]


@pytest.mark.parametrize("uri, expected", MATCHES)
def test_find_location(uri, expected):
    server = load(LOCATIONS).server
    loc = server.find_location(uri)
    assert [d.args[1] for d in loc.directives if d.name == "return"] == [expected]


def test_no_location_and_named_locations():
    # reasoning: with no "/" location nothing matches; named locations only by name
    server = load("location /a { echo a; }\nlocation @x { echo x; }\nlocation @x { echo y; }").server
    assert server.find_location("/b") is None
    assert server.named("@x").directives[0].args == ["x"]      # the first one defined
    assert server.named("x") is server.named("@x")
    assert server.named("@y") is None


def test_location_modifiers():
    # ngx_http_core_location also accepts the modifier glued to the name
    mods = [(l.modifier, l.pattern) for l in load(
        "location =/e {} location ^~/n {} location ~*\\.X {} location ~/r {} location @at {} "
        "location ^/p {}").server.locations]
    assert mods == [("=", "/e"), ("^~", "/n"), ("~*", r"\.X"), ("~", "/r"), ("@", "@at"),
                    ("", "^/p")]


@pytest.mark.parametrize("pattern, uri, matches", [
    # nginx, asked for the percent-encoded URI (it matches the decoded one)
    (r"^/a\z", "/a", True),
    (r"^/a\z", "/a\n", False),             # /a%0A
    (r"^/a\Z", "/a\n", True),              # PCRE's \Z allows a final newline
    (r"/(?'n'\d+)$", "/12", True),
    (r"^/[[:alpha:]]+$", "/abc", True),
    (r"^/[[:alpha:]]+$", "/ab1", False),
    (r"^/x{,2}$", "/x{,2}", True),          # /x%7B,2%7D: "{,2}" is a literal for PCRE2
    (r"^/x{,2}$", "/x", False),
    (r"^/\w+$", "/caf\u00e9", False),       # /caf%C3%A9: ASCII classes
    (r"^/\w+$", "/cafe", True),
])
def test_regex_translation(pattern, uri, matches):
    loc = load(f'location ~ "{pattern}" {{ }}').server.find_location(uri)
    assert (loc is not None) == matches


def test_pcre_only_syntax_is_refused():
    # nginx accepts '\p{L}' in quotes (PCRE Unicode property); Python's re has no \p
    with pytest.raises(ConfigError) as info:
        load('location ~ "^/\\p{L}+$" { }')
    assert info.value.nginx_line is None
    assert str(info.value) == ('ngxcoro cannot run the PCRE regex "^/\\p{L}+$": "\\p" has no '
                               'Python re equivalent in nginx.conf:1')


# ---------------------------------------------------------------------------------------------
# What load builds
# ---------------------------------------------------------------------------------------------

def test_bare_server_text():
    config = load("\n\nlocation /t {\n  content_by_lua_block {\n    ngx.say('hi')\n  }\n}\n")
    assert config.kind == "server" and len(config.servers) == 1
    loc = config.server.locations[0]
    assert (loc.line, loc.content_by_lua.chunkname) == (3, "content_by_lua(nginx.conf:4)")
    assert loc.content_by_lua.source == "\n    ngx.say('hi')\n  "


def test_server_blocks_text():
    config = load("server { listen 8080; server_name a b; location / { echo a; } }\n"
                  "server {\n listen 8081 default_server;\n location / { echo b; }\n}\n")
    assert config.kind == "http"
    assert [s.listen for s in config.servers] == [[["8080"]], [["8081", "default_server"]]]
    assert [s.line for s in config.servers] == [1, 2]
    assert [s.server_name for s in config.servers] == ["a", ""]


def test_whole_file_keeps_file_lines():
    config = load(E1_CONF)
    assert config.kind == "main"
    assert config.server.listen == [["127.0.0.1:8080"]]
    assert [l.line for l in config.server.locations][:3] == [14, 15, 21]
    # main has "error_log logs/error.log info;" and nothing overrides it
    assert config.error_log_level == "info"


def test_mime_types_include_is_ignored():
    config = load(MODULES + "events {}\nhttp {\n include mime.types;\n types { text/html html; }\n"
                  " server { location / { echo x; } }\n}\n")
    assert config.server.find_location("/").content_handler == "echo"


def test_location_parts():
    loc = load("location /t {\n internal;\n set $a 1;\n rewrite_by_lua_block { a() }\n"
               " access_by_lua 'b()';\n echo_location_async /sub;\n echo_sleep 0.1;\n"
               " content_by_lua_block { c() }\n gzip on;\n}").server.locations[0]
    assert [d.name for d in loc.directives] == ["internal", "set", "echo_location_async",
                                                "echo_sleep"]
    assert loc.internal
    assert (loc.rewrite_by_lua.source, loc.access_by_lua.source) == (" a() ", "b()")
    assert loc.rewrite_by_lua.chunkname == "rewrite_by_lua(nginx.conf:4)"
    assert loc.access_by_lua.chunkname == "access_by_lua(nginx.conf:5)"


@pytest.mark.parametrize("body, handler", [
    # nginx answered each with the last content handler's output: "echo", "lua", "lua"
    ('content_by_lua_block { ngx.say("lua") } echo echo;', "echo"),
    ('echo echo; content_by_lua_block { ngx.say("lua") }', "content_by_lua_block"),
    ('proxy_pass http://127.0.0.1:1; content_by_lua_block { ngx.say("lua") }', "content_by_lua_block"),
    # echo_status and echo_before_body did not replace the Lua handler ("lua", "before\nlua")
    ('content_by_lua_block { ngx.say("lua") } echo_status 201;', "content_by_lua_block"),
    ('echo_before_body before; content_by_lua_block { ngx.say("lua") }', "content_by_lua_block"),
    ('return 201 ret;', None),
])
def test_content_handler_is_the_last_one(body, handler):
    assert load(f"location /x {{ {body} }}").server.locations[0].content_handler == handler


def test_settings_are_inherited_inwards():
    # reasoning: these are loc-conf settings merged http -> server -> location -> nested
    # location (ngx_http_lua_merge_loc_conf, ngx_http_core_merge_loc_conf); the
    # lua_thread_cache_max_entries & co. are http (main conf) only.
    config = load(MODULES + "events {}\nhttp {\n lua_check_client_abort on;\n"
                  " lua_thread_cache_max_entries 8;\n server {\n  postpone_output 0;\n"
                  "  location /a {\n   lua_need_request_body on;\n   location /a/b {\n"
                  "    lua_check_client_abort off;\n    satisfy any;\n   }\n  }\n  location /c { }\n"
                  " }\n}\n")
    assert config.settings["lua_check_client_abort"] is True
    assert config.settings["lua_thread_cache_max_entries"] == 8
    a = config.server.locations[0]
    b, c = a.locations[0], config.server.locations[1]
    assert (a.settings["lua_check_client_abort"], a.settings["lua_need_request_body"]) == (True, True)
    assert (b.settings["lua_check_client_abort"], b.settings["lua_need_request_body"]) == (False, True)
    assert b.settings["satisfy"] == "any" and a.settings["satisfy"] == "all"
    assert c.settings == {**DEFAULT_SETTINGS, "lua_check_client_abort": True,
                          "lua_thread_cache_max_entries": 8, "postpone_output": 0}
    assert b.settings["lua_thread_cache_max_entries"] == 8


def test_error_log_levels():
    # reasoning: ngx_log_set_levels; the innermost level with error_log wins and, with
    # several logs there, the most verbose one; the default is "error".
    assert load("location / { }").error_log_level == "error"
    config = load(MODULES + "error_log a.log warn;\nevents {}\nhttp {\n error_log b.log notice;\n"
                  " server { location / { error_log c.log debug_http; } location /x { } }\n"
                  " server { error_log d.log crit; error_log e.log info; }\n}\n")
    first, second = config.servers
    assert first.error_log_level == "notice" and config.error_log_level == "notice"
    assert [l.error_log_level for l in first.locations] == ["debug", "notice"]
    assert second.error_log_level == "info"
    assert load("error_log stderr;").error_log_level == "error"


# ---------------------------------------------------------------------------------------------
# Against the installed nginx (tests/conftest.py skips these without it, or fails them in CI)
# ---------------------------------------------------------------------------------------------

NGINX = os.environ.get("NGXCORO_NGINX", "/usr/sbin/nginx")
MODULES_DIR = os.environ.get("NGXCORO_NGINX_MODULES", "/usr/lib/nginx/modules")


def nginx_prefix(tmp_path, text):
    (tmp_path / "conf").mkdir()
    (tmp_path / "logs").mkdir()
    text = text.replace("/usr/lib/nginx/modules", MODULES_DIR)     # same number of lines
    (tmp_path / "conf" / "nginx.conf").write_text(text)
    return str(tmp_path)


def nginx_t(tmp_path, text):
    prefix = nginx_prefix(tmp_path, text)
    r = subprocess.run([NGINX, "-t", "-q", "-p", prefix, "-c", "conf/nginx.conf",
                        "-e", "logs/error.log"], capture_output=True, text=True)
    if r.returncode == 0:
        return "OK"
    first = r.stderr.splitlines()[0].replace(prefix + "/conf/", "")
    return first.removeprefix("nginx: ")


@pytest.mark.nginx
@pytest.mark.parametrize("body, expected", ERRORS)
def test_errors_against_nginx(tmp_path, body, expected):
    assert nginx_t(tmp_path, full(body, 1)) == expected


@pytest.mark.nginx
@pytest.mark.parametrize("text, expected", FILE_ERRORS)
def test_file_errors_against_nginx(tmp_path, text, expected):
    assert nginx_t(tmp_path, MODULES + text) == expected


@pytest.mark.nginx
def test_chunk_names_against_nginx(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prefix = nginx_prefix(tmp_path, full("\n".join(E1), port))
    proc = subprocess.Popen([NGINX, "-p", prefix, "-c", "conf/nginx.conf", "-e", "logs/error.log"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        for uri in sorted(E1_LOG):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", uri)
            assert conn.getresponse().status == 500
            conn.close()
    finally:
        proc.terminate()
        proc.wait(10)
    log = (tmp_path / "logs" / "error.log").read_text()
    for message in E1_LOG.values():
        assert f"lua entry thread aborted: runtime error: {message}\nstack traceback:" in log


def test_log_and_filter_handlers_are_inherited_inwards():
    """Reasoning from ngx_http_lua_merge_loc_conf (src/ngx_http_lua_module.c): a location
    without its own log_by_lua* / header_filter_by_lua* / body_filter_by_lua* takes its
    enclosing block's (http -> server -> location -> nested location); its own replaces it.
    The chunk keeps the name of the directive that made it (scenario 619 runs this)."""
    text = ("events {}\nhttp {\n"
            "  log_by_lua_block { a() }\n"
            "  server {\n"
            "    header_filter_by_lua_block { b() }\n"
            "    location /x { location /x/y { body_filter_by_lua_block { c() } } }\n"
            "    location /z { log_by_lua_block { d() } }\n"
            "  }\n}\n")
    config = load(text)
    x, z = config.servers[0].locations
    y = x.locations[0]
    names = lambda loc: {k: v.chunkname for k, v in loc.settings.items() if k.endswith("_by_lua")}
    assert names(x) == {"log_by_lua": "log_by_lua(nginx.conf:3)",
                        "header_filter_by_lua": "header_filter_by_lua(nginx.conf:5)"}
    assert names(y) == dict(names(x), body_filter_by_lua="body_filter_by_lua(nginx.conf:6)")
    assert names(z) == dict(names(x), log_by_lua="log_by_lua(nginx.conf:7)")
    assert config.lua_phases == {"log", "header_filter", "body_filter"}
