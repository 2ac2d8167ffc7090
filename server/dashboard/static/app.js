// The dashboard's page: served from this server as ES modules (no CDN, no framework, no inline code: the CSP
// forbids it). words.js shows values as people read them; graph.js draws the associations.
import { ago, bytes, describe, plural, tagList, timeElement, whyText } from "./words.js";
import { connectGraph, graphPicture } from "./graph.js";
import { connectDocuments } from "./documents.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const UNDO_SECONDS = 6;
const state = { page: 1, current: null, opener: null, loadedAt: new Map(), pending: null };

// -- talking to the server --------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status, body) { super(message); this.status = status; this.body = body || {}; }
}

// Every request goes through here: a network failure marks the page disconnected (it reconnects by itself), and
// an answer that is not ok becomes an error carrying the server's own message.
async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", headers: { "Content-Type": "application/json" }, ...options });
  } catch (error) {
    disconnected();
    throw new ApiError("The server did not answer: is it still running? This page reconnects by itself.", 0);
  }
  if (response.status === 401) { showLogin(); throw new ApiError("This server needs its API key.", 401); }
  let body = {};
  try { body = await response.json(); } catch (error) { body = {}; }
  if (!response.ok) throw new ApiError(body.error || `The server answered ${response.status} ${response.statusText}`, response.status, body);
  connected();
  return body;
}

function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

// -- connection badge ------------------------------------------------------------------------------------

let poll = null;
let online = null;

function connected() {
  if (online === true) return;
  const wasDown = online === false;
  online = true;
  setBadge("connected", "Connected");
  clearInterval(poll);
  poll = setInterval(checkIn, 15000);
  if (wasDown) { if ($("app").hidden && $("login").hidden) start(); else refreshAll(); }
}

function disconnected() {
  if (online === false) return;
  online = false;
  setBadge("disconnected", "Disconnected: retrying…");
  clearInterval(poll);
  poll = setInterval(checkIn, 2000);
}

async function checkIn() {
  try { await headline(); } catch (error) { /* the badge says it */ }
}

function setBadge(kind, text) {
  const badge = $("badge");
  badge.dataset.state = kind;
  badge.textContent = text;
}

// -- the header, tabs and login --------------------------------------------------------------------------

function showLogin() { $("login").hidden = false; $("app").hidden = true; $("add").hidden = true; $("key").focus(); }

async function headline() {
  const figures = await api("/api/stats");
  const system = figures.system_memories ? ` (and ${plural(figures.system_memories, "system memory", "system memories")})` : "";
  $("health").textContent = `${plural(figures.memories, "memory", "memories")}${system}`;
  suggestions(figures);
  return figures;
}

function suggestions(figures) {
  const fill = (list, values) => list.replaceChildren(...values.map((v) => Object.assign(document.createElement("option"), { value: v })));
  fill($("tag-list"), figures.tags);
  fill($("type-list"), figures.types);
}

function selectTab(tab, focus = false) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const on = other === tab;
    other.setAttribute("aria-selected", String(on));
    other.tabIndex = on ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !on;
  }
  if (focus) tab.focus();
  loadView(tab.id);
}

// A view is drawn when first opened, and again when opened after a while (others may have changed the memories
// meanwhile); a change made in this page redraws it at once (refreshAll).
function loadView(id) {
  const fresh = Date.now() - (state.loadedAt.get(id) || 0) < 30000;
  if (fresh) return;
  state.loadedAt.set(id, Date.now());
  if (id === "tab-insights") { insights(); }
  if (id === "tab-health") { healthView(); }
}

function tabKeys(event) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const i = tabs.indexOf(event.target);
  const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  selectTab(tabs[(next + tabs.length) % tabs.length], true);
}

async function start() {
  // The list first: the counts (a pass over every memory at 100k) and the sync badge follow, without waiting.
  try {
    await api("/api/sync");  // the cheapest request: is a key needed, is the server there?
  } catch (error) {
    if (error.status !== 401) setBadge("disconnected", "Disconnected: retrying…");
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("add").hidden = false;
  await Promise.allSettled([search(), headline(), syncBadge()]);
}

async function login(event) {
  event.preventDefault();
  const response = await fetch("/login", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key: $("key").value }) });
  if (!response.ok) {
    let message = "That key is not right.";
    try {
      const body = await response.json();
      if (body.error && body.error !== "wrong key") message = body.error;  // too many tries: how long to wait
    } catch (error) { /* keep the plain message */ }
    $("login-error").textContent = message;
    return;
  }
  $("key").value = "";
  await start();
}

