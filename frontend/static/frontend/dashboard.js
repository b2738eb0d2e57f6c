// The dashboard's live list: sessions in progress, kept up to date over /ws/dashboard/.
// Messages are the session events of docs/websocket.md; the list never reloads the page.
"use strict";
(function () {
  const table = document.getElementById("live-sessions");
  if (!table) return;
  const body = table.tBodies[0];
  const state = document.getElementById("live-state");
  const sessionUrl = (id) => table.dataset.sessionUrl.replace("00000000-0000-0000-0000-000000000000", id);
  const statusLabels = { open: table.dataset.statusOpen, paused: table.dataset.statusPaused };
  let retry = 1000;

  function setState(connected) {
    state.textContent = connected ? state.dataset.connected : state.dataset.disconnected;
    state.classList.toggle("on", connected);
  }

  function emptyRow() {
    const empty = body.querySelector("tr.empty");
    const rows = body.querySelectorAll("tr[data-session]").length;
    if (rows && empty) empty.remove();
    if (!rows && !empty) {
      const tr = body.insertRow();
      tr.className = "empty";
      const td = tr.insertCell();
      td.colSpan = 6;
      td.textContent = table.dataset.empty;
    }
  }

  function row(id, agent) {
    let tr = body.querySelector(`tr[data-session="${id}"]`);
    if (tr) return tr;
    tr = document.createElement("tr");
    tr.dataset.session = id;
    const link = document.createElement("a");
    link.href = sessionUrl(id);
    link.textContent = agent || "—";
    const cells = ["agent", "started", "status", "letter", "score", "frames"].map((name) => {
      const td = document.createElement("td");
      if (name !== "agent" && name !== "started") td.dataset.field = name;
      return td;
    });
    cells[0].append(link);
    cells[1].textContent = new Date().toTimeString().slice(0, 5);
    cells[2].textContent = statusLabels.open;
    cells[3].textContent = "–";
    cells[4].textContent = "–";
    cells[5].textContent = "0";
    tr.append(...cells);
    body.prepend(tr);
    emptyRow();
    return tr;
  }

  function set(tr, field, value) {
    const cell = tr.querySelector(`[data-field="${field}"]`);
    if (cell) cell.textContent = value;
  }

  function setGrade(tr, grade) {
    if (!grade) return;
    const cell = tr.querySelector('[data-field="letter"]');
    cell.replaceChildren();
    if (grade.letter) {
      const span = document.createElement("span");
      span.className = `letter letter-${grade.letter}`;
      span.textContent = grade.letter;
      cell.append(span);
    } else {
      cell.textContent = "–";
    }
    set(tr, "score", grade.score === null || grade.score === undefined ? "–" : Math.round(grade.score));
  }

  function handle(message) {
    if (!message.session) return;
    if (message.type === "session.status") {
      if (message.status === "finished" || message.status === "cancelled") {
        const tr = body.querySelector(`tr[data-session="${message.session}"]`);
        if (tr) tr.remove();
        emptyRow();
        return;
      }
      const tr = row(message.session, message.agent);
      set(tr, "status", statusLabels[message.status] || message.status);
      return;
    }
    if (message.type === "frame.result" || message.type === "frame.failed" || message.type === "video.progress") {
      const tr = row(message.session);
      setGrade(tr, message.grade);
      if (message.stats) set(tr, "frames", message.stats.frames_processed);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${table.dataset.socket}`);
    socket.addEventListener("open", () => { retry = 1000; setState(true); });
    socket.addEventListener("message", (event) => {
      try { handle(JSON.parse(event.data)); } catch (error) { console.warn("dashboard: bad message", error); }
    });
    socket.addEventListener("close", (event) => {
      setState(false);
      if (event.code === 4401 || event.code === 4403) return; // signed out or no longer allowed
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }

  connect();
})();
