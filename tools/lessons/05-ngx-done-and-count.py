# %% [markdown]
# # 5 · NGX_DONE and r->count
#
# `r->main->count` is how many parties still hold the request. It starts at 1 (the client's
# own request), every piece of work that will come back later adds one, and each of them
# gives its reference back with `ngx_http_finalize_request(r, NGX_DONE)`. When
# `ngx_http_close_request` (`ngx_http_request.c`) takes it to 0 the request is freed, and
# with it the Lua ctx and every coroutine.
#
# The seed explains `NGX_DONE` this way: "somebody else took a reference and will finish
# the job". This lesson checks which of ngx_lua's operations really take one.
#
# **Previous:** [4 · The return codes](04-return-codes.ipynb) ·
# **Next:** [6 · wait, kill, exit and errors](06-wait-kill-exit-errors.ipynb)

# %% [markdown] zh
# # 5 · NGX_DONE 与 r->count
#
# `r->main->count` 记录还有多少方持有这个请求。它从 1 开始（客户端发来的请求本身），每一件“稍后还会回来”的工作都给它加一，做完后各自用 `ngx_http_finalize_request(r, NGX_DONE)` 把自己那份引用还回去。当 `ngx_http_close_request`（`ngx_http_request.c`）把它减到 0 时，请求被释放，Lua 的请求上下文和所有协程也随之一起释放。
#
# 种子博客是这样解释 `NGX_DONE` 的：“对当前请求的处理已经告一段落了，但是请求还没有处理完成，之后的工作会有其他的模块进行”，并且“与此对应的模块返回NGX_DONE时都会有r->count++的操作”。也就是说，别的模块拿了一份引用，之后的工作由它来完成。这一课逐个检查 ngx_lua 的哪些操作真的会拿走一份引用计数。
#
# **上一课：** [4 · 返回值](04-return-codes.ipynb) · **下一课：** [6 · wait、kill、exit 与错误](06-wait-kill-exit-errors.ipynb)

# %%
import ngxcoro
from ngxcoro.viz.lessons import (SVG, BlogBox, Predict, Tweak, count_chart_svg, count_history,
                                 pre, report, scenario)
from ngxcoro.nginx.core import rc_name

# the words the cells below print (the Chinese notebook has its own)
W = {"returned": "run_thread returned: ", "real": "real nginx: ",
     "sleeps end": "the sleeps end at 10 ms (rewrite), 20 ms (access), 30 ms (content)",
     "after": {"run_thread_returned": "run_thread returned {rc}",
               "finalize_request": "finalize_request(r, {rc}) at r->count {c}",
               "close_request": "close_request: r->count {c} -> {c1}",
               "free_request": "the request is freed",
               "close_connection": "the connection is closed: c->destroyed = 1",
               "run_posted_thread": "run_posted_threads pops {co} ({status})",
               "timer_expired": "a timer fires ..."},
     "v above": "as above", "v pieces": "body in two pieces", "v at once": "/sub answers at once",
     "v content": "capture in content", "v no exec": "no exec",
     "client": "client: ", "variant": "variant"}

# %% zh
import ngxcoro
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import (SVG, BlogBox, Predict, Tweak, count_chart_svg, count_history,
                                 pre, report, scenario)
from ngxcoro.nginx.core import rc_name

set_language("zh")
W = {"returned": "run_thread 的返回值：", "real": "真实 nginx：",
     "sleeps end": "三次 sleep 分别在 10 ms（rewrite）、20 ms（access）、30 ms（content）结束",
     "after": {"run_thread_returned": "run_thread 返回 {rc}",
               "finalize_request": "finalize_request(r, {rc})，此时 r->count 为 {c}",
               "close_request": "close_request：r->count {c} -> {c1}",
               "free_request": "请求被释放",
               "close_connection": "连接被关闭：c->destroyed = 1",
               "run_posted_thread": "run_posted_threads 取出 {co}（{status}）",
               "timer_expired": "一个定时器到期 ……"},
     "v above": "同上", "v pieces": "包体分两段到达", "v at once": "/sub 立即应答",
     "v content": "在 content 阶段 capture", "v no exec": "不调用 exec",
     "client": "客户端收到：", "variant": "变体"}

# %% [markdown]
# ## One request that does everything
# Rewrite reads the body, access captures `/sub` (which sleeps), content sleeps and then
# `ngx.exec`s to `/target`.

