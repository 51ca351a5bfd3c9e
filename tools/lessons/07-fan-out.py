# %% [markdown]
# # 7 · Fan-out: two subrequests at once
#
# **Previous:** [6 · wait, kill, exit and errors](06-wait-kill-exit-errors.ipynb) ·
# **Next:** [8 · Lab: your Lua, the model and real nginx](08-lab.ipynb)
#
# The everyday reason to spawn light threads: ask two backends at the same time and wait for
# both. Here each light thread calls `ngx.location.capture` on a location that answers after
# an `echo_sleep` (50 ms and 20 ms), and the entry thread waits for the two threads.
#
# One mechanism matters here: **how a finished subrequest wakes the coroutine that is waiting
# for it.** It is a separate path from `posted_threads`. The waiting coroutine is resumed
# through nginx's *posted requests*, from `ngx_http_lua_post_subrequest`
# (`src/ngx_http_lua_subrequest.c`).

# %% check
import ngxcoro
from ngxcoro.viz.lessons import (Predict, Tweak, BlogBox, SVG, pre, scenario,
                                 count_history, count_chart_svg)
from ngxcoro.oracle import count_history as nginx_count_history

conf, request, recording = scenario("162-capture-fan-out")   # ngxcoro/oracle/scenarios/162-*.ngx
print(conf[conf.index("location /t"):conf.index("location /sub_lua")])

# %% [markdown]
# `/sub_sleep` answers after 50 ms and `/sub_sleep2` after 20 ms (`echo_sleep 0.05;` and
# `echo_sleep 0.02;`, further down in the same file).

# %% check
res = ngxcoro.run(conf, request, snapshots=True)
print(f"{res.status}\n{res.body}")

# %% [markdown]
# The `fetched` lines come out in the order the backends **finished**: 20 ms before 50 ms.
# The `wait` lines come out in the order of the **code**. The two requests really ran at the
# same time: the whole response took 50 ms of virtual time, not 70.
#
# ## r->count climbs once per subrequest
# `ngx_http_lua_subrequest` (`src/ngx_http_lua_subrequest.c`) does `r->main->count++` for
# every subrequest it creates. `ngx.location.capture` then yields with `co_op` NOP, so
# `run_thread` returns `NGX_AGAIN` and the entry thread is popped from `posted_threads`
# as usual.
#
# One more reference comes from the content handler. When the entry thread parks,
# `ngx_http_lua_content_run_posted_threads` (`src/ngx_http_lua_contentby.c`) adds one to keep
# the request alive.

# %% predict
Predict("When the main request <code>/t</code> parks (its first "
        "<code>finalize_request(r, NGX_DONE)</code>), what does nginx log as <code>c:</code>?",
        ["2", "3", "4", "5"], "4",
        "1 for the client's request, +1 for each of the two subrequests, and +1 that "
        "content_run_posted_threads takes when the entry thread parks. "
        "<code>finalize_request(r, NGX_DONE)</code> then gives that last one back.")

# %% check answer
print(f"model:          {ngxcoro.oracle.model_count_history(res.events)[0]}\n"
      f"nginx recorded: {nginx_count_history(recording['debug'])[0]}")

# %% [markdown]
# The whole story of `r->count`, as the model tells it. The echo module holds a reference of
# its own while `echo_sleep` waits (`+1 ... echo handler waits`). Each subrequest that
# finishes gives one back (`subrequest ... done`).

# %% check
print(count_history(res))

# %%
SVG(count_chart_svg(res))

# %% [markdown]
# ## Step through it
# Watch the **posted_threads** line and `r->count` while the two threads start. Then use
# "next run_posted_thread" to reach the moment the first subrequest finishes at 20 ms.
# `post_subrequest` puts the parent request at the **head** of nginx's posted requests
# (`ngx_http_post_request_to_head`). The next thing nginx runs is `/t`'s resume handler
# (`ngx_http_lua_subrequest_resume`), and it resumes **t2**, the coroutine whose capture
# finished. The entry thread is still waiting for t1, so t2 ends as a zombie.
#
# The stepper's completion-order box re-runs the model with another order. In this lesson a
# timer's name has a space in it (`echo_sleep /sub_sleep`), so the cell below splits the box
# at commas only.

# %%
from ngxcoro.viz.stepper import Stepper


class FanOutStepper(Stepper):
    """Timer labels here contain a space: split the order box at commas only."""

    def rerun(self, order):
        if isinstance(order, str):
            order = [p.strip() for p in order.split(",") if p.strip()]
        return super().rerun(order)


FanOutStepper(res)

# %% [markdown]
# ## What if the slow one finished first?
# Timers are named in every snapshot (`snapshots[i]["timers"]`). Collect the names, then ask
# the model for a **completion order**: the 50 ms backend first.

