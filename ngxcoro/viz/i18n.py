"""The words the widgets themselves show (buttons, headings, verdicts), in
English and Chinese.  A Chinese lesson (notebooks/zh/) starts with

    from ngxcoro.viz import set_language
    set_language("zh")

and every widget made after that speaks Chinese.  What the model says (its
events, nginx's log lines, C names) stays as nginx and the C source write it.
"""
from __future__ import annotations

LANGUAGES = ("en", "zh")
_lang = "en"

WORDS = {
    # Predict (viz/lessons.py)
    "predict": {"en": "Predict.", "zh": "预测："},
    "check": {"en": "Check", "zh": "核对"},
    "pick first": {"en": "Pick an answer first.", "zh": "请先选一个答案。"},
    "right": {"en": "Right.", "zh": "答对了。"},
    "not quite": {"en": "Not quite.", "zh": "不对。"},
    "the answer is": {"en": "The answer is", "zh": "答案是"},
    # BlogBox (viz/lessons.py)
    "blog says": {"en": "The blog says:", "zh": "博客说："},
    "belief says": {"en": "You might expect:", "zh": "你可能以为："},   # the seed is silent
    "nginx does": {"en": "nginx does:", "zh": "nginx 实际上："},
    # BlogBox as plain text (its text/plain: where HTML does not show)
    # (a head word and its text: Chinese heads end in a full-width colon, no space after)
    "text says": {"en": "{head} {text}", "zh": "{head}{text}"},
    "text does": {"en": "{head}    {text}", "zh": "{head}{text}"},
    "text scenario": {"en": "scenario {name}: nginx {status} {body}",
                      "zh": "场景 {name}：nginx {status} {body}"},
    "text model": {"en": "               model {status} {body}", "zh": "模型：{status} {body}"},
    "text agree": {"en": "agree: {agree}", "zh": "一致：{agree}"},
    "true": {"en": "True", "zh": "是"},
    "false": {"en": "False", "zh": "否"},
    "scenario": {"en": "Scenario", "zh": "场景"},
    "nginx answered": {"en": "real nginx answered", "zh": "真实的 nginx 回答"},
    "model answers": {"en": "the model answers", "zh": "模型回答"},
    "no response": {"en": "no complete response", "zh": "没有完整的响应"},
    "agree": {"en": "the model and real nginx agree", "zh": "模型与真实的 nginx 一致"},
    "differ": {"en": "model and recording differ!", "zh": "模型与录制结果不一致！"},
    # the stepper (viz/stepper.py, stepper.js): toolbar
    "first step": {"en": "first step (Home)", "zh": "第一步 (Home)"},
    "previous step": {"en": "previous step (←)", "zh": "上一步 (←)"},
    "next step": {"en": "next step (→)", "zh": "下一步 (→)"},
    "last step": {"en": "last step (End)", "zh": "最后一步 (End)"},
    "play": {"en": "play", "zh": "播放"},
    "pause": {"en": "pause", "zh": "暂停"},
    "play / pause": {"en": "play / pause (space)", "zh": "播放 / 暂停（空格键）"},
    "play speed": {"en": "play speed", "zh": "播放速度"},
    "step slider": {"en": "step", "zh": "步骤"},
    "kind to jump to": {"en": "event kind to jump to", "zh": "要跳转到的事件类型"},
    "previous of kind": {"en": "previous step of this kind", "zh": "上一个同类事件"},
    "next of kind": {"en": "next step of this kind", "zh": "下一个同类事件"},
    "jump to": {"en": "jump to", "zh": "跳转到"},
    "no later": {"en": "no later {kind}", "zh": "后面没有 {kind} 了"},
    "no earlier": {"en": "no earlier {kind}", "zh": "前面没有 {kind} 了"},
    "graph tab": {"en": "Graph", "zh": "关系图"},
    "timeline tab": {"en": "Timeline", "zh": "时间线"},
    "step of": {"en": "step {step} of {last}", "zh": "第 {step} / {last} 步"},
    "steps numbered": {"en": "steps are numbered from 0, as result.snapshots[k]: steps 0-{last}",
                       "zh": "步骤从 0 开始编号，与 result.snapshots[k] 一致：第 0-{last} 步"},
    "no steps": {"en": "no steps", "zh": "没有步骤"},
    "no steps recorded": {"en": "the run recorded no steps", "zh": "这次运行没有记录到任何步骤"},
    # the stepper: what-if (completion order)
    "order example": {"en": "e.g. t2, t1", "zh": "例如 t2, t1"},
    "completion order": {"en": "completion order", "zh": "完成顺序"},
    "rerun": {"en": "Re-run", "zh": "重新运行"},
    "export": {"en": "Test::Nginx", "zh": "Test::Nginx"},
    "export title": {"en": "show this run as a Test::Nginx block: the model's answer as a test "
                           "for real nginx (python -m ngxcoro export writes the same)",
                     "zh": "把这次运行写成一个 Test::Nginx 测试块：用模型的回答去测试真实的 nginx"
                           "（python -m ngxcoro export 输出的也是它）"},
    "rerun title": {"en": "run the model again with this completion order (needs the kernel)",
                    "zh": "按这个完成顺序重新运行模型（需要内核）"},
    "what if": {"en": "what if another timer finished first? timers:",
                "zh": "如果另一个定时器先到期会怎样？定时器："},
    "order": {"en": "order", "zh": "顺序"},
    "re-running": {"en": "re-running…", "zh": "正在重新运行…"},
    "no kernel rerun": {"en": "no answer: re-running needs a live kernel (this page only replays "
                                "the saved steps)",
                        "zh": "没有响应：重新运行需要一个活动的内核（这个页面只能回放保存下来的步骤）"},
    "unknown label": {"en": "unknown timer label {label}; this run's timers are: {labels}",
                      "zh": "未知的定时器标签 {label}；这次运行的定时器是：{labels}"},
    "none": {"en": "none", "zh": "无"},
    "rerun failed": {"en": "re-run failed: {error}", "zh": "重新运行失败：{error}"},
    "rerun interrupted": {"en": "re-run interrupted: the steps shown are still the previous run's",
                          "zh": "重新运行被中断：显示的仍是上一次运行的步骤"},
    "reran": {"en": "re-ran with order {order}: status {status}, {steps}",
              "zh": "已按顺序 {order} 重新运行：状态 {status}，{steps}"},
    "steps none": {"en": "no steps", "zh": "没有步骤"},
    "steps one": {"en": "step 0 only", "zh": "只有第 0 步"},
    "steps range": {"en": "steps 0-{last}", "zh": "共 0-{last} 步"},
    # the stepper: panels
    "event log": {"en": "event log (click a step to jump)", "zh": "事件日志（点击某一步即可跳转）"},
    "your lua": {"en": "your Lua in its location block (nginx.conf lines)",
                 "zh": "你的 Lua 代码及其所在的 location 块（nginx.conf 行号）"},
    "your config": {"en": "your config (nginx.conf lines)", "zh": "你的配置（nginx.conf 行号）"},
    "lua lines title": {"en": "line numbers are nginx.conf's, as in the graph; in a Lua error "
                              "\"content_by_lua(nginx.conf:2):N:\" N counts from line 2",
                        "zh": "行号是 nginx.conf 的行号，与关系图中一致；Lua 报错 "
                              "\"content_by_lua(nginx.conf:2):N:\" 中的 N 从第 2 行起算"},
    "timeline click": {"en": "click a step to jump to it", "zh": "点击某一步即可跳转"},
    "no decompression": {"en": "this browser cannot unpack the graphs (no DecompressionStream)",
                         "zh": "这个浏览器无法解压关系图（不支持 DecompressionStream）"},
    "cannot unpack": {"en": "cannot unpack the graphs: ", "zh": "无法解压关系图："},
    "unpacking": {"en": "unpacking the graphs…", "zh": "正在解压关系图…"},
    "model source": {"en": "ngxcoro's model: ", "zh": "ngxcoro 的模型："},
    "stands for": {"en": "  stands for {c}()", "zh": "  对应 C 函数 {c}()"},
    "no source": {"en": "(no source)", "zh": "（没有源码）"},
    "output so far": {"en": "output so far", "zh": "目前的输出"},
    "status sent": {"en": " · status {status} sent", "zh": " · 已发送状态码 {status}"},
    "response complete": {"en": " · response complete", "zh": " · 响应已完成"},
    "nothing sent": {"en": " · nothing sent yet", "zh": " · 尚未发送任何内容"},
    "sent to client": {"en": "sent to the client", "zh": "已发送给客户端"},
    "no body bytes": {"en": "(no body bytes on the wire)", "zh": "（还没有响应体字节发出）"},
    "held back": {"en": "held back (buffered, not yet on the wire):",
                  "zh": "暂存未发（在缓冲区中，尚未发出）："},
    "cap note": {"en": "pictures precomputed for steps 0-{last} only; run the notebook to see every step",
                 "zh": "只预先绘制了第 0-{last} 步的关系图；运行这个 notebook 才能看到每一步"},
    "drawing step": {"en": "drawing step {i}…", "zh": "正在绘制第 {i} 步…"},
    "cannot draw": {"en": "cannot draw the graph: ", "zh": "无法绘制关系图："},
    "stage event handler": {"en": "event handler", "zh": "事件处理函数"},
    "stage phase handler": {"en": "phase handler", "zh": "阶段处理函数"},
    "where phase": {"en": "phase", "zh": "阶段"},
    "static step": {"en": "step {step} of {steps} (the interactive stepper needs widget JavaScript)",
                    "zh": "第 {step} 步（{steps}；交互式步进器需要 widget JavaScript）"},
    "status": {"en": "status", "zh": "状态"},
    # the editor (viz/editor.py)
    "editor placeholder": {"en": "a location block, or bare Lua", "zh": "一个 location 块，或一段 Lua 代码"},
    "request": {"en": "request", "zh": "请求"},
    "body": {"en": "body", "zh": "请求体"},
    "body none": {"en": "(none)", "zh": "（无）"},
    "run": {"en": "Run", "zh": "运行"},
    "run tooltip": {"en": "run the model and step through it", "zh": "运行模型并逐步查看"},
    "running": {"en": "running&hellip;", "zh": "正在运行&hellip;"},
    "interrupted": {"en": "interrupted: this run was stopped before it ended; nothing of it is shown",
                    "zh": "已中断：这次运行在结束前被停止，不显示任何结果"},
    "could not run": {"en": "ngxcoro could not run this: {error}", "zh": "ngxcoro 无法运行这段代码：{error}"},
    "bad method": {"en": 'bad method "{method}" in request line "{request}": nginx answers 400 Bad '
                         'Request and runs no location (a method is "A"-"Z", "_" and "-")',
                   "zh": '请求行 "{request}" 中的方法 "{method}" 不合法：nginx 回答 400 Bad Request，'
                         '不会运行任何 location（方法只能由 "A"-"Z"、"_" 和 "-" 组成）'},
    "lua line": {"en": "line {line} of your Lua: {error}", "zh": "你的 Lua 代码第 {line} 行：{error}"},
    "stopped": {"en": "stopped", "zh": "已停止"},
    "hung": {"en": "hung", "zh": "卡住"},
    "no response short": {"en": "no response", "zh": "没有响应"},
    "summary": {"en": "status {status} &middot; {n} steps", "zh": "状态 {status} &middot; {n} 步"},
    # the graph's key (viz/legend.py)
    "key": {"en": "key", "zh": "图例"},
    "entry thread": {"en": "entry thread", "zh": "入口线程"},
    "light thread": {"en": "light thread", "zh": "轻线程"},
    "coroutine": {"en": "coroutine", "zh": "协程"},
    "changed": {"en": "* changed", "zh": "* 有变化"},
    "was": {"en": "(* was ...)", "zh": "（* 原值 ...）"},
    "posted entry": {"en": "posted_threads entry", "zh": "posted_threads 中的一项"},
    "parent": {"en": "parent", "zh": "父协程"},
    "child": {"en": "child", "zh": "子协程"},
    "created not resumed": {"en": "created, not\nresumed yet", "zh": "已创建，\n尚未恢复"},
    "zombie child": {"en": "zombie child", "zh": "僵尸子线程"},
    "created": {"en": "created", "zh": "创建"},
    "zombie list": {"en": "zombie list", "zh": "僵尸链表"},
    "waiter": {"en": "waiter", "zh": "等待者"},
    "sema key": {"en": "<B>sema1</B> ngx.semaphore<BR/>resources, count()<BR/>"
                       "<B>event posted</B> (tinted)<BR/>waiting: head first",
                 "zh": "<B>sema1</B> ngx.semaphore<BR/>资源数，count()<BR/>"
                       "<B>事件已投递</B>（着色）<BR/>等待者：队首在前"},
    "waits": {"en": "waits #1", "zh": "等待 #1"},
    # the timeline (viz/timeline.py)
    "timeline": {"en": "timeline", "zh": "时间线"},
    "timeline sub": {"en": " - {n} steps, one lane per coroutine", "zh": " - 共 {n} 步，每个协程一条泳道"},
    "client closed at": {"en": "step {k}: the client closed the connection at {t} ms",
                         "zh": "第 {k} 步：客户端在 {t} ms 时关闭了连接"},
    "client closed": {"en": "client closed", "zh": "客户端关闭"},
    "finalize tip": {"en": "step {k}: finalize_request(r, {rc}) on {uri}",
                     "zh": "第 {k} 步：对 {uri} 调用 finalize_request(r, {rc})"},
    "lane in": {"en": " in {detail}", "zh": "，在 {detail} 中"},
    "lane step": {"en": ", step {start}", "zh": "，第 {start} 步"},
    "lane to": {"en": " to {end}", "zh": " 到第 {end} 步"},
    "axis step": {"en": "step", "zh": "步骤"},
    "executing": {"en": "executing", "zh": "执行中"},
    "posted": {"en": "posted", "zh": "已投递"},
    "blocked": {"en": "blocked", "zh": "阻塞中"},
    "normal": {"en": "normal", "zh": "normal"},
    "suspended": {"en": "suspended", "zh": "挂起"},
    "zombie": {"en": "zombie", "zh": "僵尸"},
    "dead": {"en": "dead", "zh": "已结束"},
    "phase change": {"en": "phase change", "zh": "阶段切换"},
    # the count chart (viz/lessons.py count_chart_svg)
    "chart x": {"en": "events (dashed: finalize_request with its rc)",
                "zh": "事件（虚线：finalize_request 及其 rc）"},
}

