# %% [markdown]
# # 12 · Client abort and ngx.on_abort
#
# A client that gives up closes its connection while the request is still parked in Lua:
# sleeping, waiting on a socket or on a semaphore. Does nginx notice? Who finds out, and
# which coroutine runs because of it?
#
# You will see:
# 1. how `lua_check_client_abort on` makes a read event on the client's connection a check;
# 2. what happens with no handler: every thread is killed and the request ends with 499;
# 3. `ngx.on_abort(fn)`: the handler is a **light thread** that starts when the close is seen,
#    and the request goes on unless the handler calls `ngx.exit`;
# 4. without the directive, the close is noticed only when a write fails.
#
# **Previous:** [11 · Cosockets](11-cosockets.ipynb) ·
# **Next:** [13 · Semaphores](13-semaphores.ipynb)

# %% [markdown] zh
# # 12 · 客户端中断与 ngx.on_abort
#
# 请求还停在 Lua 里等待（在 sleep，在等套接字，在等信号量）的时候，客户端不想等了，直接把连接关掉。nginx 会发现吗？由谁发现？又会因此运行哪个协程？
#
# 本课内容：
# 1. `lua_check_client_abort on` 如何把客户端连接上的读事件变成一次检查；
# 2. 没有注册回调时：所有线程被杀掉，请求以 499 结束；
# 3. `ngx.on_abort(fn)`：回调是一个**轻线程**，发现连接关闭时才开始运行；除非回调调用 `ngx.exit`，否则请求照常继续；
# 4. 不开这个指令时，只有写失败了才会发现连接已关闭。
#
# **上一课：** [11 · cosocket](11-cosockets.ipynb) · **下一课：** [13 · 信号量](13-semaphores.ipynb)

# %%
import re
import sys

import ngxcoro
from ngxcoro.nginx.core import rc_name
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario, scenario_info
from ngxcoro.viz.timeline import timeline_svg

WORDS = {"close": "the client closes the connection",
         "wake": "on_abort's light thread starts",
         "log": "log:", "model": "model", "nginx": "real nginx",
         "abort at": "the client closes at",
         "status": "what the client got"}

# %% zh
import re
import sys

import ngxcoro
from ngxcoro.nginx.core import rc_name
from ngxcoro.viz import set_language
from ngxcoro.viz.lessons import BlogBox, Predict, Tweak, pre, scenario, scenario_info
from ngxcoro.viz.timeline import timeline_svg

set_language("zh")
WORDS = {"close": "客户端关闭连接",
         "wake": "on_abort 的轻线程开始运行",
         "log": "日志:", "model": "模型", "nginx": "真实 nginx",
         "abort at": "客户端关闭连接的时刻",
         "status": "客户端收到的"}

# %% [markdown]
# ## How nginx notices
# While a request is parked, nobody reads from the client's connection. When the client
# closes it, epoll still reports a read event (the FIN), and nginx calls
# `r->read_event_handler`. Normally that is `ngx_http_block_reading`, which does nothing.
# With `lua_check_client_abort on`, the Lua rewrite, access and content handlers set it to
# `ngx_http_lua_rd_check_broken_connection` (`ngx_http_lua_util.c`) when they start. That
# function asks `ngx_http_lua_check_broken_connection`, which peeks one byte with
# `recv(fd, buf, 1, MSG_PEEK)`: 0 means end of file, the client is gone, and the answer is
# `NGX_HTTP_CLIENT_CLOSED_REQUEST` (499), with `[info] client prematurely closed connection`
# in the error log. Then there are three cases:
#
# * **no `on_abort` handler**: `c->error = 1`, `ngx_http_lua_request_cleanup` kills every
#   thread (and cancels their sleeps, sockets, semaphore waits), then
#   `ngx_http_lua_finalize_request(r, 499)` ends the request;
# * **a handler that has not run yet**: it becomes a running light thread
#   (`ctx->uthreads++`) and runs **at once**, inside the read event, through
#   `ngx_http_lua_on_abort_resume`;
# * **the handler already ran**: the event is ignored.
#
# Scenario 584 has no handler: the entry thread sleeps 0.5 s, a light thread 0.6 s, the
# client closes at 0.2 s.