// After any change: the list, the counts, and every view that was opened.
async function refreshAll() {
  const jobs = [search(), headline().catch(() => {}), syncBadge()];
  if (state.loadedAt.has("tab-insights")) jobs.push(insights());
  if (state.loadedAt.has("tab-health")) jobs.push(healthView());
  await Promise.allSettled(jobs);
}

// -- memories: search, list, pages -------------------------------------------------------------------------

function filterParams() {
  const before = $("before").value;
  let beforeDay = "";
  if (before) {  // "on or before" a day: the API's before is exclusive
    const next = new Date(`${before}T00:00:00`);
    next.setDate(next.getDate() + 1);
    beforeDay = `${next.getFullYear()}-${String(next.getMonth() + 1).padStart(2, "0")}-${String(next.getDate()).padStart(2, "0")}`;
  }
  const params = { tags: $("tags").value, tag_match: $("tag-match").value, type: $("type").value, time: $("time").value,
    before: beforeDay, system: $("system").checked ? "1" : "" };
  const used = [params.tags, params.type, params.time, before, params.system].filter(Boolean).length;
  $("filter-count").textContent = used ? `(${used} on)` : "";
  return params;
}

function card(memory) {
  const li = document.createElement("li");
  li.dataset.hash = memory.content_hash;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open";
  open.textContent = memory.content.length > 280 ? memory.content.slice(0, 280) + "…" : memory.content;
  open.addEventListener("click", () => openMemory(memory.content_hash, open));
  const meta = document.createElement("div");
  meta.className = "meta";
  if (memory.score !== undefined) {
    const score = document.createElement("span");
    score.textContent = `score ${memory.score.toFixed(3)}`;
    meta.append(score);
  }
  if (memory.why) {
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = `why: ${whyText(memory.why)}`;
    meta.append(why);
    open.title = `Ranked by ${whyText(memory.why)}`;
  }
  meta.append(timeElement(memory.created_at));
  if (memory.memory_type) {
    const type = document.createElement("span");
    type.className = "type";
    type.textContent = memory.memory_type;
    meta.append(type);
  }
  const chips = document.createElement("ul");
  chips.className = "chips";
  chips.setAttribute("aria-label", "tags");
  for (const tag of memory.tags) chips.append(tagChip(tag));
  if (memory.tags.length) meta.append(chips);
  li.append(open, meta);
  return li;
}

function tagChip(tag) {
  const li = document.createElement("li");
  const chip = document.createElement("button");
  chip.type = "button";
  chip.className = "chip tag";
  chip.textContent = tag;
  chip.setAttribute("aria-label", `show memories tagged ${tag}`);
  chip.addEventListener("click", () => filterByTag(tag));
  li.append(chip);
  return li;
}

function filterByTag(tag) {
  selectTab($("tab-memories"));
  $("q").value = "";
  $("tags").value = tag;
  $("tag-match").value = "any";
  $("filters").open = true;
  state.page = 1;
  search();
}

async function search(event) {
  if (event) { event.preventDefault(); state.page = 1; }
  const params = new URLSearchParams({ q: $("q").value, mode: $("mode").value, ...filterParams(), page: String(state.page) });
  say($("status"), "Searching…");
  try {
    const found = await api(`/api/memories?${params}`);
    const shownHere = found.results.filter((m) => m.content_hash !== state.pending?.hash);
    $("results").replaceChildren(...shownHere.map(card));
    const what = $("q").value.trim() ? "found" : (found.total === 1 ? "memory" : "memories");
    say($("status"), $("q").value.trim() ? `${plural(found.total, "memory", "memories")} found` : `${found.total.toLocaleString()} ${what}`);
    if (!found.total) say($("status"), $("q").value.trim() || $("filter-count").textContent ? "Nothing matches. Try other words, or clear the filters." : "No memories yet: add one, or ask your AI client to remember something.");
    $("page").textContent = `of ${found.pages.toLocaleString()}`;
    $("page-jump").value = String(found.page);
    $("page-jump").max = String(found.pages);
    $("prev").disabled = found.page <= 1;
    $("next").disabled = found.page >= found.pages;
    $("pager").hidden = found.pages <= 1;
    markCurrent();
  } catch (error) { say($("status"), error.message, true); }
}

