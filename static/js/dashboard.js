/* Dashboard: last 7 days of /api/user/dashboard as stacked SVG bar charts (one colour per model). */
'use strict';
(() => {
  const { t, h, run, quota, fillTable, cfg } = OA;
  const NS = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#4f46e5', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#14b8a6', '#f97316',
    '#64748b', '#ec4899', '#84cc16', '#06b6d4'];
  const W = 560; const H = 240; const M = { top: 12, right: 8, bottom: 30, left: 56 };

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    children.forEach((c) => el.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return el;
  }

  function lastDays(count) {
    const days = [];
    const now = Date.now();
    for (let i = count - 1; i >= 0; i -= 1) days.push(new Date(now - i * 86400000).toISOString().slice(0, 10));
    return days;
  }

  /* The smallest "nice" step (1, 2, 2.5 or 5 × 10^k) of at least ``raw``; whole numbers for counts. */
  function niceStep(raw, whole) {
    if (raw <= 0) return 1;
    const exp = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = 10 * exp;
    for (const f of [1, 2, 2.5, 5]) if (raw <= f * exp) { step = f * exp; break; }
    return whole ? Math.max(1, Math.ceil(step)) : step;
  }

  function compact(value) {
    const abs = Math.abs(value);
    if (abs >= 1e9) return (value / 1e9).toFixed(1).replace(/\.0$/, '') + 'B';
    if (abs >= 1e6) return (value / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
    if (abs >= 1e3) return (value / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
    if (abs > 0 && abs < 1) return String(Number(value.toPrecision(2)));
    return String(Math.round(value * 100) / 100);
  }

  const METRICS = {
    RequestCount: { whole: true, value: (r) => r.RequestCount, label: (v) => compact(v), full: (v) => v.toLocaleString('en-US') },
    Quota: {
      whole: !cfg.displayInCurrency,
      value: (r) => (cfg.displayInCurrency ? r.Quota / cfg.quotaPerUnit : r.Quota),
      label: (v) => (cfg.displayInCurrency ? '$' : '') + compact(v),
      full: (v) => quota(cfg.displayInCurrency ? v * cfg.quotaPerUnit : v),
    },
    Tokens: { whole: true, value: (r) => r.PromptTokens + r.CompletionTokens, label: (v) => compact(v), full: (v) => v.toLocaleString('en-US') },
  };

  function drawChart(container, rows, days, models, metric) {
    const spec = METRICS[metric];
    const stacks = days.map((day) => models.map((model) => rows
      .filter((r) => r.Day === day && r.ModelName === model)
      .reduce((sum, r) => sum + spec.value(r), 0)));
    const totals = stacks.map((s) => s.reduce((a, b) => a + b, 0));
    const step = niceStep(Math.max(0, ...totals) / 4, spec.whole);
    const top = step * 4;
    const plotW = W - M.left - M.right; const plotH = H - M.top - M.bottom;
    const band = plotW / days.length; const barW = Math.min(36, band * 0.6);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg',
      'aria-label': t('dashboard.chart_label', { total: spec.full(totals.reduce((a, b) => a + b, 0)) }) });
    for (let i = 0; i <= 4; i += 1) {
      const y = M.top + plotH - (plotH * i) / 4;
      root.append(svg('line', { x1: M.left, x2: W - M.right, y1: y, y2: y, class: 'grid-line' }));
      root.append(svg('text', { x: M.left - 6, y: y + 4, class: 'axis-label', 'text-anchor': 'end' }, spec.label(step * i)));
    }
    days.forEach((day, d) => {
      const x = M.left + band * d + (band - barW) / 2;
      let y = M.top + plotH;
      stacks[d].forEach((value, m) => {
        if (!value) return;
        const height = (value / top) * plotH;
        y -= height;
        root.append(svg('rect', { x, y, width: barW, height: Math.max(height, 1), rx: 2, fill: PALETTE[m % PALETTE.length] },
          svg('title', {}, `${day} · ${models[m]}: ${spec.full(value)}`)));
      });
      root.append(svg('text', { x: x + barW / 2, y: H - 10, class: 'axis-label', 'text-anchor': 'middle' }, day.slice(5)));
    });
    container.replaceChildren(root);
  }

  function legend(models) {
    return h('ul', { class: 'legend' }, models.map((model, i) =>
      h('li', {}, h('span', { class: 'swatch', style: `background:${PALETTE[i % PALETTE.length]}` }), model)));
  }

  async function load() {
    const result = await run('GET', '/api/user/dashboard');
    const charts = document.querySelectorAll('.chart');
    if (!result) {
      charts.forEach((c) => c.replaceChildren(h('p', { class: 'muted' }, t('common.load_failed'))));
      return;
    }
    const rows = result.data || [];
    const days = lastDays(7);
    rows.forEach((r) => { if (!days.includes(r.Day)) days.push(r.Day); });
    days.sort();
    const models = [...new Set(rows.map((r) => r.ModelName))].sort();
    charts.forEach((container) => {
      if (!rows.length) {
        container.replaceChildren(h('p', { class: 'muted empty-chart' }, t('dashboard.no_data')));
        return;
      }
      drawChart(container, rows, days.slice(-7), models, container.dataset.metric);
      container.append(legend(models));
    });
    const byModel = models.map((model) => {
      const mine = rows.filter((r) => r.ModelName === model);
      return {
        model,
        requests: mine.reduce((s, r) => s + r.RequestCount, 0),
        quota: mine.reduce((s, r) => s + r.Quota, 0),
        tokens: mine.reduce((s, r) => s + r.PromptTokens + r.CompletionTokens, 0),
      };
    }).sort((a, b) => b.quota - a.quota);
    fillTable(document.getElementById('model-table'), byModel, (r) => h('tr', {},
      h('td', {}, r.model), h('td', {}, r.requests.toLocaleString('en-US')), h('td', {}, quota(r.quota)),
      h('td', {}, r.tokens.toLocaleString('en-US'))), t('dashboard.no_data'));
  }

  load();
})();
