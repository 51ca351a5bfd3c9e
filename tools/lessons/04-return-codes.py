# %% [markdown]
# # 4 · The return codes
#
# Every time the scheduler resumes Lua it ends with one number: the return code of
# `ngx_http_lua_run_thread` (`ngx_http_lua_util.c`). The phase handler that called it
# (`ngx_http_lua_rewrite_by_chunk`, `ngx_http_lua_access_by_chunk`,
# `ngx_http_lua_content_by_chunk`) turns that number into its own answer to nginx's phase
# engine. This lesson runs one tiny location per case and records what each handler did.
#
# | run_thread returns | meaning for the caller |
# |---|---|
# | `NGX_OK` (0) | every thread of this handler has finished (or `ngx.exit(0)`): the handler is done |
# | `NGX_AGAIN` (-2) | some thread is parked on a timer, a body read, a subrequest…; `r->count` untouched |
# | `NGX_DONE` (-4) | parked too, but someone already took a reference on the request (in practice: `ngx.exec`) |
# | `NGX_ERROR` (-1) | give up on the connection |
# | a status ≥ 200 | `ngx.exit(status)`, or 500 after a Lua error |
#
# **Previous:** [3 · run_posted_threads](03-run-posted-threads.ipynb) ·
# **Next:** [5 · NGX_DONE and r->count](05-ngx-done-and-count.ipynb)

# %%
import inspect
import sys

import ngxcoro
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario
from ngxcoro.nginx.core import rc_name
from ngxcoro.ngx_lua import by


