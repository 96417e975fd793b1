/* Logs: everyone's own (admins: all), with filters, the quota sum of the filter and per-row details. */
'use strict';
(() => {
  const { t, msg, h, run, badge, time, quota, searchableList, onFilter, fromLocalInput } = OA;
  const form = document.getElementById('log-filter');
  const table = document.getElementById('log-table');
  const admin = form.dataset.admin === 'true';
  const TYPES = {
    1: ['green', 'log.type_topup'], 2: ['blue', 'log.type_consume'], 3: ['purple', 'log.type_manage'],
    4: ['amber', 'log.type_system'], 5: ['gray', 'log.type_test'],
  };

  function query() {
    const params = new URLSearchParams();
    params.set('type', form.type.value || '0');
    params.set('model_name', form.model_name.value.trim());
    params.set('token_name', form.token_name.value.trim());
    if (admin) {
      params.set('username', form.username.value.trim());
      params.set('channel', form.channel.value.trim());
    }
    const start = fromLocalInput(form.start.value);
    const end = fromLocalInput(form.end.value);
    if (start) params.set('start_timestamp', String(start));
    if (end) params.set('end_timestamp', String(end));
    return params.toString();
  }

  /* The row's details open in a full-width row below it (a table cell is too narrow for them). */
  function detailsButton(log) {
    const button = h('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'aria-expanded': 'false' }, t('log.show'));
    button.addEventListener('click', () => {
      const row = button.closest('tr');
      const open = row.nextElementSibling && row.nextElementSibling.classList.contains('details-row');
      if (open) {
        row.nextElementSibling.remove();
      } else {
        const facts = [
          [t('log.content'), msg(log.content || '') || '—'],
          [t('log.request_id'), log.request_id || '—'],
          [t('log.prompt'), log.prompt_tokens || 0],
          [t('log.completion'), log.completion_tokens || 0],
          [t('log.latency'), log.elapsed_time ? OA.duration(log.elapsed_time) : '—'],
          [t('log.stream'), log.is_stream ? t('common.yes') : t('common.no')],
          [t('log.system_prompt_reset'), log.system_prompt_reset ? t('common.yes') : t('common.no')],
        ];
        row.after(h('tr', { class: 'details-row' }, h('td', { colspan: row.cells.length },
          h('dl', { class: 'kv kv-compact' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])))));
      }
      button.setAttribute('aria-expanded', String(!open));
      button.textContent = open ? t('log.show') : t('log.hide');
    });
    return button;
  }

  function renderRow(log) {
    const [kind, key] = TYPES[log.type] || ['gray', 'log.type_unknown'];
    const cells = [h('td', { class: 'nowrap' }, time(log.created_at))];
    if (admin) cells.push(h('td', {}, log.channel ? String(log.channel) : '—'), h('td', {}, log.username || '—'));
    const latency = log.elapsed_time ? OA.duration(log.elapsed_time) : '—';
    cells.push(
      h('td', {}, log.token_name || '—'),
      h('td', {}, badge(kind, t(key))),
      h('td', {}, log.model_name || '—'),
      h('td', { class: 'num' }, log.prompt_tokens || 0),
      h('td', { class: 'num' }, log.completion_tokens || 0),
      h('td', { class: 'num' }, quota(log.quota || 0)),
      h('td', { class: 'nowrap' }, latency, log.is_stream ? [' ', badge('blue', t('log.stream'))] : null),
      h('td', {}, detailsButton(log)),
    );
    return h('tr', {}, cells);
  }

  const base = admin ? '/api/log/' : '/api/log/self';
  const view = searchableList(table, renderRow, { paged: () => `${base}?${query()}`, search: () => '' });

  async function loadStat() {
    const value = document.getElementById('log-stat-value');
    value.textContent = '…';
    const result = await run('GET', `${admin ? '/api/log/stat' : '/api/log/self/stat'}?${query()}`);
    value.textContent = result && result.data ? quota(result.data.quota || 0) : '—';
  }

  onFilter(form, () => { view.search(); loadStat(); });
  view.search();
  loadStat();
})();
