"""The wire, byte for byte: the response head and body bytes the model sends against
real nginx's.

* ``test_head_and_bytes_match_recording``: for every scenario whose recording has a
  ``head`` (the ones with ``# wire: yes``, 900 and up; older recordings have none and are
  not collected), the model's status line and header lines, in order, and its body bytes as
  framed on the wire (chunk sizes, the last chunk) against real nginx's.
* Date is the one header whose value differs by design: real nginx writes its wall
  clock's second, the model its virtual clock's. The oracle writes every HTTP date as
  ``__DATE__`` (``oracle.client.normalise_head``: a recording cannot hold the wall clock
  still, two runs straddle a second boundary) and the model's head is normalised the same
  way, so the comparison checks that Date is there, in its place; the unit tests below
  check the model's value against its own clock, by reasoning.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import EXPECTED_DIR, SCENARIO_DIR
from ngxcoro import oracle as rn
from ngxcoro.oracle.client import normalise_head

def _recording(path):
    rec = EXPECTED_DIR / (path.stem + ".json")
    return json.loads(rec.read_text(encoding="utf-8")) if rec.exists() else None


# the scenarios recorded with their head ('# wire: yes'); the others have none
SCENARIOS = [p for p in sorted(SCENARIO_DIR.glob("*.ngx"))
             if "head" in (_recording(p) or {})]


def test_the_wire_scenarios_are_there():
    assert len(SCENARIOS) >= 30


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_head_and_bytes_match_recording(path):
    want = _recording(path)
    import ngxcoro
    text = path.read_text(encoding="utf-8")
    info = rn.parse_scenario(text)
    res = ngxcoro.run(text, info["request"], headers=list(info["headers"]), body=info["body"],
                      timeout=info["timeout"], abort_at=info["client_abort_at"],
                      quit_at=info["quit_at"], peers=info["peers"])
    got = {"head": normalise_head(res.head), "raw_body": res.raw_body}
    assert got == {"head": want["head"], "raw_body": want["raw_body"]}, path.stem


def _date(res):
    dates = [h for h in res.head if h.startswith("Date: ")]
    assert len(dates) == 1, res.head
    return dates[0][len("Date: "):]


def test_date_is_the_virtual_clock_when_the_header_goes_out():
    """The virtual clock starts at 2023-01-01 00:00:00 UTC (nginx/loop.py EPOCH_MS). A
    header sent at once carries that second; one sent after ngx.sleep(1.5) carries
    00:00:01: ngx_http_header_filter writes ngx_cached_http_time, which ngx_time_update
    refreshed when the timer woke the request (whole seconds, the fraction dropped)."""
    import ngxcoro
    now = ngxcoro.run_lua('ngx.say("now")')
    later = ngxcoro.run_lua('ngx.sleep(1.5) ngx.say("later")')
    assert _date(now) == "Sun, 01 Jan 2023 00:00:00 GMT"
    assert _date(later) == "Sun, 01 Jan 2023 00:00:01 GMT"


def test_date_normalisation_only_touches_http_dates():
    """normalise_head rewrites an RFC 1123 date in Date (and Last-Modified, Expires), and
    leaves a Lua header that merely mentions a date, or a malformed Date, alone."""
    head = ["HTTP/1.1 200 OK", "Date: Mon, 07 Dec 2026 03:50:10 GMT",
            "X-Date: Mon, 07 Dec 2026 03:50:10 GMT", "Date: soon"]
    assert normalise_head(head) == ["HTTP/1.1 200 OK", "Date: __DATE__",
                                    "X-Date: Mon, 07 Dec 2026 03:50:10 GMT", "Date: soon"]


def test_result_headers_are_the_head_as_pairs():
    """Result.headers is the head's header lines as [name, value], in order; a
    ngx.header table gives one line per value, Set-Cookie included (as 900 and 907
    record from real nginx)."""
    import ngxcoro
    res = ngxcoro.run_lua('ngx.header["Set-Cookie"] = {"a=1", "b=2"} ngx.say("x")')
    assert res.headers[-2:] == [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]]
    assert [n for n, _ in res.headers[:5]] == ["Server", "Date", "Content-Type",
                                               "Transfer-Encoding", "Connection"]
    assert re.fullmatch(r"HTTP/1\.1 200 OK", res.head[0])


def test_sent_bytes_are_head_then_framed_body():
    """Wire.sent_bytes is the byte stream a client (or a cosocket reading back from this
    server) gets: the head lines joined by CRLF, an empty line, then the framed body; 900
    records that framing from real nginx ("3\\r\\nhi\\n\\r\\n" ... "0\\r\\n\\r\\n")."""
    from ngxcoro.nginx.response import Wire
    wire = Wire()
    wire.head = ["HTTP/1.1 200 OK", "Connection: close"]
    wire.raw += b"3\r\nhi\n\r\n0\r\n\r\n"
    assert wire.sent_bytes() == (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                                 b"3\r\nhi\n\r\n0\r\n\r\n")
