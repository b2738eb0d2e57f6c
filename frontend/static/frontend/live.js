// The agent's live evaluation page (frontend/templates/frontend/live.html).
//
// Flow: the agent confirms the camera notice -> the camera starts -> a live session is created
// through the REST API -> camera frames go to the session's websocket as binary messages
// (4-byte big-endian sequence number + JPEG, docs/websocket.md) at the chosen rate ->
// results, the running grade and drops come back on the same socket. Pause, resume, finish and
// cancel go through the REST API. Finishing or cancelling switches the camera off at once.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("live-config").textContent);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  // Words come translated from the page (data-* of #live-text); "{name}" is filled in here.
  const words = $("live-text").dataset;
  const say = (key, values = {}) =>
    Object.entries(values).reduce((text, [name, value]) => text.replace(`{${name}}`, value), words[key] || key);
  const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  const CAPTURE_WIDTH = 640;
  const JPEG_QUALITY = 0.8;
  const MAX_BUFFERED_BYTES = 1 << 20; // skip a capture while the socket still holds ~1 MB unsent

  const counts = { sent: 0, analysed: 0, dropped: 0, rejected: 0 };
  let session = null;
  let socket = null;
  let stream = null;
  let timer = null;
  let sequence = 0;
  let recording = false;
  let ended = false;
  const capture = document.createElement("canvas");

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }

  function problem(body, status) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && typeof body === "object") {
      const parts = Object.entries(body).map(([field, errors]) => `${field}: ${[].concat(errors).join(" ")}`);
      if (parts.length) return parts.join("; ");
    }
    return say("serverAnswered", { status });
  }

  async function api(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new Error(problem(data, response.status));
    return data;
  }

  function sessionUrl(action) {
    return `${config.sessionsUrl}${session.id}/${action}/`;
  }

  function setCount(name, value) {
    counts[name] = value;
    $(`stat-${name}`).textContent = String(value);
  }

  function showGrade(grade) {
    if (!grade) return;
    const letter = grade.letter || (grade.outcome === "insufficient_evidence" ? "?" : "–");
    $("grade-letter").textContent = letter;
    const parts = [];
    if (grade.score !== null && grade.score !== undefined) parts.push(say("score", { score: Number(grade.score).toFixed(0) }));
    if (grade.confidence !== null && grade.confidence !== undefined) {
      parts.push(say("confidence", { percent: (Number(grade.confidence) * 100).toFixed(0) }));
    }
    if (grade.outcome === "insufficient_evidence") parts.push(say("notEnough"));
    $("grade-detail").textContent = parts.join(" · ");
  }

  function showEmotions(face) {
    const body = $("emotions").tBodies[0];
    body.replaceChildren(
      ...EMOTIONS.map((emotion) => {
        const share = face ? face.emotions[emotion] : 0;
        const row = document.createElement("tr");
        const name = document.createElement("td");
        name.textContent = say(emotion);
        if (face && face.dominant === emotion) name.style.fontWeight = "700";
        const barCell = document.createElement("td");
        barCell.style.width = "60%";
        const bar = document.createElement("div");
        bar.className = "bar";
        bar.style.width = `${Math.round(share * 100)}%`;
        barCell.append(bar);
        const value = document.createElement("td");
        value.textContent = `${Math.round(share * 100)}%`;
        row.append(name, barCell, value);
        return row;
      }),
    );
  }

  function drawFaces(faces) {
    const overlay = $("overlay");
    overlay.width = capture.width;
    overlay.height = capture.height;
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, overlay.width, overlay.height);
    context.lineWidth = Math.max(2, overlay.width / 240);
    context.font = `${Math.max(12, overlay.width / 32)}px system-ui, sans-serif`;
    for (const face of faces) {
      const [x, y, w, h] = face.box;
      context.strokeStyle = face.primary ? "#4ade80" : "#facc15";
      context.strokeRect(x, y, w, h);
      context.fillStyle = context.strokeStyle;
      context.fillText(`${say(face.dominant)} ${Math.round(face.emotions[face.dominant] * 100)}%`, x, Math.max(14, y - 6));
    }
  }

  function setStatus(status) {
    $("status").textContent = say(status);
    recording = status === "open";
    $("pause").hidden = status !== "open";
    $("resume").hidden = status !== "paused";
    const over = status === "finished" || status === "cancelled";
    for (const id of ["pause", "resume", "finish", "cancel"]) $(id).disabled = over;
  }

  function onMessage(event) {
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "session.hello":
        reconnects = 0;
        if (!message.can_send_frames) {
          showError(say("watchOnly"));
          return;
        }
        setStatus(message.status);
        startCapturing(Math.min(Number($("fps").value), message.limits.max_fps));
        break;
      case "frame.result": {
        setCount("analysed", counts.analysed + 1);
        drawFaces(message.faces);
        showEmotions(message.faces.find((face) => face.primary) || null);
        showGrade(message.grade);
        break;
      }
      case "frame.dropped":
        setCount("dropped", counts.dropped + 1);
        break;
      case "frame.rejected":
      case "frame.failed":
        setCount("rejected", counts.rejected + 1);
        break;
      case "session.status":
        setStatus(message.status);
        if (message.grade) showGrade(message.grade);
        if (message.status === "finished" || message.status === "cancelled") stopCamera();
        break;
      default:
        break;
    }
  }

  const CLOSE_REASONS = {
    4401: say("signedOut"),
    4403: say("roleRefused"),
    4404: say("notAvailable"),
  };

  // A dropped connection (network, server restart) is retried with growing pauses; frame numbers
  // carry on; a number the server already has comes back as frame.rejected (duplicate), counted.
  const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000];
  let reconnects = 0;

  function openSocket() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}/ws/sessions/${session.id}/`);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", (event) => {
      stopCapturing();
      if (ended) return;
      if (CLOSE_REASONS[event.code]) {
        showError(CLOSE_REASONS[event.code]);
      } else if (reconnects < RECONNECT_DELAYS_MS.length) {
        $("status").textContent = say("reconnecting");
        window.setTimeout(openSocket, RECONNECT_DELAYS_MS[reconnects++]);
      } else {
        showError(say("connectionLost"));
      }
    });
  }

  function startCapturing(fps) {
    stopCapturing();
    timer = window.setInterval(sendFrame, Math.round(1000 / fps));
  }

  function stopCapturing() {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
  }

  function sendFrame() {
    const video = $("video");
    if (!recording || !socket || socket.readyState !== WebSocket.OPEN || video.readyState < 2) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) return; // the network is behind: skip, do not queue
    const scale = Math.min(1, CAPTURE_WIDTH / video.videoWidth);
    capture.width = Math.round(video.videoWidth * scale);
    capture.height = Math.round(video.videoHeight * scale);
    capture.getContext("2d").drawImage(video, 0, 0, capture.width, capture.height);
    const number = sequence++;
    capture.toBlob(
      async (blob) => {
        if (!blob || blob.size + 4 > config.maxFrameBytes || socket.readyState !== WebSocket.OPEN) return;
        const jpeg = new Uint8Array(await blob.arrayBuffer());
        const message = new Uint8Array(4 + jpeg.length);
        new DataView(message.buffer).setUint32(0, number, false);
        message.set(jpeg, 4);
        socket.send(message);
        setCount("sent", counts.sent + 1);
      },
      "image/jpeg",
      JPEG_QUALITY,
    );
  }

  function releaseCamera() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    $("video").srcObject = null;
    $("camera-indicator").hidden = true;
  }

  function stopCamera() {
    ended = true;
    stopCapturing();
    releaseCamera();
    if (socket && socket.readyState === WebSocket.OPEN) socket.close(1000);
  }

  async function start(event) {
    event.preventDefault();
    showError("");
    if (!$("consent").checked) {
      showError(say("confirmNotice"));
      return;
    }
    $("start").disabled = true;
    try {
      // Camera first: if it is refused or missing, no session is created.
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    } catch (error) {
      $("start").disabled = false;
      showError(say("cameraFailed", { error: error.name }));
      return;
    }
    try {
      session = await api(config.sessionsUrl, {
        channel: "live",
        customer_reference: $("customer-reference").value.trim(),
        notice_shown: true,
        notice_version: config.noticeVersion,
      });
    } catch (error) {
      releaseCamera();
      $("start").disabled = false;
      showError(say("startFailed", { error: error.message }));
      return;
    }
    $("video").srcObject = stream;
    $("camera-indicator").hidden = false;
    $("notice-card").hidden = true;
    $("live-card").hidden = false;
    $("session-ref").textContent = say("session", { id: session.id });
    showEmotions(null);
    openSocket();
  }

  async function control(action) {
    showError("");
    try {
      const detail = await api(sessionUrl(action));
      setStatus(detail.status);
      if (detail.status === "finished") showGrade(detail.grade_detail || null);
      if (detail.status === "finished" || detail.status === "cancelled") stopCamera();
    } catch (error) {
      showError(error.message);
    }
  }

  $("consent").addEventListener("change", () => {
    $("start").disabled = !$("consent").checked;
  });
  $("start-form").addEventListener("submit", start);
  $("pause").addEventListener("click", () => control("pause"));
  $("resume").addEventListener("click", () => control("resume"));
  $("finish").addEventListener("click", () => control("finish"));
  $("cancel").addEventListener("click", () => control("cancel"));
  window.addEventListener("pagehide", releaseCamera);
})();
