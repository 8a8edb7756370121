// The dispatcher's page: a live list of alerts from the websocket, and the steps a dispatcher takes.
// The page is a shell: every alert comes from the guarded routes (REST and websocket), and only
// textContent is ever set from API data, so nothing the server echoes can run as markup.
"use strict";

(function () {
  const { $, fail, el } = platewatch;
  const ALERTS = "/api/v1/alerts";
  const LINK_KEY = "platewatch.alerts.link"; // the last epoch and offset this tab saw
  const MUTE_KEY = "platewatch.mute";
  const KEEP = 300; // alerts held in the page; the oldest closed ones go first
  const FRESH_MS = 60000; // a replayed `raised` event older than this makes no sound
  const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];
  const STALE_LIST_S = 24 * 3600;
  const RANK = { new: 0, acknowledged: 1, verified: 2, false_hit: 2, expired: 2 };
  const OPEN = new Set(["new", "acknowledged"]);

  // alert_id -> {view, offset}: `offset` is the stream position the view is as of (later wins)
  const alerts = new Map();
  const rows = new Map(); // alert_id -> <li>
  let selected = null;
  let busy = false;

  // ---- messages ----------------------------------------------------------------------------------

  const say = (text) => platewatch.say(text, 6000);
  const problem = (response) => platewatch.problem(response);

  // ---- formatting ---------------------------------------------------------------------------------

  const when = (iso) => platewatch.localTime(iso, true); // today's alerts show the clock only

  function age(seconds) {
    if (seconds === null || seconds === undefined) {
      return "";
    }
    if (seconds >= 2 * 86400) {
      return Math.floor(seconds / 86400) + " days";
    }
    if (seconds >= 3600) {
      return Math.floor(seconds / 3600) + " h";
    }
    return Math.max(1, Math.floor(seconds / 60)) + " min";
  }

  function stale(view) {
    return typeof view.list_age_s === "number" && view.list_age_s > STALE_LIST_S;
  }

  function label(state) {
    return (state || "").replace(/_/g, " ");
  }

  // The plate with the characters where it differs from the list entry marked (a fuzzy match).
  function plateInto(node, text, differs) {
    node.textContent = "";
    const marks = new Set(differs || []);
    const chars = Array.from(text || "");
    chars.forEach((c, i) => {
      if (marks.has(i)) {
        const m = el("mark", "diff", c);
        m.title = "differs from the list entry";
        node.appendChild(m);
      } else {
        node.appendChild(document.createTextNode(c));
      }
    });
  }

  function prioClass(p) {
    return "prio p" + Math.min(Math.max(p || 3, 1), 4);
  }

  function matchText(v) {
    let text = v.match_kind || "";
    if (v.differs && v.differs.length) {
      const where = v.differs.map((i) => i + 1).join(", ");
      text += " · differs at " + (v.differs.length === 1 ? "character " : "characters ") + where;
    }
    if (typeof v.score === "number") {
      text += " · score " + v.score.toFixed(2);
    }
    return text;
  }

  // ---- the lists ------------------------------------------------------------------------------------

  function ordered(tier) {
    const list = [];
    for (const item of alerts.values()) {
      if ((item.view.tier === "possible") === (tier === "possible")) {
        list.push(item.view);
      }
    }
    list.sort((a, b) => (Date.parse(b.raised_at) || 0) - (Date.parse(a.raised_at) || 0));
    return list;
  }

  function allOrdered() {
    return ordered("alert").concat(ordered("possible"));
  }

  function fillRow(li, v) {
    li.className = "alert-row state-" + v.state + (v.tier === "possible" ? " quiet-row" : "");
    li.dataset.state = v.state;
    li.dataset.verification = v.verification;
    li.setAttribute("aria-selected", v.alert_id === selected ? "true" : "false");
    let img = li.querySelector("img.thumb");
    if (!img && v.crop_url) {
      img = el("img", "thumb");
      img.alt = "";
      img.loading = "lazy";
      img.src = v.crop_url;
    }
    li.textContent = "";
    li.appendChild(el("span", prioClass(v.priority), "P" + v.priority));
    if (img) {
      li.appendChild(img);
    } else {
      li.appendChild(el("span", "thumb none", "no crop"));
    }
    const main = el("span", "row-main");
    const plate = el("span", "plate");
    plateInto(plate, v.plate, v.differs);
    main.appendChild(plate);
    const list = el("span", "row-list", v.hotlist + (v.reason ? ": " + v.reason : ""));
    main.appendChild(list);
    const meta = el("span", "row-meta", v.match_kind + (v.colour ? " · " + v.colour : ""));
    if (stale(v)) {
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(el("span", "stale-tag", "list " + age(v.list_age_s) + " old"));
    }
    main.appendChild(meta);
    li.appendChild(main);
    const where = el("span", "row-where");
    where.appendChild(el("span", "row-camera", v.camera_name || v.camera_id));
    where.appendChild(el("time", "row-time", when(v.read_time || v.raised_at)));
    li.appendChild(where);
    const status = el("span", "row-status");
    status.appendChild(el("span", "badge " + v.verification.toLowerCase(), v.verification));
    status.appendChild(el("span", "state", label(v.state) + (v.disposition ? ": " + label(v.disposition) : "")));
    li.appendChild(status);
  }

  // The vehicle as the camera saw it: colour only where it was sure, then the way it travelled.
  function vehicleText(v) {
    const parts = [];
    if (v.colour) {
      parts.push(v.colour + (typeof v.colour_confidence === "number" ? " (" + Math.round(v.colour_confidence * 100) + "%)" : ""));
    }
    if (v.vehicle_type) {
      parts.push(v.vehicle_type);
    }
    if (v.travel) {
      parts.push(v.travel);
    }
    if (typeof v.heading === "number") {
      parts.push("heading " + Math.round(v.heading) + "°");
    }
    return parts.join(" · ") || "not seen";
  }

  function render() {
    for (const tier of ["alert", "possible"]) {
      const list = $(tier === "possible" ? "possible" : "alerts");
      const views = ordered(tier);
      views.forEach((v, i) => {
        let li = rows.get(v.alert_id);
        if (!li) {
          li = el("li");
          li.id = "alert-" + v.alert_id;
          li.setAttribute("role", "option");
          li.addEventListener("click", () => select(v.alert_id, true));
          rows.set(v.alert_id, li);
        }
        fillRow(li, v);
        if (list.children[i] !== li) {
          list.insertBefore(li, list.children[i] || null);
        }
      });
      while (list.children.length > views.length) {
        list.removeChild(list.lastChild);
      }
      $(tier === "possible" ? "possible-empty" : "alerts-empty").hidden = views.length > 0;
      const open = views.filter((v) => OPEN.has(v.state)).length;
      $(tier === "possible" ? "possible-count" : "alerts-count").textContent = open ? "(" + open + " open)" : "";
    }
    for (const [id, li] of rows) {
      if (!alerts.has(id)) {
        li.remove();
        rows.delete(id);
      }
    }
    showDetail();
  }

  function trim() {
    if (alerts.size <= KEEP) {
      return;
    }
    const closed = allOrdered().filter((v) => !OPEN.has(v.state) && v.alert_id !== selected).reverse();
    for (const v of closed) {
      if (alerts.size <= KEEP) {
        break;
      }
      alerts.delete(v.alert_id);
    }
  }

  // Merge one alert as of `offset`; a view from a POST answer (offset null) only moves an alert on.
  function merge(view, offset) {
    const held = alerts.get(view.alert_id);
    if (held) {
      if (offset === null) {
        if ((RANK[view.state] || 0) < (RANK[held.view.state] || 0)) {
          return false;
        }
        if (RANK[view.state] === RANK[held.view.state] && held.view.disposition && !view.disposition) {
          return false;
        }
        held.view = view;
        return true;
      }
      if (offset <= held.offset) {
        return false;
      }
      held.view = view;
      held.offset = offset;
      return true;
    }
    alerts.set(view.alert_id, { view: view, offset: offset === null ? 0 : offset });
    return true;
  }

  // ---- selection and detail -----------------------------------------------------------------------

  function select(id, focusList) {
    if (id !== selected) {
      closeForms();
    }
    selected = id;
    for (const [rid, li] of rows) {
      li.setAttribute("aria-selected", rid === id ? "true" : "false");
    }
    const li = rows.get(id);
    for (const name of ["alerts", "possible"]) {
      const list = $(name);
      if (li && li.parentElement === list) {
        list.setAttribute("aria-activedescendant", li.id);
      } else {
        list.removeAttribute("aria-activedescendant");
      }
    }
    if (li) {
      li.scrollIntoView({ block: "nearest" });
      if (focusList) {
        li.parentElement.focus({ preventScroll: true });
      }
    }
    showDetail();
    loadHistory(id);
  }

  function move(step) {
    const views = allOrdered();
    if (!views.length) {
      return;
    }
    let i = views.findIndex((v) => v.alert_id === selected);
    i = i < 0 ? 0 : Math.min(Math.max(i + step, 0), views.length - 1);
    select(views[i].alert_id, true);
  }

  function showDetail() {
    const item = selected ? alerts.get(selected) : null;
    $("detail-empty").hidden = !!item;
    $("detail-body").hidden = !item;
    if (!item) {
      return;
    }
    const v = item.view;
    const prio = $("d-priority");
    prio.className = prioClass(v.priority);
    prio.textContent = "P" + v.priority + (v.tier === "possible" ? " possible" : "");
    plateInto($("d-plate"), v.plate, v.differs);
    const badge = $("d-verification");
    badge.className = "badge " + v.verification.toLowerCase();
    badge.textContent = v.verification;
    $("d-state").textContent = label(v.state) + (v.disposition ? ": " + label(v.disposition) : "");
    const warn = $("d-stale");
    warn.hidden = !stale(v);
    warn.textContent = stale(v)
      ? "List " + v.hotlist + " was last imported " + age(v.list_age_s) + " ago" +
        (v.list_imported_at ? " (" + when(v.list_imported_at) + ")" : "") +
        ": the entry may have been cleared since. Confirm with CLETS/NCIC."
      : "";
    const crop = $("d-crop");
    if (v.crop_url) {
      if (crop.getAttribute("src") !== v.crop_url) {
        crop.src = v.crop_url;
      }
      crop.alt = "plate crop of " + v.plate;
      crop.hidden = false;
      $("d-nocrop").hidden = true;
    } else {
      crop.removeAttribute("src");
      crop.hidden = true;
      $("d-nocrop").hidden = false;
    }
    plateInto($("d-entry"), v.entry || v.candidate || "", v.differs);
    $("d-hotlist").textContent = "on " + v.hotlist;
    $("d-reason").textContent = v.reason || "";
    $("d-match").textContent = matchText(v);
    $("d-evidence").textContent =
      typeof v.evidence === "number" && v.evidence >= 0
        ? Math.round(v.evidence * 100) + "% (read confidence " + Math.round((v.confidence || 0) * 100) + "%)"
        : "not known (read confidence " + Math.round((v.confidence || 0) * 100) + "%)";
    $("d-camera").textContent = (v.camera_name || v.camera_id) + (v.direction ? " · " + v.direction : "");
    $("d-time").textContent = when(v.read_time) + (v.raised_at ? " (alert " + when(v.raised_at) + ")" : "");
    $("d-vehicle").textContent = vehicleText(v);
    $("d-case").textContent = v.case_number || "none";
    const details = v.entry_details || {};
    $("d-details").textContent = Object.keys(details).map((k) => k + ": " + details[k]).join(" · ") || "none";
    const by = v.state_by && v.state_by !== "system" ? " by " + v.state_by : "";
    $("d-status").textContent = label(v.state) + by + (v.state_at ? " at " + when(v.state_at) : "");
    $("d-note").textContent = v.note || "";
    $("detail-actions").hidden = !OPEN.has(v.state);
    $("act-ack").disabled = busy || v.state !== "new";
    $("act-verify").disabled = busy || v.state !== "acknowledged";
    $("act-false").disabled = busy || v.state !== "acknowledged";
    const dispo = $("dispo-form");
    const wantDispo = v.state === "verified" && !v.disposition;
    if (dispo.hidden === wantDispo) {
      dispo.hidden = !wantDispo;
    }
    if (v.state !== "acknowledged") {
      $("verify-form").hidden = true;
      $("false-form").hidden = true;
    }
  }

  let historyFor = null;
  let historyShown = null;
  async function loadHistory(id) {
    historyFor = id;
    const list = $("d-history");
    if (id !== historyShown) {
      list.textContent = ""; // another alert's history must not show under this one
      historyShown = null;
    }
    if (!id) {
      return;
    }
    let response;
    try {
      response = await api("GET", ALERTS + "/" + encodeURIComponent(id));
    } catch (e) {
      return;
    }
    if (!response.ok || historyFor !== id) {
      return;
    }
    const body = await response.json();
    if (historyFor !== id) {
      return;
    }
    list.textContent = "";
    historyShown = id;
    for (const h of body.history || []) {
      const item = el("li");
      item.appendChild(el("time", "", when(h.at)));
      const actor = h.actor && h.actor !== "system" ? " by " + h.actor : "";
      item.appendChild(document.createTextNode(" " + label(h.kind) + actor));
      if (h.note) {
        const note = h.kind === "disposition" && /^[a-z_]+$/.test(h.note) ? label(h.note) : "“" + h.note + "”";
        item.appendChild(el("span", "history-note", " " + note));
      }
      list.appendChild(item);
    }
  }

  // ---- REST ---------------------------------------------------------------------------------------

  const api = (method, url, body) => platewatch.api(method, url, body, "/dispatch");

  const STEPS = {
    acknowledge: { path: "acknowledge", done: "Acknowledged" },
    verify: { path: "verify", done: "Verified" },
    false_hit: { path: "false-hit", done: "Marked as a false hit" },
    disposition: { path: "disposition", done: "Disposition recorded" },
  };

  async function step(kind, body) {
    const item = selected ? alerts.get(selected) : null;
    if (!item || busy) {
      return false;
    }
    const v = item.view;
    fail("");
    busy = true;
    showDetail();
    let response = null;
    try {
      response = await api("POST", ALERTS + "/" + encodeURIComponent(v.alert_id) + "/" + STEPS[kind].path, body || {});
    } catch (e) {
      response = null;
    }
    busy = false;
    if (response === null) {
      fail("cannot reach the server; nothing was changed, try again");
      showDetail();
      return false;
    }
    if (response.ok) {
      const answer = await response.json();
      merge(answer.alert, null);
      say(STEPS[kind].done + ": " + v.plate + (answer.changed === false ? " (it already was)" : ""));
      render();
      loadHistory(v.alert_id);
      return true;
    }
    const why = await problem(response);
    if (why.detail && why.detail.alert) {
      merge(why.detail.alert, null); // the alert as it now stands, e.g. after another's step
      render();
    }
    if (why.code === "csrf") {
      fail("this tab has lost its session token; log in again to act on alerts");
    } else {
      fail(why.message);
    }
    showDetail();
    return false;
  }

  async function loadOpen() {
    let response;
    try {
      response = await api("GET", ALERTS + "?state=open&limit=200");
    } catch (e) {
      return;
    }
    if (!response.ok) {
      if (response.status !== 401) {
        fail("could not load the open alerts: " + (await problem(response)).message);
      }
      return;
    }
    const body = await response.json();
    const offset = typeof body.offset === "number" ? body.offset : 0;
    const seen = new Set();
    for (const view of body.alerts || []) {
      seen.add(view.alert_id);
      merge(view, offset);
    }
    // Alerts this page holds as open that the list no longer has were closed while we were away.
    const gone = [];
    for (const [id, item] of alerts) {
      if (OPEN.has(item.view.state) && !seen.has(id) && item.offset < offset) {
        gone.push(id);
      }
    }
    for (const id of gone.slice(0, 50)) {
      try {
        const r = await api("GET", ALERTS + "/" + encodeURIComponent(id));
        if (r.ok) {
          merge((await r.json()).alert, offset);
        } else if (r.status === 404) {
          alerts.delete(id);
        }
      } catch (e) {
        break;
      }
    }
    trim();
    render();
    if (!selected) {
      const first = allOrdered()[0];
      if (first) {
        select(first.alert_id, false);
      }
    }
  }

  // ---- sound --------------------------------------------------------------------------------------

  let audio = null;
  let muted = localStorage.getItem(MUTE_KEY) === "1";
  window.platewatchSounds = 0;

  function showMute() {
    const button = $("mute");
    button.textContent = muted ? "Sound muted" : "Sound on";
    button.setAttribute("aria-pressed", muted ? "true" : "false");
    button.classList.toggle("muted", muted);
    $("sound-blocked").hidden = muted || (audio !== null && audio.state === "running");
  }

  // Browsers start audio only after a gesture: the first key or click on the page unlocks it.
  function unlockAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      return;
    }
    try {
      if (audio === null) {
        audio = new Ctx();
      }
      if (audio.state === "suspended") {
        audio.resume().then(showMute, showMute);
      }
    } catch (e) {
      audio = null;
    }
    showMute();
  }

  function beep() {
    if (audio === null || audio.state !== "running") {
      return;
    }
    const t = audio.currentTime;
    for (let i = 0; i < 3; i++) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, t + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.25, t + i * 0.25 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.25 + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + i * 0.25);
      osc.stop(t + i * 0.25 + 0.22);
    }
  }

  // Every sound the page means to make is counted and announced (the browser test listens),
  // whether or not the browser lets it play.
  function sound(view) {
    if (muted) {
      return;
    }
    window.platewatchSounds += 1;
    window.dispatchEvent(new CustomEvent("platewatch:sound", { detail: { alert_id: view.alert_id } }));
    beep();
  }

  function toggleMute() {
    muted = !muted;
    localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
    showMute();
    say(muted ? "Sound muted for priority-1 alerts." : "Sound on for priority-1 alerts.");
  }

  // ---- the websocket --------------------------------------------------------------------------------

  const link = { epoch: null, offset: null, socket: null, attempt: 0, timer: null, watchdog: null,
    heartbeatMs: 10000, live: false, stopped: false, connects: 0, recovered: null };
  window.platewatchLink = link;
  try {
    const saved = JSON.parse(sessionStorage.getItem(LINK_KEY) || "null");
    if (saved && typeof saved.offset === "number") {
      // Only for the record: after a reload the page holds no alerts, so it starts from the list.
      link.lastSaved = saved;
    }
  } catch (e) {
    // nothing saved
  }

  function remember() {
    sessionStorage.setItem(LINK_KEY, JSON.stringify({ epoch: link.epoch, offset: link.offset }));
  }

  function showLink(state, text) {
    const conn = $("conn");
    conn.dataset.state = state;
    $("conn-text").textContent = text;
  }

  function armWatchdog(ms) {
    clearTimeout(link.watchdog);
    link.watchdog = setTimeout(() => {
      if (link.socket) {
        link.socket.close(4000, "no message in time");
        dropped("no message from the server in " + Math.round(ms / 1000) + " s");
      }
    }, ms);
  }

  function connect() {
    clearTimeout(link.timer);
    if (link.stopped) {
      return;
    }
    let url = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + ALERTS + "/ws";
    if (link.epoch !== null && link.offset !== null) {
      url += "?offset=" + encodeURIComponent(link.offset) + "&epoch=" + encodeURIComponent(link.epoch);
    }
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      dropped("cannot open the connection");
      return;
    }
    link.socket = ws;
    link.live = false;
    if (link.attempt === 0 && link.connects === 0) {
      showLink("connecting", "Connecting");
    }
    armWatchdog(10000);
    ws.addEventListener("message", (event) => {
      if (link.socket !== ws) {
        return;
      }
      armWatchdog(Math.max(2.5 * link.heartbeatMs, 5000));
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      onMessage(msg);
    });
    ws.addEventListener("close", (event) => {
      if (link.socket !== ws) {
        return;
      }
      if (event.code === 4401) {
        link.stopped = true;
        platewatch.toLogin("/dispatch");
        return;
      }
      if (event.code === 4403) {
        link.stopped = true;
        clearTimeout(link.watchdog);
        link.socket = null;
        const why = link.refusal || event.reason || "your roles or training do not allow it";
        showLink("refused", "Refused: no alert feed");
        fail("The server refused the alert feed: " + why + ". Reload the page once that is fixed.");
        return;
      }
      dropped(event.reason || "connection closed (" + event.code + ")");
    });
  }

  function dropped(why) {
    clearTimeout(link.watchdog);
    const ws = link.socket;
    link.socket = null;
    link.live = false;
    if (ws) {
      try {
        ws.close();
      } catch (e) {
        // already closed
      }
    }
    if (link.stopped) {
      return;
    }
    const wait = BACKOFF_MS[Math.min(link.attempt, BACKOFF_MS.length - 1)];
    link.attempt += 1;
    if (!navigator.onLine) {
      showLink("offline", "Offline: no network; retrying");
    } else {
      showLink("reconnecting", "Reconnecting in " + Math.round(wait / 1000) + " s");
    }
    link.lastDrop = why;
    clearTimeout(link.timer);
    link.timer = setTimeout(connect, wait);
  }

  function onMessage(msg) {
    if (msg.type === "hello") {
      link.attempt = 0;
      link.connects += 1;
      link.recovered = !!msg.recovered;
      link.heartbeatMs = (Number(msg.heartbeat_s) || 10) * 1000;
      armWatchdog(Math.max(2.5 * link.heartbeatMs, 5000));
      if (link.epoch !== null && msg.epoch !== link.epoch) {
        alerts.clear(); // another stream: its offsets say nothing about ours
      }
      link.epoch = msg.epoch;
      if (!msg.recovered || link.offset === null) {
        link.offset = msg.offset;
      }
      remember();
      if ($("who").textContent === "" && msg.user) {
        $("who").textContent = msg.user;
      }
      showLink("connected", msg.recovered ? "Connected (catching up)" : "Connected");
      if (!msg.recovered) {
        link.live = true;
        loadOpen();
      }
      return;
    }
    if (msg.type === "replayed") {
      link.live = true;
      showLink("connected", "Connected");
      return;
    }
    if (msg.type === "event") {
      onEvent(msg);
      return;
    }
    if (msg.type === "batch" && Array.isArray(msg.events)) {
      msg.events.forEach(onEvent); // a burst of events in one frame, in offset order
      return;
    }
    if (msg.type === "error") {
      link.refusal = msg.message || msg.code || ""; // the close (4401/4403) follows
      return;
    }
    if (msg.type === "heartbeat" && link.live) {
      showLink("connected", "Connected");
    }
  }

  function onEvent(ev) {
    if (typeof ev.offset !== "number" || !ev.alert) {
      return;
    }
    if (link.offset !== null && ev.offset <= link.offset && link.epoch !== null) {
      return; // seen already
    }
    link.offset = ev.offset;
    remember();
    const changed = merge(ev.alert, ev.offset);
    const v = ev.alert;
    if (ev.kind === "raised" && v.tier === "alert" && v.priority === 1) {
      const at = Date.parse(ev.at || v.raised_at);
      if (link.live || (!Number.isNaN(at) && Date.now() - at < FRESH_MS)) {
        sound(v);
      }
    }
    if (!changed) {
      return;
    }
    trim();
    render();
    if (!selected || (ev.kind === "raised" && v.tier === "alert" && !hasOpenFocus())) {
      select(v.alert_id, false);
    } else if (v.alert_id === selected) {
      loadHistory(v.alert_id);
    }
  }

  // Whether the dispatcher is in the middle of something the page must not pull away from.
  function hasOpenFocus() {
    const item = selected ? alerts.get(selected) : null;
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes((document.activeElement || {}).tagName || "");
    return typing || (item !== undefined && item !== null && item.view.tier === "alert" && OPEN.has(item.view.state));
  }

  // ---- keyboard and buttons ---------------------------------------------------------------------------

  function closeForms() {
    $("verify-form").hidden = true;
    $("false-form").hidden = true;
  }

  function openForm(formId, fieldId) {
    const item = selected ? alerts.get(selected) : null;
    if (!item) {
      return;
    }
    if (item.view.state === "new") {
      fail("Acknowledge it first (a): someone owns an alert while they check it.");
      return;
    }
    if (item.view.state !== "acknowledged") {
      fail("This alert is " + label(item.view.state) + " already.");
      return;
    }
    fail("");
    closeForms();
    $(formId).hidden = false;
    $(fieldId).value = "";
    $(fieldId).focus();
  }

  function backToList() {
    const li = selected ? rows.get(selected) : null;
    (li ? li.parentElement : $("alerts")).focus({ preventScroll: true });
  }

  $("act-ack").addEventListener("click", () => step("acknowledge"));
  $("act-verify").addEventListener("click", () => openForm("verify-form", "verify-note"));
  $("act-false").addEventListener("click", () => openForm("false-form", "false-reason"));
  $("mute").addEventListener("click", toggleMute);

  $("verify-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = $("verify-note").value.trim();
    if (!note) {
      fail("Verifying needs the CLETS/NCIC response as a note.");
      $("verify-note").focus();
      return;
    }
    if (await step("verify", { note: note })) {
      closeForms();
      if (!$("dispo-form").hidden) {
        $("dispo").focus();
      } else {
        backToList();
      }
    }
  });

  $("false-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = $("false-reason").value.trim();
    if (!reason) {
      fail("A false hit needs a reason.");
      $("false-reason").focus();
      return;
    }
    if (await step("false_hit", { reason: reason })) {
      closeForms();
      backToList();
    }
  });

  $("dispo-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const disposition = $("dispo").value;
    if (!disposition) {
      fail("Choose what came of it.");
      $("dispo").focus();
      return;
    }
    const note = $("dispo-note").value.trim();
    if (await step("disposition", note ? { disposition: disposition, note: note } : { disposition: disposition })) {
      $("dispo").value = "";
      $("dispo-note").value = "";
      backToList();
    }
  });

  for (const button of document.querySelectorAll("button.cancel")) {
    button.addEventListener("click", () => {
      closeForms();
      backToList();
    });
  }

  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", (event) => {
    unlockAudio();
    if (event.ctrlKey || event.altKey || event.metaKey) {
      return;
    }
    const tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
      if (event.key === "Escape") {
        closeForms();
        backToList();
      }
      return;
    }
    const keys = {
      j: () => move(1), ArrowDown: () => move(1),
      k: () => move(-1), ArrowUp: () => move(-1),
      a: () => step("acknowledge"),
      v: () => openForm("verify-form", "verify-note"),
      f: () => openForm("false-form", "false-reason"),
      m: toggleMute,
      Escape: () => { closeForms(); fail(""); say(""); backToList(); },
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  window.addEventListener("online", () => {
    if (!link.socket && !link.stopped) {
      link.attempt = 0;
      connect();
    }
  });
  window.addEventListener("offline", () => {
    if (!link.socket) {
      showLink("offline", "Offline: no network; retrying");
    }
  });

  // ---- start ----------------------------------------------------------------------------------------

  async function start() {
    showMute();
    let me;
    try {
      me = await platewatch.signedIn("/dispatch");
    } catch (e) {
      showLink("offline", "Offline: cannot reach the server");
      setTimeout(start, 5000);
      return;
    }
    if (me === null) {
      return;
    }
    platewatch.greet(me); // an untrained dispatcher is told why; the feed itself refuses them
    connect();
  }

  start();
})();
