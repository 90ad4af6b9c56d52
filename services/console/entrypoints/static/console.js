// Pipewarden console: progressive enhancement. Pages work without it; with it they update live.
// One EventSource per page (server-sent events from /events): each event names a stream that changed,
// and the page asks the console (with the user's session, i.e. the API with the user's token) for the
// new version of what it shows. Latencies (event recorded -> DOM updated) are kept for the benchmark.

const body = document.body;
const page = body.dataset.page;
// latencies: event stored -> DOM updated; arrivals: event stored -> its SSE message received (ms).
window.__pw = { latencies: [], arrivals: [], cues: 0, applied: 0, resets: 0 };

// Countdowns and ages tick every second. Only what changed is written: with 2,000 rows, needless
// writes would make the browser lay the table out again and again (the queue uses table-layout: fixed).
function tick(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll(".sla[data-deadline]")) {
    if (el.dataset.done) continue;
    const deadline = Number(el.dataset.deadline), warn = Number(el.dataset.warn);
    const left = (deadline - now) / 1000;
    const level = now > deadline ? "red" : now >= warn ? "amber" : "ok";
    if (el.dataset.level !== level) {
      el.classList.remove("ok", "amber", "red");
      el.classList.add(level);
      el.dataset.level = level;
    }
    const b = el.firstElementChild;
    const text = left < 0 ? `${fmt(-left)} late` : fmt(left);
    if (b && b.textContent !== text) b.textContent = text;
  }
  for (const el of root.querySelectorAll("td.age[data-opened]")) {
    const text = fmt((now - Number(el.dataset.opened)) / 1000);
    if (el.textContent !== text) el.textContent = text;
  }
}

function fmt(s) {
  s = Math.floor(Math.abs(s));
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

function beep() {
  // Audible cue without an audio file: a short two-tone from the Web Audio API.
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    [880, 660].forEach((hz, i) => {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = hz; gain.gain.value = 0.2;
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + i * 0.25); osc.stop(ctx.currentTime + i * 0.25 + 0.2);
    });
    return true;
  } catch (e) { return false; }
}

function cue(row) {
  const box = document.getElementById("cue");
  const seg = row.querySelector("td:nth-child(2)").textContent;
  box.textContent = `New grade 1 leak: ${seg} (${row.dataset.district})`;
  box.hidden = false;
  window.__pw.cues += 1;
  body.dataset.cues = String(window.__pw.cues);
  body.dataset.audible = beep() ? "played" : "unavailable";
  setTimeout(() => { box.hidden = true; }, 15000);
}

function record(change) {
  if (change.recorded_at_unix_us) window.__pw.latencies.push(Date.now() - change.recorded_at_unix_us / 1000);
  window.__pw.applied += 1;
}

async function fetchText(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "console" } });
  return { status: r.status, text: r.status === 200 ? await r.text() : "", remove: r.headers.get("X-Remove") };
}

// Changes of one stream are applied in order; a newer change replaces a pending fetch of the same row.
const pending = new Map();
function applyQueue(change) {
  if (change.kind !== "work_order") return;
  const id = change.stream_id;
  const run = async () => {
    const table = document.getElementById("queue");
    const q = table.dataset.query;
    const res = await fetchText(`/fragment/queue/row/${encodeURIComponent(id)}${q ? "?" + q : ""}`);
    const old = document.getElementById(`row-${id}`);
    if (res.status === 200) {
      const tpl = document.createElement("template");
      tpl.innerHTML = res.text.trim();
      const row = tpl.content.firstElementChild;
      if (old) old.replaceWith(row); else {
        document.getElementById("queue-body").prepend(row);
        row.classList.add("fresh");
        if (row.dataset.grade === "1") cue(row);
      }
      const empty = document.getElementById("empty"); if (empty) empty.remove();
    } else if (old) old.remove();
    document.getElementById("count").textContent = document.getElementById("queue-body").rows.length;
    const row = document.getElementById(`row-${id}`);
    if (row) tick(row);
    record(change);
  };
  const prev = pending.get(id) || Promise.resolve();
  const next = prev.then(run, run);
  pending.set(id, next);
  next.finally(() => { if (pending.get(id) === next) pending.delete(id); });
}

async function applyOrder(change) {
  const el = document.getElementById("order-id");
  if (!el || change.stream_id !== el.dataset.id) return;
  const res = await fetchText(`/fragment/orders/${encodeURIComponent(el.dataset.id)}`);
  if (res.status === 200) {
    const tpl = document.createElement("template");
    tpl.innerHTML = res.text.trim();
    document.getElementById("order-live").replaceWith(tpl.content.firstElementChild);
    document.getElementById("changed").hidden = false;
    // The forms act on the version shown: a stale version would be refused by the API (ABORTED).
    const version = document.getElementById("order-live").dataset.version;
    for (const input of document.querySelectorAll('input[name="expected_version"]')) input.value = version;
    tick();
  }
  record(change);
}

let svgTimer = null;
function applyNetwork(change) {
  if (change.kind !== "work_order" && change.kind !== "hazard") return;
  clearTimeout(svgTimer);
  svgTimer = setTimeout(async () => {
    const res = await fetchText("/fragment/network/svg");
    if (res.status === 200) {
      document.getElementById("schematic-box").innerHTML = res.text;
      bindSegments();
    }
    record(change);
  }, 300);
}

let segmentTimer = null;
function bindSegments() {
  for (const g of document.querySelectorAll("#schematic .seg")) {
    g.addEventListener("click", () => showSegment(g.dataset.segment));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter") showSegment(g.dataset.segment); });
  }
}
async function showSegment(id) {
  for (const g of document.querySelectorAll("#schematic .seg")) g.classList.toggle("selected", g.dataset.segment === id);
  const res = await fetchText(`/fragment/network/segments/${encodeURIComponent(id)}`);
  document.getElementById("segment-panel").innerHTML = res.status === 200 ? res.text : `<p class="error">${res.status}</p>`;
  clearTimeout(segmentTimer);
  segmentTimer = setTimeout(() => showSegment(id), 5000); // live status while the panel is open
}

function connect() {
  if (!["queue", "order", "network"].includes(page)) return;
  const after = body.dataset.position;
  const es = new EventSource(after ? `/events?after=${after}` : "/events");
  const live = document.getElementById("live");
  es.onopen = () => { live && live.classList.add("on"); body.dataset.live = "on"; };
  es.onerror = () => { live && live.classList.remove("on"); body.dataset.live = "off"; };
  es.addEventListener("reset", () => { window.__pw.resets += 1; es.close(); location.reload(); });
  es.addEventListener("change", (e) => {
    const change = JSON.parse(e.data);
    if (change.recorded_at_unix_us) window.__pw.arrivals.push(Date.now() - change.recorded_at_unix_us / 1000);
    if (page === "queue") applyQueue(change);
    else if (page === "order") applyOrder(change);
    else if (page === "network") applyNetwork(change);
  });
}

window.__pw.tick = tick;
if (page === "network") bindSegments();
setInterval(tick, 1000);
tick();
connect();