# %% [markdown] zh
# ## 一个什么都做的请求
# rewrite 阶段读取请求包体，access 阶段 capture 子请求 `/sub`（它会 sleep），content 阶段先 sleep，再 `ngx.exec` 内部跳转到 `/target`。

# %%
conf = """
location /t {
    rewrite_by_lua_block {
        ngx.req.read_body()
    }
    access_by_lua_block {
        local res = ngx.location.capture("/sub")
        ngx.ctx.sub = res.body
    }
    content_by_lua_block {
        ngx.sleep(0.01)
        ngx.exec("/target", {sub = ngx.ctx.sub})
    }
}
location /sub {
    content_by_lua_block {
        ngx.sleep(0.01)
        ngx.print("fresh")
    }
}
location /target {
    content_by_lua_block {
        ngx.say("target got sub=", ngx.var.arg_sub)
    }
}
"""

# %% check
res = ngxcoro.run(conf, "POST /t", body="hello")
report(f"{res.status} {res.body!r}", count_history(res))

# %%
SVG(count_chart_svg(res, width=760))

# %% [markdown]
# Every step up has its step down:
#
# | +1 | taken by | given back by |
# |---|---|---|
# | body read | `ngx_http_read_client_request_body` (`ngx_http_request_body.c`) | `ngx_http_lua_ngx_req_read_body` (`ngx_http_lua_req_body.c`), at once |
# | capture | `ngx_http_lua_subrequest` (`ngx_http_lua_subrequest.c`, the module's copy of nginx's `ngx_http_subrequest`), once per subrequest | `ngx_http_finalize_request` of the subrequest when it is done |
# | content parks | `ngx_http_lua_content_run_posted_threads` (`ngx_http_lua_contentby.c`) when the queue runs dry | `ngx_http_core_content_phase`'s `finalize_request(r, NGX_DONE)`, right away |
# | exec | `ngx_http_internal_redirect` (`ngx_http_core_module.c`) inside `ngx_http_lua_handle_exec` | the caller of `run_thread`, which got `NGX_DONE` |
#
# Two things are missing from the picture: the rewrite and access phases parked (on the body
# read, on the capture) and the count did not move for them, and only `ngx.exec` made
# `run_thread` answer `NGX_DONE`.
#
# ## Predict
# The seed lists reading the request body among the operations that return `NGX_DONE`.

# %% [markdown] zh
# 每一次加一都有对应的减一：
#
# | +1 | 由谁加 | 由谁还 |
# |---|---|---|
# | 读取请求包体 | `ngx_http_read_client_request_body`（`ngx_http_request_body.c`） | `ngx_http_lua_ngx_req_read_body`（`ngx_http_lua_req_body.c`），立刻就还 |
# | capture | `ngx_http_lua_subrequest`（`ngx_http_lua_subrequest.c`，模块自己复制的一份 nginx `ngx_http_subrequest`），每个子请求一次 | 子请求完成时，子请求的 `ngx_http_finalize_request` |
# | content 阶段停下等待 | `ngx_http_lua_content_run_posted_threads`（`ngx_http_lua_contentby.c`），在链表跑空时 | `ngx_http_core_content_phase` 紧接着调用的 `finalize_request(r, NGX_DONE)` |
# | exec | `ngx_http_lua_handle_exec` 里调用的 `ngx_http_internal_redirect`（`ngx_http_core_module.c`） | 拿到 `NGX_DONE` 的那个 `run_thread` 调用者 |
#
# 图里少了两样东西：rewrite 和 access 阶段都停下等待过（一次等包体，一次等 capture），引用计数却没有为它们变化；而且只有 `ngx.exec` 让 `run_thread` 返回了 `NGX_DONE`。
#
# ## 预测
# 种子博客把“调用ngx_http_read_client_request_body读取请求包体”列为返回 `NGX_DONE` 的三种情况之一。

# %%
body_conf = """
location /t {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.say("body: ", ngx.req.get_body_data())
    }
}
"""

# %% predict
Predict("The body arrives 20 ms after the headers, so <code>ngx.req.read_body()</code> must "
        "wait. What does the content handler's <code>run_thread</code> return?",
        ["NGX_DONE", "NGX_AGAIN", "NGX_OK"], "NGX_AGAIN",
        "read_body gives nginx's reference back immediately and simply yields, like a sleep. "
        "The only +1 that stays is content_run_posted_threads parking the request.")

