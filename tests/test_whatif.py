"""What-if switches (ngxcoro/whatif.py): each changes the run visibly, and
the run says it is not nginx wherever it shows.

The runs without a switch are nginx's: scenarios 1170 and 1171 were recorded
on real nginx (tests/test_differential.py compares the model with them); the
runs with a switch are reasoned here, step by step, from the C line the
switch changes."""
from __future__ import annotations

import json
import pathlib

import pytest

import ngxcoro
from ngxcoro.cli import main as cli_main
from ngxcoro.whatif import WHAT_IFS

SCENARIOS = pathlib.Path(ngxcoro.__file__).parent / "oracle" / "scenarios"


def _scenario(name):
    return (SCENARIOS / name).read_text()


ORDER = _scenario("1170-whatif-posted-order.ngx")
EXEC = _scenario("1171-whatif-exec-after-sleep.ngx")


def _not_nginx_everywhere(res, name):
    """The run is marked: Result.what_if, the first note, every snapshot, the event log."""
    assert res.what_if == name
    assert res.notes[0].startswith(f"not nginx: what-if {name}: ")
    assert res.snapshots and all(s["what_if"] == name for s in res.snapshots)
    assert res.events[0]["event"] == "what_if" and res.events[0]["name"] == name
    assert any(e["event"] == "what_if_taken" for e in res.events)
    assert res.to_json()["what_if"] == name


def test_nginx_itself_has_no_what_if():
    res = ngxcoro.run(ORDER, "GET /t", snapshots=True)
    assert res.what_if is None and "what_if" not in res.to_json()
    assert all(s["what_if"] is None for s in res.snapshots)
    assert not any(e["event"].startswith("what_if") for e in res.events)


def test_post_thread_prepends():
    # real nginx (scenario 1170): posted_threads is a FIFO, so the three threads
    # take turns: a 1, b 1, a 2, entry, b 2
    assert ngxcoro.run(ORDER, "GET /t").body == "a 1\nb 1\na 2\nentry\nb 2\n"
    # with the head insert: the entry spawns a (entry posted: [entry]); a says "a 1"
    # and yields with posted_threads not empty, so it is posted, at the head: [a, entry];
    # a runs again first ("a 2", posted at the head again), then ends; only then does
    # the entry run, spawn b, and b does the same before the entry says "entry".
    # A light thread that yields keeps the CPU: no more turns.
    res = ngxcoro.run(ORDER, "GET /t", what_if="post-thread-prepends", snapshots=True)
    assert res.status == 200
    assert res.body == "a 1\na 2\nb 1\nb 2\nentry\n"
    _not_nginx_everywhere(res, "post-thread-prepends")
    assert any("at the head of posted_threads" in n for n in res.notes)
    # the stap GC lines change with it: each thread ends before the next is made
    assert res.stap[:3] == ["create 2 in 1", "spawn user thread 2 in 1", "terminate 2: ok"]


def test_no_destroyed_check():
    # real nginx (scenario 1171's debug log): the light thread's ngx.exec returns
    # NGX_DONE to ngx_http_lua_sleep_resume, whose finalize_request(r, NGX_DONE)
    # takes r->count from 1 to 0: the request is freed and the connection closed
    # (c->destroyed), so run_posted_threads returns at once
    base = ngxcoro.run(EXEC, "GET /t")
    assert (base.status, base.body, base.notes) == (200, "other\n", [])
    # without the test, run_posted_threads reads ctx->posted_threads out of the
    # freed request: the model says so and stops there (no traceback, same answer:
    # the response had gone out before)
    res = ngxcoro.run(EXEC, "GET /t", what_if="no-destroyed-check", snapshots=True)
    assert (res.status, res.body, res.error_log, res.hung) == (200, "other\n", [], False)
    _not_nginx_everywhere(res, "no-destroyed-check")
    uaf = [n for n in res.notes if "use after free" in n]
    assert len(uaf) == 1 and "would use freed request /other" in uaf[0]
    assert "ngx_http_lua_run_posted_threads reads ctx->posted_threads" in uaf[0]
    last = res.snapshots[-1]
    assert last["event"] == "what_if_taken" and "use after free" in last["explain"]
    assert last["requests"][0]["freed"] and last["requests"][0]["destroyed"]