# %% check
labels = sorted({t["label"] for s in res.snapshots for t in s["timers"]})
slow_first = ngxcoro.run(conf, request, order=["echo_sleep /sub_sleep", "echo_sleep /sub_sleep2"])
print(f"{labels}\n{slow_first.body}")

# %% [markdown]
# Now t1's capture finishes first. The entry thread was waiting for exactly t1, so t1 hands
# its result straight to it inside the same `run_thread` call, and `wait t1` is printed
# before t2 has fetched anything. The entry thread then waits for t2 and parks again.
#
# ## Tweak: how slow is the second backend?
# Move the slider to change `/sub_sleep2`'s `echo_sleep`. The picture is the model's timeline:
# one lane per coroutine, `r->count` on top. At 50 ms the two timers are due at the same
# moment. nginx fires equal timers in the order they were armed, and `/sub_sleep` was armed
# first.

# %%
from ngxcoro.viz.timeline import timeline_svg


def fan_out_view(seconds):
    r = ngxcoro.run(conf.replace("echo_sleep 0.02;", f"echo_sleep {seconds};"), request,
                    snapshots=True)
    return pre(r.body) + timeline_svg(r.snapshots)


Tweak("echo_sleep of /sub_sleep2 (s)", [0.01, 0.02, 0.05, 0.08], fan_out_view, index=1)

# %% [markdown]
# ## The other way: one coroutine, `capture_multi`
# `ngx.location.capture_multi` sends several subrequests from **one** coroutine. That
# coroutine resumes once, when the last one is done: `post_subrequest` decrements
# `pending_subreqs` and resumes only at 0. The results come back in the order of the
# *request list*, not in the order they finished. Scenario 161: `/sub_sleep` takes 50 ms,
# the other two answer at once, yet its result comes first.

# %% check
multi_conf, multi_request, multi_recording = scenario("161-capture-multi-three")
multi = ngxcoro.run(multi_conf, multi_request)
print(multi_conf[multi_conf.index("location /t"):multi_conf.index("location /sub_lua")]
      + multi.body + f"\nsame as real nginx: {multi.body == multi_recording['body']}")

# %% [markdown]
# With `capture_multi` there are no light threads, no zombies and no `wait`. What you lose is
# acting on the fast answer early. With light threads, each one can carry on with its own
# answer as soon as that answer arrives.
#
# ## The parent runs *between* subrequests
# nginx runs subrequests from its posted-request list, one after another. A finished
# subrequest puts its parent at the head of that list, so the parent runs **before the next
# subrequest starts**. Scenario 163 has the entry thread and two light threads each capturing:
# `/sub_echo` answers at once, and thread b finishes before `/sub_sleep2` has even started.
# Here are the lines of real nginx's debug log that show the order:

# %% check
_, _, rec163 = scenario("163-capture-entry-and-threads")
keep = ("POSTED_REQ", "POST_SUBREQ", "SUBREQ_RESUME", "ENDED")
print("\n".join(x for x in rec163["debug"] if x.startswith(keep)))

# %% [markdown]
# Read it from the top. `/sub_echo` is done (`POST_SUBREQ`), then `POSTED_REQ /t` runs,
# thread b resumes and ends (`ENDED`). Only after that comes `POSTED_REQ /sub_sleep2?n=entry`.
# The model gives the same body:

# %% check
conf163, req163, _ = scenario("163-capture-entry-and-threads")
print(ngxcoro.run(conf163, req163).body == rec163["body"], rec163["body"], sep="\n")

# %% check
BlogBox("run_thread returns NGX_AGAIN when an API such as ngx.sleep or ngx.socket yields, "
        "or when light threads are left; the parked coroutines are then run from "
        "ctx->posted_threads by run_posted_threads.",
        "ngx.location.capture parks with NGX_AGAIN as well, but its coroutine never goes "
        "through posted_threads. The finished subrequest puts the request at the head of "
        "nginx's posted requests, and ngx_http_lua_subrequest_resume runs it before the "
        "next subrequest has started.",
        "163-capture-entry-and-threads")

# %% [markdown]
# ## What to remember
# * A capture takes `r->main->count++` **per subrequest** and parks with `NGX_AGAIN`.
# * A finished subrequest wakes its waiting coroutine through nginx's posted *requests*
#   (`ngx_http_lua_post_subrequest` → `ngx_http_post_request_to_head` →
#   `ngx_http_lua_subrequest_resume`), not through `posted_threads`.
# * Light threads see each answer as soon as it arrives. `capture_multi` returns all of them
#   together, in request order.
#
# **Next:** [8 · Lab](08-lab.ipynb): your own Lua, and real nginx's trace beside the model's.
# Terms: [glossary](glossary.md).