# %% predict zh
Predict("请求包体比请求头晚 20 ms 到达，所以 <code>ngx.req.read_body()</code> 必须等待。"
        "content 处理函数里的 <code>run_thread</code> 返回什么？",
        ["NGX_DONE", "NGX_AGAIN", "NGX_OK"], "NGX_AGAIN",
        "read_body 立刻把 nginx 加的那份引用还回去，然后像 sleep 一样简单地让出："
        "留下来的唯一一次 +1 是 content_run_posted_threads 为停下等待的请求加的。")

# %% check answer
late = ngxcoro.run(body_conf, "POST /t", body=[(0.02, "abc")])
report(f"{late.status} {late.body!r}",
       W["returned"] + ", ".join(rc_name(e["rc"]) for e in late.events
                                  if e["event"] == "run_thread_returned"),
       count_history(late))

# %% [markdown]
# The scenario below reads the body the same way, in two late pieces, while a light thread
# talks. (`BlogBox` runs a scenario without its `# body-pieces:` line, so we give the model
# the same pieces nginx got.)

# %% [markdown] zh
# 下面的场景用同样的方式读取请求包体，包体分两段晚到，同时有一个轻线程在输出。（`BlogBox` 运行场景时不带它的 `# body-pieces:` 那一行，所以我们把 nginx 收到的同样两段包体交给模型。）

# %%
text, request, _ = scenario("152-read-body-content-pieces")
box = BlogBox("Reading the request body asynchronously returns NGX_DONE; the module did "
              "r->count++ and a callback carries on.",
              "ngx.req.read_body() cancels nginx's +1 at once and yields: run_thread returns "
              "NGX_AGAIN. The one reference that shows is the content phase parking.",
              "152-read-body-content-pieces")
box.model = ngxcoro.run(text, request, body=[(0.05, "abc"), (0.1, "def")], log_level="debug")
box

# %% zh
text, request, _ = scenario("152-read-body-content-pieces")
box = BlogBox("读取请求包体时，由于从 socket 读取数据是异步的，会返回 NGX_DONE；模块做了 r->count++，"
              "读取数据后由设置的回调函数继续处理。",
              "ngx.req.read_body() 立刻抵消 nginx 的 +1，然后让出：run_thread 返回 NGX_AGAIN。"
              "能看到的唯一一份引用是 content 阶段停下等待时加的。",
              "152-read-body-content-pieces")
box.model = ngxcoro.run(text, request, body=[(0.05, "abc"), (0.1, "def")], log_level="debug")
box

# %%
BlogBox("Creating a subrequest returns NGX_DONE, to be continued when the subrequest is done.",
        "ngx.location.capture yields (NGX_AGAIN); the +1 belongs to each subrequest, and the "
        "parent is woken by being posted again, not by a DONE reference.",
        "156-capture-lua")

# %% zh
BlogBox("创建子请求后返回 NGX_DONE，等待子请求完成后继续处理。",
        "ngx.location.capture 是让出（NGX_AGAIN）；+1 属于每一个子请求，父请求是被重新投递"
        "唤醒的，而不是靠一份 DONE 引用。",
        "156-capture-lua")

# %% [markdown]
# ## The access phase never touches the count
# Rewrite and access park by returning `NGX_DONE`/`NGX_AGAIN` to the phase engine and are
# re-run by it later (`ngx_http_core_run_phases`); nothing needs to hold the request for
# that. Scenario 103 sleeps once in each of the three phases:

# %% [markdown] zh
# ## access 阶段从不动引用计数
# rewrite 和 access 阶段停下等待时，是向阶段引擎返回 `NGX_DONE`/`NGX_AGAIN`，之后再由阶段引擎重新调用（`ngx_http_core_run_phases`）；这期间不需要谁来持有请求。场景 103 在三个阶段里各 sleep 一次：

# %% check
text, request, rec = scenario("103-three-phases-blocks-sleep")
three = ngxcoro.run(text, request)
report(W["sleeps end"],
       count_history(three),
       W["real"] + ", ".join(l for l in rec["debug"] if l.startswith(("FINALIZE rc",
                                                                    "CLOSE_REQ"))))

