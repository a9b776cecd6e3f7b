// The page: the generate/edit form, one card per job following its SSE stream, and this session's gallery.
import { ApiError, apiKey, blob, describe, followEvents, request, setApiKey } from "/web/api.js";
import { MaskEditor } from "/web/editor.js";

const $ = (id) => document.getElementById(id);
const state = { lastSeed: null, previewPoll: null };
// Jobs whose cards may show a preview, by id.
const live = new Map();

// ---------- errors ----------

function showError(message, { sticky = false, kind = "" } = {}) {
  const box = $("errors");
  const item = document.createElement("div");
  item.className = "error";
  if (kind) item.dataset.kind = kind;
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "×";
  close.title = "Dismiss";
  close.setAttribute("aria-label", "Dismiss");
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  box.prepend(item);
  while (box.children.length > 4) box.lastChild.remove();
  if (!sticky) setTimeout(() => item.remove(), 30000);
}

function report(error) {
  if (error && error.name === "AbortError") return;
  const message = error instanceof ApiError ? error.message : `Unexpected problem in the page: ${error?.message || error}`;
  showError(message, { kind: error instanceof ApiError && error.status === 401 ? "auth" : "" });
  if (error instanceof ApiError && error.status === 401) {
    $("key-state").textContent = "key needed";
    $("api-key").focus();
  }
}

// ---------- API key ----------

function initKey() {
  $("api-key").value = apiKey();
  $("key-state").textContent = apiKey() ? "saved" : "";
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("api-key").value.trim());
    $("key-state").textContent = apiKey() ? "saved" : "cleared";
    loadServerInfo();
  });
}

// ---------- server info: models, samplers, schedules ----------

function fillSelect(select, items, keepFirst) {
  const current = select.value;
  while (select.options.length > (keepFirst ? 1 : 0)) select.remove(select.options.length - 1);
  for (const { value, label } of items) select.add(new Option(label, value));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

async function loadServerInfo() {
  try {
    const [models, samplers, schedules, options] = await Promise.all([
      request("GET", "/sdapi/v1/sd-models"),
      request("GET", "/sdapi/v1/samplers"),
      request("GET", "/sdapi/v1/schedulers").catch(() => []),
      request("GET", "/sdapi/v1/options").catch(() => ({})),
    ]);
    fillSelect($("model"), models.map((m) => ({ value: m.model_name, label: m.title || m.model_name })), false);
    if (options.sd_model_checkpoint) $("model").value = options.sd_model_checkpoint;
    fillSelect($("sampler"), samplers.map((s) => ({ value: s.name, label: s.name })), true);
    fillSelect($("schedule-type"), schedules.filter((s) => s.name !== "automatic")
      .map((s) => ({ value: s.label || s.name, label: s.label || s.name })), true);
    $("server-status").textContent = `model: ${$("model").value || "?"}`;
    $("server-status").classList.remove("bad");
    // The key works now: earlier "key needed" messages are stale.
    for (const item of document.querySelectorAll('#errors .error[data-kind="auth"]')) item.remove();
    if (apiKey()) $("key-state").textContent = "saved";
  } catch (error) {
    $("server-status").textContent = error.status === 401 ? "API key needed" : "server unavailable";
    $("server-status").classList.add("bad");
    report(error);
  }
}

// ---------- form ----------

function mode() { return document.querySelector('input[name="mode"]:checked').value; }

function readForm() {
  const int = (id, fallback) => { const v = parseInt($(id).value, 10); return Number.isFinite(v) ? v : fallback; };
  const params = {
    prompt: $("prompt").value,
    negative_prompt: $("negative-prompt").value,
    width: int("width", 512),
    height: int("height", 512),
    steps: int("steps", 20),
    cfg_scale: parseFloat($("cfg").value) || 0,
    image_count: int("batch-count", 1),
  };
  const seed = int("seed", -1);
  if (seed >= 0) params.seed = seed;
  if ($("model").value) params.model = $("model").value;
  if ($("sampler").value) params.sampler = $("sampler").value;
  if ($("schedule-type").value) params.schedule_type = $("schedule-type").value;
  return params;
}

/** Puts a result's parameters back into the form ("click to reuse"). */
function applyParameters(p, seed) {
  const set = (id, v) => { if (v !== undefined && v !== null) $(id).value = v; };
  set("prompt", p.prompt);
  set("negative-prompt", p.negative_prompt);
  set("width", p.width);
  set("height", p.height);
  set("steps", p.steps);
  set("cfg", p.cfg_scale);
  if (p.model && [...$("model").options].some((o) => o.value === p.model)) $("model").value = p.model;
  if (p.sampler !== undefined) {
    const match = [...$("sampler").options].find((o) => o.value.toLowerCase() === String(p.sampler || "").toLowerCase());
    $("sampler").value = match ? match.value : "";
  }
  $("schedule-type").value = [...$("schedule-type").options].some((o) => o.value === p.schedule_type) ? p.schedule_type : "";
  set("seed", seed);
  syncPreset();
}

function syncPreset() {
  const key = `${$("width").value}x${$("height").value}`;
  $("size-preset").value = [...$("size-preset").options].some((o) => o.value === key) ? key : "custom";
}

function initForm() {
  $("size-preset").addEventListener("change", () => {
    const [w, h] = $("size-preset").value.split("x");
    if (h) { $("width").value = w; $("height").value = h; }
  });
  $("width").addEventListener("input", syncPreset);
  $("height").addEventListener("input", syncPreset);
  $("seed-random").addEventListener("click", () => { $("seed").value = -1; });
  $("seed-reuse").addEventListener("click", () => { if (state.lastSeed !== null) $("seed").value = state.lastSeed; });
  $("strength").addEventListener("input", () => { $("strength-value").textContent = Number($("strength").value).toFixed(2); });
  $("model").addEventListener("change", () => { $("server-status").textContent = `model: ${$("model").value}`; });
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", updateMode);
  $("generate-form").addEventListener("submit", (event) => { event.preventDefault(); generate(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); generate(); }
  });
  updateMode();
}

