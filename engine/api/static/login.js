// The login page: password, then a second factor when the API asks for one; then who you are.
// Only textContent is ever set from API data, so nothing the server echoes can run as markup.
"use strict";

(function () {
  const { $, say, fail, csrfHeaders, utcMinute: when, CSRF_KEY } = platewatch;
  const API = platewatch.AUTH;
  // The password was right and a code is wanted; and: the code was wrong or already used.
  const SECOND_FACTOR_ASKED = new Set(["mfa_required", "second_factor_required"]);
  const CODE_REFUSED = new Set(["second_factor_invalid", "bad_credentials", "invalid"]);

  // Where to go after a login (e.g. /dispatch sends people here with ?next=/dispatch): a path on this
  // origin only. "//host" and "/\host" are other hosts to a browser, so both are refused.
  function nextPath() {
    const raw = new URLSearchParams(window.location.search).get("next");
    if (!raw || raw[0] !== "/" || raw[1] === "/" || raw.includes("\\") || /[\u0000-\u001f]/.test(raw)) {
      return null;
    }
    try {
      const url = new URL(raw, window.location.origin);
      return url.origin === window.location.origin ? url.pathname + url.search + url.hash : null;
    } catch (e) {
      return null;
    }
  }

  // Go on to `next` unless the user must first change their password or set up a second factor here.
  function proceed(user) {
    const next = nextPath();
    if (!next || user.must_change_password || user.must_enrol_mfa) {
      return false;
    }
    window.location.assign(next);
    return true;
  }

  // The password is kept only between the two steps of one login, never stored.
  let pending = null;
  let useRecovery = false;

  function show(section) {
    for (const id of ["login-step", "code-step", "who"]) {
      $(id).hidden = id !== section;
    }
  }

  function busy(form, yes) {
    for (const el of form.querySelectorAll("button, input")) {
      el.disabled = yes;
    }
  }

  async function problem(response) {
    const why = await platewatch.problem(response);
    if (!why.unexplained) {
      return why;
    }
    if (response.status === 429) {
      return { code: "rate_limited", message: "too many login attempts; wait a minute and try again" };
    }
    return { code: "", message: why.message + "; try again" };
  }

  function showUser(user, expiresAt) {
    $("who-name").textContent = user.display_name || user.username;
    $("who-username").textContent = user.username;
    $("who-organisation").textContent = user.organisation || "";
    $("who-roles").textContent = (user.roles && user.roles.length) ? user.roles.join(", ") : "none";
    $("who-clets").textContent = user.clets_authorised ? "authorised" : "not authorised";
    const training = user.training || { current: false, reason: "", expires: null };
    const cell = $("who-training");
    cell.textContent = "";
    const status = document.createElement("span");
    if (training.current) {
      status.className = "current";
      status.textContent = "current" + (training.expires ? " until " + when(training.expires) : "");
    } else {
      status.className = "lapsed";
      status.textContent = "not current";
    }
    cell.appendChild(status);
    $("training-reason").textContent = training.current ? "" : (training.reason || "");
    $("training-refused").hidden = !!training.current;
    $("enrol").hidden = !user.must_enrol_mfa;
    $("enrol-start").hidden = false;
    $("enrol-form").hidden = true;
    $("recovery-list").hidden = true;
    $("change-password").hidden = !user.must_change_password;
    const expires = expiresAt || sessionStorage.getItem(CSRF_KEY + ".expires");
    $("who-expires").textContent = when(expires);
    $("who-expires").parentElement.hidden = false;
    show("who");
    $(user.must_change_password ? "current-password" : "logout").focus();
  }

  function backToLogin() {
    pending = null;
    $("password").value = "";
    $("totp").value = "";
    $("recovery").value = "";
    setRecovery(false);
    show("login-step");
    $($("username").value ? "password" : "username").focus();
  }

  function setRecovery(on) {
    useRecovery = on;
    $("totp-field").hidden = on;
    $("recovery-field").hidden = !on;
    $("use-recovery").textContent = on ? "Use the authenticator app instead" : "Use a recovery code instead";
  }

  async function attempt(form, extra) {
    fail("");
    busy(form, true);
    let response;
    try {
      response = await fetch(API + "/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(Object.assign({ client: "browser" }, pending, extra)),
      });
    } catch (e) {
      busy(form, false);
      fail("cannot reach the server; check the connection and try again");
      return;
    }
    busy(form, false);
    if (response.ok) {
      const body = await response.json();
      sessionStorage.setItem(CSRF_KEY, body.csrf_token || "");
      sessionStorage.setItem(CSRF_KEY + ".expires", body.expires_at || "");
      pending = null;
      $("password").value = "";
      $("totp").value = "";
      $("recovery").value = "";
      say("");
      if (proceed(body.user)) {
        return;
      }
      showUser(body.user, body.expires_at);
      return;
    }
    const why = await problem(response);
    if (SECOND_FACTOR_ASKED.has(why.code)) {
      say(why.message);
      setRecovery(false);
      show("code-step");
      $("totp").focus();
      return;
    }
    fail(why.message);
    if (!$("code-step").hidden && CODE_REFUSED.has(why.code)) {
      // a wrong or reused code: stay on this step and let them type the next one
      const field = useRecovery ? $("recovery") : $("totp");
      field.value = "";
      field.focus();
      return;
    }
    backToLogin();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) {
      fail("enter your username and password");
      $(username ? "password" : "username").focus();
      return;
    }
    say("");
    pending = { username: username, password: password };
    attempt($("login-form"), {});
  });

  $("code-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!pending) {
      backToLogin();
      return;
    }
    const value = (useRecovery ? $("recovery") : $("totp")).value.trim();
    if (!value) {
      fail(useRecovery ? "enter one of your recovery codes" : "enter the 6-digit code from your app");
      return;
    }
    attempt($("code-form"), useRecovery ? { recovery_code: value } : { totp: value.replace(/\s+/g, "") });
  });

  $("use-recovery").addEventListener("click", () => {
    setRecovery(!useRecovery);
    (useRecovery ? $("recovery") : $("totp")).focus();
  });

  $("code-back").addEventListener("click", () => {
    say("");
    fail("");
    backToLogin();
  });

  $("logout").addEventListener("click", async () => {
    fail("");
    const button = $("logout");
    button.disabled = true;
    let response = null;
    try {
      response = await fetch(API + "/logout", {
        method: "POST",
        credentials: "same-origin",
        headers: csrfHeaders(false),
      });
    } catch (e) {
      response = null;
    }
    button.disabled = false;
    if (response === null) {
      fail("cannot reach the server; you are still logged in");
      return;
    }
    if (!response.ok && response.status !== 401) {
      fail((await problem(response)).message);
      return;
    }
    sessionStorage.removeItem(CSRF_KEY);
    sessionStorage.removeItem(CSRF_KEY + ".expires");
    backToLogin();
    say("You are logged out.");
  });

  // A password an admin set (or a generated one) is changed before anything else is allowed.
  $("password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    fail("");
    const current = $("current-password").value;
    const fresh = $("new-password").value;
    if (!current || !fresh) {
      fail("enter your current password and a new one");
      return;
    }
    if (fresh !== $("repeat-password").value) {
      fail("the two new passwords differ");
      $("repeat-password").value = "";
      $("repeat-password").focus();
      return;
    }
    const form = $("password-form");
    busy(form, true);
    let response = null;
    try {
      response = await fetch(API + "/password", {
        method: "POST", credentials: "same-origin", headers: csrfHeaders(true),
        body: JSON.stringify({ current: current, new: fresh }),
      });
    } catch (e) {
      response = null;
    }
    busy(form, false);
    for (const id of ["current-password", "new-password", "repeat-password"]) {
      $(id).value = "";
    }
    if (response === null || !response.ok) {
      fail(response === null ? "cannot reach the server; try again" : (await problem(response)).message);
      $("current-password").focus();
      return;
    }
    const me = await fetch(API + "/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (me.ok) {
      const user = await me.json();
      if (proceed(user)) {
        return;
      }
      showUser(user, null);
    }
    say("Password changed.");
  });

  // Roles that reach ALPR data need a second factor (CJIS-style); a user without one enrols here.
  $("enrol-start").addEventListener("click", async () => {
    fail("");
    const response = await fetch(API + "/mfa/enrol", {
      method: "POST", credentials: "same-origin", headers: csrfHeaders(false),
    });
    if (!response.ok) {
      fail((await problem(response)).message);
      return;
    }
    const body = await response.json();
    $("enrol-secret").textContent = body.secret;
    $("enrol-uri").textContent = body.otpauth_uri;
    $("enrol-start").hidden = true;
    $("enrol-form").hidden = false;
    $("enrol-code").focus();
  });

  $("enrol-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    fail("");
    const code = $("enrol-code").value.replace(/\s+/g, "");
    const response = await fetch(API + "/mfa/confirm", {
      method: "POST", credentials: "same-origin", headers: csrfHeaders(true), body: JSON.stringify({ code: code }),
    });
    if (!response.ok) {
      fail((await problem(response)).message);
      $("enrol-code").value = "";
      $("enrol-code").focus();
      return;
    }
    const body = await response.json();
    const list = $("recovery-codes");
    list.textContent = "";
    for (const c of body.recovery_codes || []) {
      const item = document.createElement("li");
      item.textContent = c;
      list.appendChild(item);
    }
    $("enrol-form").hidden = true;
    $("recovery-list").hidden = false;
    say("Second factor set up. Log out and log in again with a code to reach ALPR data.");
    $("logout").focus();
  });

  // A reload keeps the session (the cookie) if this tab still holds its CSRF token.
  async function resume() {
    if (!sessionStorage.getItem(CSRF_KEY)) {
      return;
    }
    try {
      const response = await fetch(API + "/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const user = await response.json();
        if (!proceed(user)) {
          showUser(user, null);
        }
        return;
      }
    } catch (e) {
      // fall through to the login form
    }
    sessionStorage.removeItem(CSRF_KEY);
  }

  resume();
})();
