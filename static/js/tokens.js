/* Tokens: the user's own API keys; copy sk-…, open the chat app with one, enable/disable, delete. */
'use strict';
(() => {
  const { t, h, run, busy, badge, time, quota, copy, cfg, searchableList } = OA;
  const table = document.getElementById('token-table');
  const form = document.getElementById('token-filter');
  const filter = { keyword: '', order: '' };

  function statusBadge(status) {
    return {
      1: badge('green', t('status.enabled')), 2: badge('gray', t('status.disabled')),
      3: badge('amber', t('token.status_expired')), 4: badge('red', t('token.status_exhausted')),
    }[status] || badge('gray', t('status.unknown'));
  }

  function chatUrl(token) {
    const server = (cfg.serverAddress || location.origin).replace(/\/+$/, '');
    const settings = JSON.stringify({ key: `sk-${token.key}`, url: server });
    return `${cfg.chatLink}/#/?settings=${encodeURIComponent(settings)}`;
  }

  function actions(token) {
    const enabled = token.status === 1;
    const copyButton = h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'data-action': 'copy' }, t('token.copy'));
    copyButton.addEventListener('click', () => copy(`sk-${token.key}`, t('token.copied', { name: token.name })));
    const toggle = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'toggle' },
      enabled ? t('common.disable') : t('common.enable'));
    toggle.addEventListener('click', () => busy(toggle, async () => {
      const ok = await run('PUT', '/api/token/?status_only=1', { id: token.id, status: enabled ? 2 : 1 },
        enabled ? t('token.disabled_done', { name: token.name }) : t('token.enabled_done', { name: token.name }));
      if (ok) view.reload();
    }));
    const remove = h('button', { type: 'button', class: 'btn btn-sm btn-danger-outline', 'data-action': 'delete' }, t('common.delete'));
    remove.addEventListener('click', async () => {
      if (!await OA.confirm(t('token.confirm_delete', { name: token.name }), t('common.delete'))) return;
      if (await run('DELETE', `/api/token/${token.id}`, undefined, t('token.deleted', { name: token.name }))) view.reload();
    });
    return h('div', { class: 'row-actions' }, copyButton,
      cfg.chatLink ? h('a', { class: 'btn btn-sm', href: chatUrl(token), target: '_blank', rel: 'noopener noreferrer' }, t('token.chat')) : null,
      toggle, h('a', { class: 'btn btn-sm', href: `/token/edit/${token.id}` }, t('common.edit')), remove);
  }

  function renderRow(token) {
    return h('tr', { 'data-id': token.id },
      h('td', { class: 'cell-strong' }, token.name || '—'),
      h('td', {}, statusBadge(token.status)),
      h('td', {}, quota(token.used_quota)),
      h('td', {}, token.unlimited_quota ? badge('blue', t('token.unlimited_short')) : quota(token.remain_quota)),
      h('td', {}, time(token.created_time)),
      h('td', {}, token.expired_time === -1 ? t('token.never') : time(token.expired_time)),
      h('td', {}, actions(token)));
  }

  const view = searchableList(table, renderRow, {
    paged: () => `/api/token/?order=${encodeURIComponent(filter.order)}`,
    search: () => (filter.keyword ? `/api/token/search?keyword=${encodeURIComponent(filter.keyword)}` : ''),
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    filter.keyword = form.keyword.value.trim();
    filter.order = form.order.value;
    view.search();
  });
  view.search();
})();
