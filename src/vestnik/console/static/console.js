// vestnik console: the little script the pages need. Pages work without it for reading;
// with it, parts marked data-live="URL" are refreshed from the server every data-every ms
// (default 2000) without a reload, and forms marked data-confirm ask first.
"use strict";

function refresh(el) {
  const url = el.getAttribute("data-live");
  const every = parseInt(el.getAttribute("data-every") || "2000", 10);
  const tick = async () => {
    if (!document.hidden) {
      try {
        const reply = await fetch(url, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin" });
        if (reply.status === 200) {
          el.innerHTML = await reply.text();
          el.setAttribute("data-refreshed", new Date().toISOString());
        } else if (reply.status === 401 || reply.redirected) {
          window.location.reload();  // the session ended: show the login form
          return;
        }
      } catch (e) {
        el.setAttribute("data-refresh-error", String(e));
      }
    }
    window.setTimeout(tick, every);
  };
  window.setTimeout(tick, every);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(refresh);
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
});
