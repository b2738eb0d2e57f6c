// Progress of an image or video session, live over the session's websocket (docs/websocket.md):
// counters and the video's progress update in place; the page reloads once the session ends, to
// show the frozen grade.
"use strict";
(function () {
  const card = document.getElementById("progress");
  if (!card || card.dataset.status !== "open") return;
  const field = (name) => card.querySelector(`[data-live="${name}"]`);
  let retry = 1000;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${card.dataset.socket}`);
    socket.addEventListener("open", () => { retry = 1000; });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      if (message.stats) {
        if (field("processed")) field("processed").textContent = message.stats.frames_processed;
        if (field("failed")) field("failed").textContent = message.stats.frames_failed;
      }
      if (message.type === "video.progress") {
        if (field("progress") && message.progress !== null) field("progress").value = message.progress;
        const shown = field("video_status");  // its data-* hold the statuses' names in the page's language
        if (shown) shown.textContent = shown.dataset[message.video_status] || message.video_status;
        if (message.video_status === "failed") location.reload();
      }
      if (message.type === "session.status" && message.status !== "open") location.reload();
    });
    socket.addEventListener("close", (event) => {
      if (event.code >= 4400 && event.code < 4500) return;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }
  connect();
})();