# %% [markdown] zh
# ## nginx 怎样发现
# 请求停下等待的时候，没有人从客户端连接上读数据。客户端关闭连接时，epoll 照样报告一个读事件（FIN），nginx 调用 `r->read_event_handler`。平时这是 `ngx_http_block_reading`，什么也不做。打开 `lua_check_client_abort on` 后，Lua 的 rewrite、access 和 content 处理函数一开始就把它设成 `ngx_http_lua_rd_check_broken_connection`（`ngx_http_lua_util.c`）。它再调用 `ngx_http_lua_check_broken_connection`，用 `recv(fd, buf, 1, MSG_PEEK)` 窥探一个字节：返回 0 表示读到文件尾，客户端已经走了，结果是 `NGX_HTTP_CLIENT_CLOSED_REQUEST`（499），错误日志里有一行 `[info] client prematurely closed connection`。接下来分三种情况：
#
# * **没有 `on_abort` 回调**：`c->error = 1`，`ngx_http_lua_request_cleanup` 杀掉所有线程（并取消它们的 sleep、套接字操作和信号量等待），然后 `ngx_http_lua_finalize_request(r, 499)` 结束请求；
# * **有回调且还没运行过**：回调变成一个运行中的轻线程（`ctx->uthreads++`），并且在这个读事件里经由 `ngx_http_lua_on_abort_resume` **立即**运行；
# * **回调已经运行过**：忽略这个事件。
#
# 场景 584 没有回调：入口线程 sleep 0.5 秒，一个轻线程 sleep 0.6 秒，客户端在 0.2 秒时关闭连接。

# %%
def report(*lines):
    """Print the lines as one block (a single write keeps the saved output byte-stable)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")


def lua_message(line):
    """The message of an ngx.log line (model or recording), without its prefix and tail."""
    m = re.search(r"\[lua\] .*?\):\d+: (.*?)(?:, client: |$)", line)
    return m and m.group(1)


def error_message(line):
    """An [error] line's message: first line only, without the *N and the tail."""
    msg = line.splitlines()[0].split("] ", 1)[1]
    msg = re.sub(r"^\d+#\d+: ", "", msg)
    return re.sub(r"^\*\d+ ", "", msg).split(", client:")[0]


def story(res):
    """The model's run: the close, the handler's start, the Lua log lines, the finalizes."""
    out, seen = [], 0
    for s in res.snapshots:
        for line in res.error_log[seen:s["log_lines"]]:
            msg = lua_message(line)
            if msg:
                out.append(f"{s['t_ms']:>4} ms  {WORDS['log']} {msg}")
            elif "[error]" in line:
                out.append(f"{s['t_ms']:>4} ms  [error] " + error_message(line))
        seen = max(seen, s["log_lines"])
        event, data = s["event"], s["data"]
        if event == "client_close":
            out.append(f"{s['t_ms']:>4} ms  {WORDS['close']}")
        elif event == "on_abort_wake":
            out.append(f"{s['t_ms']:>4} ms  {WORDS['wake']}")
        elif event == "finalize_request" and data["rc"] != -4:
            out.append(f"{s['t_ms']:>4} ms  finalize_request(r, {rc_name(data['rc'])})")
    return "\n".join(out)


def nginx_story(rec):
    """The same things from real nginx's recording: its log lines in order (the recording
    has no clock), then what its debug log says about the handler and the finalize."""
    out = []
    for line in rec["error_log"]:
        if lua_message(line):
            out.append(f"         {WORDS['log']} {lua_message(line)}")
        elif line.startswith("[error]"):
            out.append(f"         [error] {error_message(line)}")
    steps = []
    for line in rec["debug"]:
        if line == "ON_ABORT_WAKE":
            steps.append(WORDS["wake"])
        elif line.startswith("FINALIZE rc=") and not line.startswith("FINALIZE rc=-4"):
            steps.append(f"finalize_request(r, {rc_name(int(line.split('rc=')[1].split()[0]))})")
    out.append(f"         debug: {', '.join(steps)}")
    return "\n".join(out)


def run_scenario(name, **kw):
    """(model run, recording) of a scenario, with its client-abort-at time."""
    text, info, rec = scenario_info(name)
    res = ngxcoro.run(text, info["request"], abort_at=info["client_abort_at"],
                      snapshots=True, log_level="info", **kw)
    return res, rec


def abort_box(blog_says, nginx_does, name):
    """A BlogBox whose model run closes the client when the scenario says (the seed
    blog never gets to client aborts: the box says what one might expect)."""
    box = BlogBox(blog_says, nginx_does, name, says="belief")
    box.model = run_scenario(name)[0]
    return box


