"""The order of an args table's keys (src/ngx_http_lua_args.c): the Python half of lua/args.lua.

ngx_http_lua_process_args_option (behind ``ngx.encode_args``, the ``args`` option of
``ngx.location.capture`` and ``ngx.exec``'s args table) walks the table with ``lua_next``.
For string keys that order follows LuaJIT's string hashes, and LuaJIT seeds them at random
when it makes a Lua state: on real nginx (Debian 12's libluajit2 2.1-20230119) one table of
several keys, say ``{a = 1, b = 2, c = 3}``, encodes as ``a=1&c=3&b=2`` in one nginx process
and ``b=2&c=3&a=1`` in the next; the model's own LuaJIT (lupa's) shuffles the same way from
one run to the next. No order can agree with a given nginx run, so the model takes the keys
in sorted order (the same answer every run) and says so in a note of the run
(``Result.notes``). A table of one key, or of one key whose value is an array (its values
go in array order), has one order only: the model and nginx agree on it.
"""
from __future__ import annotations

from .protocol import ret


def args_sorted(w, keys):
    """The shim encoded an args table of several string keys in sorted order: remember the
    first such table's keys (a comma-separated string) for the run's note."""
    if getattr(w, "args_sorted", None) is None:
        w.args_sorted = keys.decode("utf-8", "replace") if isinstance(keys, bytes) else str(keys)
    return ret()


def args_note(w):
    """The run's note when an args table of several keys was encoded (None otherwise)."""
    keys = getattr(w, "args_sorted", None)
    if keys is None:
        return None
    return (f"an args table of several keys ({keys}) was encoded in sorted key order; real "
            "nginx walks it with lua_next, whose order for string keys changes from one nginx "
            "process to the next (LuaJIT seeds its string hashes at random), so nginx may give "
            "the pairs in any order")


API = {"args_sorted": args_sorted}
