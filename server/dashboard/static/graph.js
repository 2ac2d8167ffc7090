// The association graph: a layout that converges, fitted to its frame; zoom and pan; one Tab stop with the
// arrow keys inside; beside it the list of connections for assistive technology. It keeps its own state; what it
// needs of the page (requests, messages, opening a memory) comes in through connectGraph().
import { plural } from "./words.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const view = { graph: null, limit: 120 };
let api, say, openMemory;

export function connectGraph(page) {
  ({ api, say, openMemory } = page);
  $("graph").addEventListener("keydown", graphKeys);
  $("graph").addEventListener("focus", () => { if (view.graph && !view.graph.active) activate(view.graph.nodes[0].id); });
  $("graph-in").addEventListener("click", () => zoom(0.8));
  $("graph-out").addEventListener("click", () => zoom(1.25));
  $("graph-fit").addEventListener("click", () => { if (view.graph) { view.graph.box = view.graph.home.slice(); setBox(); } });
  $("graph-more").addEventListener("click", () => { view.limit += 120; graphPicture(); });
  $("graph-tag").addEventListener("change", graphPicture);
  graphDrag();
}

// A force layout that converges: repulsion between every pair, springs along edges, gravity to the centre and
// collision, with a temperature that cools to nothing; the picture is then fitted to the frame (nothing clamped
// to its edges).
function layout(nodes, edges) {
  const n = nodes.length;
  const k = 40;  // the distance nodes settle at
  const at = nodes.map((_, i) => ({ x: Math.sqrt(i + 1) * k * Math.cos(i * 2.39996), y: Math.sqrt(i + 1) * k * Math.sin(i * 2.39996) }));
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const links = edges.map((e) => [index.get(e.source), index.get(e.target)]).filter(([a, b]) => a !== undefined && b !== undefined);
  const steps = 300;
  let temperature = k * 2;
  for (let step = 0; step < steps; step += 1) {
    const move = at.map(() => ({ x: 0, y: 0 }));
    for (let a = 0; a < n; a += 1) {
      for (let b = a + 1; b < n; b += 1) {
        const dx = at[a].x - at[b].x, dy = at[a].y - at[b].y;
        const d = Math.max(Math.hypot(dx, dy), 0.01);
        let push = (k * k) / d;
        if (d < 16) push += (16 - d) * 4;  // collision: two nodes never sit on each other
        move[a].x += (dx / d) * push; move[a].y += (dy / d) * push;
        move[b].x -= (dx / d) * push; move[b].y -= (dy / d) * push;
      }
    }
    for (const [a, b] of links) {
      const dx = at[a].x - at[b].x, dy = at[a].y - at[b].y;
      const d = Math.max(Math.hypot(dx, dy), 0.01);
      const pull = k * Math.log(d / k);  // a spring of rest length k: dense groups stay open, not crushed
      move[a].x -= (dx / d) * pull; move[a].y -= (dy / d) * pull;
      move[b].x += (dx / d) * pull; move[b].y += (dy / d) * pull;
    }
    for (let i = 0; i < n; i += 1) {
      move[i].x -= at[i].x * 0.3; move[i].y -= at[i].y * 0.3;  // gravity: separate groups stay near the centre
      const length = Math.max(Math.hypot(move[i].x, move[i].y), 0.01);
      const step_ = Math.min(length, temperature);
      at[i].x += (move[i].x / length) * step_;
      at[i].y += (move[i].y / length) * step_;
    }
    temperature *= 0.985;  // cooling: the layout settles
  }
  return new Map(nodes.map((node, i) => [node.id, at[i]]));
}

function fitBox(points) {
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const extent = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys), 60);
  const margin = extent * 0.08;  // the picture fills the frame; nodes and labels are sized to it (unit)
  const w = Math.max(...xs) - Math.min(...xs) + 2 * margin, h = Math.max(...ys) - Math.min(...ys) + 2 * margin;
  const minX = (Math.max(...xs) + Math.min(...xs)) / 2 - w / 2, minY = (Math.max(...ys) + Math.min(...ys)) / 2 - h / 2;
  // The frame's shape (7:5), centred on the picture.
  if (w / h > 7 / 5) { const nh = (w * 5) / 7; return [minX, minY - (nh - h) / 2, w, nh]; }
  const nw = (h * 7) / 5;
  return [minX - (nw - w) / 2, minY, nw, h];
}

