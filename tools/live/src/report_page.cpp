// report_page.cpp: the report's stylesheet and drawing script (see
// report_page.hpp). Plain ES2017 and SVG, no library: the page must work
// offline, from a file:// URL, in any current browser and in headless
// Chromium (tests/tools/live/report_render_test.cpp).
#include "report_page.hpp"

namespace berth::live::report_page {

const std::string_view stylesheet = R"css(
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); background: #f3f4f6; }
header { background: #111827; color: #f9fafb; padding: 14px 28px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header .command { margin: 4px 0 0; }
header code { color: #d1d5db; font-size: 13px; word-break: break-all; }
main { padding: 14px 24px 28px; max-width: 1500px; margin: 0 auto; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 2px 16px 12px;
          margin-bottom: 14px; }
h2 { font-size: 15px; margin: 10px 0 8px; }
dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr);
        gap: 3px 16px; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px;
           overflow-wrap: anywhere; }
table.summary { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 13px; }
table.summary th, table.summary td { padding: 3px 8px; text-align: right; border-bottom: 1px solid var(--line); }
table.summary tbody th, table.summary thead th:nth-child(-n+2) { text-align: left; font-weight: 500; }
table.summary td.num { text-align: left; color: var(--muted); width: 2em; }
table.summary thead th { color: var(--muted); font-weight: 600; font-size: 12px; }
table.summary tr.total th, table.summary tr.total td { font-weight: 600; border-top: 2px solid #d1d5db; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 12px; }
figure.chart.wide { grid-column: 1 / -1; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px 6px; background: #fff; }
figcaption { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 2px 12px; }
figcaption h3 { margin: 0; font-size: 14px; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 12px; font-size: 12px; color: #374151; }
.legend .sw { display: inline-block; width: 16px; height: 0; margin-right: 5px; vertical-align: middle;
              border-top: 3px solid; }
.legend .sw.area { height: 10px; border: 1px solid; border-radius: 2px; }
.legend .sw.dashed { border-top-style: dashed; border-top-width: 2px; }
svg.plot { display: block; width: 100%; height: 250px; margin-top: 4px; }
svg.plot text { font-size: 11px; fill: #4b5563; }
svg.plot text.axis-label { fill: #374151; font-size: 11.5px; }
svg.plot text.phase { fill: #6b7280; font-size: 10px; }
svg.plot text.empty { fill: #9ca3af; font-size: 13px; }
.note { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
#tooltip { position: fixed; pointer-events: none; background: rgba(17, 24, 39, .92); color: #f9fafb;
           font-size: 12px; line-height: 1.4; padding: 6px 9px; border-radius: 4px; z-index: 10; white-space: nowrap; }
#tooltip b { font-weight: 600; }
)css";

const std::string_view script = R"js(
(function () {
  'use strict';
  const NS = 'http://www.w3.org/2000/svg';
  const data = JSON.parse(document.getElementById('berth-data').textContent);
  const n = data.t.length;
  const H = 250, M = { left: 64, right: 14, top: 18, bottom: 40 };
  const colors = {
    leased: '#2563eb', idle: '#16a34a', total: '#6b7280', connecting: '#f59e0b', max: '#111827',
    p50: '#2563eb', p99: '#f59e0b', lmax: '#dc2626', ops: '#7c3aed', timeouts: '#dc2626',
    pools: ['#2563eb', '#db2777', '#0d9488', '#ea580c', '#7c3aed', '#65a30d']
  };

  function el(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function trim(s) { return s.indexOf('.') >= 0 ? s.replace(/\.?0+$/, '') : s; }
  function fmtSI(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return trim((v / 1e9).toFixed(2)) + 'G';
    if (a >= 1e6) return trim((v / 1e6).toFixed(2)) + 'M';
    if (a >= 1e3) return trim((v / 1e3).toFixed(2)) + 'k';
    if (a >= 10 || a === 0) return String(Math.round(v));
    return trim(v.toFixed(2));
  }
  function fmtNs(v) {
    if (v < 1e3) return trim(v.toFixed(0)) + ' ns';
    if (v < 1e6) return trim((v / 1e3).toPrecision(3)) + ' \u00b5s';
    if (v < 1e9) return trim((v / 1e6).toPrecision(3)) + ' ms';
    return trim((v / 1e9).toPrecision(3)) + ' s';
  }
  function fmtInt(v) { return String(Math.round(v)); }

  function niceStep(span, count, integer) {
    const raw = span / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
    if (integer) step = Math.max(1, Math.round(step));
    return step;
  }
  function linearScale(max, integer) {
    if (!(max > 0)) max = 1;
    const step = niceStep(max, 5, integer);
    const top = Math.ceil(max * 1.05 / step) * step;
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
    return { lo: 0, hi: top, ticks: ticks, map: function (v) { return v / top; } };
  }
  function logScale(min, max) {
    if (!(min > 0 && isFinite(min))) min = 1;
    if (!(max > min && isFinite(max))) max = min * 10;
    const lo = Math.floor(Math.log10(min)), hi = Math.max(Math.ceil(Math.log10(max)), lo + 1);
    const ticks = [];
    for (let e = lo; e <= hi; ++e) ticks.push(Math.pow(10, e));
    return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks: ticks,
             map: function (v) { return (Math.log10(Math.max(v, ticks[0])) - lo) / (hi - lo); } };
  }

  // Runs of consecutive samples in one phase without a gap in time: lines
  // break between them (another scenario, another pool, time unwatched).
  const runs = [];
  (function () {
    const gap = Math.max(3 * data.interval_s, 0.001);
    let cur = [];
    for (let i = 0; i < n; ++i) {
      if (cur.length && (data.phase[i] !== data.phase[i - 1] || data.t[i] - data.t[i - 1] > gap)) {
        runs.push(cur);
        cur = [];
      }
      cur.push(i);
    }
    if (cur.length) runs.push(cur);
  })();

  // [{t, v}] per run of `values`, at most about `budget` points in all:
  // consecutive samples are merged (mean, or max for agg 'max').
  function pointsOf(values, agg, budget) {
    const k = Math.max(1, Math.ceil(n / Math.max(budget, 1)));
    const out = [];
    for (const run of runs) {
      const pts = [];
      for (let s = 0; s < run.length; s += k) {
        let sum = 0, cnt = 0, mx = -Infinity, t = 0;
        for (let j = s; j < Math.min(s + k, run.length); ++j) {
          const v = values[run[j]];
          if (v === null || v === undefined) continue;
          sum += v; ++cnt; mx = Math.max(mx, v); t = data.t[run[j]];
        }
        pts.push(cnt ? { t: t, v: agg === 'max' ? mx : sum / cnt } : null);
      }
      out.push(pts);
    }
    return out;
  }

  const tooltip = document.getElementById('tooltip');
  function nearestSample(t) {
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (data.t[mid] < t) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(data.t[lo - 1] - t) < Math.abs(data.t[lo] - t)) --lo;
    return lo;
  }

  // spec: { y: 'linear'|'log'|'int', fmt, label, series: [{ name, values, color, style, agg }] }
  function draw(fig, spec) {
    const svg = fig.querySelector('svg');
    const W = Math.max(Math.round(svg.getBoundingClientRect().width) || 0, 320);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    const x0 = 0, x1 = Math.max(data.duration_s, n ? data.t[n - 1] : 1, 1e-3);
    const X = function (t) { return M.left + (t - x0) / (x1 - x0) * pw; };

    const series = spec.series.map(function (s) {
      return Object.assign({}, s, { runs: pointsOf(s.values, s.agg, pw * 1.5) });
    });
    let vmax = 0, vmin = Infinity, count = 0;
    for (const s of series) for (const r of s.runs) for (const p of r) {
      if (!p) continue;
      ++count;
      vmax = Math.max(vmax, p.v);
      if (p.v > 0) vmin = Math.min(vmin, p.v);
    }
    const sc = spec.y === 'log' ? logScale(vmin, vmax) : linearScale(vmax, spec.y === 'int');
    const Y = function (v) { return M.top + ph - sc.map(v) * ph; };

    // Phase bands and names.
    const bands = el('g', {}, svg);
    data.phases.forEach(function (p, i) {
      const a = X(p.start), b = Math.max(X(p.end), a + 1);
      el('rect', { x: a, y: M.top, width: b - a, height: ph, fill: i % 2 ? '#e8edfd' : '#f3f4f6' }, bands);
      // Its number (as in the summary table), and its name where it fits.
      const label = (i + 1) + (b - a > 6 * (p.name.length + 3) + 6 ? ' ' + p.name : '');
      if (b - a > 6 * String(i + 1).length + 4) {
        const t = el('text', { x: a + 2, y: M.top - 5, class: 'phase' }, bands);
        t.textContent = label;
      }
    });
    // Grid and axes.
    const grid = el('g', {}, svg);
    for (const v of sc.ticks) {
      const y = Y(v);
      el('line', { x1: M.left, x2: M.left + pw, y1: y, y2: y, stroke: '#e5e7eb' }, grid);
      const t = el('text', { x: M.left - 6, y: y + 4, 'text-anchor': 'end' }, grid);
      t.textContent = spec.fmt(v);
    }
    const xstep = niceStep(x1 - x0, Math.max(2, Math.floor(pw / 90)), false);
    const xdec = (String(+xstep.toPrecision(6)).split('.')[1] || '').length;
    for (let k = 0; k * xstep <= x1 + 1e-9; ++k) {
      const v = k * xstep, x = X(v);
      el('line', { x1: x, x2: x, y1: M.top + ph, y2: M.top + ph + 4, stroke: '#9ca3af' }, grid);
      const t = el('text', { x: x, y: M.top + ph + 16, 'text-anchor': 'middle' }, grid);
      t.textContent = v.toFixed(xdec) + ' s';
    }
    el('line', { x1: M.left, x2: M.left + pw, y1: M.top + ph, y2: M.top + ph, stroke: '#9ca3af' }, grid);
    el('line', { x1: M.left, x2: M.left, y1: M.top, y2: M.top + ph, stroke: '#9ca3af' }, grid);
    const xl = el('text', { x: M.left + pw / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, grid);
    xl.textContent = 'elapsed time (s)';
    const yl = el('text', { x: 0, y: 0, 'text-anchor': 'middle', class: 'axis-label',
                            transform: 'translate(12,' + (M.top + ph / 2) + ') rotate(-90)' }, grid);
    yl.textContent = spec.label;

    // Series.
    const legend = fig.querySelector('.legend');
    for (const s of series) {
      const g = el('g', {}, svg);
      for (const r of s.runs) {
        let d = '', start = null, prev = null;
        const flushArea = function () {
          if (s.style === 'area' && start !== null && prev !== null)
            el('path', { d: d + 'L' + X(prev.t) + ',' + Y(0) + 'L' + X(start.t) + ',' + Y(0) + 'Z',
                         fill: s.color, 'fill-opacity': 0.18, stroke: 'none' }, g);
        };
        const segs = [];
        for (const p of r) {
          if (!p) {
            if (d) { flushArea(); segs.push(d); }
            d = ''; start = null; prev = null;
            continue;
          }
          const x = X(p.t), y = Y(p.v);
          if (!d) { d = 'M' + x + ',' + y; start = p; }
          else if (s.style === 'step') d += 'H' + x + 'V' + y;
          else d += 'L' + x + ',' + y;
          prev = p;
        }
        if (d) { flushArea(); segs.push(d); }
        for (const sd of segs) {
          const attrs = { d: sd, fill: 'none', stroke: s.color, 'stroke-width': s.style === 'area' ? 1.6 : 1.5,
                          'stroke-linejoin': 'round' };
          if (s.style === 'step') Object.assign(attrs, { 'stroke-dasharray': '5 3', 'stroke-width': 1.3 });
          el('path', attrs, g);
          // A lone point has no line: mark it.
          if (!/[LHV]/.test(sd)) {
            const m = /M([-\d.e]+),([-\d.e]+)/.exec(sd);
            el('circle', { cx: m[1], cy: m[2], r: 2.2, fill: s.color }, g);
          }
        }
      }
      const item = document.createElement('span');
      const sw = document.createElement('span');
      sw.className = 'sw' + (s.style === 'area' ? ' area' : s.style === 'step' ? ' dashed' : '');
      sw.style.borderColor = s.color;
      if (s.style === 'area') sw.style.background = s.color + '2e';
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    }
    if (count === 0) {
      const t = el('text', { x: M.left + pw / 2, y: M.top + ph / 2, 'text-anchor': 'middle', class: 'empty' }, svg);
      t.textContent = 'nothing recorded';
    }

    // Hover: a cursor line and the values of the nearest sample.
    const cursor = el('line', { y1: M.top, y2: M.top + ph, stroke: '#111827', 'stroke-width': 1,
                                'stroke-dasharray': '2 2', visibility: 'hidden' }, svg);
    const hit = el('rect', { x: M.left, y: M.top, width: pw, height: ph, fill: 'transparent' }, svg);
    hit.addEventListener('mousemove', function (ev) {
      if (!n) return;
      const box = svg.getBoundingClientRect();
      const t = x0 + ((ev.clientX - box.left) * W / box.width - M.left) / pw * (x1 - x0);
      const i = nearestSample(t);
      cursor.setAttribute('x1', X(data.t[i]));
      cursor.setAttribute('x2', X(data.t[i]));
      cursor.setAttribute('visibility', 'visible');
      // Built from nodes and text: names (pools, phases) are data, never markup.
      tooltip.textContent = '';
      const text = function (t) { tooltip.appendChild(document.createTextNode(t)); };
      const head = document.createElement('b');
      head.textContent = data.t[i].toFixed(2) + ' s';
      tooltip.appendChild(head);
      text(' \u00b7 ' + (data.phase[i] + 1) + ' ' + (data.phases[data.phase[i]] || { name: '' }).name);
      for (const s of spec.series) {
        const v = s.values[i];
        tooltip.appendChild(document.createElement('br'));
        const sw = document.createElement('span');
        sw.style.color = s.color;
        sw.textContent = '\u25a0';
        tooltip.appendChild(sw);
        text(' ' + s.name + ': ' + (v === null || v === undefined ? '\u2013' : spec.fmt(v)));
      }
      tooltip.hidden = false;
      tooltip.style.left = (ev.clientX + 14) + 'px';
      tooltip.style.top = (ev.clientY + 10) + 'px';
    });
    hit.addEventListener('mouseleave', function () {
      cursor.setAttribute('visibility', 'hidden');
      tooltip.hidden = true;
    });
    return count;
  }

  function specOf(fig) {
    const kind = fig.dataset.chart;
    if (kind === 'utilisation') {
      const p = data.pool_data[fig.dataset.pool];
      const s = [
        { name: 'leased', values: p.leased, color: colors.leased, style: 'area' },
        { name: 'idle', values: p.idle, color: colors.idle },
        { name: 'open (total)', values: p.total, color: colors.total },
        { name: 'max_size', values: p.max_size, color: colors.max, style: 'step', agg: 'max' }
      ];
      if (p.connecting.some(function (v) { return v > 0; }))
        s.splice(3, 0, { name: 'connecting', values: p.connecting, color: colors.connecting });
      return { y: 'int', fmt: fmtInt, label: 'connections', series: s };
    }
    if (kind === 'waiters') {
      return { y: 'int', fmt: fmtInt, label: 'waiting acquirers', series: data.pools.map(function (name, i) {
        return { name: name, values: data.pool_data[name].waiting, color: colors.pools[i % colors.pools.length],
                 agg: 'max' };
      }) };
    }
    if (kind === 'latency') {
      return { y: 'log', fmt: fmtNs, label: 'latency (log scale)', series: [
        { name: 'p50', values: data.lat_p50, color: colors.p50 },
        { name: 'p99', values: data.lat_p99, color: colors.p99, agg: 'max' },
        { name: 'max', values: data.lat_max, color: colors.lmax, agg: 'max' }
      ] };
    }
    if (kind === 'throughput')
      return { y: 'linear', fmt: fmtSI, label: 'operations / s', series: [
        { name: 'ops/s', values: data.ops_per_s, color: colors.ops }] };
    if (kind === 'timeouts')
      return { y: 'linear', fmt: fmtSI, label: 'timeouts / s', series: [
        { name: 'timeouts/s', values: data.timeouts_per_s, color: colors.timeouts, agg: 'max' }] };
    throw new Error('unknown chart kind ' + kind);
  }

  let drawn = 0;
  document.querySelectorAll('figure.chart').forEach(function (fig) {
    try {
      const points = draw(fig, specOf(fig));
      fig.dataset.points = String(points);
      fig.dataset.drawn = 'true';
      ++drawn;
    } catch (e) {
      fig.dataset.drawn = 'false';
      fig.dataset.error = String(e && e.message || e);
    }
  });
  document.body.dataset.chartsDrawn = String(drawn);
})();
)js";

}  // namespace berth::live::report_page