def compare(name):
    res, rec = run_scenario(name)
    return (f"--- {name}\n{WORDS['model']}:\n{story(res)}\n{WORDS['nginx']}:\n"
            f"{nginx_story(rec)}")

# %% check
report(compare("584-abort-no-handler"))

# %% [markdown]
# The close at 200 ms is the last thing that happens: no thread runs again, the two sleep
# timers are cancelled by `ngx_http_lua_request_cleanup`, and `finalize_request(r, 499)`
# terminates the request. 499 is the status the access log writes; the client hears
# nothing. Scenario 591 is the same with the entry thread in `ngx.thread.wait`.
#
# ## With a handler
# `ngx.on_abort(fn)` (`ngx_http_lua_on_abort`, `ngx_http_lua_control.c`) creates a coroutine
# for `fn`, marks it a light thread of the caller, leaves it **suspended** and stores it in
# `ctx->on_abort_co_ctx`. It is not counted in `ctx->uthreads` yet: if the client never
# closes, the request does not wait for it, and it is deleted when the request ends.
# Scenario 580 registers a handler that only logs:

# %% [markdown] zh
# 200 ms时的关闭就是最后发生的事：再没有线程运行，`ngx_http_lua_request_cleanup` 取消了两个 sleep 定时器，`finalize_request(r, 499)` 终止请求。499 是写进访问日志的状态码，客户端什么也收不到。场景 591 一样，只是入口线程在 `ngx.thread.wait` 里等待。
#
# ## 注册了回调
# `ngx.on_abort(fn)`（`ngx_http_lua_control.c` 中的 `ngx_http_lua_on_abort`）为 `fn` 创建一个协程，把它标成调用者的轻线程，让它保持**挂起**（`NGX_HTTP_LUA_CO_SUSPENDED`），存进 `ctx->on_abort_co_ctx`。这时它还不计入 `ctx->uthreads`：如果客户端一直不关闭连接，请求不会等它，请求结束时它被删除。场景 580 注册了一个只写日志的回调：

# %%
text580, request580, rec580 = scenario("580-abort-handler-returns")
print(text580.split("\n\n", 1)[1])

# %% predict
Predict("The client closes at 200 ms, the handler logs and returns. What happens at 300 ms, "
        "when the entry thread's <code>ngx.sleep(0.3)</code> is over?",
        ["nothing: the request ended with 499 at 200 ms",
         "the entry thread goes on, and its first flush succeeds",
         "the entry thread goes on, but ngx.say fails at once"],
        "the entry thread goes on, and its first flush succeeds",
        "A handler that returns is just a light thread that ended: it becomes a zombie and the "
        "request carries on. The first write still goes into the socket's buffer; the client's "
        "reset makes the second one fail.")

# %% predict zh
Predict("客户端在 200 ms时关闭连接，回调写一行日志就返回了。到 300 ms，入口线程的 "
        "<code>ngx.sleep(0.3)</code> 结束时，会发生什么？",
        ["什么也不发生：请求在 200 ms时已经以 499 结束",
         "入口线程继续运行，第一次 flush 成功",
         "入口线程继续运行，但 ngx.say 立刻失败"],
        "入口线程继续运行，第一次 flush 成功",
        "正常返回的回调只是一个运行结束的轻线程：它成为僵尸，请求照常继续。第一次写仍然写进了"
        "套接字的缓冲区；客户端的 RST 让第二次写失败。")

# %% check answer
report(compare("580-abort-handler-returns"))

# %% [markdown]
# The handler ran inside the read event at 200 ms, before anything else. Then the request
# simply went on, until the end of its response could not be sent either
# (`finalize_request(r, NGX_ERROR)` at 500 ms). Registering a handler **replaces** the 499 ending: from then on, ending the
# request is the handler's job. What it does decides:
#
# | the handler | what follows | scenario |
# |---|---|---|
# | returns | it ends as a zombie; the request runs on and writes into a dead socket | 580, 588 |
# | `ngx.exit(444)` | `ngx_http_lua_request_cleanup` kills every thread, `finalize_request(r, 444)` closes the connection | 581 |
# | `ngx.exit(499)` | the same, with 499 in the access log | 582 |
# | `ngx.exit(0)` | the response is finished normally (its last buffer goes nowhere) | 583 |
# | raises an error | `lua user thread aborted`, the request runs on | 595 |
# | `ngx.exit(503)` after the header went out | turned into 200, with an `[error]` line | 599 |