function clearFilters() {
  for (const id of ["tags", "type", "time", "before"]) $(id).value = "";
  $("tag-match").value = "any";
  $("mode").value = "hybrid";
  $("system").checked = false;
  state.page = 1;
  search();
}

function markCurrent() {
  for (const li of $("results").children) li.classList.toggle("current", li.dataset.hash === state.current?.content_hash);
}

// -- one memory: open, edit, delete with undo ---------------------------------------------------------------

async function openMemory(hash, opener = null) {
  state.opener = opener || state.opener;
  say($("detail-notice"), "");
  let memory;
  try {
    memory = await api(`/api/memories/${hash}`);
  } catch (error) {
    if (error.body.moved_to) { await openMemory(error.body.moved_to, opener); say($("detail-notice"), "Its text was edited: this is the memory now."); return; }
    if (error.status !== 404) { say($("status"), error.message, true); return; }
    toast("That memory is gone (deleted, perhaps by another client).", false);
    setTimeout(hideToast, 5000);
    refreshAll();
    return;
  }
  if ($("view-memories").hidden) selectTab($("tab-memories"));  // opened from the graph or a list elsewhere
  show(memory);
  $("detail").hidden = false;
  $("detail-title").focus();
}

function show(memory) {
  state.current = memory;
  $("detail-content").textContent = memory.content;
  $("edit-text").hidden = true;
  $("detail-content").hidden = false;
  const fields = $("detail-fields");
  fields.replaceChildren();
  for (const [name, iso] of [["created", memory.created_at], ["updated", memory.updated_at]]) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    const time = timeElement(iso);
    dd.append(time, ` (${time.title})`);
    fields.append(dt, dd);
  }
  const dt = document.createElement("dt");
  dt.textContent = "content hash";
  const dd = document.createElement("dd");
  dd.textContent = memory.content_hash;
  fields.append(dt, dd);
  $("edit-tags").value = memory.tags.join(", ");
  $("edit-type").value = memory.memory_type || "";
  $("edit-metadata").value = JSON.stringify(memory.metadata, null, 2);
  say($("edit-error"), "");
  say($("edit-status"), "");
  markCurrent();
}

function closeMemory() {
  $("detail").hidden = true;
  state.current = null;
  markCurrent();
  const back = state.opener && state.opener.getClientRects().length ? state.opener : $("q");
  back.focus();
  state.opener = null;
}

// The metadata as edited, as a change: only the keys edited here (added or changed, with their values; removed,
// as null: the API merges key by key), so a key another client changed meanwhile is left alone. Null when the
// text is not a JSON object.
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
  const current = state.current;
  const metadata = metadataChange($("edit-metadata").value, current.metadata);
  say($("edit-status"), "");
  if (metadata === null) {
    $("metadata-box").open = true;
    say($("edit-error"), "Metadata must be a JSON object, e.g. {\"project\": \"garden\"}. Nothing was saved.", true);
    $("edit-metadata").focus();
    return;
  }
  say($("edit-error"), "");
  const change = { metadata };  // only what was edited here: another client's changes meanwhile are kept
  const tags = tagList($("edit-tags").value);
  if (tags.join(",").toLowerCase() !== current.tags.join(",")) change.tags = tags;
  if ($("edit-type").value.trim().toLowerCase() !== (current.memory_type || "")) change.memory_type = $("edit-type").value;
  try {
    show(await api(`/api/memories/${current.content_hash}`, { method: "PATCH", body: JSON.stringify(change) }));
    say($("edit-status"), `Saved at ${new Date().toLocaleTimeString()}.`);
    await refreshAll();
  } catch (error) { say($("edit-error"), error.message, true); }
}

function editText() {
  $("edit-content").value = state.current.content;
  $("detail-content").hidden = true;
  $("edit-text").hidden = false;
  $("edit-content").focus();
}

async function saveText(event) {
  event.preventDefault();
  try {
    const memory = await api(`/api/memories/${state.current.content_hash}`, { method: "PATCH",
      body: JSON.stringify({ content: $("edit-content").value }) });
    show(memory);
    say($("edit-status"), "Saved. The new text is a new memory; it keeps the time, tags, type and associations.");
    await refreshAll();
  } catch (error) { say($("edit-error"), error.message, true); }
}