function updateMode() {
  const m = mode();
  $("edit-panel").hidden = m === "txt2img";
  $("mask-tools").hidden = m !== "inpaint" || !editor.loaded;
  $("outpaint-tools").hidden = m !== "outpaint";
  $("generate").firstChild.textContent = { txt2img: "Generate ", img2img: "Transform ", inpaint: "Inpaint ", outpaint: "Outpaint " }[m];
}

// ---------- generation ----------

function validate(params) {
  if (!params.prompt.trim()) return "Write a prompt first.";
  for (const [name, v] of [["Width", params.width], ["Height", params.height]]) {
    if (v < 64 || v % 8) return `${name} must be a multiple of 8 and at least 64 (got ${v}).`;
  }
  if (params.steps < 1) return "Steps must be at least 1.";
  if (params.image_count < 1) return "Images must be at least 1.";
  return null;
}

async function generate() {
  const params = readForm();
  const problem = validate(params);
  if (problem) { showError(problem); return; }
  const m = mode();
  if (m === "txt2img") return submitJob(params);
  if (!editor.loaded) { showError("Choose or drop a source image first (or press “Edit” on a result)."); return; }
  return submitEdit(m, params);
}

/** Text to image through the async jobs API: 202 + id, then the SSE stream. */
async function submitJob(params) {
  const card = createJobCard(params.prompt, "txt2img");
  try {
    const job = await request("POST", "/v1/jobs", { json: params });
    card.attach(job);
    followJob(card, job);
  } catch (error) {
    card.fail(error.message);
    report(error);
  }
}

async function followJob(card, job) {
  const controller = new AbortController();
  card.abort = controller;
  let finished = false;
  try {
    await followEvents(`/v1/jobs/${job.id}/events`, (name, data) => {
      if (name === "queued") card.queued(data.position);
      else if (name === "step") card.step(data.step, data.step_count, data.preview);
      else if (name === "done") { finished = true; card.done(data); }
      else if (name === "error") { finished = true; card.ended(data); }
      else if (name === "suspended") card.setStatus("server is shutting down; the job resumes after a restart");
    }, controller.signal);
  } catch (error) {
    if (error.name !== "AbortError") card.setStatus(`lost the progress stream: ${error.message}`);
  }
  // A stream that ended early (proxy, restart): ask for the final state instead.
  for (let wait = 500; !finished && !controller.signal.aborted; wait = Math.min(wait * 2, 5000)) {
    try {
      const now = await request("GET", `/v1/jobs/${job.id}`);
      if (now.status === "succeeded") { finished = true; card.done(now); }
      else if (["failed", "cancelled", "expired"].includes(now.status)) { finished = true; card.ended(now); }
      else if (now.status === "queued") card.queued(now.position ?? 0);
      else card.step(now.step, now.step_count);
    } catch (error) {
      if (error.status === 404) { card.fail(error.message); return; }
    }
    if (!finished) await new Promise((r) => setTimeout(r, wait));
  }
}

