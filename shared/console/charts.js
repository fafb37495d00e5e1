// Small bar charts as inline SVG, with no library: each bar has a <title> (its figure, shown
// on hover and read by screen readers) and the chart a text summary. Colours come from
// console.css classes (the Content-Security-Policy allows no style attributes).

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const WIDTH = 560;
const HEIGHT = 150;
const PAD = { left: 40, right: 8, top: 10, bottom: 22 };

/** A round upper bound for the axis: 1, 2 or 5 times a power of ten. */
function niceMax(max) {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= max);
}

/**
 * A bar chart. `bars`: [{ label, tip, parts: [{ value, kind }] }] (parts stack; kind is a CSS
 * class: written, unchanged, failed, accepted, duplicate, rejected, duration). `legend`:
 * [[kind, words]]. `summary`: what the chart shows, in words (also its accessible name).
 * `format` writes an axis figure.
 */
export function barChart({ id, title, summary, bars, legend = [], format = String, every = 1 }) {
  const total = (b) => b.parts.reduce((n, p) => n + p.value, 0);
  const top = niceMax(Math.max(0, ...bars.map(total)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, bars.length);
  const barW = Math.max(2, Math.min(36, slot * 0.7));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const grid = [0, top / 2, top].map((v) => s('g', {},
    s('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: 'grid' }),
    s('text', { x: PAD.left - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, format(v))));
  const columns = bars.map((b, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    let base = 0;
    const rects = b.parts.filter((p) => p.value > 0).map((p) => {
      const r = s('rect', { x, y: y(base + p.value), width: barW, height: Math.max(0, y(base) - y(base + p.value)), class: `bar ${p.kind}` });
      base += p.value;
      return r;
    });
    return s('g', { class: 'column' },
      s('title', {}, b.tip),
      // An invisible full-height target, so a bar of 0 still has a tooltip.
      s('rect', { x: PAD.left + i * slot, y: PAD.top, width: slot, height: plotH, class: 'hit' }),
      rects,
      i % every === 0 ? s('text', { x: x + barW / 2, y: HEIGHT - 6, 'text-anchor': 'middle', class: 'axis' }, b.label) : null);
  });
  const svg = s('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': summary, class: 'chart', preserveAspectRatio: 'none',
  }, grid, columns);
  return h('figure', { class: 'chart-box', id },
    h('figcaption', {}, title),
    svg,
    legend.length ? h('p', { class: 'legend' }, legend.map(([kind, words]) => h('span', { class: `key ${kind}` }, words))) : null,
    h('p', { class: 'sr' }, summary));
}

/**
 * Counts per hour over the last `hours` hours (oldest first) of items with `at` in unix seconds;
 * each item counts `weightOf(item)` (1 unless given).
 */
export function perHour(items, hours, nowSecs, keyOf, weightOf = () => 1) {
  const start = Math.floor(nowSecs / 3600) * 3600 - (hours - 1) * 3600;
  const buckets = Array.from({ length: hours }, (_, i) => ({ at: start + i * 3600, counts: {} }));
  for (const item of items) {
    const i = Math.floor((item.at - start) / 3600);
    if (i < 0 || i >= hours) continue;
    const k = keyOf(item);
    buckets[i].counts[k] = (buckets[i].counts[k] || 0) + weightOf(item);
  }
  return buckets;
}
