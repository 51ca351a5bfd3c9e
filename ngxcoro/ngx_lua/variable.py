"""ngx.var.NAME (src/ngx_http_lua_variable.c).

Reading goes to nginx's variables (`ngxcoro.nginx.variables`); writing is
allowed for variables made by `set` (and $args), as in nginx.
"""
from __future__ import annotations

from ..nginx.variables import CHANGEABLE, CORE_NAMES, request_variable, declared_vars
from .protocol import ret, err


def var_get(w, name):
    """ngx.var.NAME (ngx_http_lua_var_get); ngx.var[N] is the Nth capture of
    the location's regex, nil when there is none or it did not take part."""
    if isinstance(name, (int, float)):
        caps = getattr(w.cur_r, "captures", ())
        n = int(name)
        v = caps[n] if 0 < n < len(caps) else None
        return ret(None if v is None else v.encode("latin-1", "replace"))
    name = name.decode("latin-1").lower() if isinstance(name, bytes) else str(name)
    v = request_variable(w.cur_r, name)
    return ret(None if v is None else v.encode("latin-1", "replace"))


def var_set(w, name, value):
    """ngx.var.NAME = v (ngx_http_lua_var_set): only variables made by `set`."""
    r = w.cur_r
    name = name.decode("latin-1").lower() if isinstance(name, bytes) else str(name)
    if name in r.set_vars or name in declared_vars(r.worker) or name == "args":
        if value is None:
            value = b""
        if not isinstance(value, (bytes, int, float)):
            return err("bad variable value")
        sval = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if name == "args":
            r.args = sval
        else:
            r.set_vars[name] = sval
        return ret()
    if name in CORE_NAMES and name not in CHANGEABLE:
        return err(f'variable "{name}" not changeable')
    return err(f'variable "{name}" not found for writing; maybe it is a built-in variable '
               f'that is not changeable or you forgot to use "set ${name} \'\';" in the '
               f'config file to define it first')


API = {"var_get": var_get, "var_set": var_set}