/** Editing through A1111's `/sdapi/v1/img2img` (the route the spec names; `mask` makes it inpainting). */
async function submitEdit(m, params) {
  let image = editor.imageDataURL(), mask = null, width = editor.width, height = editor.height;
  if (m === "inpaint") {
    if (editor.coverage() === 0) { showError("Paint the area to repaint on the image first (the mask is empty)."); return; }
    mask = editor.maskDataURL();
  } else if (m === "outpaint") {
    const px = Math.max(8, Math.round((parseInt($("outpaint-px").value, 10) || 64) / 8) * 8);
    const sides = Object.fromEntries(["left", "right", "top", "bottom"].map((s) => [s, $(`out-${s}`).checked ? px : 0]));
    if (!Object.values(sides).some(Boolean)) { showError("Pick at least one side to extend."); return; }
    ({ image, mask, width, height } = editor.outpaint(sides));
  }
  // The model works in 8-pixel latent cells.
  width = Math.max(64, Math.floor(width / 8) * 8);
  height = Math.max(64, Math.floor(height / 8) * 8);
  const body = {
    init_images: [image], denoising_strength: Number($("strength").value),
    prompt: params.prompt, negative_prompt: params.negative_prompt, steps: params.steps, cfg_scale: params.cfg_scale,
    width, height, seed: params.seed ?? -1, batch_size: 1, n_iter: params.image_count,
    sampler_name: params.sampler, scheduler: params.schedule_type || undefined,
    override_settings: params.model ? { sd_model_checkpoint: params.model } : {},
  };
  if (mask) Object.assign(body, { mask, mask_blur: 4, inpainting_fill: 1, inpaint_full_res: false, inpainting_mask_invert: 0 });
  const card = createJobCard(params.prompt, m);
  const controller = new AbortController();
  card.abort = controller;
  // Closing the request cancels the job server-side (a synchronous endpoint's disconnect cancels its job).
  card.onCancel = () => controller.abort();
  card.running();
  const poll = setInterval(async () => {
    try {
      const p = await request("GET", "/sdapi/v1/progress");
      if (p.state && p.state.sampling_steps) card.step(p.state.sampling_step, p.state.sampling_steps, p.current_image);
    } catch { /* progress is a nicety */ }
  }, 700);
  try {
    const result = await request("POST", "/sdapi/v1/img2img", { json: body, signal: controller.signal });
    let info = {};
    try { info = typeof result.info === "string" ? JSON.parse(result.info) : result.info || {}; } catch { /* keep {} */ }
    const seeds = info.all_seeds || [];
    const p = { ...params, width, height, mode: m, strength: body.denoising_strength };
    const images = (result.images || []).map((b64, i) => ({ src: `data:image/png;base64,${b64}`, seed: seeds[i] ?? info.seed }));
    card.finish(`done: ${images.length} image${images.length === 1 ? "" : "s"}`);
    images.forEach((img, i) => addResult({ params: p, seed: img.seed, dataURL: img.src, label: `${m} ${i + 1}` }));
  } catch (error) {
    if (error.name === "AbortError") card.finish("cancelled", "cancelled");
    else { card.fail(error.message); report(error); }
  } finally {
    clearInterval(poll);
  }
}

// ---------- job cards ----------