// Delete, with Undo: the memory leaves the list at once and is deleted when the undo time is up (or when the
// page is left: the request is sent then, and outlives the page).
function remove() {
  const memory = state.current;
  flushPending();
  state.pending = { hash: memory.content_hash, timer: setTimeout(flushPending, UNDO_SECONDS * 1000) };
  $("detail").hidden = true;
  state.current = null;
  document.querySelector(`#results li[data-hash="${memory.content_hash}"]`)?.remove();
  toast(`Memory deleted.`, true);
  $("undo").focus();
}

async function flushPending(keepalive = false) {
  const pending = state.pending;
  if (!pending) return;
  clearTimeout(pending.timer);
  state.pending = null;
  hideToast();
  try {
    await api(`/api/memories/${pending.hash}`, { method: "DELETE", keepalive });
    await refreshAll();
  } catch (error) {
    if (error.status === 404) { await refreshAll(); return; }  // deleted by another client meanwhile
    say($("status"), `The delete failed: ${error.message}`, true);
    await search();
  }
}

function undo() {
  const pending = state.pending;
  if (!pending) return;
  clearTimeout(pending.timer);
  state.pending = null;
  toast("Delete undone.", false);
  setTimeout(hideToast, 2500);
  search();
}

function toast(text, undoable) {
  $("toast-text").textContent = text;
  $("undo").hidden = !undoable;
  $("toast").hidden = false;
}

function hideToast() { $("toast").hidden = true; }

// -- add a memory -------------------------------------------------------------------------------------------

function openAdd() {
  say($("add-error"), "");
  $("add-dialog").showModal();
  $("add-content").focus();
}

async function addMemory(event) {
  event.preventDefault();
  try {
    const memory = await api("/api/memories", { method: "POST", body: JSON.stringify({
      content: $("add-content").value, tags: tagList($("add-tags").value), memory_type: $("add-type").value.trim() || null }) });
    $("add-dialog").close();
    $("add-form").reset();
    toast(memory.created ? "Memory saved." : "You already had this memory: nothing new was saved.", false);
    setTimeout(hideToast, 3000);
    await refreshAll();
    await openMemory(memory.content_hash, $("add"));
  } catch (error) { say($("add-error"), error.message, true); }
}

// -- insights: charts and the graph ------------------------------------------------------------------------

function bar(svg, x, y, width, height, title) {
  const rect = document.createElementNS(SVG, "rect");
  for (const [k, v] of Object.entries({ x, y, width: Math.max(width, 1), height: Math.max(height, 1) })) rect.setAttribute(k, String(v));
  rect.setAttribute("class", "bar");
  const tip = document.createElementNS(SVG, "title");
  tip.textContent = title;
  rect.append(tip);
  svg.append(rect);
}

function label(svg, x, y, text, anchor = "start") {
  const t = document.createElementNS(SVG, "text");
  t.setAttribute("x", String(x));
  t.setAttribute("y", String(y));
  t.setAttribute("text-anchor", anchor);
  t.textContent = text;
  svg.append(t);
}

async function insights() {
  let figures;
  try { figures = await headline(); } catch (error) { say($("insight-summary"), error.message, true); return; }
  const busiest = figures.per_day.reduce((best, d) => (d[1] > best[1] ? d : best), ["", 0]);
  $("insight-summary").textContent = `${plural(figures.memories, "memory", "memories")}; ` +
    `${plural(figures.per_day.reduce((n, d) => n + d[1], 0), "memory", "memories")} stored in the last ${figures.days} days` +
    (busiest[1] ? `, most on ${new Date(busiest[0] + "T12:00:00").toLocaleDateString()} (${busiest[1]})` : "") + ".";
  const perDay = $("per-day");
  perDay.replaceChildren();
  const most = Math.max(1, ...figures.per_day.map(([, n]) => n));
  const width = 560 / figures.days;
  const today = Date.parse(new Date().toISOString().slice(0, 10));
  for (const [day, n] of figures.per_day) {
    const index = figures.days - 1 - Math.round((today - Date.parse(day)) / 86400000);  // today: the last slot
    const height = (n / most) * 105;
    bar(perDay, index * width, 112 - height, width - 1, height, `${day}: ${n}`);
  }
  label(perDay, 0, 126, `${figures.days} days ago`);
  label(perDay, 560, 126, `today · most in a day: ${most}`, "end");
  const tags = $("top-tags");
  tags.replaceChildren();
  const rows = figures.top_tags;
  const height = Math.max(1, rows.length) * 18 + 6;
  tags.setAttribute("viewBox", `0 0 560 ${height}`);
  const top = Math.max(1, ...rows.map(([, n]) => n));
  const room = 560 - 140 - 60;  // the bar's room: the label column and the count's (never clipped)
  rows.forEach(([tag, n], i) => {
    label(tags, 0, i * 18 + 13, tag.length > 20 ? tag.slice(0, 20) + "…" : tag);
    bar(tags, 140, i * 18 + 3, (n / top) * room, 13, `${tag}: ${n}`);
    label(tags, 146 + (n / top) * room, i * 18 + 13, n.toLocaleString());
  });
  $("tag-chips").replaceChildren(...rows.map(([tag]) => tagChip(tag)));
  await graphPicture();
}

