"""The request side of a graph frame: the connection, the timers, each
request, its ngx_lua ctx and its posted_threads list (graph.py's builder
draws with these methods; see graph.py for what is drawn and why)."""
from __future__ import annotations

from .palette import CHANGED, CTX_W, DIM, INK, POSTED_FILL, TIMER_KEY_W, TIMER_W
from .labels import _h, _html, _line, _row, _table, _timer_key, _yn

MAX_TIMER_ROWS = 6


class _RequestSide:
    """Builder methods for connection, timers, requests, ctxs and posted lists.
    They read the builder's snapshot (`s`), the step before (`p`,
    `prev_req`) and the universe (`u`), and write DOT into `g`."""

    # ------------------------------------------------------------ connection
    def _connections(self):
        s, g = self.s, self.g
        by_conn = {}
        for i, r in enumerate(s["requests"]):
            by_conn.setdefault(r["connection"], (i, r))
        prev_by_conn = {}
        if self.p is not None:
            for r in self.p["requests"]:
                prev_by_conn.setdefault(r["connection"], r)
        out = s.get("output") or {}
        for n in self.u["connections"]:
            node = f"conn_{n}"
            if n not in by_conn:
                g.node(node, label="conn", style="invis")
                continue
            i, r = by_conn[n]
            pr = prev_by_conn.get(n)
            ch = pr is not None and pr["destroyed"] != r["destroyed"]
            rows = [_row("c->destroyed", "1 (closed)" if r["destroyed"] else "0",
                         ch, "0" if ch and not r["destroyed"] else None)]
            if n == self.u["connections"][0]:
                status = out.get("status")
                sent = len(out.get("sent") or "")
                held = len(out.get("held") or "")
                done = " (all)" if out.get("complete") else ""
                rows.append(_row("status sent", status if status is not None else "-"))
                rows.append(_row("body sent", f"{sent} B{done}"))
                rows.append(_row("held back", f"{held} B"))
            bg = "#E4E4E4" if r["destroyed"] else "white"
            g.node(node, label=_table(f"<B>connection #{n}</B>", rows, bg=bg, changed=ch),
                   shape="plain", id=node, **({"class": "changed"} if ch else {}))
        first = f"conn_{self.u['connections'][0]}" if self.u["connections"] else None
        if first:
            g.edge(first, "timers", style="invis")

    # ---------------------------------------------------------------- timers
    def _timers(self):
        s, g = self.s, self.g
        now = s["t_ms"]
        timers = sorted(s["timers"], key=lambda t: (t["deadline_ms"], t["label"]))
        prev_labels = None
        if self.p is not None:
            prev_labels = [(t["label"], t["deadline_ms"]) for t in self.p["timers"]]
        now_labels = [(t["label"], t["deadline_ms"]) for t in timers]
        rows = []
        shown_new = False
        for t in timers[:MAX_TIMER_ROWS]:
            new = prev_labels is not None and (t["label"], t["deadline_ms"]) not in prev_labels
            shown_new = shown_new or new
            rows.append(_row(t["label"], f"{t['deadline_ms']} ms (+{t['deadline_ms'] - now})",
                             new, note="* new", width=TIMER_W, key_width=TIMER_KEY_W,
                             key_html=_timer_key(t["label"])))
        if len(timers) > MAX_TIMER_ROWS:
            rows.append(_row("...", f"{len(timers) - MAX_TIMER_ROWS} more"))
        if not timers:
            rows.append('<TR><TD COLSPAN="2"><I>none pending</I></TD></TR>')
        notes = []
        if prev_labels is not None:
            gone = [lab for lab, dl in prev_labels if (lab, dl) not in now_labels]
            if gone:
                notes.append("* gone: " + ", ".join(gone[:3]) + (" ..." if len(gone) > 3 else ""))
            hidden = [lab for lab, dl in now_labels[MAX_TIMER_ROWS:] if (lab, dl) not in prev_labels]
            if hidden:
                notes.append("* new: " + ", ".join(hidden[:3]) + (" ..." if len(hidden) > 3 else ""))
        rows += [f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="{CHANGED}">'
                 f'{_h(n)}</FONT></TD></TR>' for n in notes]
        reserve = min(self.u["timers_max"], MAX_TIMER_ROWS + 1) - max(len(rows), 1)
        rows += ['<TR><TD COLSPAN="2"> </TD></TR>'] * max(reserve, 0)
        ch = prev_labels is not None and sorted(prev_labels) != sorted(now_labels)
        title = f"<B>timers</B> (now {now} ms)"
        g.node("timers", label=_table(title, rows, changed=ch), shape="plain", id="timers",
               **({"class": "changed"} if ch else {}))

    # --------------------------------------------------------------- request
    def _request(self, i, ur):
        s, g = self.s, self.g
        node = ur["node"]
        if i >= len(s["requests"]):            # not yet created: same size, invisible
            fake = {"uri": ur["uri"], "args": ur.get("args"), "main": ur["parent"] is None,
                    "count": 0, "phase": "content", "header_sent": False, "done": False,
                    "freed": False}
            # room for the "* new" it will have, but no highlight in an invisible node
            label = self._request_label(fake, None, True).replace(CHANGED, INK).replace("* new", "- new")
            g.node(node, label=label, shape="plain", style="invis")
            self._request_edges(i, ur, visible=False)
            if ur["has_ctx"]:
                self._ctx(i, ur, None)
            return
        r = s["requests"][i]
        pr = self.prev_req.get(node) if self.prev_req is not None else None
        fresh = self.prev_req is not None and pr is None
        keys = ("count", "phase", "header_sent", "done", "freed", "uri", "destroyed")
        changed = fresh or (pr is not None and any(pr[k] != r[k] for k in
                                                  (keys if r["main"] else keys[1:])))
        g.node(node, label=self._request_label(r, pr, fresh, changed), shape="plain", id=node,
               **({"class": "changed"} if changed else {}))
        self._request_edges(i, ur, visible=True)
        if ur["has_ctx"]:
            self._ctx(i, ur, r["ctx"])

    @staticmethod
    def _request_label(r, pr, fresh, changed=False):
        def ch(key):
            return pr is not None and pr[key] != r[key]

        uri = r["uri"] + (f"?{r['args']}" if r.get("args") else "")
        title = f"<B>{'request' if r['main'] else 'subrequest'} {_h(uri)}</B>"
        if r.get("fake"):                       # a timer's: no URI, a connection of its own
            title = f"<B>fake request *{r['connection']}</B> (ngx.timer)"
        if fresh:
            title += f' <FONT POINT-SIZE="9" COLOR="{CHANGED}">* new</FONT>'
        rows = []
        if r["main"]:
            rows.append(_row("r->count", r["count"], ch("count"), pr and pr["count"], big=True))
        rows.append(_row("phase", r["phase"] or "-", ch("phase"), pr and (pr["phase"] or "-")))
        rows.append(_row("header_sent", _yn(r["header_sent"]), ch("header_sent"),
                         pr and _yn(pr["header_sent"])))
        df = f"{_yn(r['done'])} / {_yn(r['freed'])}"
        dch = ch("done") or ch("freed")
        rows.append(_row("done / freed", df, dch, pr and f"{_yn(pr['done'])} / {_yn(pr['freed'])}"))
        if r.get("postponed"):                  # the postpone filter's queue, in order
            rows.append(_row("postponed", ", ".join(r["postponed"]),
                             pr is not None and pr.get("postponed") != r["postponed"]))
        bg = "#E4E4E4" if r["freed"] else "white"
        return _table(title, rows, bg=bg, changed=changed)

    def _request_edges(self, i, ur, visible):
        g = self.g
        if ur["parent"] is not None:
            # the same label when invisible: edge labels take room in the layout
            attrs = {"label": "subrequest"} if visible else {"label": "subrequest", "style": "invis"}
            g.edge(f"req_{ur['parent']}", ur["node"], **attrs)
        else:
            g.edge(f"conn_{ur['connection']}", ur["node"], **({} if visible else {"style": "invis"}))

    # ------------------------------------------------------------------- ctx
    def _ctx(self, i, ur, ctx):
        g = self.g
        node = f"ctx_{i}"
        if ctx is None:                        # not yet created: same size, invisible
            rows = [_row("cur_co_ctx", "NULL", width=CTX_W), _row("co_op", "NOP", width=CTX_W),
                    _row("uthreads", 0, width=CTX_W)]
            g.node(node, label=_table("<B>ctx</B> content_by_lua*", rows), shape="plain",
                   style="invis")
            g.edge(ur["node"], node, label="ctx", style="invis")
            self._posted(i, ur, [], None, visible=False)
            return
        pctx = None
        if self.prev_req is not None and ur["node"] in self.prev_req:
            pctx = self.prev_req[ur["node"]]["ctx"]
        fresh = self.prev_req is not None and pctx is None

        def ch(key):
            return pctx is not None and pctx[key] != ctx[key]

        def was(key, fmt=str):
            return fmt(pctx[key]) if pctx is not None else None

        none = lambda v: v if v else "NULL"                      # noqa: E731
        w = CTX_W
        rows = [
            _row("cur_co_ctx", none(ctx["cur_co_ctx"]), ch("cur_co_ctx"), was("cur_co_ctx", none), width=w),
            _row("co_op", ctx["co_op"], ch("co_op"), was("co_op"), width=w),
            _row("uthreads", ctx["uthreads"], ch("uthreads"), was("uthreads"), width=w),
        ]
        if ctx["exited"] or ch("exited"):
            rows.append(_row("exited", f"yes, code {ctx['exit_code']}", ch("exited") or ch("exit_code"),
                             "no" if pctx is not None and not pctx["exited"] else None, width=w))
        if ctx["exec_uri"] or ch("exec_uri"):
            rows.append(_row("exec_uri", ctx["exec_uri"] or "-", ch("exec_uri"), was("exec_uri"),
                             width=w))
        changed = fresh or any(ch(k) for k in ("cur_co_ctx", "co_op", "uthreads", "exited",
                                                 "exit_code", "exec_uri", "context"))
        title = f"<B>ctx</B> {_h(ctx['context'] or '(no handler yet)')}"
        if fresh:
            title += f' <FONT POINT-SIZE="9" COLOR="{CHANGED}">* new</FONT>'
        elif ch("context"):
            title += f' <FONT POINT-SIZE="9" COLOR="{CHANGED}">* was {_h(pctx["context"] or "none")}</FONT>'

        g.node(node, label=_table(title, rows, changed=changed), shape="plain", id=node,
               **({"class": "changed"} if changed else {}))
        g.edge(ur["node"], node, label="ctx")
        self._posted(i, ur, ctx["posted_threads"], pctx["posted_threads"] if pctx else None,
                     visible=True)

    def _posted(self, i, ur, posted, prev_posted, visible):
        """posted_threads: an anchor node and one node per entry, head first;
        slots up to the longest list the run has are kept as invisible nodes."""
        g = self.g
        anchor = f"posted_{i}"
        ctx = f"ctx_{i}"
        changed = prev_posted is not None and list(prev_posted) != list(posted)
        if not visible:
            g.node(anchor, label="posted_threads", shape="box", style="invis", width="1.35",
                   height="0.55")
        else:
            text = ["posted_threads"]
            if not posted:
                text.append("(empty)")
            if changed:
                was = ", ".join(prev_posted[:3]) + (", ..." if len(prev_posted) > 3 else "")
                text.append(f"* was [{was}]" if prev_posted else "* was empty")
            rows = [_line(text[0], bold=True)]
            rows += [_line(t, size=9, colour=CHANGED if t.startswith("*") else None) for t in text[1:]]
            g.node(anchor, label=_html(rows), shape="box", style="rounded", width="1.35", height="0.55",
                   color=CHANGED if changed else DIM, penwidth="3" if changed else "1",
                   id=anchor, **({"class": "changed"} if changed else {}))
        g.edge(ctx, anchor, style="invis" if not visible else "solid", arrowhead="none")
        prev_node = anchor
        for k in range(max(ur["posted_max"], len(posted))):
            node = f"posted_{i}_{k}"
            if k < len(posted):
                name = posted[k]
                new = prev_posted is not None and (k >= len(prev_posted) or prev_posted[k] != name)
                rows = [_line(name, bold=True),
                        _line("head" if k == 0 else f"#{k + 1}", size=9)]
                if new:
                    rows.append(_line("* new here", size=9, colour=CHANGED))
                g.node(node, label=_html(rows), shape="box", style="filled", fillcolor=POSTED_FILL,
                       color=CHANGED if new else INK, penwidth="3" if new else "1",
                       width="0.9", height="0.5", id=node, **({"class": "changed"} if new else {}))
                g.edge(prev_node, node, label="next" if k else "head")
            else:
                g.node(node, label="x\nhead", shape="box", style="invis", width="0.9", height="0.5")
                g.edge(prev_node, node, label="next" if k else "head", style="invis")
            prev_node = node

    # --------------------------------------------------------------- sockets
    def _sockets(self):
        """One small box per cosocket (``sock_<k>``): peer, state, buffered
        bytes (with a preview), timeouts; the coroutine waiting on it has a
        dashed edge to it.  One not made yet is an invisible placeholder."""
        g = self.g
        now = {x["name"]: x for x in self.s.get("sockets", [])}
        before = {x["name"]: x for x in self.p.get("sockets", [])} if self.p is not None else None
        for k, name in enumerate(self.u.get("sockets", [])):
            node = f"sock_{k}"
            x = now.get(name)
            if x is None:
                g.node(node, label=f"{name}\npeer\nstate", shape="box", style="invis")
                continue
            changed = before is not None and before.get(name) != x
            t = x["timeouts"]
            rows = [f'<B>{_h(name)}</B> <FONT POINT-SIZE="8">cosocket</FONT>',
                    _line(f"peer {x['peer'] or '-'}: {x['state']}", size=9,
                          bold=x["state"].startswith("waiting")),
                    _line(f"buffered {x['buffered']} B"
                          + (f" \"{x['preview']}\"" if x["preview"] else "")
                          + (f", {x['arrived']} B arrived" if x["arrived"] else ""), size=9)]
            if t:
                rows.append(_line(f"timeouts {t['connect']}/{t['send']}/{t['read']} ms", size=9))
            if changed:
                rows.append(_line("* new" if before.get(name) is None else "* changed", size=9,
                                  colour=CHANGED, bold=True))
            g.node(node, label=_html(rows), shape="box", style="filled",
                   fillcolor="#E4E4E4" if x["state"] in ("closed", "pooled") else "white",
                   color=CHANGED if changed else INK, penwidth="3" if changed else "1", id=node,
                   **({"class": "changed"} if changed else {}))
            co = x["waiting"]
            j = next((i for i in range(len(self.names) - 1, -1, -1) if self.names[i] == co),
                     None) if co else None
            if j is not None and self.nodes[j] in getattr(self, "shown_co", ()):
                g.edge(self.nodes[j], node, style="dashed", constraint="false",
                       xlabel="waits", color=DIM)

