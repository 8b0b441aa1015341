// Charts drawn here, with no library: a stacked bar per month (the licence panel's 12 months by
// family, the spend report's period by family, product, month or customer).
import { brl, h } from "./core.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#0b5394", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4d7c0f", "#be185d", "#334155"];
export const MONTH_NAMES = ["jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"];
export const monthLabel = (month) => { const [y, m] = month.split("-"); return `${MONTH_NAMES[Number(m) - 1]}/${y}`; };
export const brlShort = (cents) => (cents / 100).toLocaleString("pt-BR", { style: "currency", currency: "BRL", maximumFractionDigits: 0 });

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) if (value != null) el.setAttribute(key, value);
  for (const child of children) if (child) el.append(child);
  return el;
}

// Where the chart scrolls (a phone), it opens on the latest months, and stays there when resized.
function scrolledToLatest(box) {
  if (window.ResizeObserver) new ResizeObserver(() => { box.scrollLeft = box.scrollWidth; }).observe(box);
  return box;
}

// `months`: [{month, groups: [{key, label, amount_cents}], credits_cents, total_cents}], oldest first;
// `series`: [{key, label}], the groups in legend order (their colours). `id`: a prefix for the ids.
// Returns [the scrollable chart, its legend, the same numbers as a table for screen readers].
export function stackedBars({ id, months, series, title, caption, label = "Gráfico de gastos por mês" }) {
  const keys = series.map((s) => s.key);
  const color = (key) => PALETTE[keys.indexOf(key) % PALETTE.length];
  const width = Math.max(720, 70 + months.length * 40), height = 260, left = 70, bottom = 30, top = 10;
  const stacked = (m) => m.groups.reduce((sum, g) => sum + Math.max(0, g.amount_cents), 0);
  const highest = Math.max(1, ...months.map(stacked));
  const slot = (width - left) / months.length;
  const scale = (cents) => (cents / highest) * (height - top - bottom);
  const titleEl = svg("title", { id: `${id}-svg-titulo` });
  titleEl.textContent = `${title}, de ${monthLabel(months[0].month)} a ${monthLabel(months.at(-1).month)}`;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-svg-titulo`,
                             class: "grafico-gastos", preserveAspectRatio: "xMidYMid meet" }, titleEl);
  for (const fraction of [0, 0.5, 1]) {
    const y = height - bottom - fraction * (height - top - bottom);
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "grade-linha" }));
    const label = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "eixo" });
    label.textContent = brlShort(highest * fraction);
    chart.append(label);
  }
  const manyYears = new Set(months.map((m) => m.month.slice(0, 4))).size > 1 && months.length > 12;
  months.forEach((month, index) => {
    const x = left + index * slot + slot * 0.15;
    const bar = svg("g", { class: "barra", "data-mes": month.month });
    const barTitle = svg("title");
    barTitle.textContent = `${monthLabel(month.month)}: ${brl(month.total_cents)}` +
      month.groups.map((g) => `; ${g.label} ${brl(g.amount_cents)}`).join("");
    bar.append(barTitle);
    let y = height - bottom;
    for (const g of month.groups) {
      const size = scale(Math.max(0, g.amount_cents));
      y -= size;
      bar.append(svg("rect", { x, y, width: slot * 0.7, height: Math.max(0, size), fill: color(g.key) }));
    }
    chart.append(bar);
    const label = svg("text", { x: x + slot * 0.35, y: height - 10, "text-anchor": "middle", class: "eixo" });
    const name = MONTH_NAMES[Number(month.month.split("-")[1]) - 1];
    label.textContent = manyYears ? `${name}/${month.month.slice(2, 4)}` : name;
    chart.append(label);
  });
  const legend = h("ul", { class: "legenda" }, series.map((s) => {
    const swatch = h("span", { class: "amostra", "aria-hidden": "true" });
    swatch.style.background = color(s.key);
    return h("li", {}, swatch, s.label);
  }));
  const alternative = h("table", { class: "visualmente-oculto" },
    h("caption", { text: caption }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Mês" }),
      series.map((s) => h("th", { scope: "col", text: s.label })), h("th", { scope: "col", text: "Créditos" }),
      h("th", { scope: "col", text: "Total" }))),
    h("tbody", {}, months.map((m) => h("tr", {}, h("th", { scope: "row", text: monthLabel(m.month) }),
      series.map((s) => { const found = m.groups.find((g) => g.key === s.key); return h("td", { text: brl(found ? found.amount_cents : 0) }); }),
      h("td", { text: brl(m.credits_cents) }), h("td", { text: brl(m.total_cents) })))));
  // On a phone the chart keeps a readable size and scrolls sideways (focusable, so keyboards can too).
  const box = scrolledToLatest(h("div", { class: "grafico", tabindex: "0", role: "group", "aria-label": label }, chart));
  // A table is as wide as its columns whatever its CSS width: a clipping box keeps the hidden one
  // from widening the page (at 390 px it did, and the whole page scrolled sideways).
  return [box, legend, h("div", { class: "visualmente-oculto" }, alternative)];
}
