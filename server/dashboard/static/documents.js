// Documents: upload a file (its bytes go to the server, which reads, cuts and stores it as `python -m server
// ingest` does), list what was ingested with its piece count, delete a document with all its pieces.
import { ago, plural } from "./words.js";

const $ = (id) => document.getElementById(id);
let api, say, refreshAll;

export function connectDocuments(page) {
  ({ api, say, refreshAll } = page);
  $("upload").addEventListener("submit", upload);
  $("tab-data").addEventListener("click", loadDocuments);
}

export async function loadDocuments() {
  try {
    const { documents } = await api("/api/documents");
    const list = $("documents-list");
    list.replaceChildren(...documents.map(row));
    $("documents-empty").hidden = documents.length > 0;
  } catch (error) { say($("documents-status"), error.message, true); }
}

function row(doc) {
  const item = document.createElement("li");
  const name = document.createElement("strong");
  name.textContent = doc.name;
  const about = document.createElement("span");
  about.className = "hint";
  about.textContent = ` ${plural(doc.pieces, "piece", "pieces")}, added ${ago(new Date(doc.ingested))} · ${doc.hash.slice(0, 12)}`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${doc.name} (${plural(doc.pieces, "piece", "pieces")})`);
  remove.addEventListener("click", () => removeDocument(doc));
  item.append(name, about, " ", remove);
  return item;
}

async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  const tags = encodeURIComponent($("upload-tags").value);
  say($("documents-status"), `Reading ${file.name}…`);
  try {
    const done = await api(`/api/documents?name=${encodeURIComponent(file.name)}&tags=${tags}`,
                           { method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } });
    const verb = { added: "Added", replaced: "Replaced", unchanged: "Already here, unchanged:" }[done.status] || done.status;
    say($("documents-status"), `${verb} ${done.name}: ${plural(done.pieces, "piece", "pieces")}.${done.reason ? " " + done.reason : ""}`);
    $("upload").reset();
    await loadDocuments();
    await refreshAll();
  } catch (error) { say($("documents-status"), error.message, true); }
}

async function removeDocument(doc) {
  if (!window.confirm(`Delete ${doc.name} and its ${plural(doc.pieces, "piece", "pieces")}?`)) return;
  try {
    await api(`/api/documents/${encodeURIComponent(doc.hash)}`, { method: "DELETE" });
    say($("documents-status"), `Deleted ${doc.name}.`);
    await loadDocuments();
    await refreshAll();
  } catch (error) { say($("documents-status"), error.message, true); }
}