#: the words stepper.js shows (the Stepper sends them as its `words`)
STEPPER_KEYS = (
    "first step", "previous step", "next step", "last step", "play", "pause", "play / pause",
    "play speed", "step slider", "kind to jump to", "previous of kind", "next of kind", "jump to",
    "no later", "no earlier", "graph tab", "timeline tab", "step of", "steps numbered", "no steps",
    "no steps recorded", "order example", "completion order", "rerun", "rerun title", "what if",
    "order", "re-running", "no kernel rerun", "event log", "your lua", "your config",
    "lua lines title", "timeline click", "no decompression", "cannot unpack", "unpacking",
    "model source", "stands for", "no source", "output so far", "status sent",
    "response complete", "nothing sent", "sent to client", "no body bytes", "held back",
    "cap note", "drawing step", "cannot draw", "stage event handler", "stage phase handler",
    "where phase", "rerun failed", "unknown label", "export", "export title")


def set_language(lang):
    """Make the widgets created from now on speak `lang` ("en" or "zh")."""
    global _lang
    if lang not in LANGUAGES:
        raise ValueError(f"set_language: one of {', '.join(LANGUAGES)}, not {lang!r}")
    _lang = lang


def language():
    return _lang


def word(key, **fields):
    """The widget word `key` in the current language (with `fields`, its
    {placeholders} filled in)."""
    w = WORDS[key][_lang]
    return w.format(**fields) if fields else w


def words(*keys):
    """{key: word} for a widget's JavaScript side."""
    return {k: word(k) for k in keys}
