// inpaintzoo serve: the page. Holds the image and a hole mask (one byte per image pixel), paints it with a
// brush or a box, and sends image + mask to the server's job API; results are polled and shown side by side.
"use strict";

const $ = (id) => document.getElementById(id);
const DISPLAY = 384; // the longer side of the image on screen, in CSS pixels
const RESULT = 272; // ... and of each result
const state = { info: null, image: null, mask: null, job: null, timer: null };

function message(text, ok = false) {
  $("message").textContent = text || "";
  $("message").className = ok ? "ok" : "";
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// ---- models and options -------------------------------------------------------------------------------
async function loadInfo() {
  state.info = await api("/api/info");
  const models = $("models");
  state.info.models.forEach((m, i) => {
    const label = document.createElement("label");
    label.className = "model";
    label.innerHTML = `<input type="checkbox" name="model"> <b></b> <span class="source"></span>`;
    const box = label.querySelector("input");
    box.value = m.name;
    box.checked = i < 2;
    label.querySelector("b").textContent = m.name;
    label.querySelector(".source").textContent = m.source + (m.density ? ", density" : "");
    if (m.modes.length) {
      const select = document.createElement("select");
      select.className = "mode";
      select.setAttribute("aria-label", `${m.name} decoding mode`);
      m.modes.forEach((mode) => select.add(new Option(mode, mode)));
      label.append(select);
    }
    const summary = document.createElement("span");
    summary.className = "summary";
    summary.textContent = m.summary;
    label.append(summary);
    models.append(label);
  });
  state.info.strategies.forEach((s) => $("strategy").add(new Option(s, s)));
  state.info.samples.forEach((id) => $("sample").add(new Option(id.replace(/^sample-/, ""), id)));
  $("limits").textContent = `Limits: ${state.info.limits.text}.`;
}

function chosenModels() {
  return [...document.querySelectorAll("#models label.model")]
    .filter((label) => label.querySelector("input").checked)
    .map((label) => {
      const name = label.querySelector("input").value;
      const mode = label.querySelector("select.mode");
      return mode ? `${name}@${mode.value}` : name;
    });
}

// ---- the image ---------------------------------------------------------------------------------------
function showImage(described) {
  const img = new Image();
  img.onload = () => {
    const { width, height } = described;
    state.image = described;
    state.mask = new Uint8Array(width * height);
    const scale = DISPLAY / Math.max(width, height);
    for (const id of ["image", "mask"]) {
      const canvas = $(id);
      canvas.width = width;
      canvas.height = height;
      canvas.style.width = `${Math.round(width * scale)}px`;
      canvas.style.height = `${Math.round(height * scale)}px`;
      canvas.classList.toggle("pixelated", scale > 2);
    }
    $("stage").style.width = $("image").style.width;
    $("stage").style.height = $("image").style.height;
    $("image").getContext("2d").drawImage(img, 0, 0);
    $("mask").getContext("2d").clearRect(0, 0, width, height);
    $("stage").classList.remove("empty");
    const brush = Math.max(1, Math.round(Math.min(width, height) / 16));
    $("brush").max = Math.max(8, Math.round(Math.max(width, height) / 4));
    $("brush").value = brush;
    $("brush-value").textContent = `${brush} px`;
    $("image-info").textContent =
      `${described.name}: ${width}×${height}` + (described.truth ? " (true pixels known: hole MSE / PSNR shown)" : "");
    message("");
  };
  img.onerror = () => message("the browser could not show this image");
  img.src = described.url;
}

async function upload(file) {
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    showImage(await api("/api/images", { method: "POST", body: form }));
  } catch (e) {
    message(e.message);
  }
}

// ---- painting the mask -------------------------------------------------------------------------------
function tool() {
  return document.querySelector("input[name=tool]:checked").value;
}

function toImage(event) {
  const rect = $("mask").getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) / rect.width) * state.image.width,
    y: ((event.clientY - rect.top) / rect.height) * state.image.height,
  };
}