# %%
BlogBox("Parking with NGX_AGAIN or NGX_DONE is handled the same way in every phase: run "
        "the posted threads and wait.",
        "Only the content phase takes a reference when it parks; rewrite and access sleep "
        "at r->count 1, so the request shows one finalize(NGX_DONE) for three sleeps.",
        "103-three-phases-blocks-sleep")

# %% zh
BlogBox("返回 NGX_AGAIN 和 NGX_DONE 时都要调用 ngx_http_lua_run_posted_threads 来处理，"
        "每个阶段都一样：运行链表里的协程，然后等待。",
        "只有 content 阶段停下等待时会拿一份引用；rewrite 和 access 阶段在 r->count 为 1 时 sleep，"
        "所以三次 sleep 只对应一次 finalize(NGX_DONE)。",
        "103-three-phases-blocks-sleep")

# %% [markdown]
# ## NGX_DONE for real: ngx.exec
# `ngx_http_lua_handle_exec` (`ngx_http_lua_util.c`) calls `ngx_http_internal_redirect`,
# which takes a reference and runs the new location *synchronously*. The target may finish
# (and be finalized) before `run_thread` even returns. Then the caller gives the exec's
# reference back:
#
# * in access or rewrite, `ngx_http_lua_access_by_chunk` calls
#   `ngx_http_lua_finalize_request(r, NGX_DONE)` and then `ngx_http_lua_run_posted_threads`;
# * a resume handler (here: content, after its sleep) does the same in its shared tail;
# * on the content handler's first run, `ngx_http_lua_content_run_posted_threads` is told
#   that one reference is already held (`n = 1`).
#
# If that `finalize(NGX_DONE)` was the last reference, the request is freed, the connection
# is closed and `c->destroyed` is set. The loop over `posted_threads` must not touch the ctx
# any more: its first test is `c->destroyed`. To get there, a light thread must `exec` while
# the entry is still queued, and the target must finish at once. That is scenario 141:

# %% [markdown] zh
# ## 真正的 NGX_DONE：ngx.exec
# `ngx_http_lua_handle_exec`（`ngx_http_lua_util.c`）调用 `ngx_http_internal_redirect`，它拿一份引用，并且*同步地*运行新的 location。目标 location 甚至可能在 `run_thread` 返回之前就已经处理完（并结束请求）。之后由调用者把 exec 的那份引用还回去：
#
# * 在 access 或 rewrite 阶段，`ngx_http_lua_access_by_chunk` 先调用 `ngx_http_lua_finalize_request(r, NGX_DONE)`，再调用 `ngx_http_lua_run_posted_threads`；
# * 恢复回调（这里是 content 阶段 sleep 醒来之后）在它们共用的收尾代码里做同样的事；
# * content 处理函数第一次运行时，会告诉 `ngx_http_lua_content_run_posted_threads` 已经持有一份引用（`n = 1`）。
#
# 如果这次 `finalize(NGX_DONE)` 还掉的是最后一份引用，请求就被释放、连接被关闭，`c->destroyed` 被置位。遍历 `posted_threads` 的循环就不能再碰请求上下文了：所以它的第一个判断就是 `c->destroyed`。要走到这一步，得让一个轻线程在入口线程还排在链表里的时候调用 `exec`，并且目标 location 立即完成。这就是场景 141：

# %%
text, request, rec = scenario("141-exec-access-thread-destroyed")
ngxcoro.show(text, request)

# %% check
def after_rc(res):
    """What happened once run_thread had returned NGX_DONE to access_by_chunk."""
    words = W["after"]

    def say(e, d):
        c = d.get("c")
        return words[e].format(rc=rc_name(d["rc"]) if "{rc}" in words[e] else None, c=c,
                               c1=None if c is None else c - 1, co=d.get("co"),
                               status=d.get("status"))

    i = next(i for i, s in enumerate(res.snapshots) if s["event"] == "run_thread_returned"
             and s["data"]["rc"] == -4)
    lines = []
    for s in res.snapshots[i:]:
        if s["event"] in words:
            lines.append(f"{s['t_ms']:>4} ms  {say(s['event'], s['data'])}")
        if s["event"] == "timer_expired":
            break
    return "\n".join(lines)


destroyed = ngxcoro.run(text, request, snapshots=True)
report(f"{destroyed.status} {destroyed.body!r}", after_rc(destroyed))