def report(*lines):
    """Print the lines as one block (a single write keeps the saved output byte-stable)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")

# %% [markdown]
# ## The seed's function, in the model
# The blog walks through `ngx_http_lua_access_by_chunk` (`ngx_http_lua_accessby.c`). The
# model's version keeps the C's shape: error or status → hand it back;
# `NGX_AGAIN` → drain `posted_threads`; `NGX_DONE` → give one reference back first, then
# drain; `NGX_OK` → `access_done`, which looks at `r->header_sent`.

# %%
print(inspect.getsource(by.access_by_chunk))
print(inspect.getsource(by.access_done))

# %% [markdown]
# ## One location per case
# `location(phase, lua)` puts one line of Lua in the chosen phase; rewrite and access are
# followed by a content handler, so we can see whether the request got that far. `/e` is a
# target for `ngx.exec`. `what_happened` reads the run's steps: the code `run_thread` gave
# the phase handler on its first run, then what followed (a later phase, finalize calls,
# a terminated connection).

# %%
HANDLER = {"rewrite": "rewrite_by_lua_block", "access": "access_by_lua_block",
           "content": "content_by_lua_block"}


def location(phase, lua):
    later = "" if phase == "content" else '\n    content_by_lua_block { ngx.say("content ran") }'
    return (f"location /t {{\n    {HANDLER[phase]} {{\n        {lua}\n    }}{later}\n}}\n"
            'location /e {\n    content_by_lua_block { ngx.say("exec target") }\n}\n')


def what_happened(res, phase):
    """(run_thread's code on the handler's first run, [what came next])."""
    steps = res.snapshots
    start = next(i for i, s in enumerate(steps)
                 if s["event"] == "phase_handler" and s["data"]["phase"] == phase)
    rc, nested, then = None, 0, []
    for s in steps[start + 1:]:
        e, d = s["event"], s["data"]
        if rc is None:                     # an exec target runs inside our run_thread
            if e == "phase_handler":
                nested += 1
            elif e == "run_thread_returned":
                if nested:
                    nested -= 1
                else:
                    rc = rc_name(d["rc"])
            continue
        word = {"timer_expired": "timer fires", "send_last_buf": "last buf",
                "terminate_request": "terminate_request"}.get(e)
        if e == "phase_handler":
            word = f"{d['phase']} phase runs"
        elif e == "finalize_request" and d["a"]:
            word = f"finalize({rc_name(d['rc'])})"
        if word and (not then or then[-1] != word):
            then.append(word)
        if e == "phase_handler":
            break
    return rc, then


def client(res):
    if res.status is None:
        return "empty reply"
    if res.body.startswith("<html>"):
        return f"{res.status} error page"
    return f"{res.status} {res.body.strip()!r}"


CASES = ['ngx.say("hi")', "ngx.exit(ngx.OK)", "ngx.exit(200)", "ngx.exit(403)",
         "ngx.exit(ngx.ERROR)", 'error("boom")', "ngx.sleep(0.01)", 'ngx.exec("/e")']


def table(phase, cases=CASES):
    rows = [f"{'Lua in ' + phase:<22} {'run_thread':<11} {'then':<58} client gets",
            "-" * 110]
    for lua in cases:
        res = ngxcoro.run(location(phase, lua), "GET /t", snapshots=True)
        rc, then = what_happened(res, phase)
        rows.append(f"{lua:<22} {rc:<11} {', '.join(then):<58} {client(res)}")
    return "\n".join(rows)

# %% [markdown]
# ## Predict
# In access, `ngx.exit(ngx.OK)` makes `run_thread` return `NGX_OK` and the seed says the
# handler then "only has to send the response".

# %% predict
Predict("<code>access_by_lua_block { ngx.exit(ngx.OK) }</code> followed by a "
        "<code>content_by_lua_block</code> that says \"content ran\". What does the client get?",
        ["200 with an empty body", "200 'content ran'", "403 error page", "an empty reply"],
        "200 'content ran'",
        "Nothing has been sent yet, so access_done returns NGX_OK and nginx's access checker "
        "moves on: exit(ngx.OK) in access ends only this phase, not the request.")

# %% check answer
report(table("access", ["ngx.exit(ngx.OK)"]))

# %% [markdown]
# ## Access: the whole table
# Read it column by column: the code the handler got, what nginx did next, what the client
# saw.

# %% check
report(table("access"))

# %% [markdown]
# * `NGX_OK` splits in two on `r->header_sent`: output went out → the handler sends the last
#   buffer and returns 200, which finalizes the request and skips content; nothing sent →
#   `NGX_OK`, the next phase runs.
# * `200`, `403`, `500` and `NGX_ERROR` are all "bigger than OK or an error" for the seed,
#   yet they end very differently: a plain finalize, an error page (two finalize calls),
#   a terminated connection with nothing written.
# * `NGX_AGAIN` drains `posted_threads` (empty here) and parks; the timer re-runs the phase
#   engine, the handler is re-entered through `ctx->resume_handler`, and this time the answer
#   is `NGX_OK`.
# * `NGX_DONE` appears only for `ngx.exec`: the target has already run and answered by the
#   time `run_thread` returns. Lesson 5 follows that reference.

# %%
BlogBox("NGX_OK means the phase is finished and only the response needs to be sent.",
        "When nothing has been sent, access returns NGX_OK and the request continues to the "
        "content phase; only a header already sent turns it into 200, which skips content.",
        "121-exit-ok-access-entry")

# %%
BlogBox("NGX_ERROR or a status above 200 unconditionally ends the request.",
        "They end it in different ways: 403 gets nginx's error page, but NGX_ERROR (and 444) "
        "terminate the connection and the client gets no reply at all.",
        "125-exit-error-access-entry")

# %% [markdown]
# ## The siblings: rewrite and content
# `ngx_http_lua_rewrite_by_chunk` (`ngx_http_lua_rewriteby.c`) answers like access, except
# that "go on" is `NGX_DECLINED` for the rewrite checker. `ngx_http_lua_content_by_chunk`
# (`ngx_http_lua_contentby.c`) hands `NGX_OK`, errors and statuses straight back to
# `ngx_http_core_content_phase`, which finalizes with them; on `NGX_AGAIN` it calls
# `ngx_http_lua_content_run_posted_threads`, which parks the request with a reference of
# its own (the `finalize(NGX_DONE)` below).

# %% check
report(table("rewrite"), "", table("content"))

# %% [markdown]
# Two things to notice in content: `ngx.exit(200)` reaches the handler as `NGX_OK`
# (`ngx_http_lua_handle_exit` sends the last buffer itself and reports success), and the
# sleep's park is the one place where the count moves, the `finalize(NGX_DONE)` before the
# timer.
#
# ## Tweak: phase × code
# Each position is a precomputed run; the text is the run's key steps, from the handler's
# start to the end of the request.

# %%
KEY = {"phase_handler", "run_thread_returned", "run_posted_thread", "handle_exit",
       "handle_exec", "timer_expired", "send_last_buf", "finalize_request",
       "terminate_request", "count", "free_request"}


VARIANTS = {f"{lua} in {phase}": (lua, phase)
            for lua in ["ngx.exit(ngx.OK)", "ngx.exit(200)", "ngx.exit(403)",
                        "ngx.exit(ngx.ERROR)", "ngx.sleep(0.01)", 'ngx.exec("/e")']
            for phase in HANDLER}


def story(label):
    lua, phase = VARIANTS[label]
    config = location(phase, lua)
    res = ngxcoro.run(config, "GET /t", snapshots=True)
    lines = [f"{s['t_ms']:>3} ms  {s['explain']}" for s in res.snapshots if s["event"] in KEY]
    return pre(config.split("location /e")[0] + "\n" + "\n".join(lines)
               + f"\n\nclient gets: {client(res)}")


Tweak("code in phase", list(VARIANTS), story, index=1)

# %% [markdown]
# ## Step through a light thread's exit
# Scenario `068-exit-ok-thread-in-access`: the access entry spawns a thread and sleeps, so
# the first `run_thread` answers `NGX_AGAIN` and `ngx_http_lua_run_posted_threads` runs the
# entry until it parks too. 20 ms later the thread calls `ngx.exit(ngx.OK)`: the handler is
# re-entered, `ngx_http_lua_handle_exit` kills both threads (the sleeping entry included),
# the answer is `NGX_OK`, and the content phase runs. Use "next run_posted_thread" and the
# event log to jump around.

# %%
text, request, recording = scenario("068-exit-ok-thread-in-access")
ngxcoro.show(text, request)

# %% check
res = ngxcoro.run(text, request)
report(f"{res.status} {res.body!r}",
       "run_thread returned: " + ", ".join(rc_name(e["rc"]) for e in res.events
                                           if e["event"] == "run_thread_returned"),
       f"real nginx: {recording['status']} {recording['body']!r}")

# %% [markdown]
# Three codes: `NGX_AGAIN` from the first run in access, `NGX_OK` when the re-entered
# handler resumes the thread that exits, `NGX_OK` again from the content handler. The
# entry's "after sleep" line never ran: exit from *any* thread ends every thread of the
# handler (lesson 6 comes back to this).
#
# **Next:** [5 · NGX_DONE and r->count](05-ngx-done-and-count.ipynb) — who holds
# references on the request, and what `finalize_request(r, NGX_DONE)` gives back.
