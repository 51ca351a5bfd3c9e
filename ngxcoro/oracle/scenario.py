"""The differential scenarios, shipped with the package, and their header lines.

A scenario is ``scenarios/NNN-name.ngx``: server-block text (or a full nginx.conf) whose
leading ``# key: value`` comment lines say what request to send (``parse_scenario``);
``scenarios/expected/NNN-name.json`` is what real nginx answered, recorded by
``tests/record_scenarios.py`` (never by the model). ``SCENARIO_DIR`` and ``EXPECTED_DIR``
are the two folders inside the installed package; ``read_scenario(name)`` gives a
scenario's text, its header lines and its recording.
"""

from __future__ import annotations

import json
import pathlib
import re

__all__ = ["SCENARIO_DIR", "EXPECTED_DIR", "LOGS_DIR", "parse_scenario", "scenario_names",
           "scenario_path", "read_scenario", "read_recording", "read_log_recording"]

SCENARIO_DIR = pathlib.Path(__file__).resolve().parent / "scenarios"
EXPECTED_DIR = SCENARIO_DIR / "expected"
LOGS_DIR = EXPECTED_DIR / "logs"


def scenario_names() -> list[str]:
    """The names of every scenario (``"001-hello"``, ...), in order."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.ngx"))


def scenario_path(name: str) -> pathlib.Path:
    """The ``.ngx`` file of scenario `name` (``"162-capture-fan-out"``, with or without
    ``.ngx``). FileNotFoundError when there is none."""
    path = SCENARIO_DIR / (name if name.endswith(".ngx") else f"{name}.ngx")
    if not path.is_file():
        raise FileNotFoundError(f"no scenario {name!r} in {SCENARIO_DIR}")
    return path


def read_recording(name: str) -> dict | None:
    """What real nginx answered for scenario `name` (``expected/<name>.json``), or None
    when it was never recorded."""
    path = EXPECTED_DIR / f"{name.removesuffix('.ngx')}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def read_log_recording(name: str) -> dict | None:
    """nginx's logs for scenario `name` (``expected/logs/<name>.json``: ``debug_lines`` and
    ``error_records``, whole records with their tracebacks), or None."""
    path = LOGS_DIR / f"{name.removesuffix('.ngx')}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def read_scenario(name: str) -> tuple[str, dict, dict | None]:
    """(config text, ``parse_scenario`` of it, recording or None) of scenario `name`."""
    text = scenario_path(name).read_text(encoding="utf-8")
    return text, parse_scenario(text), read_recording(name)


def parse_scenario(text: str) -> dict:
    """Read the leading ``# key: value`` comment lines of a .ngx scenario.

    Returns {title, request, headers, body, timeout, client_abort_at, quit_at, wire,
    peers}. Keys: ``title``, ``request`` (default "GET /t"), ``header`` (repeatable, "Name: value"), ``body`` (a
    string; ``\\n`` stands for a newline), ``body-pieces`` (JSON list of [delay_s, text]),
    ``timeout`` (client timeout in seconds, default 3), ``client-abort-at`` (seconds after
    the request when the client closes its socket; default None, never), ``quit-at``
    (seconds after the request when nginx gets ``nginx -s quit``, a graceful shutdown;
    default None, never), ``wire`` ("yes": the recording also keeps the raw response
    head and body bytes, tests/test_wire.py; default False), ``peer`` (repeatable: a
    scripted peer cosockets connect to, ``127.0.0.1:1990 recv-line; send "hi\\n"; close``,
    the language of ngxcoro.peers; kept as written in ``peers``, a list).
    """
    info = {"title": "", "request": "GET /t", "headers": [], "body": None, "timeout": 3.0,
            "client_abort_at": None, "quit_at": None, "wire": False, "peers": []}
    for line in text.split("\n"):
        if not line.startswith("#"):
            break
        m = re.match(r"#\s*([\w-]+)\s*:\s?(.*)$", line)
        if not m:
            continue
        key, val = m.group(1).lower(), m.group(2).rstrip()
        if key == "title":
            info["title"] = val
        elif key == "request":
            info["request"] = val
        elif key == "header":
            name, _, value = val.partition(":")
            info["headers"].append((name.strip(), value.strip()))
        elif key == "body":
            info["body"] = val.replace("\\n", "\n")
        elif key == "body-pieces":
            info["body"] = [(float(d), str(c)) for d, c in json.loads(val)]
        elif key == "timeout":
            info["timeout"] = float(val)
        elif key == "client-abort-at":
            info["client_abort_at"] = float(val)
        elif key == "quit-at":
            info["quit_at"] = float(val)
        elif key == "peer":
            info["peers"].append(val.strip())
        elif key == "wire":
            info["wire"] = val.strip().lower() in ("yes", "on", "true")
    return info
