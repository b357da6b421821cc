// Charts as inline SVG, drawn here so that nothing is fetched from outside the service.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(width, height, label) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  root.append(svg("title", {}, label));
  return root;
}

/** Horizontal bars, one per {label, value} with value in [0, max]; `format` writes the value. */
export function barChart(items, { label, max = 1, format = (v) => v.toFixed(2), color = "#0b5cad" }) {
  const rowHeight = 22, labelWidth = 270, barWidth = 250, width = labelWidth + barWidth + 50;
  const root = frame(width, rowHeight * items.length + 6, label);
  items.forEach((item, i) => {
    const y = i * rowHeight + 3;
    root.append(svg("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end" }, item.label));
    root.append(svg("rect", { x: labelWidth, y, width: barWidth, height: rowHeight - 6, fill: "#eceff3" }));
    const w = Math.max(0, Math.min(1, item.value / max)) * barWidth;
    const bar = svg("rect", { x: labelWidth, y, width: w, height: rowHeight - 6, fill: color });
    bar.append(svg("title", {}, `${item.label}: ${format(item.value)}`));
    root.append(bar);
    root.append(svg("text", { x: labelWidth + w + 5, y: y + 14 }, format(item.value)));
  });
  return root;
}

/** Vertical bars of counts per year ({year, count}), with every year in the range shown. */
export function yearChart(items, { label }) {
  if (!items.length) return document.createTextNode("No dated projects.");
  const years = items.map((d) => d.year);
  const first = Math.min(...years), last = Math.max(...years);
  const counts = new Map(items.map((d) => [d.year, d.count]));
  const n = last - first + 1, max = Math.max(...items.map((d) => d.count));
  const width = 480, height = 170, left = 30, bottom = 20, top = 8;
  const step = (width - left) / n;
  const root = frame(width, height, label);
  root.append(svg("text", { x: left - 4, y: top + 8, "text-anchor": "end" }, String(max)));
  root.append(svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#9aa4b2" }));
  for (let year = first; year <= last; year++) {
    const count = counts.get(year) || 0;
    const h = ((height - bottom - top) * count) / max;
    const x = left + (year - first) * step;
    const bar = svg("rect", { x: x + 1, y: height - bottom - h, width: Math.max(step - 2, 1), height: h, fill: "#0b5cad" });
    bar.append(svg("title", {}, `${year}: ${count} project${count === 1 ? "" : "s"}`));
    root.append(bar);
    if (n <= 12 || (year - first) % Math.ceil(n / 12) === 0) {
      root.append(svg("text", { x: x + step / 2, y: height - 5, "text-anchor": "middle" }, String(year)));
    }
  }
  return root;
}

/** A line through {x, y} points, with the point at `markX` highlighted (the current slider value). */
export function lineChart(points, { label, xLabel, yLabel, markX }) {
  const width = 520, height = 230, left = 48, right = 12, top = 22, bottom = 34;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) { y0 -= 0.01; y1 += 0.01; }
  const sx = (x) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);
  const sy = (y) => height - bottom - ((y - y0) / (y1 - y0)) * (height - top - bottom);
  const root = frame(width, height, label);
  root.append(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, stroke: "#9aa4b2" }));
  root.append(svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, stroke: "#9aa4b2" }));
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    root.append(svg("text", { x: left - 4, y: sy(y) + 4, "text-anchor": "end" }, y.toFixed(3)));
  }
  for (const x of [x0, (x0 + x1) / 2, x1]) {
    root.append(svg("text", { x: sx(x), y: height - bottom + 14, "text-anchor": "middle" }, x.toFixed(2)));
  }
  root.append(svg("text", { x: (left + width) / 2, y: height - 4, "text-anchor": "middle" }, xLabel));
  root.append(svg("text", { x: 4, y: 11 }, yLabel));
  root.append(svg("polyline", {
    points: points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" "), fill: "none", stroke: "#0b5cad", "stroke-width": 2,
  }));
  for (const p of points) {
    const dot = svg("circle", { cx: sx(p.x), cy: sy(p.y), r: 3, fill: "#0b5cad" });
    dot.append(svg("title", {}, `${xLabel} ${p.x.toFixed(2)}: ${yLabel} ${p.y.toFixed(4)}`));
    root.append(dot);
  }
  if (markX !== undefined && markX >= x0 && markX <= x1) {
    root.append(svg("line", { x1: sx(markX), y1: top, x2: sx(markX), y2: height - bottom, stroke: "#f0a500",
      "stroke-width": 2, "stroke-dasharray": "4 3" }));
    root.append(svg("text", { x: sx(markX) + 4, y: top + 10 }, "now"));
  }
  return root;
}
