/* Shared helpers for every page: the /api client, translations, flash messages, confirmation,
   clipboard, formatting, tables and pagination. No framework, no build step. */
'use strict';

const OA = (() => {
  const cfg = JSON.parse(document.getElementById('oa-config').textContent);
  const PAGE_SIZE = 10;

  // -- translations ------------------------------------------------------------------------------
  function t(key, params) {
    let text = Object.prototype.hasOwnProperty.call(cfg.i18n, key) ? cfg.i18n[key] : key;
    if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
    return text;
  }

  const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const exactMessages = new Map();
  const patternMessages = [];
  for (const [source, target] of cfg.messages) {
    if (/\{\d+\}/.test(source)) {
      const re = new RegExp('^' + escapeRe(source).replace(/\\\{(\d+)\\\}/g, '(.*?)') + '$', 's');
      const order = [...source.matchAll(/\{(\d+)\}/g)].map((m) => Number(m[1]));
      patternMessages.push([re, order, target]);
    } else {
      exactMessages.set(source, target);
    }
  }

  /* A server message in the page's language (the API answers in One API's Chinese). */
  function msg(text) {
    if (!text) return '';
    let suffix = '';
    const rid = text.match(/^(.*?)(\s*\(request id: [^)]*\))$/s);
    if (rid) { text = rid[1]; suffix = rid[2]; }
    if (exactMessages.has(text)) return exactMessages.get(text) + suffix;
    for (const [re, order, target] of patternMessages) {
      const m = text.match(re);
      if (m) {
        const values = {};
        order.forEach((n, i) => { values[n] = m[i + 1] === text ? m[i + 1] : msg(m[i + 1]); });
        return target.replace(/\{(\d+)\}/g, (x, n) => (n in values ? values[n] : x)) + suffix;
      }
    }
    return text + suffix;
  }

  // -- DOM ---------------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'value') el.value = value;
      else if (key === 'checked') el.checked = Boolean(value);
      else el.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  // -- flash messages ----------------------------------------------------------------------------
  function flash(kind, text) {
    const region = document.getElementById('flash');
    if (!region || !text) return;
    const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': t('common.close') }, '×');
    const toast = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      h('span', { class: 'toast-text' }, text), close);
    close.addEventListener('click', () => toast.remove());
    region.append(toast);
    setTimeout(() => toast.remove(), kind === 'error' ? 10000 : 5000);
  }
  /* A message for the next page (after a redirect). */
  function flashNext(kind, text) {
    sessionStorage.setItem('oa-flash', JSON.stringify([kind, text]));
  }
  function showPendingFlash() {
    const pending = sessionStorage.getItem('oa-flash');
    if (!pending) return;
    sessionStorage.removeItem('oa-flash');
    try { flash(...JSON.parse(pending)); } catch (e) { /* ignore a damaged entry */ }
  }

  // -- confirmation ------------------------------------------------------------------------------
  function confirmAction(text, okLabel) {
    const dialog = document.getElementById('oa-confirm');
    document.getElementById('oa-confirm-text').textContent = text;
    document.getElementById('oa-confirm-ok').textContent = okLabel || t('common.confirm');
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
    });
  }

  // -- the /api client ---------------------------------------------------------------------------
  async function api(method, path, body) {
    const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (e) {
      return { success: false, message: t('error.network') };
    }
    if (response.status === 401 && cfg.user) {
      flashNext('error', t('error.session_expired'));
      location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
      return { success: false, message: t('error.session_expired') };
    }
    if (response.status === 429) return { success: false, message: t('error.rate_limited') };
    let data = null;
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (data && typeof data.success === 'boolean') return data;
    if (data && data.error) return { success: false, message: data.error.message };
    if (!response.ok) return { success: false, message: t('error.http', { status: response.status }) };
    return { success: true, message: '', data };
  }

  /* Call the API; flash a translated error, or ``okText`` on success. Returns the envelope or null. */
  async function run(method, path, body, okText) {
    const result = await api(method, path, body);
    if (!result.success) {
      flash('error', msg(result.message) || t('error.unknown'));
      return null;
    }
    if (okText) flash('success', okText);
    return result;
  }

  /* Disable a button while its action runs, so a double click does not send twice. */
  async function busy(button, action) {
    if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
    try { return await action(); } finally {
      if (button) { button.disabled = false; button.removeAttribute('aria-busy'); }
    }
  }

  // -- clipboard ---------------------------------------------------------------------------------
  async function copy(text, okText) {
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (e) {
      const area = h('textarea', { class: 'offscreen', readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      try { copied = document.execCommand('copy'); } catch (err) { copied = false; }
      area.remove();
    }
    if (copied) flash('success', okText || t('common.copied'));
    else window.prompt(t('common.copy_manually'), text);
    return copied;
  }

  // -- formatting --------------------------------------------------------------------------------
  function quota(value) {
    const n = Number(value || 0);
    if (!cfg.displayInCurrency) return Math.round(n).toLocaleString('en-US');
    const usd = n / cfg.quotaPerUnit;
    const digits = usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 2;
    return '$' + usd.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function quotaHint(value) {
    const n = Number(value || 0);
    return cfg.displayInCurrency ? t('quota.equals', { amount: quota(n) }) : '';
  }
  const pad = (n) => String(n).padStart(2, '0');
  function time(unix) {
    if (!unix || unix <= 0) return '—';
    const d = new Date(unix * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  /* Unix seconds <-> the value of an <input type="datetime-local"> (local time). */
  function toLocalInput(unix) {
    const d = new Date(unix * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function fromLocalInput(value) {
    if (!value) return 0;
    const ms = new Date(value).getTime();
    return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
  }
  function uuid() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  /* Milliseconds as "850 ms" or "1.25 s". */
  function duration(ms) {
    return ms < 1000 ? t('common.ms', { value: Math.round(ms) }) : t('channel.seconds', { value: (ms / 1000).toFixed(2) });
  }
  function badge(kind, text) { return h('span', { class: `badge badge-${kind}` }, text); }

  // -- tables and pagination ---------------------------------------------------------------------
  /* Fill a table body; each cell gets its column's heading as data-label (the phone layout shows it). */
  function fillTable(table, rows, renderRow, emptyText) {
    const tbody = table.tBodies[0];
    const labels = Array.from(table.tHead.rows[0].cells, (th) => th.textContent);
    tbody.replaceChildren();
    if (!rows.length) {
      tbody.append(h('tr', { class: 'placeholder' }, h('td', { colspan: labels.length }, emptyText || t('common.empty'))));
      return;
    }
    for (const row of rows) {
      const tr = renderRow(row);
      Array.from(tr.cells).forEach((td, i) => { if (labels[i]) td.dataset.label = labels[i]; });
      tbody.append(tr);
    }
  }
  function loadingTable(table) {
    const columns = table.tHead.rows[0].cells.length;
    table.tBodies[0].replaceChildren(h('tr', { class: 'placeholder' }, h('td', { colspan: columns }, t('common.loading'))));
  }

  /* Previous / next pager: the API has no totals, a short page is the last one (as One API's UI). */
  function pager(nav, page, hasNext, onPage) {
    nav.replaceChildren(
      h('button', { type: 'button', class: 'btn btn-sm', disabled: page <= 0, onclick: () => onPage(page - 1),
        'aria-label': t('pager.previous') }, '‹ ' + t('pager.previous')),
      h('span', { class: 'pager-current', 'aria-current': 'page' }, t('pager.page', { page: page + 1 })),
      h('button', { type: 'button', class: 'btn btn-sm', disabled: !hasNext, onclick: () => onPage(page + 1),
        'aria-label': t('pager.next') }, t('pager.next') + ' ›'),
    );
  }

  /* A list page: load(page) returns {rows, hasNext}; it draws the table and the pager. */
  function listView(table, renderRow, load) {
    const nav = document.getElementById(table.id + '-pager');
    const view = { page: 0, rows: [] };
    view.refresh = async (page) => {
      if (page !== undefined) view.page = Math.max(0, page);
      loadingTable(table);
      const result = await load(view.page);
      if (!result) { fillTable(table, [], renderRow, t('common.load_failed')); return; }
      if (!result.rows.length && view.page > 0) { view.refresh(view.page - 1); return; }
      view.rows = result.rows;
      fillTable(table, result.rows, renderRow);
      pager(nav, view.page, result.hasNext, view.refresh);
    };
    return view;
  }

  /* Rows of one page, either from a paged endpoint or sliced from a full (searched) list. */
  async function pageOf(path, page) {
    const sep = path.includes('?') ? '&' : '?';
    const result = await run('GET', `${path}${sep}p=${page}`);
    if (!result) return null;
    const rows = result.data || [];
    return { rows, hasNext: rows.length >= PAGE_SIZE };
  }
  function slice(all, page) {
    return { rows: all.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE), hasNext: all.length > (page + 1) * PAGE_SIZE };
  }

  /* A list that pages through the API, or, while a search is on, slices the whole search result.
     ``paged()`` is the paged path; ``search()`` the search path or '' when no search is on; ``keep``
     filters the found rows further. ``view.search()`` starts over after the criteria change. */
  function searchableList(table, renderRow, { paged, search, keep }) {
    let found = null;
    const view = listView(table, renderRow, async (page) => {
      const searchPath = search();
      if (!searchPath) return pageOf(paged(), page);
      if (found === null) {
        const result = await run('GET', searchPath);
        if (!result) return null;
        found = (result.data || []).filter(keep || (() => true));
      }
      return slice(found, page);
    });
    view.search = () => { found = null; return view.refresh(0); };
    view.reload = () => { found = null; return view.refresh(); };  // after a change: same page, fresh rows
    return view;
  }

  /* Run ``apply`` when a filter form is submitted, or reset (once the reset has cleared the fields). */
  function onFilter(form, apply) {
    form.addEventListener('submit', (event) => { event.preventDefault(); apply(); });
    form.addEventListener('reset', () => setTimeout(apply));
  }

  /* The list of a record kind under its filter form: ``base`` is the kind's API path ('/api/token/'). The
     form's fields are read on each search; an ``order`` field sorts the paged list, any other non-empty
     field switches to ``base``search?keyword=…, whose rows ``keep(row, filter)`` may narrow further. */
  function filteredList(form, table, renderRow, { base, keep }) {
    const names = Array.from(form.elements, (el) => el.name).filter(Boolean);
    const filter = Object.fromEntries(names.map((name) => [name, '']));
    const view = searchableList(table, renderRow, {
      paged: () => ('order' in filter ? `${base}?order=${encodeURIComponent(filter.order)}` : base),
      search: () => (names.some((name) => name !== 'order' && filter[name])
        ? `${base}search?keyword=${encodeURIComponent(filter.keyword)}` : ''),
      keep: keep && ((row) => keep(row, filter)),
    });
    onFilter(form, () => {
      for (const name of names) filter[name] = form.elements[name].value.trim();
      view.search();
    });
    return view;
  }

  // -- row actions and editors -------------------------------------------------------------------
  /* A row's enable/disable button: PUTs {id, status} to ``path``, flashes the matching text, then ``done()``. */
  function statusToggle(row, path, { disabledText, enabledText, done }) {
    const enabled = row.status === 1;
    const button = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'toggle' },
      enabled ? t('common.disable') : t('common.enable'));
    button.addEventListener('click', () => busy(button, async () => {
      const ok = await run('PUT', path, { id: row.id, status: enabled ? 2 : 1 }, enabled ? disabledText : enabledText);
      if (ok) done();
    }));
    return button;
  }

  /* A row's delete button: asks ``question`` first, then DELETEs ``path``, flashes ``doneText`` and calls ``done()``. */
  function deleteButton(path, { question, doneText, done }) {
    const button = h('button', { type: 'button', class: 'btn btn-sm btn-danger-outline', 'data-action': 'delete' }, t('common.delete'));
    button.addEventListener('click', async () => {
      if (!await confirmAction(question, t('common.delete'))) return;
      if (await run('DELETE', path, undefined, doneText)) done();
    });
    return button;
  }

  /* An editor's save: send the record, then return to its list with ``doneText`` shown there. */
  function saveThenGo(button, method, path, body, doneText, listPath) {
    return busy(button, async () => {
      if (!await run(method, path, body)) return;
      flashNext('success', doneText);
      location.href = listPath;
    });
  }

  /* JSON object text check used by the JSON editors; returns the error text or ''. */
  function jsonObjectError(text, valueCheck) {
    if (!text.trim()) return '';
    let parsed;
    try { parsed = JSON.parse(text); } catch (e) { return t('json.invalid', { error: e.message }); }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return t('json.not_object');
    for (const [key, value] of Object.entries(parsed)) {
      if (valueCheck && !valueCheck(value)) return t('json.bad_value', { key });
    }
    return '';
  }

  // -- OAuth -------------------------------------------------------------------------------------
  /* Send the browser to the provider; the callback page (/oauth/<provider>) finishes sign-in or binding. */
  async function startOAuth(button) {
    const provider = button.dataset.oauth;
    if (provider === 'wechat') return;
    const state = await run('GET', '/api/oauth/state');
    if (!state) return;
    const origin = (cfg.serverAddress || location.origin).replace(/\/+$/, '');
    const redirect = encodeURIComponent(`${origin}/oauth/${provider}`);
    const id = encodeURIComponent(button.dataset.clientId);
    const s = encodeURIComponent(state.data);
    const authorize = button.dataset.authorize;  // the provider's consent page, from the server's settings
    if (provider === 'github') {
      location.href = `${authorize}?client_id=${id}&state=${s}&scope=user:email`;
    } else if (provider === 'lark') {
      location.href = `${authorize}?client_id=${id}&redirect_uri=${redirect}&response_type=code&state=${s}`;
    } else if (provider === 'oidc') {
      location.href = `${authorize}?client_id=${id}&redirect_uri=${redirect}&response_type=code&scope=openid%20profile%20email&state=${s}`;
    }
  }

  // -- page chrome -------------------------------------------------------------------------------
  function initChrome() {
    const toggle = $('.nav-toggle');
    const nav = document.getElementById('site-nav');
    if (toggle && nav) {
      toggle.addEventListener('click', () => {
        const open = toggle.getAttribute('aria-expanded') !== 'true';
        toggle.setAttribute('aria-expanded', String(open));
        nav.classList.toggle('open', open);
      });
    }
    $$('time[data-unix]').forEach((el) => { el.textContent = time(Number(el.dataset.unix)); });
    document.addEventListener('click', (event) => {
      const button = event.target.closest('[data-copy-from]');
      if (button) {
        const source = document.getElementById(button.dataset.copyFrom);
        if (source && source.value) copy(source.value);
      }
      const oauth = event.target.closest('[data-oauth]');
      if (oauth) startOAuth(oauth);
    });
    showPendingFlash();
  }
  document.addEventListener('DOMContentLoaded', initChrome);

  return {
    cfg, t, msg, h, $, $$, flash, flashNext, confirm: confirmAction, api, run, busy, copy, quota, quotaHint,
    time, duration, toLocalInput, fromLocalInput, uuid, badge, fillTable, searchableList, onFilter, filteredList,
    statusToggle, deleteButton, saveThenGo, jsonObjectError, PAGE_SIZE,
  };
})();
