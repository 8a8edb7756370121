// The investigator's search page. A shell: every read, image and camera comes from the guarded
// routes under /api/v1/reads (each request carries the purpose and case number typed here, and the
// server logs it), and only textContent is ever set from API data, so nothing echoed can run.
"use strict";

(function () {
  const { $, fail, el, svg } = platewatch;
  const READS = "/api/v1/reads";
  const EXPORTS = "/api/v1/evidence/exports";

  let cameras = []; // [{id, name, address, latitude, longitude, heading, enabled}]
  let lastQuery = null; // the parameters of the search on screen (for "More")
  let nextCursor = null;
  let openId = null;
  const selected = new Set();

  // ---- messages and requests --------------------------------------------------------------------

  const say = (text) => platewatch.say(text, 6000);
  // the refusal in words, each validation message naming the field (purpose, case, ...) it is about
  const problem = async (response) => (await platewatch.problem(response, true)).message;
  const api = (method, url, body) => platewatch.api(method, url, body, "/search");

  function why() {
    return { purpose: $("purpose").value.trim(), case: $("case").value.trim() };
  }

  function withWhy(params) {
    const q = new URLSearchParams();
    const w = why();
    q.append("purpose", w.purpose);
    q.append("case", w.case);
    for (const [k, v] of params) {
      q.append(k, v);
    }
    return q;
  }

  // ---- formatting --------------------------------------------------------------------------------

  const when = (iso) => platewatch.localTime(iso);

  function cameraName(id) {
    const c = cameras.find((x) => x.id === id);
    return c && c.name ? c.name : id;
  }

  // ---- the camera plot (inline SVG, no map tiles) -------------------------------------------------

  const PLOT = { w: 320, h: 150, pad: 14 };
  let frame = null; // {lat0, lon0, mx, my, scale}: metres east/north of (lat0, lon0) -> plot units

  function placed() {
    return cameras.filter((c) => typeof c.latitude === "number" && typeof c.longitude === "number");
  }

  function fitFrame() {
    const pts = placed();
    if (!pts.length) {
      frame = null;
      return;
    }
    const lat0 = pts.reduce((s, c) => s + c.latitude, 0) / pts.length;
    const lon0 = pts.reduce((s, c) => s + c.longitude, 0) / pts.length;
    const mx = 111195 * Math.cos((lat0 * Math.PI) / 180);
    const my = 111195;
    let half = 200; // metres: the smallest view
    for (const c of pts) {
      half = Math.max(half, Math.abs((c.longitude - lon0) * mx) * 1.1, Math.abs((c.latitude - lat0) * my) * 2.3);
    }
    frame = { lat0: lat0, lon0: lon0, mx: mx, my: my, scale: (PLOT.w / 2 - PLOT.pad) / half };
  }

  function toPlot(lat, lon) {
    return [
      PLOT.w / 2 + (lon - frame.lon0) * frame.mx * frame.scale,
      PLOT.h / 2 - (lat - frame.lat0) * frame.my * frame.scale,
    ];
  }

  function fromPlot(x, y) {
    return [
      frame.lat0 + (PLOT.h / 2 - y) / frame.scale / frame.my,
      frame.lon0 + (x - PLOT.w / 2) / frame.scale / frame.mx,
    ];
  }

  function metres(lat1, lon1, lat2, lon2) {
    const r = Math.PI / 180;
    const h =
      Math.sin(((lat2 - lat1) * r) / 2) ** 2 +
      Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function area() {
    const lat = parseFloat($("lat").value);
    const lon = parseFloat($("lon").value);
    const radius = parseFloat($("radius").value);
    if ([lat, lon, radius].some((v) => Number.isNaN(v))) {
      return null;
    }
    return { lat: lat, lon: lon, radius: radius };
  }

  function drawPlot() {
    const plot = $("plot");
    plot.replaceChildren();
    if (!frame) {
      plot.appendChild(svg("text", { x: 10, y: 20 }, "No camera has a position yet."));
      return;
    }
    const a = area();
    const chosen = new Set(Array.from($("cameras").selectedOptions).map((o) => o.value));
    if (a) {
      const [cx, cy] = toPlot(a.lat, a.lon);
      plot.appendChild(svg("circle", { class: "area", cx: cx, cy: cy, r: Math.max(2, a.radius * frame.scale) }));
      plot.appendChild(svg("circle", { class: "centre", cx: cx, cy: cy, r: 2.5 }));
    }
    for (const c of placed()) {
      const [x, y] = toPlot(c.latitude, c.longitude);
      const inside = a && metres(a.lat, a.lon, c.latitude, c.longitude) <= a.radius;
      const dot = svg("circle", {
        class: "cam" + (inside ? " inside" : "") + (chosen.has(c.id) ? " chosen" : ""),
        cx: x, cy: y, r: 4,
      });
      dot.appendChild(svg("title", {}, c.id + (c.name ? ": " + c.name : "") + (c.address ? ", " + c.address : "")));
      plot.appendChild(dot);
      plot.appendChild(svg("text", { x: x + 5, y: y - 4 }, c.id));
    }
    // a scale bar, so a radius in metres means something on the plot
    const bar = [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000].find((m) => m * frame.scale >= 40) || 50000;
    const len = bar * frame.scale;
    plot.appendChild(svg("line", { class: "scale", x1: 8, y1: PLOT.h - 8, x2: 8 + len, y2: PLOT.h - 8 }));
    plot.appendChild(svg("text", { x: 8, y: PLOT.h - 11 }, bar >= 1000 ? bar / 1000 + " km" : bar + " m"));
  }

  $("plot").addEventListener("click", (event) => {
    if (!frame) {
      return;
    }
    const plot = $("plot");
    const box = plot.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * PLOT.w;
    const y = ((event.clientY - box.top) / box.height) * PLOT.h;
    const [lat, lon] = fromPlot(x, y);
    $("lat").value = lat.toFixed(5);
    $("lon").value = lon.toFixed(5);
    if (!$("radius").value) {
      $("radius").value = "500";
    }
    drawPlot();
  });
  for (const id of ["lat", "lon", "radius", "cameras"]) {
    $(id).addEventListener("input", drawPlot);
    $(id).addEventListener("change", drawPlot);
  }

  async function loadCameras() {
    const response = await api("GET", READS + "/cameras");
    if (!response.ok) {
      fail("cannot load the cameras: " + (await problem(response)));
      return;
    }
    cameras = await response.json();
    const select = $("cameras");
    select.replaceChildren();
    for (const c of cameras) {
      const option = el("option", "", c.id + (c.name ? " — " + c.name : ""));
      option.value = c.id;
      select.appendChild(option);
    }
    fitFrame();
    drawPlot();
  }

  // ---- searching ---------------------------------------------------------------------------------

  function queryParams() {
    const params = [];
    const text = $("plate").value.trim();
    if (text) {
      params.push([/[?*]/.test(text) ? "pattern" : "plate", text]);
    }
    if ($("fuzzy").checked) {
      params.push(["fuzzy", "true"]);
    }
    for (const [id, key] of [["from", "from"], ["to", "to"]]) {
      const v = $(id).value;
      if (v) {
        const d = new Date(v); // the browser's zone: the API needs a zone, so send UTC
        if (Number.isNaN(d.getTime())) {
          throw new Error("'" + id + "' is not a date and time");
        }
        params.push([key, d.toISOString()]);
      }
    }
    for (const o of Array.from($("cameras").selectedOptions)) {
      params.push(["camera", o.value]);
    }
    const anyArea = ["lat", "lon", "radius"].some((id) => $(id).value.trim());
    if (anyArea) {
      const a = area();
      if (!a) {
        throw new Error("an area needs a latitude, a longitude and a radius in metres");
      }
      params.push(["lat", String(a.lat)], ["lon", String(a.lon)], ["radius_m", String(a.radius)]);
    }
    if ($("colour").value) {
      params.push(["colour", $("colour").value]);
    }
    if ($("provisional").checked) {
      params.push(["provisional", "true"]);
    }
    params.push(["limit", "50"]);
    return params;
  }

  function needWhy() {
    const w = why();
    if (!w.purpose || !w.case) {
      fail("State the purpose and the case number first: every search is logged with them (policy 462.2).");
      (w.purpose ? $("case") : $("purpose")).focus();
      return false;
    }
    return true;
  }

  async function search(more) {
    fail("");
    if (!needWhy()) {
      return;
    }
    if (!more) {
      loadEntries();
    }
    let params;
    if (more) {
      params = lastQuery.concat([["cursor", nextCursor]]);
    } else {
      try {
        params = queryParams();
      } catch (e) {
        fail(e.message);
        return;
      }
      lastQuery = params;
    }
    $("go").disabled = true;
    let response;
    try {
      response = await api("GET", READS + "?" + withWhy(params).toString());
    } catch (e) {
      response = null;
    }
    $("go").disabled = false;
    if (response === null) {
      fail("cannot reach the server; try again");
      return;
    }
    if (!response.ok) {
      fail(await problem(response));
      return;
    }
    const page = await response.json();
    if (!more) {
      $("rows").replaceChildren();
      selected.clear();
      showSelected();
    }
    for (const r of page.reads) {
      $("rows").appendChild(row(r));
    }
    nextCursor = page.next_cursor;
    $("more").hidden = !nextCursor;
    const shown = $("rows").children.length;
    $("count").textContent = "(" + shown + (nextCursor ? "+" : "") + ")";
    $("empty").hidden = shown > 0;
    $("empty").textContent = "Nothing matches.";
    if (page.cameras) {
      say("Area: " + (page.cameras.length ? page.cameras.join(", ") : "no camera stands in it"));
    }
  }

  function row(r) {
    const tr = el("tr");
    tr.dataset.readId = r.read_id;
    const pick = el("input");
    pick.type = "checkbox";
    pick.setAttribute("aria-label", "Select read " + r.plate + " at " + when(r.time));
    pick.addEventListener("click", (event) => event.stopPropagation());
    pick.addEventListener("change", () => {
      if (pick.checked) {
        selected.add(r.read_id);
      } else {
        selected.delete(r.read_id);
      }
      showSelected();
    });
    const cells = [el("td"), el("td", "", when(r.time)), el("td", "", cameraName(r.camera_id))];
    cells[0].appendChild(pick);
    const plate = el("td");
    plate.appendChild(el("span", "plate", r.plate));
    if (r.correction) {
      plate.appendChild(
        el("span", "fix" + (r.matched_correction ? " hit" : ""),
          (r.matched_correction ? "matched correction → " : "corrected → ") + r.correction.plate),
      );
    }
    cells.push(plate, el("td", "", Number(r.confidence).toFixed(2)), el("td", "vehicle", vehicle(r)));
    cells.push(el("td", "kind" + (r.provisional ? " provisional" : ""), r.provisional ? "provisional" : "final"));
    for (const c of cells) {
      tr.appendChild(c);
    }
    tr.addEventListener("click", () => openRead(r.read_id));
    return tr;
  }

  function showSelected() {
    $("selected-count").textContent = String(selected.size);
    $("export").disabled = selected.size === 0;
  }

  // ---- one read ----------------------------------------------------------------------------------

  function image(img, readId, kind) {
    const q = withWhy([["kind", kind]]);
    img.hidden = false;
    img.onerror = () => {
      img.hidden = true;
    };
    img.src = READS + "/" + encodeURIComponent(readId) + "/image?" + q.toString();
  }

  async function openRead(readId) {
    fail("");
    if (!needWhy()) {
      return;
    }
    const response = await api("GET", READS + "/" + encodeURIComponent(readId) + "?" + withWhy([]).toString());
    if (!response.ok) {
      fail(await problem(response));
      return;
    }
    showRead(await response.json());
  }

  // The vehicle as a witness would say it: colour (where the camera was sure), type, direction.
  function vehicle(r, long) {
    const parts = [];
    if (r.plateless) {
      parts.push("plate unreadable");
    }
    if (r.colour) {
      parts.push(long ? r.colour + " (" + Number(r.colour_confidence).toFixed(2) + ")" : r.colour);
    }
    if (r.vehicle_type) {
      parts.push(r.vehicle_type);
    }
    if (r.direction) {
      parts.push(r.direction);
    }
    if (long && r.heading !== null && r.heading !== undefined) {
      parts.push("heading " + Math.round(r.heading) + "°");
    }
    return parts.join(", ");
  }

  function showRead(r) {
    openId = r.read_id;
    for (const tr of $("rows").children) {
      tr.classList.toggle("open", tr.dataset.readId === r.read_id);
    }
    $("detail").hidden = false;
    $("d-plate").textContent = r.plate;
    $("d-kind").textContent = r.provisional ? "provisional read" : "final read";
    $("d-time").textContent = when(r.time);
    $("d-camera").textContent = cameraName(r.camera_id) + " (" + r.camera_id + ")";
    $("d-conf").textContent = Number(r.confidence).toFixed(2);
    $("d-vehicle").textContent = vehicle(r, true) || "not seen";
    $("d-id").textContent = r.read_id;
    $("d-correction").textContent = r.correction
      ? r.correction.plate + " by " + r.correction.by + ", " + when(r.correction.at) +
        (r.correction.note ? ": " + r.correction.note : "")
      : "no";
    const history = $("d-history");
    history.replaceChildren();
    for (const c of r.corrections || []) {
      history.appendChild(el("li", "", when(c.at) + " " + c.by + ": " + c.original_plate + " → " + c.plate +
        (c.case_number ? " (case " + c.case_number + ")" : "")));
    }
    $("d-noimage").hidden = r.has_image;
    if (r.has_image) {
      image($("d-crop"), r.read_id, "crop");
      image($("d-overview"), r.read_id, "overview");
    } else {
      $("d-crop").hidden = true;
      $("d-overview").hidden = true;
    }
    $("correct-plate").value = r.correction ? r.correction.plate : "";
  }

  $("d-close").addEventListener("click", () => {
    $("detail").hidden = true;
    openId = null;
  });

  $("correct-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    fail("");
    if (!openId || !needWhy()) {
      return;
    }
    const plate = $("correct-plate").value.trim();
    if (!plate) {
      fail("type the plate as it really is");
      $("correct-plate").focus();
      return;
    }
    const url = READS + "/" + encodeURIComponent(openId) + "/correction?" + withWhy([]).toString();
    const response = await api("POST", url, { plate: plate, note: $("correct-note").value.trim() });
    if (!response.ok) {
      fail(await problem(response));
      return;
    }
    const r = await response.json();
    showRead(r);
    say("Corrected: " + r.plate + " → " + r.correction.plate + " (the original read is kept)");
    const tr = Array.from($("rows").children).find((x) => x.dataset.readId === r.read_id);
    if (tr) {
      const plateCell = tr.children[3];
      const old = plateCell.querySelector(".fix");
      if (old) {
        old.remove();
      }
      plateCell.appendChild(el("span", "fix", "corrected → " + r.correction.plate));
    }
  });

  // ---- evidence export (policy 462.3) --------------------------------------------------------------

  $("export").addEventListener("click", async () => {
    fail("");
    if (!needWhy() || selected.size === 0) {
      return;
    }
    const booking = $("booking").value.trim();
    if (!booking) {
      fail("An evidence export needs the evidence booking number.");
      $("booking").focus();
      return;
    }
    const w = why();
    const body = { read_ids: Array.from(selected), case: w.case, booking: booking, purpose: w.purpose };
    const out = $("export-result");
    out.classList.remove("error");
    out.hidden = false;
    out.replaceChildren(el("span", "", "Exporting " + selected.size + " reads…"));
    let response;
    try {
      response = await api("POST", EXPORTS, body);
    } catch (e) {
      response = null;
    }
    if (response === null || !response.ok) {
      out.classList.add("error");
      const text = response === null ? "cannot reach the server" : await problem(response);
      out.replaceChildren(el("span", "", "Export refused: " + text +
        (response && response.status === 404 ? " (this server has no evidence export yet)" : "")));
      return;
    }
    const answer = await response.json();
    const parts = ["Export " + (answer.export_id || "") + ": " + (answer.reads || selected.size) + " reads"];
    if (answer.files !== undefined) {
      parts.push(answer.files + " files");
    }
    if (answer.hold_id !== undefined) {
      parts.push("under evidence hold " + answer.hold_id);
    }
    out.replaceChildren(el("span", "", parts.join(", ") + ". "));
    if (answer.bundle) {
      const link = el("a", "", "Download the bundle");
      link.href = answer.bundle + "?" + withWhy([]).toString();
      out.appendChild(link);
    }
  });

  // ---- start ---------------------------------------------------------------------------------------

  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    search(false);
  });
  $("more").addEventListener("click", () => search(true));
  $("clear").addEventListener("click", () => {
    for (const id of ["plate", "from", "to", "lat", "lon", "radius"]) {
      $(id).value = "";
    }
    $("fuzzy").checked = false;
    $("provisional").checked = false;
    $("colour").value = "";
    for (const o of Array.from($("cameras").options)) {
      o.selected = false;
    }
    drawPlot();
  });

  // ---- hotlist entries for the case, and the hits on them (policy 462.2(c)) -----------------------

  const ENTRIES = "/api/v1/case-entries";
  const NOTES = platewatch.AUTH + "/notifications";

  async function loadHits() {
    const response = await api("GET", NOTES);
    if (!response.ok) {
      return;
    }
    const notes = await response.json();
    $("hits").replaceChildren();
    $("hits-count").textContent = notes.length ? "(" + notes.filter((n) => !n.read_at).length + " new)" : "";
    for (const n of notes) {
      const li = el("li", n.read_at ? "" : "unread");
      li.append(el("span", "", when(n.raised_at)), el("span", "", n.message || "a hit (no read role now)"));
      if (!n.read_at) {
        const seen = el("button", "secondary small", "Seen");
        seen.type = "button";
        seen.addEventListener("click", async () => {
          const r = await api("POST", NOTES + "/" + n.notification_id + "/read");
          if (!r.ok) {
            fail(await problem(r));
          }
          await loadHits();
        });
        li.append(seen);
      }
      $("hits").append(li);
    }
  }

  async function loadEntries() {
    const w = why();
    if (!w.purpose || !w.case) {
      return;
    }
    const response = await api("GET", ENTRIES + "?" + withWhy([]));
    if (!response.ok) {
      fail(await problem(response));
      return;
    }
    $("hot-entries").replaceChildren();
    for (const e of await response.json()) {
      const li = el("li", "entry");
      li.dataset.key = e.key;
      li.append(el("span", "plate", e.entry), el("span", "", e.list + ", case " + e.case + ": " + e.reason));
      const days = e.expires_in_s === null ? "" : Math.ceil(e.expires_in_s / 86400) + " d left";
      li.append(el("span", "quiet", days));
      const remove = el("button", "secondary small", "Remove");
      remove.type = "button";
      remove.addEventListener("click", async () => {
        const url = ENTRIES + "/" + encodeURIComponent(e.list) + "/" + encodeURIComponent(e.entry);
        const r = await api("DELETE", url + "?" + withWhy([]));
        if (!r.ok) {
          fail(await problem(r));
          return;
        }
        say("removed " + e.key);
        await loadEntries();
      });
      li.append(remove);
      $("hot-entries").append(li);
    }
  }

  $("hot-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    fail("");
    if (!needWhy()) {
      return;
    }
    const expires = $("hot-expires").value; // a date: the entry lapses at the end of that day, local time
    const body = {
      plate: $("hot-plate").value.trim(),
      reason: $("hot-reason").value.trim(),
      expires_at: expires ? new Date(expires + "T23:59:59").toISOString() : null,
    };
    if ($("hot-list").value.trim()) {
      body.list = $("hot-list").value.trim();
    }
    if (!body.plate || !body.reason || !expires) {
      fail("A hotlist entry needs the plate or pattern, a reason and an expiry date.");
      return;
    }
    const response = await api("POST", ENTRIES + "?" + withWhy([]), body);
    if (!response.ok) {
      fail(await problem(response));
      return;
    }
    const added = await response.json();
    say("on the hotlist: " + added.key + " (you are told of each hit)");
    $("hot-plate").value = "";
    $("hot-reason").value = "";
    await loadEntries();
  });

  async function start() {
    let me;
    try {
      me = await platewatch.signedIn("/search");
    } catch (e) {
      fail("cannot reach the server");
      return;
    }
    if (me === null || !platewatch.greet(me)) {
      return;
    }
    await loadCameras();
    await loadHits();
    $("purpose").focus();
  }

  start();
})();