# %% [markdown] zh
# 回调在 200 ms的读事件里先于一切运行，然后请求照常继续，直到响应的结尾也发不出去（500 ms时的 `finalize_request(r, NGX_ERROR)`）。注册回调就**取代了**以 499 收场：从此结束请求是回调的事。回调做什么，决定了结局：
#
# | 回调 | 结果 | 场景 |
# |---|---|---|
# | 返回 | 成为僵尸；请求继续运行，往已经断开的套接字里写 | 580, 588 |
# | `ngx.exit(444)` | `ngx_http_lua_request_cleanup` 杀掉所有线程，`finalize_request(r, 444)` 关闭连接 | 581 |
# | `ngx.exit(499)` | 同上，访问日志里是 499 | 582 |
# | `ngx.exit(0)` | 响应正常结束（最后一个缓冲区无人接收） | 583 |
# | 抛出错误 | `lua user thread aborted`，请求继续运行 | 595 |
# | 响应头已发出后 `ngx.exit(503)` | 变成 200，并有一行 `[error]` | 599 |

# %% check
report(*(compare(name) for name in ["581-abort-handler-exit-444", "582-abort-handler-exit-499",
                                    "583-abort-handler-exit-0", "595-abort-handler-error",
                                    "599-abort-handler-exit-after-header"]))

# %%
abort_box("With lua_check_client_abort on, nginx stops the request as soon as the client "
          "goes away.",
          "Only when no handler is registered (584: cleanup, then 499). A handler that returns "
          "lets the request run on; only its `ngx.exit` ends it.",
          "580-abort-handler-returns")

# %% zh
abort_box("打开 lua_check_client_abort 后，客户端一走，nginx 就停止处理请求。",
          "只有没注册回调时才是这样（584：清理，然后 499）。回调正常返回的话，请求继续运行；"
          "只有回调里的 `ngx.exit` 才会结束它。",
          "580-abort-handler-returns")

# %% [markdown]
# ## Step through it
# In scenario 587 the handler is a full light thread: it sleeps 0.2 s, the entry thread wakes
# in between (at 300 ms) and sleeps again, then the handler's `ngx.exit(444)` at 400 ms kills
# it. Jump to `client_close` and watch `on_abort` turn from suspended to running, and
# `uthreads` grow by one.

# %% [markdown] zh
# ## 单步执行
# 场景 587 里回调是一个完整的轻线程：它 sleep 0.2 秒，入口线程在这期间（300 ms）醒来又睡下，然后回调在 400 ms时的 `ngx.exit(444)` 杀掉了它。跳到 `client_close`，看 `on_abort` 从挂起变为运行，`uthreads` 加一。

# %%
text587, request587, _ = scenario("587-abort-handler-sleeps")
ngxcoro.show(text587, request587, abort_at=0.2)

# %% [markdown]
# ## Tweak: when the client closes
# The handler below sleeps 0.2 s and then calls `ngx.exit(444)`; the entry thread sleeps
# 0.5 s and says `done`. Move the close: early, the handler's exit comes first and kills the
# entry thread; at 0.35 s the entry thread ends at 500 ms, but the request is **not** over,
# because the handler is a counted light thread now, and its exit at 550 ms ends it
# (scenario 1190); after 0.5 s the response is complete and there is nobody left to notice
# the close (as in scenario 592). Each position is a scenario recorded for this lesson
# (1197, 1190, 1198, 1199), and real nginx's lines are printed under the model's.

# %% [markdown] zh
# ## 调一调：客户端什么时候关闭
# 下面的回调 sleep 0.2 秒后调用 `ngx.exit(444)`；入口线程 sleep 0.5 秒后输出 `done`。移动关闭的时刻：关得早，回调的 exit 先到，杀掉入口线程；0.35 秒关闭时，入口线程在 500 ms结束，但请求 **没有**结束，因为回调此时是计入 uthreads 的轻线程，它在 550 ms的 exit 才结束请求（场景 1190）；0.5 秒以后响应已经完整，连接也关了，再没人注意到客户端的关闭（同场景 592）。每个位置都是为本课录制的场景（1197、1190、1198、1199），模型的结果下面列出了真实 nginx 的记录。

# %%
TWEAK = {"0.1 s": "1197-abort-handler-exits-first", "0.35 s": "1190-abort-handler-outlives-entry",
         "0.45 s": "1198-abort-just-before-the-end", "0.6 s": "1199-abort-after-the-end"}


