"""The order of an args table's keys (ngx_lua/args.py).

Real nginx walks an args table with lua_next. On this machine's nginx (libluajit2
2.1-20230119) ``ngx.encode_args({a = 1, b = 2, c = 3})`` printed ``a=1&c=3&b=2``,
``b=2&a=1&c=3`` and ``b=2&c=3&a=1`` in three nginx processes one after the other (LuaJIT
seeds its string hashes at random when it makes a state), and the capture and exec debug
lines carry the uri in that order, so no scenario can pin it (412 prints only what does not
depend on it). The model takes the keys sorted, the same every run, and says so in the
run's notes; a table with one order only (one key, or one key with a list) gives no note
and matches nginx (scenario 411).
"""
from __future__ import annotations

import ngxcoro

CONF = """location /t {
    content_by_lua_block {
        ngx.say(ngx.encode_args(%s))
    }
}"""


def _run(table):
    return ngxcoro.run(CONF % table, "GET /t")


def test_several_keys_sorted_with_a_note():
    for _ in range(3):
        res = _run('{c = 3, a = 1, b = "x y"}')
        assert res.body == "a=1&b=x%20y&c=3\n"
        assert any("args table of several keys (a, b, c)" in n and "lua_next" in n
                   for n in res.notes), res.notes


def test_one_order_only_no_note():
    res = _run('{k = {"2", "1", true, false}}')
    assert res.body == "k=2&k=1&k\n"
    assert not any("args table" in n for n in res.notes)
    assert not any("args table" in n for n in _run("{solo = 1}").notes)