function setSpan(y, x0, x1) {
  const { width, height } = state.image;
  if (y < 0 || y >= height) return;
  for (let x = Math.max(0, x0); x <= Math.min(width - 1, x1); x++) state.mask[y * width + x] = 1;
}

function stamp(cx, cy, diameter) {
  const r = diameter / 2;
  for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
    const dy = y + 0.5 - cy;
    if (Math.abs(dy) > r) continue;
    const half = Math.sqrt(r * r - dy * dy);
    setSpan(y, Math.round(cx - half), Math.round(cx + half) - 1);
  }
  if (diameter <= 1) setSpan(Math.floor(cy), Math.floor(cx), Math.floor(cx));
}

function strokeTo(from, to) {
  const size = +$("brush").value;
  const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / Math.max(0.5, size / 4)));
  for (let i = 0; i <= steps; i++) {
    stamp(from.x + ((to.x - from.x) * i) / steps, from.y + ((to.y - from.y) * i) / steps, size);
  }
  render();
}

function render() {
  const { width, height } = state.image;
  const ctx = $("mask").getContext("2d");
  const pixels = ctx.createImageData(width, height);
  for (let i = 0; i < state.mask.length; i++) {
    if (!state.mask[i]) continue;
    pixels.data.set([255, 45, 85, 255], 4 * i);
  }
  ctx.putImageData(pixels, 0, 0);
}