function createJobCard(prompt, kind) {
  const node = $("job-template").content.firstElementChild.cloneNode(true);
  const q = (sel) => node.querySelector(sel);
  $("jobs").prepend(node);
  $("jobs-empty").hidden = true;
  q(".job-title").textContent = `${kind === "txt2img" ? "" : `[${kind}] `}${prompt || "(no prompt)"}`;
  const card = {
    node, id: null, abort: null, onCancel: null, started: null,
    attach(job) {
      card.id = job.id;
      live.set(job.id, card);
      startPreviewPoll();
      node.dataset.jobId = job.id;
      if (job.status === "queued") card.queued(job.position ?? 0);
    },
    setStatus(text) { q(".job-status").textContent = text; },
    setBar(fraction) {
      const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
      q(".fill").style.width = `${pct}%`;
      q(".bar").setAttribute("aria-valuenow", String(pct));
    },
    queued(position) {
      node.dataset.state = "queued";
      card.setStatus(position === 0 ? "queued: next in line" : `queued: position ${position + 1} (${position} ahead)`);
    },
    running() { node.dataset.state = "running"; card.setStatus("starting…"); },
    step(step, total, preview) {
      if (!total) return;
      node.dataset.state = "running";
      const now = performance.now();
      if (!card.started || step < card.started.step) card.started = { step, time: now };
      let eta = "";
      const done = step - card.started.step;
      if (done > 0) {
        const seconds = ((now - card.started.time) / done) * (total - step) / 1000;
        eta = ` · ETA ${seconds < 1 ? "<1" : Math.round(seconds)} s`;
      }
      card.setBar(step / total);
      card.setStatus(`step ${step}/${total}${eta}`);
      if (preview) card.preview(preview);
    },
    preview(data) {
      const img = q(".job-preview");
      img.src = data.startsWith("data:") ? data : `data:image/png;base64,${data}`;
      img.hidden = false;
    },
    done(job) {
      const count = (job.images || []).length;
      card.finish(`done: ${count} image${count === 1 ? "" : "s"}`);
      // The preview was a latent-space sketch; the real image is in the gallery now.
      q(".job-preview").hidden = true;
      (job.images || []).forEach((path, i) => addResult({
        params: job.parameters || {}, seed: (job.seeds || [])[i], jobId: job.id, index: i, path,
        note: (job.infotexts || [])[i],
      }));
    },
    ended(job) {
      if (job.status === "cancelled") card.finish("cancelled", "cancelled");
      else card.fail(`${job.status}: ${job.error || "no reason given"}`);
    },
    finish(text, stateName = "done") {
      live.delete(card.id);
      node.dataset.state = stateName;
      if (stateName === "done") card.setBar(1);
      card.setStatus(text);
      q(".job-cancel").hidden = true;
      q(".job-preview").hidden = stateName !== "done" || q(".job-preview").hidden;
    },
    fail(message) {
      live.delete(card.id);
      node.dataset.state = "failed";
      card.setStatus(message);
      q(".job-cancel").hidden = true;
    },
  };
  q(".job-cancel").addEventListener("click", async () => {
    q(".job-cancel").disabled = true;
    if (card.onCancel) { card.onCancel(); return; }
    if (!card.id) return;
    try {
      const job = await request("DELETE", `/v1/jobs/${card.id}`);
      if (job && job.status === "cancelled") card.ended(job);
      else card.setStatus("cancelling at the next step…");
    } catch (error) {
      q(".job-cancel").disabled = false;
      report(error);
    }
  });
  return card;
}

/**
 * The SSE `step` event carries a preview only if the server adds one; until then the running job's preview
 * comes from A1111's `progress` (`current_image`, a latent-space sketch), matched to its card by job id.
 */
function startPreviewPoll() {
  if (state.previewPoll) return;
  state.previewPoll = setInterval(async () => {
    if (![...live.values()].some((c) => c.node.dataset.state === "running")) {
      if (!live.size) { clearInterval(state.previewPoll); state.previewPoll = null; }
      return;
    }
    try {
      const p = await request("GET", "/sdapi/v1/progress");
      const card = live.get(p.current_task);
      if (card && p.current_image && card.node.dataset.state === "running") card.preview(p.current_image);
    } catch { /* previews are a nicety */ }
  }, 1000);
}

// ---------- gallery ----------

function describeParams(p, seed) {
  const parts = [`${p.width ?? "?"}×${p.height ?? "?"}`, `${p.steps} steps`, `CFG ${p.cfg_scale}`];
  if (p.sampler) parts.push(p.sampler);
  if (p.schedule_type) parts.push(p.schedule_type);
  if (seed !== undefined && seed !== null) parts.push(`seed ${seed}`);
  if (p.model) parts.push(p.model);
  if (p.mode) parts.push(`${p.mode}${p.strength !== undefined ? ` @ ${p.strength}` : ""}`);
  if (p.negative_prompt) parts.push(`neg: ${p.negative_prompt}`);
  return parts.join(" · ");
}

