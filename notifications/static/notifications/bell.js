// The alert bell in the header: the unread count and new alerts, live over /ws/notifications/
// (messages: notifications.protocol). Without JavaScript the bell is a plain link to the list.
"use strict";
(function () {
  const bell = document.getElementById("alert-bell");
  if (!bell || !("WebSocket" in window)) return;
  const count = bell.querySelector("[data-bell-count]");
  const label = bell.querySelector("[data-bell-label]");
  const toast = document.getElementById("alert-toast");
  let retry = 1000;

  function setCount(n) {
    count.textContent = n > 99 ? "99+" : String(n);
    count.hidden = n === 0;
    label.textContent = n === 0 ? bell.dataset.labelNone : bell.dataset.labelSome.replace("__N__", String(n));
    bell.classList.toggle("has-unread", n > 0);
  }

  function announce(notification) {
    if (!toast) return;
    toast.replaceChildren();
    const text = document.createElement("span");
    text.textContent = notification.title + (notification.agent ? " · " + notification.agent : "");
    const link = document.createElement("a");
    link.href = notification.url;
    link.textContent = toast.dataset.open;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = toast.dataset.close;
    close.addEventListener("click", () => { toast.hidden = true; });
    toast.append(text, " ", link, " ", close);
    toast.hidden = false;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + bell.dataset.socket);
    socket.addEventListener("open", () => { retry = 1000; });
    socket.addEventListener("message", (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch (_) { return; }
      if (typeof data.unread === "number") setCount(data.unread);
      if (data.type === "notification.new") announce(data.notification);
    });
    socket.addEventListener("close", (event) => {
      if (event.code >= 4400 && event.code < 4500) return; // signed out or not allowed: do not insist
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }
  connect();
})();