function setupPainting() {
  const canvas = $("mask");
  let last = null;
  let start = null;
  canvas.addEventListener("pointerdown", (event) => {
    if (!state.image) return;
    canvas.setPointerCapture(event.pointerId);
    const p = toImage(event);
    if (tool() === "brush") {
      last = p;
      strokeTo(p, p);
    } else {
      start = p;
    }
  });
  canvas.addEventListener("pointermove", (event) => {
    if (last) {
      const p = toImage(event);
      strokeTo(last, p);
      last = p;
    } else if (start) {
      const p = toImage(event);
      const box = $("boxpreview");
      const scale = canvas.getBoundingClientRect().width / state.image.width;
      box.hidden = false;
      box.style.left = `${Math.min(start.x, p.x) * scale}px`;
      box.style.top = `${Math.min(start.y, p.y) * scale}px`;
      box.style.width = `${Math.abs(p.x - start.x) * scale}px`;
      box.style.height = `${Math.abs(p.y - start.y) * scale}px`;
    }
  });
  const finish = (event) => {
    if (start) {
      const p = toImage(event);
      const [x0, x1] = [Math.min(start.x, p.x), Math.max(start.x, p.x)].map(Math.round);
      const [y0, y1] = [Math.min(start.y, p.y), Math.max(start.y, p.y)].map(Math.round);
      for (let y = y0; y < Math.max(y1, y0 + 1); y++) setSpan(y, x0, Math.max(x1, x0 + 1) - 1);
      $("boxpreview").hidden = true;
      render();
    }
    last = start = null;
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  $("brush").addEventListener("input", () => ($("brush-value").textContent = `${$("brush").value} px`));
  $("clear").addEventListener("click", () => {
    if (!state.image) return;
    state.mask.fill(0);
    render();
  });
}

function maskBlob() {
  const { width, height } = state.image;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const pixels = ctx.createImageData(width, height);
  for (let i = 0; i < state.mask.length; i++) {
    const v = state.mask[i] ? 255 : 0;
    pixels.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(pixels, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// ---- filling and results -----------------------------------------------------------------------------
async function startFill() {
  if (!state.image) return message("choose an image first");
  const models = chosenModels();
  if (!models.length) return message("choose at least one model");
  const form = new FormData();
  form.append("image_id", state.image.id);
  form.append("mask", await maskBlob(), "mask.png");
  models.forEach((m) => form.append("model", m));
  form.append("strategy", $("strategy").value);
  form.append("seed", $("seed").value || "0");
  message("");
  try {
    const job = await api("/api/jobs", { method: "POST", body: form });
    state.job = job.id;
    $("results").replaceChildren();
    showJob(job);
    $("fill").disabled = true;
    $("cancel").disabled = false;
    state.timer = setInterval(poll, 250);
  } catch (e) {
    message(e.message);
  }
}

async function poll() {
  try {
    const job = await api(`/api/jobs/${state.job}`);
    showJob(job);
    if (["done", "error", "cancelled"].includes(job.state)) stopPolling(job);
  } catch (e) {
    message(e.message);
    stopPolling(null);
  }
}

function stopPolling(job) {
  clearInterval(state.timer);
  state.timer = null;
  $("fill").disabled = false;
  $("cancel").disabled = true;
  if (job) {
    const failed = job.results.filter((r) => r.state === "error").length;
    if (job.state === "cancelled") message("cancelled");
    else if (failed) message(`${failed} of ${job.results.length} models could not fill this hole (see below)`);
    else message(`filled with ${job.results.length} model${job.results.length > 1 ? "s" : ""}`, true);
  }
}

function resultCard(index) {
  let card = document.querySelector(`#results .result[data-index="${index}"]`);
  if (card) return card;
  card = document.createElement("figure");
  card.className = "result";
  card.dataset.index = index;
  card.innerHTML = `<h3></h3><div class="figure"></div><figcaption><div class="status"></div>
    <div class="scores"></div><a class="download" hidden>Download PNG</a></figcaption>`;
  $("results").append(card);
  return card;
}

function showJob(job) {
  const { done, total } = job.progress;
  $("progress").hidden = job.state === "done";
  $("progress").max = total;
  $("progress").value = done;
  $("progress-text").textContent = job.state === "done" ? "" : `${done} of ${total} models`;
  const scale = RESULT / Math.max(job.width, job.height);
  job.results.forEach((r, i) => {
    const card = resultCard(i);
    card.dataset.state = r.state;
    card.dataset.model = r.model;
    card.querySelector("h3").textContent = r.mode ? `${r.model} (${r.mode})` : r.model;
    const status = { queued: "waiting", running: `filling… ${r.seconds.toFixed(1)} s` };
    if (r.state === "running" && r.steps) status.running += `, ${r.steps.toLocaleString()} steps`;
    status.done = `filled in ${r.seconds.toFixed(2)} s`;
    card.querySelector(".status").textContent = status[r.state] || `${r.state}: ${r.message}`;
    if (r.url && !card.querySelector("img")) {
      const img = document.createElement("img");
      img.width = Math.round(job.width * scale);
      img.height = Math.round(job.height * scale);
      img.classList.toggle("pixelated", scale > 2);
      img.alt = `${r.model} result`;
      img.src = r.url;
      card.querySelector(".figure").replaceChildren(img);
      const link = card.querySelector("a.download");
      link.href = r.url;
      link.download = `${job.image}-${r.model}${r.mode ? "-" + r.mode : ""}.png`;
      link.hidden = false;
    }
    const m = r.metrics || {};
    if (m.hole_mse !== undefined) {
      const psnr = m.psnr === null ? "∞" : m.psnr.toFixed(2);
      card.querySelector(".scores").textContent = `hole MSE ${m.hole_mse.toFixed(1)} · PSNR ${psnr} dB`;
    }
  });
}

async function cancelFill() {
  if (!state.job) return;
  try {
    await api(`/api/jobs/${state.job}/cancel`, { method: "POST" });
  } catch (e) {
    message(e.message);
  }
}

// ---- wiring --------------------------------------------------------------------------------------------
window.addEventListener("DOMContentLoaded", async () => {
  setupPainting();
  $("upload").addEventListener("change", (e) => e.target.files[0] && upload(e.target.files[0]));
  $("sample").addEventListener("change", async (e) => {
    if (!e.target.value) return;
    try {
      showImage(await api(`/api/images/${e.target.value}`));
    } catch (err) {
      message(err.message);
    }
  });
  $("cifar").addEventListener("click", async () => {
    try {
      showImage(await api("/api/images/cifar10", { method: "POST" }));
    } catch (e) {
      message(e.message);
    }
  });
  $("fill").addEventListener("click", startFill);
  $("cancel").addEventListener("click", cancelFill);
  try {
    await loadInfo();
  } catch (e) {
    message(`cannot reach the server: ${e.message}`);
  }
});
