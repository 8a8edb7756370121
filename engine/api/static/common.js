// What every page script leans on: the two message lines, requests that carry the session's CSRF token,
// the API's refusals in words, the way back to the login page, times, and building elements. A plain
// script loaded before each page's own (the CSP allows scripts from this origin only, none inline);
// it defines one global, `platewatch`. Only textContent is ever set from API data.
"use strict";

const platewatch = (function () {
  const AUTH = "/api/v1/auth";
  const CSRF_KEY = "platewatch.csrf"; // written by the login page from the login response
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  // ---- messages ---------------------------------------------------------------------------------

  let sayTimer = null;
  // The status line (#message); with fadeMs it clears itself after that long.
  function say(text, fadeMs) {
    $("message").textContent = text || "";
    $("message").hidden = !text;
    clearTimeout(sayTimer);
    if (text && fadeMs) {
      sayTimer = setTimeout(() => say("", 0), fadeMs);
    }
  }

  // The error line (#error); an empty text hides it.
  function fail(text) {
    $("error").textContent = text || "";
    $("error").hidden = !text;
  }

  // ---- requests ---------------------------------------------------------------------------------

  // To the login page, which comes back to `next` (a path on this origin) once logged in.
  function toLogin(next) {
    window.location.assign("/login?next=" + encodeURIComponent(next));
  }

  function csrfHeaders(json) {
    const headers = { "X-CSRF-Token": sessionStorage.getItem(CSRF_KEY) || "", Accept: "application/json" };
    if (json) {
      headers["Content-Type"] = "application/json";
    }
    return headers;
  }

  // A JSON request; anything but a GET carries the CSRF token. A 401 sends the page to log in and
  // back to `next`; the response is returned either way.
  async function api(method, url, body, next) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: method === "GET" ? { Accept: "application/json" } : csrfHeaders(true),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      toLogin(next);
    }
    return response;
  }

  // The API answers {"detail": {"code", "message", ...}}; FastAPI's own errors carry a string or a list
  // (validation: with `fields`, each message is prefixed with the field it is about). `detail` is the
  // API's object, if any; `unexplained` says the body gave no reason.
  function explain(detail, status, fields) {
    if (detail && typeof detail === "object" && !Array.isArray(detail)) {
      return { code: detail.code || "", message: detail.message || "request refused", detail: detail };
    }
    if (typeof detail === "string") {
      return { code: "", message: detail, detail: null };
    }
    if (Array.isArray(detail) && detail.length && detail[0].msg) {
      const field = (d) => (fields && d.loc ? d.loc[d.loc.length - 1] + ": " : "");
      return { code: "invalid", message: detail.map((d) => field(d) + d.msg).join("; "), detail: null };
    }
    return { code: "", message: "the server answered " + status, detail: null, unexplained: true };
  }

  async function problem(response, fields) {
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    return explain(body && body.detail, response.status, fields);
  }

  // The logged-in user for a page shell, or null when the page has gone to log in (no session, or
  // this tab lacks the session's CSRF token, which every step needs) or has said why it cannot tell.
  // A network failure throws: each page says or retries in its own way.
  async function signedIn(next) {
    const response = await fetch(AUTH + "/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401 || !sessionStorage.getItem(CSRF_KEY)) {
      toLogin(next);
      return null;
    }
    if (!response.ok) {
      fail("cannot load who you are: " + (await problem(response)).message);
      return null;
    }
    return response.json();
  }

  // Name and roles in the header; false (and the reason on the error line) when the user's training
  // does not let them reach ALPR data.
  function greet(me) {
    $("who").textContent = (me.display_name || me.username) + " (" + (me.roles || []).join(", ") + ")";
    if (me.training && !me.training.current) {
      fail("No access to ALPR data (policy 462.2(d)): " + (me.training.reason || "no current training"));
      return false;
    }
    return true;
  }

  // ---- formatting -------------------------------------------------------------------------------

  function two(n) {
    return String(n).padStart(2, "0");
  }

  // "YYYY-MM-DD HH:MM:SS" in the browser's time zone; with clockToday only the clock for today.
  function localTime(iso, clockToday) {
    if (!iso) {
      return "";
    }
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) {
      return iso;
    }
    const clock = two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
    if (clockToday && d.toDateString() === new Date().toDateString()) {
      return clock;
    }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + clock;
  }

  // "YYYY-MM-DD HH:MM UTC": for times the reader compares with a report or a policy, not a clock.
  function utcMinute(iso) {
    if (!iso) {
      return "";
    }
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) {
      return iso;
    }
    return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  // ---- elements ---------------------------------------------------------------------------------

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) {
      node.className = cls;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const k of Object.keys(attrs)) {
      node.setAttribute(k, String(attrs[k]));
    }
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  return Object.freeze({
    AUTH, CSRF_KEY, $, say, fail, toLogin, csrfHeaders, api, explain, problem, signedIn, greet,
    two, localTime, utcMinute, el, svg,
  });
})();