def test_no_destroyed_check_changes_nothing_while_the_request_lives():
    # scenario 1170 never runs posted threads of a freed request: same answer
    res = ngxcoro.run(ORDER, "GET /t", what_if="no-destroyed-check")
    assert res.body == "a 1\nb 1\na 2\nentry\nb 2\n"
    assert res.notes == [f"not nginx: what-if no-destroyed-check: {WHAT_IFS['no-destroyed-check']}"]


def test_no_finalize_done():
    # with finalize_request(r, NGX_DONE) skipped, /other's own finalize takes r->count
    # from 2 to 1 (scenario 1171: "CLOSE_REQ c=2") and nothing takes the last one:
    # the response went out but the connection is never closed; the client waits for
    # its EOF until its timeout (3 s): hung, with no complete response
    res = ngxcoro.run(EXEC, "GET /t", what_if="no-finalize-done", snapshots=True)
    assert res.hung and res.status is None and res.body == "other\n"
    assert res.message.startswith("what-if no-finalize-done (not nginx): ")
    assert "r->count 1" in res.message and "real nginx" not in res.message
    _not_nginx_everywhere(res, "no-finalize-done")
    assert res.notes[-1] == ("not nginx: what-if no-finalize-done: r->count stuck at 1, the "
                             "request never freed and the connection never closed (a leak)")
    last = res.snapshots[-1]["requests"][0]
    assert (last["count"], last["freed"], last["destroyed"]) == (1, False, False)


def test_unknown_what_if_is_one_line_listing_the_known_ones():
    with pytest.raises(ngxcoro.RequestError) as e:
        ngxcoro.run(ORDER, "GET /t", what_if="no-such-thing")
    msg = str(e.value)
    assert "\n" not in msg and "no-such-thing" in msg
    assert all(name in msg for name in WHAT_IFS)


def test_cli_what_if(tmp_path, capsys):
    conf = tmp_path / "order.conf"
    conf.write_text(ORDER)
    assert cli_main(["run", "--config", str(conf), "--what-if", "post-thread-prepends"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("*** not nginx: what-if post-thread-prepends")
    assert out.endswith("a 1\na 2\nb 1\nb 2\nentry\n")
    assert cli_main(["run", "--config", str(conf), "--what-if", "no-finalize-done",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["what_if"] == "no-finalize-done"
    assert cli_main(["run", "--config", str(conf), "--what-if", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ngxcoro: unknown what-if 'nope'") and err.count("\n") == 1


def test_untraced_run_still_says_not_nginx():
    # trace=False fires nothing, but the notes do not come from events
    res = ngxcoro.run(EXEC, "GET /t", what_if="no-finalize-done", trace=False)
    assert res.what_if == "no-finalize-done" and res.hung
    assert any("r->count stuck at 1" in n for n in res.notes)


@pytest.mark.parametrize("name", list(WHAT_IFS))
def test_what_if_over_scenarios_never_breaks_the_model(name):
    """Every 6th scenario with the switch on: an answer (nginx's own shape: status,
    hang, refusal), never a Python exception, and the switch makes a difference in
    some of them (when this was written, over all the scenarios: post-thread-prepends
    28 of 776, no-destroyed-check 16, no-finalize-done 74)."""
    from ngxcoro.oracle.scenario import parse_scenario
    paths = sorted(SCENARIOS.glob("*.ngx"))[::6]
    taken = 0
    for path in paths:
        text = path.read_text()
        info = parse_scenario(text)
        res = ngxcoro.run(text, info["request"], headers=info["headers"], body=info["body"],
                          timeout=info["timeout"], abort_at=info["client_abort_at"],
                          quit_at=info["quit_at"], peers=info["peers"], what_if=name,
                          trace=False)
        assert res.what_if == name and res.notes[0].startswith("not nginx: ")
        taken += len(res.notes) > 1
    assert taken > 0