def view(label):
    res, rec = run_scenario(TWEAK[label])
    got = f"{res.status} {res.body!r}" if res.status else "-"
    return timeline_svg(res.snapshots) + pre(
        f"{WORDS['model']}:\n{story(res)}\n{WORDS['status']}: {got}\n\n"
        f"{WORDS['nginx']} ({TWEAK[label]}):\n{nginx_story(rec)}")


Tweak(WORDS["abort at"], list(TWEAK), view, index=1)

# %% [markdown]
# ## Corners
# * One handler per request: a second `ngx.on_abort` answers `nil, "duplicate call"`, and the
#   first one runs (586).
# * The handler belongs to the handler that registered it. `rewrite_by_lua`'s handler is
#   deleted when `content_by_lua` starts (`ngx_http_lua_reset_ctx` calls
#   `ngx_http_lua_finalize_threads`), so only the content phase's own handler runs (597).
# * In rewrite and access the same rules hold: a handler that returns lets the phase go on
#   to content (589); its `ngx.exit(444)` ends the request before content (590).
# * `ngx.eof()` gives the client the whole answer, but the Lua handler keeps running, and a
#   later close still wakes the on_abort handler (593).

# %% [markdown] zh
# ## 边角情况
# * 每个请求只有一个回调：第二次调用 `ngx.on_abort` 返回 `nil, "duplicate call"`，运行的是第一个（586）。
# * 回调属于注册它的那个处理函数。`rewrite_by_lua` 注册的回调在 `content_by_lua` 开始时被删除（`ngx_http_lua_reset_ctx` 调用 `ngx_http_lua_finalize_threads`），所以只有 content 阶段自己注册的回调会运行（597）。
# * rewrite 和 access 阶段规则相同：回调正常返回，这个阶段就继续往下走到 content（589）；回调里的 `ngx.exit(444)` 在 content 之前结束请求（590）。
# * `ngx.eof()` 把完整的应答交给了客户端，但 Lua 处理函数还在运行，之后客户端关闭连接，照样会唤醒 on_abort 回调（593）。

# %% check
report(*(compare(name) for name in ["586-abort-duplicate-call", "597-abort-handler-from-rewrite-reset",
                                    "589-abort-in-rewrite", "590-abort-in-access-exit-444",
                                    "593-abort-after-eof"]))

# %% [markdown]
# ## Without lua_check_client_abort
# Scenario 585 is 580 without the directive. `ngx.on_abort` refuses with
# `nil, "lua_check_client_abort is off"`, the read handler stays `ngx_http_block_reading`,
# and the close goes unnoticed: the entry thread runs to its end. The first flush fills the
# socket buffer; the second fails with `nginx output filter error` (the client's reset
# makes the write a broken pipe), and that is all nginx ever learns. The same happens with the directive on when no Lua handler is parked
# (scenario 598, an `echo_sleep`): only Lua's handlers install the check.

# %% [markdown] zh
# ## 不开 lua_check_client_abort
# 场景 585 就是去掉这条指令的 580。`ngx.on_abort` 拒绝注册，返回 `nil, "lua_check_client_abort is off"`；读事件处理函数仍是 `ngx_http_block_reading`，连接关闭无人察觉：入口线程一直运行到结束。第一次 flush 写进套接字缓冲区；第二次失败，返回 `nginx output filter error`（客户端的 RST 让这次写成了 broken pipe），nginx 只知道这么多。打开了指令、但停下等待的不是 Lua 处理函数时也一样（场景 598，`echo_sleep`）：只有 Lua 的处理函数才会装上这个检查。

# %% check
report(compare("585-abort-directive-off"), compare("598-abort-no-lua-phase"))

# %%
abort_box("ngx.on_abort registers a function to run when the client aborts.",
          "Only with `lua_check_client_abort on`; without it the call answers nil and "
          "\"lua_check_client_abort is off\", and the close is noticed only by a failing write.",
          "585-abort-directive-off")

# %% zh
abort_box("ngx.on_abort 注册一个客户端中断时运行的函数。",
          "只有在 `lua_check_client_abort on` 时才行；否则它返回 nil 和 "
          "\"lua_check_client_abort is off\"，要等写失败才会发现连接已关闭。",
          "585-abort-directive-off")

# %% [markdown]
# **Next:** [13 · Semaphores](13-semaphores.ipynb) — a wait that is woken by a posted event,
# not by the poster.

# %% [markdown] zh
# **下一课：** [13 · 信号量](13-semaphores.ipynb)：唤醒等待者的是一个投递的事件，而不是 post 的调用者。
