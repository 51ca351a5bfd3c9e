"""The layout is the C source tree: checks a reader can rely on.

Reasoning, not recordings: each test states a rule of ngxcoro's layout
(ARCHITECTURE.md) and reads the source to check it.
* every module of ngxcoro/ngx_lua and ngxcoro/nginx names the C files it
  mirrors in the first paragraph of its docstring (a Lua half in the first
  comment block of its file), and each C file has one home: one module
  (for ngx_lua one stem, whose .py and .lua halves sit side by side).  The
  configuration side of a C file (its ngx_command_t table, cmd->set
  handlers, the location tree built at start-up) lives in the nginx.conf
  reader, ngxcoro/nginx/conf, which counts as one home of its own;
* nginx core (ngxcoro/nginx) never imports lua-nginx-module: ngx_lua plugs
  in through the function pointers the worker wires up;
* the explicit map of C functions names functions that exist, and each
  says the same C function in its docstring; a function whose docstring
  starts with an `ngx_http_*` name is in the map;
* every event the model fires is in the registry, and every registry entry
  is fired somewhere;
* every P.* the Lua shims call has a Python half in some module's API;
* no Python module is over 500 lines.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re

import pytest

PKG = pathlib.Path(__file__).resolve().parent.parent / "ngxcoro"
LUA_C = re.compile(r"\b(?:src/)?ngx_http_lua_(\w+)\.[ch]\b|(?<=[\s,(])_(\w+)\.c\b")
NGINX_C = re.compile(r"\b(ngx_(?!http_lua_)\w+\.[ch])\b")


def _py_modules(folder):
    return sorted(p for p in (PKG / folder).glob("*.py") if p.name != "__init__.py")


def _first_paragraph(text):
    return text.strip().split("\n\n")[0]


def _lua_files_named(text):
    return {"ngx_http_lua_" + (a or b) + ".c" for a, b in LUA_C.findall(text)}


def _docstring_head(p):
    return _first_paragraph(ast.get_docstring(ast.parse(p.read_text())) or "")


def _homes():
    """C file -> the modules whose first paragraph names it (ngx_lua: by stem)."""
    homes = {}
    for p in _py_modules("nginx"):
        for c in NGINX_C.findall(_docstring_head(p)):
            homes.setdefault(c, set()).add(f"nginx/{p.stem}")
    for p in _py_modules("ngx_lua"):
        doc = ast.get_docstring(ast.parse(p.read_text())) or ""
        for c in _lua_files_named(_first_paragraph(doc)):
            homes.setdefault(c, set()).add(p.stem)
    for p in sorted((PKG / "ngx_lua" / "lua").glob("*.lua")):
        head = []
        for line in p.read_text().splitlines():
            if not line.startswith("--"):
                break
            head.append(line.lstrip("-").strip())
        for c in _lua_files_named(" ".join(head)):
            homes.setdefault(c, set()).add(p.stem)
    return homes


def test_each_module_names_its_c_files():
    exempt = {"protocol", "vm"}          # no C file: the protocol, and the Lua C API
    for p in _py_modules("ngx_lua"):
        if p.stem not in exempt:
            assert _lua_files_named(_docstring_head(p)), f"{p.name} names no C file"
    for p in _py_modules("nginx") + sorted((PKG / "nginx" / "conf").glob("*.py")):
        if p.name != "__init__.py" or p.parent.name == "conf":
            head = _docstring_head(p)
            assert NGINX_C.search(head) or _lua_files_named(head), f"{p} names no C file"


# the one C file with two homes, and why: util.py is held at 500 lines (the limit
# below), so the fake connection and request of ngx_http_lua_util.c (a timer's, made by
# ngx_http_lua_create_fake_connection / _request, ended by ngx_http_lua_finalize_fake_request
# and the functions it calls) are in a module of their own; util.py keeps the rest
# ngx_http_lua_socket_tcp.c (about 6000 lines of C) has six: the object and connect
# (socket_tcp, with the Lua half), the event handlers and wake-ups (socket_tcp_event),
# the methods that never wait (socket_tcp_send), the receive side (socket_tcp_read),
# the request socket (socket_tcp_req) and the keepalive pool (socket_tcp_pool)
SPLIT = {"ngx_http_lua_util.c": ["fake_request", "util"],
         "ngx_http_lua_socket_tcp.c": ["socket_tcp", "socket_tcp_event", "socket_tcp_pool",
                                       "socket_tcp_read", "socket_tcp_req", "socket_tcp_send"]}


def test_each_c_file_has_one_home():
    homes = _homes()
    assert "ngx_http_lua_util.c" in homes and "ngx_http_lua_contentby.c" in homes
    shared = {c: sorted(stems) for c, stems in homes.items()
              if len(stems) > 1 and SPLIT.get(c) != sorted(stems)}
    assert not shared, f"C files with more than one home: {shared}"


def test_nginx_core_does_not_import_ngx_lua():
    for p in sorted((PKG / "nginx").rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                assert "ngx_lua" not in mod, f"{p.relative_to(PKG)} imports {mod}"


def _function(key):
    mod, _, name = key.rpartition(".")
    return getattr(importlib.import_module("ngxcoro." + mod), name, None)


def test_c_function_map_names_existing_functions():
    from ngxcoro.trace.cfunctions import C_FUNCTIONS
    for key, c_name in C_FUNCTIONS.items():
        f = _function(key)
        assert inspect.isfunction(f), f"{key} is not a function"
        assert c_name in (f.__doc__ or ""), f"{key}'s docstring does not say {c_name}"


def test_functions_named_after_a_c_function_are_in_the_map():
    from ngxcoro.trace.cfunctions import C_FUNCTIONS
    missing = []
    for folder in ("nginx", "ngx_lua"):
        for p in _py_modules(folder):
            mod = importlib.import_module(f"ngxcoro.{folder}.{p.stem}")
            for name, f in vars(mod).items():
                if not inspect.isfunction(f) or f.__module__ != mod.__name__:
                    continue
                m = re.match(r"(ngx_http_\w+)", (f.__doc__ or "").strip())
                if m and C_FUNCTIONS.get(f"{folder}.{p.stem}.{name}") != m.group(1):
                    missing.append(f"{folder}.{p.stem}.{name} -> {m.group(1)}")
    assert not missing, missing


def _fired():
    fired = set()
    for p in sorted(PKG.rglob("*.py")):
        fired |= set(re.findall(r"\bfire\(\s*\"(\w+)\"", p.read_text()))
    return fired


def test_every_fired_event_is_registered_and_every_entry_fired():
    from ngxcoro.trace.events import EVENTS
    fired = _fired()
    assert fired - set(EVENTS) == set(), "fired but not in trace/events.py"
    assert set(EVENTS) - fired == set(), "in trace/events.py but never fired"


def test_every_shim_call_has_a_python_half():
    from ngxcoro.worker import API_MODULES
    api = set()
    for m in API_MODULES:
        api |= set(m.API)
    called = set()
    for p in sorted((PKG / "ngx_lua" / "lua").glob("*.lua")):
        called |= set(re.findall(r"\bP\.(\w+)\(", p.read_text()))
        called |= set(re.findall(r"\bP\[\"(\w+)\"\]", p.read_text()))
    # simple("name") shims call P[name]
    for p in sorted((PKG / "ngx_lua" / "lua").glob("*.lua")):
        called |= set(re.findall(r"\bsimple\(\"(\w+)\"\)", p.read_text()))
    assert called - api == set(), "Lua calls P.* with no Python half"
    assert api - called == set(), "a Python half no shim calls"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py")))
def test_no_module_over_500_lines(path):
    n = len((PKG / path).read_text().splitlines())
    assert n <= 500, f"{path} has {n} lines"
