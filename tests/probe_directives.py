#!/usr/bin/env python3
"""Ask the installed nginx (nginx -t) how many arguments each directive takes and what kind
of value a one-argument directive wants; prints the tables of ngxcoro/nginx/conf/commands.py
(``ARGS`` and ``VALUES``).

    python3 tests/probe_directives.py > /tmp/probe.txt

For every name of commands.KNOWN, in the first context it is allowed in, nginx -t is run
with 0..8 arguments ("1"): the counts it does not refuse with ``invalid number of arguments``
are the directive's ``NGX_CONF_TAKE*`` bits (src/core/ngx_conf_file.c ngx_conf_handler,
``argument_number``). A directive that takes one argument is then tried with ``x``, ``1k``
and ``1ms``: the slot that refuses ``x`` says its kind (``it must be "on" or "off"``: a
flag; ``invalid number``: a number; ``invalid value`` and ``1g`` accepted: an offset, ``1k``:
a size, ``1ms``: milliseconds, else seconds). The kind is kept only when
``handler.slot_value_ok`` accepts exactly the SAMPLES nginx accepts; then the directive is
given twice, and ``!`` marks the ones nginx calls ``is duplicate``. Nothing here is
guessed from the model.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ngxcoro.nginx.conf.commands import BLOCKS, KNOWN  # noqa: E402
from ngxcoro.nginx.conf.slots import slot_value_ok  # noqa: E402
from ngxcoro.oracle import MODULES, MODULES_DIR, NGINX  # noqa: E402

WRAP = {
    "main": "{d}\nevents {{}}\n",
    "events": "events {{ {d} }}\n",
    "http": "events {{}}\nhttp {{ {d} }}\n",
    "srv": "events {{}}\nhttp {{ server {{ {d} }} }}\n",
    "loc": "events {{}}\nhttp {{ server {{ location /p {{ {d} }} }} }}\n",
    "lif": "events {{}}\nhttp {{ server {{ location /p {{ if ($uri) {{ {d} }} }} }} }}\n",
    "sif": "events {{}}\nhttp {{ server {{ if ($uri) {{ {d} }} }} }}\n",
    "ups": "events {{}}\nhttp {{ upstream u {{ server 127.0.0.1; {d} }} }}\n",
}
SAMPLES = ("on", "off", "OFF", "1", "10", "-1", "auto", "max", "1k", "1M", "1g", "1ms", "1s", "1y",
           "1M 2d", "1h 30m", "1h30m", "1 s", "500ms", "1m 5", "x")
ORDER = ("main", "events", "http", "srv", "loc", "lif", "sif", "ups")


def nginx_t(prefix: str, text: str) -> str:
    loads = "".join(f"load_module {MODULES_DIR}/{m};" for m in MODULES)
    with open(os.path.join(prefix, "conf", "nginx.conf"), "w") as f:
        f.write(loads + "\n" + text)
    p = subprocess.run([NGINX, "-t", "-q", "-p", prefix + "/", "-e", prefix + "/logs/e.log",
                        "-c", "conf/nginx.conf"], capture_output=True, text=True, timeout=10)
    return p.stderr


def probe(prefix: str, name: str):
    ctx = next(c for c in ORDER if c in KNOWN[name])
    tail = " { }" if name in BLOCKS else ";"
    counts = []
    for n in range(9):
        err = nginx_t(prefix, WRAP[ctx].format(d=f"{name}{' 1' * n}{tail}"))
        if "invalid number of arguments" not in err and "has no opening" not in err:
            counts.append(n)
    kind, dup = "", False
    if counts == [1] and name not in BLOCKS:
        def refuses(value):
            err = nginx_t(prefix, WRAP[ctx].format(d=f"{name} '{value}';"))
            return "[emerg]" in err
        err = nginx_t(prefix, WRAP[ctx].format(d=f"{name} x;"))
        if 'it must be "on" or "off"' in err:
            kind = "flag"
        elif f'"{name}" directive invalid number' in err:
            kind = "number"
        elif f'"{name}" directive invalid value' in err:
            kind = ("offset" if not refuses("1g") else "size" if not refuses("1k") else
                    "msec" if not refuses("1ms") else "sec")
        # keep the kind only when handler.slot_value_ok agrees with nginx on every sample
        if kind and any(refuses(v) == slot_value_ok(kind, v) for v in SAMPLES):
            kind = ""
        if kind:
            good = next(v for v in SAMPLES if slot_value_ok(kind, v))
            err = nginx_t(prefix, WRAP[ctx].format(d=f"{name} {good}; {name} {good};"))
            dup = f'"{name}" directive is duplicate' in err
    return counts, kind, dup


def main():
    with tempfile.TemporaryDirectory() as prefix:
        os.makedirs(os.path.join(prefix, "conf"))
        os.makedirs(os.path.join(prefix, "logs"))
        specs, kinds = {}, {}
        for name in sorted(KNOWN):
            counts, kind, dup = probe(prefix, name)
            spec = ("ANY" if counts and counts[0] == 0 and counts[-1] == 8 else
                    f"{counts[0]}MORE" if counts and counts[-1] == 8 else
                    "".join(map(str, counts)) or "NONE")
            specs.setdefault(spec, []).append(name)
            if kind:
                kinds.setdefault(kind + ("!" if dup else ""), []).append(name)
    for title, table in (("ARGS", specs), ("VALUES", kinds)):
        print(f"{title}:")
        for key in sorted(table):
            print(f"    {key!r}: {' '.join(table[key])!r},")


if __name__ == "__main__":
    main()