async function addResult(result) {
  const node = $("result-template").content.firstElementChild.cloneNode(true);
  const img = node.querySelector("img");
  img.alt = result.params.prompt || "result";
  node.querySelector(".result-prompt").textContent = result.params.prompt || "(no prompt)";
  node.querySelector(".result-params").textContent = describeParams(result.params, result.seed);
  $("gallery").prepend(node);
  $("gallery-empty").hidden = true;
  if (result.seed !== undefined && result.seed !== null) { state.lastSeed = result.seed; $("seed-reuse").disabled = false; }
  node.querySelector(".result-reuse").addEventListener("click", () => {
    applyParameters(result.params, result.seed);
    $("prompt").focus();
  });
  node.querySelector(".result-edit").addEventListener("click", async () => {
    try {
      await editor.load(await resultBlob(result, "png"));
      if (mode() === "txt2img") document.querySelector('input[name="mode"][value="img2img"]').checked = true;
      applyParameters(result.params, result.seed);
      updateMode();
      $("edit-panel").scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (error) { report(error); }
  });
  for (const button of node.querySelectorAll(".dl")) {
    button.addEventListener("click", () => download(result, button.dataset.format).catch(report));
  }
  try {
    const data = await resultBlob(result, "png");
    img.src = URL.createObjectURL(data);
    node.dataset.loaded = "true";
  } catch (error) {
    node.querySelector(".result-params").textContent = error.message;
  }
}

/** A result's bytes in `format`; job results are converted by the server, edits (base64 PNG) by the canvas. */
/** A `data:` URL's bytes as a Blob, decoded here: the page's CSP (connect-src 'self') forbids fetching data: URLs. */
function dataURLBlob(url) {
  const comma = url.indexOf(",");
  const type = url.slice(5, comma).split(";")[0] || "application/octet-stream";
  const text = atob(url.slice(comma + 1));
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Blob([bytes], { type });
}

async function resultBlob(result, format) {
  if (result.jobId) {
    const ext = { png: "png", webp: "webp", jpg: "jpg" }[format];
    return blob(`/v1/jobs/${result.jobId}/image.${ext}?index=${result.index}`);
  }
  const png = dataURLBlob(result.dataURL);
  if (format === "png") return png;
  const bitmap = await createImageBitmap(png);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, format === "webp" ? "image/webp" : "image/jpeg", 0.92));
}

async function download(result, format) {
  const data = await resultBlob(result, format);
  const url = URL.createObjectURL(data);
  const a = document.createElement("a");
  const slug = (result.params.prompt || "latent").toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 40).replace(/^-|-$/g, "");
  a.href = url;
  a.download = `${slug || "latent"}-${result.seed ?? "image"}.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------- editor wiring ----------

const editor = new MaskEditor({
  imageCanvas: $("image-canvas"), maskCanvas: $("mask-canvas"), stack: $("canvas-stack"), brushInput: $("brush-size"),
});

function initEditor() {
  editor.onChange = () => {
    $("drop-hint").hidden = editor.loaded;
    $("mask-tools").hidden = mode() !== "inpaint" || !editor.loaded;
  };
  const loadFile = (file) => {
    if (!file) return;
    if (!file.type.startsWith("image/")) { showError(`“${file.name}” is not an image.`); return; }
    editor.load(file).catch((e) => showError(`Cannot open “${file.name}”: ${e.message}.`));
  };
  $("edit-file").addEventListener("change", () => loadFile($("edit-file").files[0]));
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    loadFile(e.dataTransfer.files[0]);
  });
  $("brush-size").addEventListener("input", () => { $("brush-size-value").textContent = `${$("brush-size").value} px`; });
  const tool = (eraser) => {
    editor.setEraser(eraser);
    $("tool-brush").setAttribute("aria-pressed", String(!eraser));
    $("tool-eraser").setAttribute("aria-pressed", String(eraser));
  };
  $("tool-brush").addEventListener("click", () => tool(false));
  $("tool-eraser").addEventListener("click", () => tool(true));
  $("mask-invert").addEventListener("click", () => editor.invert());
  $("mask-clear").addEventListener("click", () => editor.clear());
}

// ---------- start ----------

window.addEventListener("unhandledrejection", (event) => report(event.reason));
initKey();
initForm();
initEditor();
loadServerInfo();
// Exposed for the browser test and for debugging from the console; the page does not rely on it.
window.latent = { editor, state, describe };
