// Words and times as a person reads them: counts, "3 days ago" (the exact local time on hover), sizes, the
// fields of a report, why a result ranked. No state, no requests.

export const plural = (n, one, many) => `${n.toLocaleString()} ${n === 1 ? one : many}`;
export const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function ago(date) {
  const seconds = (date.getTime() - Date.now()) / 1000;
  const steps = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of steps) if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  return "just now";
}

export function timeElement(iso) {
  const time = document.createElement("time");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) { time.textContent = "no date"; return time; }
  time.dateTime = iso;
  time.textContent = ago(date);
  time.title = date.toLocaleString();
  return time;
}

export function bytes(n) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function describe(list, entries) {
  list.replaceChildren();
  for (const [name, value] of entries) {
    const dt = document.createElement("dt");
    dt.textContent = name.replaceAll("_", " ");
    const dd = document.createElement("dd");
    dd.textContent = shown(name, value);
    list.append(dt, dd);
  }
}

export function shown(name, value) {
  if (value === null || value === undefined) return "none";
  if (name.endsWith("_at") && typeof value === "number") return new Date(value * 1000).toLocaleString();
  if (name.endsWith("bytes") && typeof value === "number") return bytes(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length ? value.map((v) => shown("", v)).join(", ") : "none";
  if (typeof value === "object") {
    const pairs = Object.entries(value);
    return pairs.length ? pairs.map(([k, v]) => `${k} ${shown(k, v)}`).join(", ") : "none";
  }
  return String(value);
}

export function whyText(why) {
  const parts = [`meaning ${why.meaning.toFixed(2)}`];
  if (why.words_weight > 0) parts.push(`words ${why.words.toFixed(2)} (counted ${Math.round(why.words_weight * 100)}%)`);
  else parts.push("words not counted (asked in other words)");
  if (why.identifier_bonus > 0) parts.push(`identifier match +${why.identifier_bonus.toFixed(2)}`);
  if (why.matched_words.length) parts.push(`matched: ${why.matched_words.join(", ")}`);
  return parts.join("; ");
}

export const tagList = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);