// -- health and sync, in words ---------------------------------------------------------------------------

function syncSentence(sync) {
  const parts = [];
  if (sync.queue_depth === 0 && sync.parked === 0) parts.push("Every change is in the cloud too");
  else if (sync.queue_depth) parts.push(`${plural(sync.queue_depth, "change", "changes")} waiting for the cloud`);
  if (sync.last_sync_at) parts.push(`last sent ${ago(new Date(sync.last_sync_at * 1000))}`);
  let text = parts.join(", ") + ".";
  if (sync.cloud_reachable === false) text += " The cloud cannot be reached right now: changes wait here and are sent when it is back.";
  if (sync.paused_until && sync.paused_until * 1000 > Date.now()) text += ` Cloudflare asked to wait; sending again ${ago(new Date(sync.paused_until * 1000))}.`;
  if (sync.parked) text += ` ${plural(sync.parked, "change was", "changes were")} refused by the cloud (the reason is below); fix the cause, then Sync now.`;
  return text;
}

async function syncBadge() {
  try {
    const report = await api("/api/sync");
    if (report.sync === null) return;
    if (report.parked || report.cloud_reachable === false) setBadge("waiting", report.parked ? `${report.parked} not synced` : "Cloud unreachable");
    else setBadge("connected", report.queue_depth ? `Connected · ${report.queue_depth} to sync` : "Connected · synced");
  } catch (error) { /* the badge already says disconnected */ }
}

async function healthView() {
  let report, figures;
  try {
    [report, figures] = await Promise.all([api("/api/health"), headline()]);
  } catch (error) { say($("health-summary"), error.message, true); return; }
  const local = report.backend !== "cloudflare";
  const where = local ? "Everything is saved on this computer" : "Memories are stored in your Cloudflare account";
  const engine = report.embedding?.ready ? "search is ready" : "the search model is still loading";
  $("health-summary").textContent = `${report.status === "healthy" ? "All is well." : "Something needs attention."} ${where} ` +
    `(${plural(figures.memories, "memory", "memories")}` +
    (figures.system_memories ? ` and ${plural(figures.system_memories, "system memory", "system memories")}` : "") +
    `${local ? `, ${bytes(report.database_size_bytes)}` : ""}); ${engine}.`;
  $("health-problems").replaceChildren(...report.problems.map((p) => Object.assign(document.createElement("li"), { textContent: p })));
  describe($("health-fields"), [["backend", report.backend], ["status", report.status], ["memories", report.total_memories],
    ["database size bytes", report.database_size_bytes], ["engine", report.embedding],
    ...Object.entries(report.details), ["sqlite settings", report.pragmas]]);
  await syncPanel();
}

async function syncPanel() {
  const report = await api("/api/sync");
  if (report.sync === null) { $("sync").hidden = true; return; }  // not hybrid: nothing syncs
  $("sync").hidden = false;
  $("sync-summary").textContent = syncSentence(report);
  const { parked_operations: parked = [], ...fields } = report;
  describe($("sync-fields"), Object.entries(fields));
  $("sync-parked").replaceChildren(...parked.map((op) => {
    const li = document.createElement("li");
    li.textContent = `${op.op === "delete" ? "A delete" : "A memory"} (${op.content_hash.slice(0, 12)}…): ${op.reason}`;
    return li;
  }));
}

