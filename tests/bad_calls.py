"""The bad calls of tests/test_bad_calls.py: one modelled API called with arguments it
refuses, each in its own request, unprotected (no pcall), so the answer is nginx's:
status, body and error log.

CASES maps a name to (phase, Lua lines). The chunk runs in `phase`_by_lua_block of
`location = /t` (nginx.conf:2, so the first Lua line is line 3); a rewrite or access
chunk is followed by an echo content handler, so a call that does not fail shows. Two
helper locations, /sub (echo) and /lua (Lua), are targets for exec and capture.

tests/record_bad_calls.py records CASES on real nginx into tests/bad_calls.json.
"""
from __future__ import annotations

CASES = {
    # ngx.sleep (ngx_http_lua_sleep.c)
    "sleep string": ("content", ['ngx.sleep("a")']),
    "sleep no argument": ("content", ["ngx.sleep()"]),
    "sleep two arguments": ("content", ["ngx.sleep(1, 2)"]),
    "sleep negative": ("content", ["ngx.sleep(-1)"]),
    "sleep table in rewrite": ("rewrite", ["ngx.sleep({})"]),
    # ngx.say / ngx.print (ngx_http_lua_output.c)
    "say function": ("content", ["ngx.say(print)"]),
    "say hash table": ("content", ["ngx.say({a = 1})"]),
    "print nested bad": ("content", ['ngx.print({"a", {true}, print})']),
    "say thread": ("content", ["ngx.say(coroutine.create(function() end))"]),
    "print second argument": ("content", ['ngx.print("a", print)']),
    # ngx.flush / ngx.eof
    "flush two arguments": ("content", ["ngx.flush(true, 1)"]),
    "eof one argument": ("content", ["ngx.eof(1)"]),
    # ngx.thread.* (ngx_http_lua_uthread.c)
    "spawn number": ("content", ["ngx.thread.spawn(1)"]),
    "spawn nothing": ("content", ["ngx.thread.spawn()"]),
    "wait number": ("content", ["ngx.thread.wait(1)"]),
    "wait nothing": ("content", ["ngx.thread.wait()"]),
    "wait plain coroutine": ("content", ["ngx.thread.wait(coroutine.create(function() end))"]),
    "kill number": ("content", ["ngx.thread.kill(1)"]),
    "kill nothing": ("content", ["ngx.thread.kill()"]),
    "kill plain coroutine": ("content", ["ngx.thread.kill(coroutine.create(function() end))"]),
    # coroutine.* (ngx_http_lua_coroutine.c)
    "create number": ("content", ["coroutine.create(1)"]),
    "resume number": ("content", ["coroutine.resume(1)"]),
    "resume nothing": ("content", ["coroutine.resume()"]),
    "wrap number": ("content", ["coroutine.wrap(1)"]),
    "status number": ("content", ["coroutine.status(1)"]),
    "status nothing": ("content", ["coroutine.status()"]),
    # ngx.exit / ngx.exec / ngx.redirect (ngx_http_lua_control.c)
    "exit string": ("content", ['ngx.exit("a")']),
    "exit nothing": ("content", ["ngx.exit()"]),
    "exit two arguments": ("content", ["ngx.exit(200, 1)"]),
    "exit numeric string": ("content", ['ngx.say("x")', 'ngx.exit("200")']),
    "exec nothing": ("content", ["ngx.exec()"]),
    "exec empty uri": ("content", ['ngx.exec("")']),
    "exec table uri": ("content", ["ngx.exec({})"]),
    "exec boolean args": ("content", ['ngx.exec("/sub", true)']),
    "exec three arguments": ("content", ['ngx.exec("/sub", "a=1", 1)']),
    "exec after output": ("content", ['ngx.say("x")', 'ngx.exec("/sub")']),
    "redirect nothing": ("content", ["ngx.redirect()"]),
    "redirect status 200": ("content", ['ngx.redirect("/sub", 200)']),
    "redirect string status": ("content", ['ngx.redirect("/sub", "a")']),
    "redirect table uri": ("content", ["ngx.redirect({})"]),
    "redirect after output": ("content", ['ngx.say("x")', 'ngx.redirect("/sub")']),
    # ngx.location.capture (ngx_http_lua_subrequest.c)
    "capture nothing": ("content", ["ngx.location.capture()"]),
    "capture number options": ("content", ['ngx.location.capture("/sub", 1)']),
    "capture bad method": ("content", ['ngx.location.capture("/sub", {method = "GET"})']),
    "capture boolean args": ("content", ['ngx.location.capture("/sub", {args = true})']),
    "capture number body": ("content", ['ngx.location.capture("/sub", {body = 1})']),
    "capture empty uri": ("content", ['ngx.location.capture("")']),
    "capture_multi number": ("content", ["ngx.location.capture_multi(1)"]),
    "capture_multi empty": ("content", ["ngx.location.capture_multi({})"]),
    "capture_multi bad entry": ("content", ["ngx.location.capture_multi({1})"]),
    # ngx.req.set_uri (ngx_http_lua_uri.c)
    "set_uri nothing": ("rewrite", ["ngx.req.set_uri()"]),
    "set_uri empty": ("rewrite", ['ngx.req.set_uri("")']),
    "set_uri table": ("rewrite", ["ngx.req.set_uri({})"]),
    "set_uri jump in content": ("content", ['ngx.req.set_uri("/sub", true)']),
    "set_uri jump in access": ("access", ['ngx.req.set_uri("/sub", true)']),
    # ngx.var (ngx_http_lua_variable.c, resty.core.var)
    "var unknown write": ("content", ['ngx.var.no_such_var = "a"']),
    "var read-only write": ("content", ['ngx.var.uri = "/x"']),
    "var number name": ("content", ["local v = ngx.var[1]", 'ngx.say("v=", v)']),
    "var table name": ("content", ["local v = ngx.var[{}]"]),
    # ngx.log (ngx_http_lua_log.c)
    "log string level": ("content", ['ngx.log("a", "msg")']),
    "log big level": ("content", ['ngx.log(99, "msg")']),
    "log nothing": ("content", ["ngx.log()"]),
    "log table message": ("content", ["ngx.log(ngx.ERR, {})"]),
    # a second round: conversions the C API makes
    "exit boolean": ("content", ["ngx.exit(true)"]),
    "exit float": ("content", ['ngx.say("x")', "ngx.exit(404.9)"]),
    "capture table uri": ("content", ["ngx.location.capture({})"]),
    "capture_multi two arguments": ("content", ['ngx.location.capture_multi({{"/sub"}}, 1)']),
    "capture_multi three-element query": ("content",
                                          ['ngx.location.capture_multi({{"/sub", {}, 1}})']),
    "capture ctx string": ("content", ['ngx.location.capture("/sub", {ctx = "a"})']),
    "redirect numeric string status": ("content", ['ngx.redirect("/sub", "301")']),
    "exec number uri": ("content", ["ngx.exec(1)"]),
    "exec number args": ("content", ['ngx.exec("/sub?a=1", 2)']),
    "spawn C function": ("content", ["ngx.thread.spawn(print)"]),
    "log numeric string level": ("content", ['ngx.log("4", "msg")', 'ngx.say("ok")']),
    "log negative level": ("content", ['ngx.log(-1, "msg")']),
    "var arg write": ("content", ['ngx.var.arg_a = "1"']),
    "var args write number": ("content", ["ngx.var.args = 5", 'ngx.say(ngx.var.args)']),
    "sleep numeric string": ("content", ['ngx.sleep("0.001")', 'ngx.say("ok")']),
    "sleep letter string": ("content", ['ngx.sleep("1a")']),
    "set_uri number": ("rewrite", ["ngx.req.set_uri(1)"]),
}


def config(name: str) -> str:
    """The server-block text of case `name`."""
    phase, lines = CASES[name]
    chunk = "".join(f"        {line}\n" for line in lines)
    body = f"    {phase}_by_lua_block {{\n{chunk}    }}\n"
    if phase != "content":
        body += '    echo "after $uri";\n'
    return ("location = /t {\n" + body + "}\n"
            'location /sub {\n    echo "sub $uri $args";\n}\n'
            'location /lua {\n    content_by_lua_block { ngx.say("lua ", ngx.var.uri) }\n}\n')
