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
    time: $("time").value, page: String(page) });
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
  const fields = $("detail-fields");
  fields.replaceChildren();
  for (const [name, value] of [["hash", current.content_hash], ["created", current.created_at],
                               ["updated", current.updated_at], ["metadata", JSON.stringify(current.metadata)]]) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    fields.append(dt, dd);
  }
  $("edit-tags").value = current.tags.join(", ");
  $("edit-type").value = current.memory_type || "";
  $("edit-tags").focus();
}

async function save(event) {
  event.preventDefault();
  const tags = $("edit-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  try {
    current = await api(`/api/memories/${current.content_hash}`, { method: "PATCH",
      body: JSON.stringify({ tags, memory_type: $("edit-type").value }) });
    $("status").textContent = "Saved.";
    await search();
  } catch (error) { $("status").textContent = error.message; }
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
    $("app").hidden = false;
    $("login").hidden = true;
    await search();
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

document.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("submit", search);
  $("edit").addEventListener("submit", save);
  $("delete").addEventListener("click", remove);
  $("close").addEventListener("click", () => { $("detail").hidden = true; });
  $("prev").addEventListener("click", () => { page -= 1; search(); });
  $("next").addEventListener("click", () => { page += 1; search(); });
  $("login").addEventListener("submit", login);
  health();
});