async function syncNow() {
  say($("sync-result"), "Syncing…");
  try {
    const done = await api("/api/sync/retry", { method: "POST", body: "{}" });
    const sent = done.sent_new + done.sent_updates + done.sent_deletes;
    const pulled = done.pulled_new + done.pulled_updates + done.applied_deletes;
    say($("sync-result"), `Done: ${plural(sent, "change", "changes")} sent, ${plural(pulled, "change", "changes")} received` +
      (done.parked ? `, ${plural(done.parked, "change", "changes")} still refused.` : "."));
  } catch (error) { say($("sync-result"), error.message, true); }
  await syncPanel().catch(() => {});
  await syncBadge();
}

// -- keep and clean ---------------------------------------------------------------------------------------

let byTag = null;

async function previewByTag(event) {
  event.preventDefault();
  const tags = tagList($("bytag-tags").value);
  try {
    const found = await api("/api/delete-by-tag", { method: "POST", body: JSON.stringify({ tags, dry_run: true }) });
    byTag = tags;
    $("bytag-count").textContent = `${plural(found.count, "memory", "memories")} would be deleted:`;
    $("bytag-list").replaceChildren(...found.preview.map((m) => Object.assign(document.createElement("li"),
      { textContent: m.content.length > 120 ? m.content.slice(0, 120) + "…" : m.content })));
    $("bytag-preview").hidden = false;
    $("bytag-confirm").disabled = found.count === 0;
    say($("keep-status"), "");
  } catch (error) { say($("keep-status"), error.message, true); }
}

async function confirmByTag() {
  if (!byTag || !window.confirm(`Delete every memory tagged ${byTag.join(", ")}?`)) return;
  try {
    const done = await api("/api/delete-by-tag", { method: "POST", body: JSON.stringify({ tags: byTag, dry_run: false }) });
    $("bytag-preview").hidden = true;
    say($("keep-status"), `Deleted ${plural(done.count, "memory", "memories")}.`);
    await refreshAll();
  } catch (error) { say($("keep-status"), error.message, true); }
}

async function backupNow() {
  say($("keep-status"), "Backing up…");
  try {
    const made = await api("/api/backup", { method: "POST", body: "{}" });
    say($("keep-status"), `Backed up to ${made.path}`);
  } catch (error) { say($("keep-status"), error.message, true); }
}

// -- keyboard ---------------------------------------------------------------------------------------------

function keys(event) {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (event.key === "/" && !typing && !$("add-dialog").open) {
    event.preventDefault();
    selectTab($("tab-memories"));
    $("q").focus();
    $("q").select();
  }
  if (event.key === "Escape" && !$("detail").hidden && !$("add-dialog").open) { event.preventDefault(); closeMemory(); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", login);
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", tabKeys);
  }
  $("search").addEventListener("submit", search);
  for (const id of ["mode", "tag-match", "system", "before"]) $(id).addEventListener("change", () => search(new Event("submit")));
  $("clear").addEventListener("click", clearFilters);
  $("prev").addEventListener("click", () => { state.page -= 1; search(); });
  $("next").addEventListener("click", () => { state.page += 1; search(); });
  $("page-jump").addEventListener("change", () => { state.page = Math.max(1, Number($("page-jump").value) || 1); search(); });
  $("edit").addEventListener("submit", save);
  $("edit-text-open").addEventListener("click", editText);
  $("edit-text").addEventListener("submit", saveText);
  $("cancel-text").addEventListener("click", () => show(state.current));
  $("delete").addEventListener("click", remove);
  $("undo").addEventListener("click", undo);
  $("close").addEventListener("click", closeMemory);
  $("add").addEventListener("click", openAdd);
  $("add-form").addEventListener("submit", addMemory);
  $("add-cancel").addEventListener("click", () => $("add-dialog").close());
  $("add-dialog").addEventListener("close", () => $("add").focus());
  connectGraph({ api, say, openMemory });
  connectDocuments({ api, say, refreshAll });
  $("sync-retry").addEventListener("click", syncNow);
  $("bytag").addEventListener("submit", previewByTag);
  $("bytag-confirm").addEventListener("click", confirmByTag);
  $("backup").addEventListener("click", backupNow);
  document.addEventListener("keydown", keys);
  window.addEventListener("pagehide", () => flushPending(true));
  start();
});