export async function graphPicture() {
  let picture;
  try { picture = await api(`/api/graph?limit=${view.limit}`); } catch (error) { say($("graph-status"), error.message, true); return; }
  const tag = $("graph-tag").value.trim().toLowerCase();
  let nodes = picture.nodes;
  let edges = picture.edges;
  if (tag) {
    const keep = new Set(nodes.filter((node) => node.tags.includes(tag)).map((node) => node.id));
    edges = edges.filter((e) => keep.has(e.source) || keep.has(e.target));
    const touched = new Set(edges.flatMap((e) => [e.source, e.target]));
    nodes = nodes.filter((node) => keep.has(node.id) || touched.has(node.id));
  }
  const svg = $("graph");
  svg.replaceChildren();
  $("graph-more").hidden = picture.edges.length < view.limit;
  document.querySelector(".graph-area").hidden = !nodes.length;
  if (!nodes.length) {
    say($("graph-status"), tag ? `No associations of memories tagged ${tag}.` : "No associations yet: the discover_associations tool finds them.");
    $("graph-list").replaceChildren();
    view.graph = null;
    return;
  }
  const at = layout(nodes, edges);
  view.graph = { nodes, edges, at, active: null, box: fitBox([...at.values()]), home: null };
  view.graph.home = view.graph.box.slice();
  const unit = view.graph.box[2] / 560;  // one pixel of a 560-wide frame, in the layout's units
  view.graph.unit = unit;
  setBox();
  const text = new Map(nodes.map((node) => [node.id, node.text]));
  for (const e of edges) {
    const line = document.createElementNS(SVG, "line");
    const p = at.get(e.source), q = at.get(e.target);
    for (const [k, v] of Object.entries({ x1: p.x, y1: p.y, x2: q.x, y2: q.y, "stroke-width": unit })) line.setAttribute(k, String(v));
    svg.append(line);
  }
  for (const node of nodes) {
    const circle = document.createElementNS(SVG, "circle");
    const p = at.get(node.id);
    for (const [k, v] of Object.entries({ cx: p.x, cy: p.y, r: 7 * unit, "stroke-width": 1.5 * unit })) circle.setAttribute(k, String(v));
    circle.dataset.id = node.id;
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = node.text;
    circle.append(tip);
    circle.addEventListener("click", () => openMemory(node.id, svg));
    circle.addEventListener("mouseenter", () => activate(node.id, false));
    svg.append(circle);
  }
  const name = document.createElementNS(SVG, "text");
  name.setAttribute("class", "label");
  name.setAttribute("font-size", String(12 * unit));
  name.setAttribute("stroke-width", String(3 * unit));
  name.id = "graph-label";
  svg.append(name);
  $("graph-list").replaceChildren(...edges.map((e) => {
    const li = document.createElement("li");
    const end = (id) => {
      const button = document.createElement("button");
      button.type = "button";
      const words = text.get(id) || id.slice(0, 12);
      button.textContent = words.length > 34 ? words.slice(0, 34) + "…" : words;
      button.title = words;
      button.addEventListener("click", () => openMemory(id, button));
      return button;
    };
    const similarity = Object.assign(document.createElement("span"), { className: "hint", textContent: ` similarity ${e.similarity.toFixed(2)}` });
    li.append(end(e.source), " ↔ ", end(e.target), similarity);
    return li;
  }));
  say($("graph-status"), `${plural(nodes.length, "memory", "memories")}, ${plural(edges.length, "association", "associations")}` +
    (picture.edges.length >= view.limit ? ` (the strongest ${view.limit}; Show more adds more)` : ""));
}

function setBox() {
  $("graph").setAttribute("viewBox", view.graph.box.map((v) => v.toFixed(1)).join(" "));
}

function zoom(factor, cx, cy) {
  if (!view.graph) return;
  const [x, y, w, h] = view.graph.box;
  const px = cx ?? x + w / 2, py = cy ?? y + h / 2;
  view.graph.box = [px - (px - x) * factor, py - (py - y) * factor, w * factor, h * factor];
  setBox();
}

function activate(id, announce = true) {
  const graph = view.graph;
  if (!graph) return;
  graph.active = id;
  for (const circle of $("graph").querySelectorAll("circle")) circle.classList.toggle("active", circle.dataset.id === id);
  const node = graph.nodes.find((n) => n.id === id);
  const p = graph.at.get(id);
  const name = $("graph-label");
  name.setAttribute("x", String(p.x + 10 * graph.unit));
  name.setAttribute("y", String(p.y - 10 * graph.unit));
  name.textContent = node.text.length > 50 ? node.text.slice(0, 50) + "…" : node.text;
  const degree = graph.edges.filter((e) => e.source === id || e.target === id).length;
  if (announce) $("graph-focus").textContent = `${node.text} (${plural(degree, "connection", "connections")}). Enter opens it.`;
}

// One Tab stop for the whole graph: arrow keys move to the nearest memory that way, Enter opens it, + and - zoom.
function graphKeys(event) {
  const graph = view.graph;
  if (!graph) return;
  const directions = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowDown: [0, 1], ArrowUp: [0, -1] };
  if (event.key === "Enter" && graph.active) { event.preventDefault(); openMemory(graph.active, $("graph")); return; }
  if (event.key === "+" || event.key === "=") { zoom(0.8); return; }
  if (event.key === "-") { zoom(1.25); return; }
  const way = directions[event.key];
  if (!way) return;
  event.preventDefault();
  if (!graph.active) { activate(graph.nodes[0].id); return; }
  const from = graph.at.get(graph.active);
  let best = null, bestScore = Infinity;
  for (const node of graph.nodes) {
    if (node.id === graph.active) continue;
    const p = graph.at.get(node.id);
    const dx = p.x - from.x, dy = p.y - from.y;
    const along = dx * way[0] + dy * way[1];
    if (along <= 0) continue;
    const score = Math.hypot(dx, dy) + 2 * Math.abs(dx * way[1] - dy * way[0]);
    if (score < bestScore) { best = node.id; bestScore = score; }
  }
  if (best) activate(best);
}

function graphDrag() {
  const svg = $("graph");
  let from = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.tagName === "circle" || !view.graph) return;
    from = { x: event.clientX, y: event.clientY, box: view.graph.box.slice() };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!from) return;
    const scale = from.box[2] / svg.getBoundingClientRect().width;
    view.graph.box = [from.box[0] - (event.clientX - from.x) * scale, from.box[1] - (event.clientY - from.y) * scale, from.box[2], from.box[3]];
    setBox();
  });
  svg.addEventListener("pointerup", () => { from = null; });
  svg.addEventListener("wheel", (event) => {
    if (!view.graph) return;
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    const [x, y, w, h] = view.graph.box;
    zoom(event.deltaY > 0 ? 1.15 : 0.87, x + ((event.clientX - rect.left) / rect.width) * w, y + ((event.clientY - rect.top) / rect.height) * h);
  }, { passive: false });
}
