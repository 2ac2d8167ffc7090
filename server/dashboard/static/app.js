// The dashboard's only script: served from this server (no CDN), no inline code (the CSP forbids it).
"use strict";
const $ = (id) => document.getElementById(id);
let page = 1;
let current = null;

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, ...options });
  if (response.status === 401) { showLogin(); throw new Error("the API key is needed"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// A value as a person reads it: times (names ending in _at, epoch seconds) as local times, yes/no, lists
// and objects as "name value" pairs (names inside are kept as they are: SQLite's pragma names, for one).
function shown(name, value) {
  if (value === null || value === undefined) return "none";
  if (name.endsWith("_at") && typeof value === "number") return new Date(value * 1000).toLocaleString();
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length ? value.map((v) => shown("", v)).join(", ") : "none";
  if (typeof value === "object") {
    const pairs = Object.entries(value);
    return pairs.length ? pairs.map(([k, v]) => `${k} ${shown(k, v)}`).join(", ") : "none";
  }
  return String(value);
}

function describe(list, entries) {
  list.replaceChildren();
  for (const [name, value] of entries) {
    const dt = document.createElement("dt");
    dt.textContent = name.replaceAll("_", " ");
    const dd = document.createElement("dd");
    dd.textContent = shown(name, value);
    list.append(dt, dd);
  }
}

// The parts of a search result's score, in words: meaning, words (and how much they counted), identifiers.
function whyText(why) {
  const parts = [`meaning ${why.meaning.toFixed(2)}`];
  if (why.words_weight > 0) parts.push(`words ${why.words.toFixed(2)} (counted ${Math.round(why.words_weight * 100)}%)`);
  else parts.push("words not counted (asked in other words)");
  if (why.identifier_bonus > 0) parts.push(`identifier match +${why.identifier_bonus.toFixed(2)}`);
  if (why.matched_words.length) parts.push(`matched: ${why.matched_words.join(", ")}`);
  return parts.join("; ");
}

function showLogin() { $("login").hidden = false; $("app").hidden = true; $("key").focus(); }

function item(memory) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = memory.content.length > 200 ? memory.content.slice(0, 200) + "…" : memory.content;
  button.addEventListener("click", () => open(memory.content_hash));
  const meta = document.createElement("div");
  meta.className = "meta";
  const score = memory.score === undefined ? "" : `score ${memory.score.toFixed(3)} · `;
  meta.textContent = `${score}${memory.created_at} · ${memory.memory_type || "no type"} · `;
  if (memory.why) {  // why it ranked: on hover, and in words for screen readers
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = `why: ${whyText(memory.why)} · `;
    meta.prepend(why);
    button.title = `Ranked by ${whyText(memory.why)}`;
  }
  for (const tag of memory.tags) {
    const span = document.createElement("span");
    span.className = "tag";
    span.textContent = tag;
    meta.appendChild(span);
  }
  li.append(button, meta);
  return li;
}

async function search(event) {
  if (event) { event.preventDefault(); page = 1; }
  const params = new URLSearchParams({ q: $("q").value, mode: $("mode").value, tags: $("tags").value,
    tag_match: $("tag-match").value, type: $("type").value, time: $("time").value, page: String(page) });
  $("status").textContent = "Searching…";
  try {
    const found = await api(`/api/memories?${params}`);
    $("results").replaceChildren(...found.results.map(item));
    $("status").textContent = `${found.total} ${found.total === 1 ? "memory" : "memories"}`;
    $("page").textContent = `page ${found.page} of ${found.pages}`;
    $("prev").disabled = found.page <= 1;
    $("next").disabled = found.page >= found.pages;
  } catch (error) { $("status").textContent = error.message; }
}

async function open(hash) {
  current = await api(`/api/memories/${hash}`);
  $("detail").hidden = false;
  $("detail-content").textContent = current.content;
  describe($("detail-fields"), [["hash", current.content_hash], ["created", current.created_at],
                                 ["updated", current.updated_at], ["metadata", current.metadata]]);
  $("edit-tags").value = current.tags.join(", ");
  $("edit-type").value = current.memory_type || "";
  $("edit-metadata").value = JSON.stringify(current.metadata, null, 2);
  $("edit-error").textContent = "";
  $("edit-status").textContent = "";
  $("edit-tags").focus();
  $("detail").scrollIntoView({ block: "nearest" });
}

// The metadata as edited, as a change: only the keys edited here (added or changed, with their values;
// removed, as null: the API merges key by key, and null removes a key), so a key another client changed
// meanwhile is left alone. Null when the text is not a JSON object.
function metadataChange(text, before) {
  let after;
  try { after = JSON.parse(text.trim() || "{}"); } catch (error) { return null; }
  if (after === null || typeof after !== "object" || Array.isArray(after)) return null;
  const change = Object.create(null);  // a key named __proto__ is a key like any other here
  for (const [key, value] of Object.entries(after)) {
    if (!Object.hasOwn(before, key) || JSON.stringify(before[key]) !== JSON.stringify(value)) change[key] = value;
  }
  for (const key of Object.keys(before)) if (!Object.hasOwn(after, key)) change[key] = null;
  return change;
}

async function save(event) {
  event.preventDefault();
  const tags = $("edit-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  const metadata = metadataChange($("edit-metadata").value, current.metadata);
  $("edit-status").textContent = "";
  if (metadata === null) {
    $("edit-error").textContent = "Metadata must be a JSON object, e.g. {\"project\": \"garden\"}. Nothing was saved.";
    $("edit-metadata").focus();
    return;
  }
  $("edit-error").textContent = "";
  // Only what was edited here: a field another client changed meanwhile is left as that client set it.
  const change = { metadata };
  if (tags.join(",").toLowerCase() !== current.tags.join(",")) change.tags = tags;
  if ($("edit-type").value.trim().toLowerCase() !== (current.memory_type || "")) change.memory_type = $("edit-type").value;
  try {
    current = await api(`/api/memories/${current.content_hash}`, { method: "PATCH", body: JSON.stringify(change) });
    $("edit-tags").value = current.tags.join(", ");  // as stored now, with what others changed meanwhile
    $("edit-type").value = current.memory_type || "";
    $("edit-metadata").value = JSON.stringify(current.metadata, null, 2);
    $("edit-status").textContent = `Saved at ${new Date().toLocaleTimeString()}.`;
    await search();
  } catch (error) { $("edit-error").textContent = error.message; }
}

async function remove() {
  if (!window.confirm("Delete this memory for good?")) return;
  await api(`/api/memories/${current.content_hash}`, { method: "DELETE" });
  $("detail").hidden = true;
  $("status").textContent = "Deleted.";
  await search();
}

async function health() {
  try {
    const report = await api("/api/health");
    const engine = report.embedding ? `${report.embedding.engine} ${report.embedding.model}` : "";
    $("health").textContent = `${report.backend} · ${report.total_memories} memories · ${engine}`;
    describe($("health-fields"), Object.entries(report));
    $("app").hidden = false;
    $("login").hidden = true;
    await search();
    await pictures();
    await graphPicture();
    await syncPanel();
  } catch (error) { if (!$("login").hidden) return; $("health").textContent = error.message; }
}

async function login(event) {
  event.preventDefault();
  const response = await fetch("/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key: $("key").value }) });
  if (!response.ok) { $("login-error").textContent = "That key is not right."; return; }
  $("key").value = "";
  await health();
}

const SVG = "http://www.w3.org/2000/svg";

function bar(svg, x, y, width, height, title) {
  const rect = document.createElementNS(SVG, "rect");
  for (const [k, v] of Object.entries({ x, y, width: Math.max(width, 1), height: Math.max(height, 1) })) {
    rect.setAttribute(k, String(v));
  }
  rect.setAttribute("class", "bar");
  const tip = document.createElementNS(SVG, "title");
  tip.textContent = title;
  rect.appendChild(tip);
  svg.appendChild(rect);
}

function label(svg, x, y, text) {
  const t = document.createElementNS(SVG, "text");
  t.setAttribute("x", String(x));
  t.setAttribute("y", String(y));
  t.textContent = text;
  svg.appendChild(t);
}

async function pictures() {
  const figures = await api("/api/stats");
  const perDay = $("per-day");
  perDay.replaceChildren();
  const most = Math.max(1, ...figures.per_day.map(([, n]) => n));
  const width = 560 / figures.days;
  const today = Date.parse(new Date().toISOString().slice(0, 10));
  for (const [day, n] of figures.per_day) {
    const index = figures.days - 1 - Math.round((today - Date.parse(day)) / 86400000);  // today: the last slot
    const height = (n / most) * 100;
    bar(perDay, index * width, 110 - height, width - 1, height, `${day}: ${n}`);
  }
  label(perDay, 0, 120, `most in a day: ${most}`);
  const tags = $("top-tags");
  tags.replaceChildren();
  const height = Math.max(1, figures.top_tags.length) * 16 + 8;
  tags.setAttribute("height", String(height));
  tags.setAttribute("viewBox", `0 0 560 ${height}`);
  const top = Math.max(1, ...figures.top_tags.map(([, n]) => n));
  figures.top_tags.forEach(([tag, n], i) => {
    label(tags, 0, i * 16 + 12, tag.length > 18 ? tag.slice(0, 18) + "…" : tag);
    bar(tags, 140, i * 16 + 2, (n / top) * 400, 12, `${tag}: ${n}`);
    label(tags, 145 + (n / top) * 400, i * 16 + 12, String(n));
  });
}

// A force layout computed here, in a fixed number of steps (no library, nothing fetched from elsewhere).
function layout(nodes, edges, width, height) {
  const at = new Map(nodes.map((n, i) => [n.id, { x: width / 2 + 150 * Math.cos(i * 2.4),
                                                   y: height / 2 + 150 * Math.sin(i * 2.4) }]));
  for (let step = 0; step < 200; step += 1) {
    const cooling = 1 - step / 200;
    for (const a of nodes) {
      const p = at.get(a.id);
      for (const b of nodes) {
        if (a === b) continue;
        const q = at.get(b.id);
        const dx = p.x - q.x, dy = p.y - q.y, d2 = Math.max(dx * dx + dy * dy, 1);
        p.x += (dx / d2) * 200 * cooling;
        p.y += (dy / d2) * 200 * cooling;
      }
    }
    for (const e of edges) {
      const p = at.get(e.source), q = at.get(e.target);
      const dx = q.x - p.x, dy = q.y - p.y;
      p.x += dx * 0.05 * cooling; p.y += dy * 0.05 * cooling;
      q.x -= dx * 0.05 * cooling; q.y -= dy * 0.05 * cooling;
    }
    for (const p of at.values()) {
      p.x = Math.min(width - 10, Math.max(10, p.x));
      p.y = Math.min(height - 10, Math.max(10, p.y));
    }
  }
  return at;
}

async function graphPicture() {
  let picture;
  try { picture = await api("/api/graph"); } catch (error) { $("graph-status").textContent = error.message; return; }
  const svg = $("graph");
  svg.replaceChildren();
  svg.toggleAttribute("hidden", !picture.nodes.length);  // an SVG element has no .hidden property
  if (!picture.nodes.length) {
    $("graph-status").textContent = "No associations yet (the discover_associations tool finds them).";
    return;
  }
  const at = layout(picture.nodes, picture.edges, 560, 400);
  for (const e of picture.edges) {
    const line = document.createElementNS(SVG, "line");
    const p = at.get(e.source), q = at.get(e.target);
    for (const [k, v] of Object.entries({ x1: p.x, y1: p.y, x2: q.x, y2: q.y })) line.setAttribute(k, String(v));
    svg.appendChild(line);
  }
  for (const n of picture.nodes) {
    const circle = document.createElementNS(SVG, "circle");
    const p = at.get(n.id);
    for (const [k, v] of Object.entries({ cx: p.x, cy: p.y, r: 7, tabindex: 0 })) circle.setAttribute(k, String(v));
    circle.setAttribute("aria-label", n.text);
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = n.text;
    circle.appendChild(tip);
    circle.addEventListener("click", () => open(n.id));
    circle.addEventListener("keydown", (event) => { if (event.key === "Enter") open(n.id); });
    svg.appendChild(circle);
  }
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  $("graph-status").textContent = `${plural(picture.nodes.length, "memory", "memories")}, ` +
    `${plural(picture.edges.length, "association", "associations")}`;
}

let byTag = null;

async function previewByTag(event) {
  event.preventDefault();
  const tags = $("bytag-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  const found = await api("/api/delete-by-tag", { method: "POST", body: JSON.stringify({ tags, dry_run: true }) });
  byTag = tags;
  $("bytag-count").textContent = `${found.count} ${found.count === 1 ? "memory" : "memories"} would be deleted:`;
  $("bytag-list").replaceChildren(...found.preview.map((m) => {
    const li = document.createElement("li");
    li.textContent = m.content.length > 120 ? m.content.slice(0, 120) + "…" : m.content;
    return li;
  }));
  $("bytag-preview").hidden = false;
  $("bytag-confirm").disabled = found.count === 0;
}

async function confirmByTag() {
  if (!byTag || !window.confirm(`Delete every memory tagged ${byTag.join(", ")}?`)) return;
  const done = await api("/api/delete-by-tag", { method: "POST", body: JSON.stringify({ tags: byTag, dry_run: false }) });
  $("bytag-preview").hidden = true;
  $("keep-status").textContent = `Deleted ${done.count} ${done.count === 1 ? "memory" : "memories"}.`;
  await search();
  await pictures();
}

async function backupNow() {
  $("keep-status").textContent = "Backing up…";
  try {
    const made = await api("/api/backup", { method: "POST", body: "{}" });
    $("keep-status").textContent = `Backed up to ${made.path}`;
  } catch (error) { $("keep-status").textContent = error.message; }
}

async function syncPanel() {
  const report = await api("/api/sync");
  if (report.sync === null) return;  // not hybrid: nothing syncs
  $("sync").hidden = false;
  const { parked_operations: parked = [], ...fields } = report;
  describe($("sync-fields"), Object.entries(fields));
  $("sync-parked").replaceChildren(...parked.map((op) => {
    const li = document.createElement("li");
    li.textContent = `${op.op} of ${op.content_hash.slice(0, 12)}…: ${op.reason}`;
    return li;
  }));
}

document.addEventListener("DOMContentLoaded", () => {
  $("bytag").addEventListener("submit", previewByTag);
  $("bytag-confirm").addEventListener("click", confirmByTag);
  $("backup").addEventListener("click", backupNow);
  $("sync-retry").addEventListener("click", async () => { await api("/api/sync/retry", { method: "POST", body: "{}" }); await syncPanel(); });
  $("search").addEventListener("submit", search);
  $("edit").addEventListener("submit", save);
  $("delete").addEventListener("click", remove);
  $("close").addEventListener("click", () => { $("detail").hidden = true; });
  $("prev").addEventListener("click", () => { page -= 1; search(); });
  $("next").addEventListener("click", () => { page += 1; search(); });
  $("login").addEventListener("submit", login);
  health();
});