# %% [markdown]
# The queued entry is never popped: the request was gone before `run_posted_threads` looked.
# When the target parks instead (scenario 142, a sleeping Lua target), the count is still
# 2 when `run_thread` returns, the request survives the `finalize(NGX_DONE)`, and the loop goes on
# with the old ctx, finds the entry dead and skips it.

# %% [markdown] zh
# 排在链表里的入口线程永远不会被取出：`run_posted_threads` 去看的时候，请求已经不在了。如果目标 location 自己也停下等待（场景 142，目标是一个会 sleep 的 Lua location），`run_thread` 返回时引用计数仍是 2，请求挺过了这次 `finalize(NGX_DONE)`，循环继续使用原来的请求上下文，发现入口线程已经结束，就跳过它。

# %% check
text142, request142, _ = scenario("142-exec-access-thread-target-sleeps")
survives = ngxcoro.run(text142, request142, snapshots=True)
report(f"{survives.status} {survives.body!r}", after_rc(survives))

# %%
BlogBox("If finalize_request(r, NGX_DONE) takes the count to 0, the request is over, "
        "c->destroyed is set, and run_posted_threads returns at once.",
        "Right, but it takes a narrow setup: exec from a light thread while the entry is "
        "still queued, and a target that finishes synchronously. The rewrite phase behaves "
        "the same way (scenario 144).",
        "141-exec-access-thread-destroyed")

# %% zh
BlogBox("如果调用 ngx_http_finalize_request(r, NGX_DONE) 导致 r 的引用计数为 0，请求就结束了，"
        "此时 c->destroyed 为真，再调用 ngx_http_lua_run_posted_threads 会直接返回。",
        "没错，但需要很特定的条件：入口线程还在链表中排队时，一个轻线程调用 exec，而且目标"
        "location 同步完成。rewrite 阶段的表现一样（场景 144）。",
        "141-exec-access-thread-destroyed")

# %% [markdown]
# ## Tweak: change the request, watch the count
# Each position is the big location above with one change. Watch the flat start when the
# body comes in pieces (rewrite parks at count 1), the missing middle step when `/sub`
# answers without sleeping, and the exec's +1 that disappears without it.

# %% [markdown] zh
# ## 调一调：改动请求，观察引用计数
# 每个位置都是上面那个大 location 做了一处改动。留意：包体分段到达时开头那段平线（rewrite 在计数为 1 时停下等待）；`/sub` 不 sleep 直接应答时，中间少掉的那一级台阶；以及去掉 exec 后消失的那次 +1。

# %%
def edit(text, *changes):
    """The config with some (old, new) snippets swapped."""
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


CAPTURE = 'local res = ngx.location.capture("/sub")\n        ngx.ctx.sub = res.body'
SLEEP_EXEC = "ngx.sleep(0.01)\n        ngx.exec"
variants = {
    W["v above"]: (conf, "hello"),
    W["v pieces"]: (conf, [(0.01, "hel"), (0.02, "lo")]),
    W["v at once"]: (edit(conf, ("ngx.sleep(0.01)\n        ngx.print", "ngx.print")),
                      "hello"),
    W["v content"]: (edit(conf, (CAPTURE, "-- nothing"),
                          (SLEEP_EXEC, 'ngx.ctx.sub = ngx.location.capture("/sub").body\n'
                                       "        ngx.exec")), "hello"),
    W["v no exec"]: (edit(conf, ('ngx.exec("/target", {sub = ngx.ctx.sub})',
                                'ngx.say("sub=", ngx.ctx.sub)')), "hello"),
}


def view(name):
    config, body = variants[name]
    r = ngxcoro.run(config, "POST /t", body=body)
    return count_chart_svg(r, width=760) + pre(count_history(r) + "\n\n" + W["client"]
                                                + f"{r.status} {r.body.strip()!r}")


Tweak(W["variant"], list(variants), view)

# %% [markdown]
# **Next:** [6 · wait, kill, exit and errors](06-wait-kill-exit-errors.ipynb) — zombies,
# who dies with whom, and a bug in `ngx.thread.wait`.

# %% [markdown] zh
# **下一课：** [6 · wait、kill、exit 与错误](06-wait-kill-exit-errors.ipynb)：僵尸协程、谁和谁一起结束，以及 `ngx.thread.wait` 的一个 bug。
