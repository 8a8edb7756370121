// The auditor's page (policy 462.4(c)): the period's report with charts, the scheduled audits with
// their sign-off and review sample, notifications of unusual access, and the retention report.
// A shell: every figure comes from the guarded /api/v1/audit routes, and only textContent is set
// from API data, so nothing a user typed (a username, a case number) can run as markup.
"use strict";

(function () {
  const { $, say, fail, el, svg, utcMinute: when } = platewatch;
  const AUDIT = "/api/v1/audit";
  let me = null;
  let signing = null; // audit id being signed off

  // The answer's JSON; a refusal (or no session: the page goes to log in) is thrown as an Error.
  async function call(method, path, body) {
    const response = await platewatch.api(method, path, body, "/audit");
    if (response.status === 401) {
      throw new Error("not logged in");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      throw new Error(platewatch.explain(data && data.detail, response.status).message);
    }
    return data;
  }

  // ---- building blocks ---------------------------------------------------------------------------

  function num(n) {
    return n === null || n === undefined ? "" : Number(n).toLocaleString("en-US");
  }

  // A table: head is a list of column names; rows a list of arrays of strings, numbers or nodes.
  function fill(table, head, rows, numeric) {
    table.replaceChildren();
    const tr = el("tr");
    head.forEach((h) => tr.appendChild(el("th", "", h)));
    table.appendChild(tr);
    if (!rows.length) {
      const empty = el("tr");
      const td = el("td", "none", "none");
      td.colSpan = head.length;
      empty.appendChild(td);
      table.appendChild(empty);
      return;
    }
    rows.forEach((row) => {
      const r = el("tr");
      row.forEach((cell, i) => {
        const td = el("td");
        if (cell instanceof Node) {
          td.appendChild(cell);
        } else if (typeof cell === "number") {
          td.textContent = num(cell);
          td.className = "n";
        } else {
          td.textContent = cell === null || cell === undefined ? "" : String(cell);
        }
        if (numeric && numeric.includes(i)) {
          td.className = "n";
        }
        r.appendChild(td);
      });
      table.appendChild(r);
    });
  }

  // Bars: [{label, value, flag}]; horizontal for names, vertical for hours.
  function chart(where, title, bars, horizontal) {
    const box = $(where);
    box.replaceChildren(el("strong", "", title));
    if (!bars.length) {
      box.appendChild(el("p", "quiet", "nothing in this period"));
      return;
    }
    const top = Math.max(1, ...bars.map((b) => b.value));
    const width = 600;
    let height;
    const root = svg("svg", { viewBox: "0 0 600 10", role: "img", "aria-label": title });
    if (horizontal) {
      const row = 18;
      height = bars.length * row + 6;
      bars.forEach((b, i) => {
        const y = 4 + i * row;
        const w = ((width - 200) * b.value) / top;
        root.appendChild(svg("text", { x: 124, y: y + 12, "text-anchor": "end" }, b.label));
        root.appendChild(svg("rect", { x: 130, y: y + 2, width: w.toFixed(1), height: row - 5,
          class: b.flag ? "bar-flag" : "bar-ok" }));
        root.appendChild(svg("text", { x: (134 + w).toFixed(1), y: y + 12 }, num(b.value)));
      });
    } else {
      height = 150;
      const base = 130;
      const step = (width - 40) / bars.length;
      bars.forEach((b, i) => {
        const h = ((base - 10) * b.value) / top;
        const x = 36 + i * step;
        const rect = svg("rect", { x: (x + 1).toFixed(1), y: (base - h).toFixed(1),
          width: Math.max(1, step - 2).toFixed(1), height: h.toFixed(1), class: b.flag ? "bar-flag" : "bar-ok" });
        rect.appendChild(svg("title", {}, b.label + ": " + num(b.value)));
        root.appendChild(rect);
        if (i % 3 === 0) {
          root.appendChild(svg("text", { x: (x + step / 2).toFixed(1), y: base + 14, "text-anchor": "middle" }, b.label));
        }
      });
      root.appendChild(svg("text", { x: 32, y: 16, "text-anchor": "end" }, num(top)));
      root.appendChild(svg("line", { x1: 36, y1: base, x2: width, y2: base, stroke: "#4a5560" }));
    }
    root.setAttribute("viewBox", "0 0 " + width + " " + height);
    box.appendChild(root);
  }

  // ---- the report --------------------------------------------------------------------------------

  function figure(label, value, flag) {
    const box = el("div", "figure" + (flag ? " flag" : ""));
    box.appendChild(el("span", "label", label));
    box.appendChild(el("span", "value", num(value)));
    box.dataset.figure = label;
    return box;
  }

  function sum(obj) {
    return Object.values(obj || {}).reduce((a, b) => a + b, 0);
  }

  function rowCells(r) {
    return [r.seq, when(r.time), r.username, r.action, r.case_number || "", r.returned_count];
  }

  function showReport(r) {
    const lapsedUsers = new Set(r.lapsed_training.map((x) => x.username)).size;
    $("figures").replaceChildren(
      figure("searches", r.searches),
      figure("without a case number", r.searches_without_case, r.searches_without_case > 0),
      figure("wildcard searches", r.wildcard_searches),
      figure("fuzzy searches", r.fuzzy_searches),
      figure("bulk results", r.bulk_results, r.bulk_results > 0),
      figure("out-of-hours access", r.out_of_hours),
      figure("exports and shares", sum(r.transfers)),
      figure("failed logins", r.failed_logins),
      figure("account and role changes", sum(r.account_changes)),
      figure("lapsed training", lapsedUsers, lapsedUsers > 0),
      figure("access-log rows", r.rows),
      figure("refused requests", r.refused),
    );
    $("report-note").textContent =
      when(r.time_from) + " to " + when(r.time_to) + "; working hours " + r.working +
      "; bulk is more than " + num(r.bulk_threshold) + " rows; computed in " + r.seconds.toFixed(2) + " s.";
    chart("chart-users", "Searches per user",
      r.searches_by_user.slice(0, 15).map((u) => ({ label: u.username, value: u.searches, flag: u.no_case > 0 })), true);
    const start = parseInt(r.working_hours[0].slice(0, 2), 10) * 60 + parseInt(r.working_hours[0].slice(3), 10);
    const end = parseInt(r.working_hours[1].slice(0, 2), 10) * 60 + parseInt(r.working_hours[1].slice(3), 10);
    chart("chart-hours", "Requests per local hour (red: outside working hours)",
      r.by_hour.map((v, h) => ({ label: String(h).padStart(2, "0"), value: v, flag: !(h * 60 + 60 > start && h * 60 < end) })),
      false);
    fill($("t-users"), ["user", "organisation", "searches", "wildcard", "fuzzy", "no case", "bulk", "out of hours"],
      r.searches_by_user.map((u) => [u.username, u.organisation, u.searches, u.wildcard, u.fuzzy, u.no_case, u.bulk, u.out_of_hours]));
    const head = ["row", "time", "user", "action", "case", "returned"];
    fill($("t-nocase"), head, r.without_case_rows.map(rowCells));
    fill($("t-bulk"), head, r.bulk_rows.map(rowCells));
    fill($("t-ooh"), ["user", "requests"], Object.entries(r.out_of_hours_by_user));
    fill($("t-transfers"), ["action", "rows"], Object.entries(r.transfers));
    const lists = r.hotlist_without_expiry === null ? [[r.hotlist_problem || "not counted", ""]]
      : Object.entries(r.hotlist_without_expiry).map(([k, v]) => ["entries without expiry: " + k, v]);
    fill($("t-hotlists"), ["what", "count"], lists.concat(Object.entries(r.hotlist_changes)));
    fill($("t-training"), ["user", "roles", "course", "expired"],
      r.lapsed_training.map((x) => [x.username, x.roles.join(", "), x.course, x.expired_at ? x.expired_at.slice(0, 10) : "never trained"]));
    fill($("t-logins"), ["user", "failed logins"], Object.entries(r.failed_logins_by_user));
    fill($("t-accounts"), ["row", "time", "by", "action", "account", "role"],
      r.account_rows.map((x) => [x.seq, when(x.time), x.username, x.action, x.subject || "", x.role || ""]));
  }

  function isoDay(d) {
    return d.toISOString().slice(0, 10);
  }

  async function loadReport() {
    const from = $("from").value;
    const to = $("to").value;
    if (!from || !to) {
      fail("choose both dates");
      return;
    }
    const query = "from=" + encodeURIComponent(from + "T00:00:00Z") + "&to=" + encodeURIComponent(to + "T00:00:00Z");
    $("csv").href = AUDIT + "/report?format=csv&" + query;
    $("html").href = AUDIT + "/report?format=html&" + query;
    try {
      showReport(await call("GET", AUDIT + "/report?" + query));
      fail("");
    } catch (e) {
      fail("report: " + e.message);
    }
  }

  // ---- scheduled audits, sample, notifications ---------------------------------------------------

  function button(text, onClick, cls) {
    const b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  async function loadStatus() {
    const st = await call("GET", AUDIT + "/status");
    $("audits-period").textContent = st.period + "; " + st.open_notifications + " open notifications; " +
      st.my_open_reviews + " sampled searches waiting for your review";
    const overdue = st.audits.filter((a) => a.overdue);
    if (st.overdue) {
      const names = overdue.map((a) => "audit " + a.audit_id + " (" + a.period_start.slice(0, 10) + ")");
      if (st.missing.length) {
        names.push(st.missing.length + " period(s) without an audit");
      }
      $("overdue").textContent = "Overdue: " + names.join(", ") + " not signed off by the due date.";
      $("overdue").hidden = false;
    } else {
      $("overdue").hidden = true;
    }
    fill($("t-audits"), ["audit", "period", "produced", "due", "sign-off", "sample reviewed", ""],
      st.audits.map((a) => {
        const state = el("span", "", a.signed_at ? "signed by " + a.signed_by + " " + when(a.signed_at)
          : a.overdue ? "OVERDUE" : "open");
        const actions = el("span");
        actions.appendChild(button("Sample", () => loadSample(a.audit_id), "secondary"));
        if (!a.signed_at) {
          actions.appendChild(button("Sign off…", () => {
            signing = a.audit_id;
            $("signoff-id").textContent = String(a.audit_id);
            $("signoff-form").hidden = false;
            $("signoff-note").focus();
          }));
        }
        return [a.audit_id, a.period_start.slice(0, 10) + " to " + a.period_end.slice(0, 10), when(a.produced_at),
          a.due_at.slice(0, 10), state, a.sample.reviewed + " of " + a.sample.size, actions];
      }));
    [...$("t-audits").querySelectorAll("tr")].slice(1).forEach((tr, i) => {
      const a = st.audits[i];
      if (a) {
        tr.cells[4].className = a.signed_at ? "done" : a.overdue ? "overdue" : "";
        tr.dataset.audit = String(a.audit_id);
      }
    });
  }

  async function loadSample(auditId) {
    const rows = await call("GET", AUDIT + "/audits/" + auditId + "/sample");
    $("sample-section").hidden = false;
    $("sample-id").textContent = String(auditId);
    const supervisor = me && me.roles.includes("supervisor");
    fill($("t-sample"), ["row", "time", "searcher", "terms", "purpose", "case", "returned", "reviewer", "finding"],
      rows.map((s) => {
        let finding;
        if (s.reviewed_at) {
          finding = el("span", "", s.finding + (s.note ? ": " + s.note : "") + " (" + s.reviewed_by + ", " + when(s.reviewed_at) + ")");
        } else if (supervisor && me.username !== s.searcher) {
          finding = el("span");
          const pick = el("select");
          ["proper", "improper", "unclear"].forEach((f) => {
            const o = el("option", "", f);
            o.value = f;
            pick.appendChild(o);
          });
          pick.setAttribute("aria-label", "finding for row " + s.seq);
          const note = el("input");
          note.type = "text";
          note.maxLength = 4000;
          note.placeholder = "note";
          note.setAttribute("aria-label", "note for row " + s.seq);
          finding.append(pick, note, button("Record", async () => {
            try {
              await call("POST", AUDIT + "/audits/" + auditId + "/sample/" + s.seq + "/review",
                { finding: pick.value, note: note.value });
              say("review of row " + s.seq + " recorded");
              await loadSample(auditId);
              await loadStatus();
            } catch (e) {
              fail("review: " + e.message);
            }
          }));
        } else {
          finding = el("span", "", s.searcher === (me && me.username) ? "your own search: another supervisor reviews it" : "not reviewed");
        }
        return [s.seq, when(s.time), s.searcher, JSON.stringify(s.terms || {}), s.purpose || "", s.case_number || "",
          s.returned_count === null ? "" : s.returned_count, s.assigned_to || "(none)", finding];
      }));
  }

  async function loadNotes() {
    const rows = await call("GET", AUDIT + "/notifications");
    const supervisor = me && me.roles.includes("supervisor");
    fill($("t-notes"), ["raised", "kind", "user", "what", ""], rows.map((n) => [
      when(n.raised_at), n.kind.replace("_", " "), n.username || "", n.message,
      supervisor ? button("Seen", async () => {
        try {
          await call("POST", AUDIT + "/notifications/" + n.notification_id + "/acknowledge");
          await loadNotes();
        } catch (e) {
          fail("acknowledge: " + e.message);
        }
      }, "secondary") : "",
    ]));
  }

  async function loadRetention() {
    const r = await call("GET", AUDIT + "/retention");
    fill($("t-rules"), ["data", "kept", "how"], r.rules.map((x) => [x.data, x.kept, x.how]));
    fill($("t-runs"), ["started", "cutoff", "days dropped", "held reads captured", "images", "alerts", "deliveries"],
      r.runs.map((x) => [when(x.started_at), x.cutoff.slice(0, 10), x.dropped_days, x.captured_reads,
        x.purged_images, x.purged_alerts, x.purged_deliveries]));
    fill($("t-holds"), ["hold", "case", "reason", "placed", "reads", "released"],
      r.holds.map((h) => [h.hold_id, h.case_number, h.reason, when(h.created_at) + " by " + h.created_by, h.reads,
        h.released_at ? when(h.released_at) + " by " + h.released_by + ": " + (h.release_reason || "") : "active"]));
  }

  // ---- start -------------------------------------------------------------------------------------

  async function start() {
    try {
      me = await platewatch.signedIn("/audit");
    } catch (e) {
      fail("the server cannot be reached");
      return;
    }
    if (me === null) {
      return;
    }
    $("who").textContent = me.username + " (" + me.roles.join(", ") + ")";
    const now = new Date();
    const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    $("from").value = isoDay(first);
    $("to").value = isoDay(next);
    $("period").addEventListener("submit", (event) => {
      event.preventDefault();
      loadReport();
    });
    $("signoff-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await call("POST", AUDIT + "/audits/" + signing + "/signoff", { note: $("signoff-note").value });
        $("signoff-form").hidden = true;
        $("signoff-note").value = "";
        say("audit " + signing + " signed off");
        await loadStatus();
      } catch (e) {
        fail("sign-off: " + e.message);
      }
    });
    $("signoff-form").querySelector(".cancel").addEventListener("click", () => {
      $("signoff-form").hidden = true;
    });
    const steps = [loadReport, loadStatus, loadNotes, loadRetention];
    for (const step of steps) {
      try {
        await step();
      } catch (e) {
        fail(e.message);
      }
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
