"""Argument checks of every modelled API, answered as real nginx answers them.

Each case of tests/bad_calls.py calls one API with arguments it refuses, unprotected; the
model must give real nginx's status, body and (normalised) error log, recorded in
tests/bad_calls.json by tests/record_bad_calls.py (twice, unstable cases dropped). The
wording is lua-nginx-module 0.10.23's C (luaL_argerror, luaL_error) where the C function
is used, and lua-resty-core 0.1.25's where it replaces one: ngx.exit is resty/core/exit.lua,
whose FFI call names its own file and line; ngx.var is resty/core/var.lua.
`test_recordings_match_live_nginx` runs them on real nginx again.
"""
from __future__ import annotations

import json
import pathlib

import pytest

import ngxcoro
from bad_calls import CASES, config
from ngxcoro.oracle import normalise_error_log

RECORDED = json.loads((pathlib.Path(__file__).parent / "bad_calls.json").read_text())
NAMES = [n for n in CASES if n in RECORDED]


def model_answer(name):
    res = ngxcoro.run(config(name), "GET /t")
    blob = json.dumps(res.to_json())
    assert "Traceback" not in blob and 'File "' not in blob, res.message
    return {"status": res.status, "body": res.body,
            "error_log": normalise_error_log(list(res.error_log or []))}


def test_every_case_is_recorded():
    assert len(NAMES) >= 60
    assert set(RECORDED) <= set(CASES)
    for name in NAMES:                    # the recording is of the config the test runs
        assert RECORDED[name]["config"] == config(name), name


@pytest.mark.parametrize("name", NAMES)
def test_bad_call_answered_as_nginx_answers(name):
    assert model_answer(name) == RECORDED[name]["answer"]


@pytest.mark.nginx
@pytest.mark.parametrize("name", NAMES[::7])
def test_recordings_match_live_nginx(real_nginx, name):
    real = real_nginx(config(name), "GET /t")
    assert {k: real[k] for k in ("status", "body", "error_log")} == RECORDED[name]["answer"]
