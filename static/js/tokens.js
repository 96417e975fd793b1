/* Tokens: the user's own API keys; copy sk-…, open the chat app with one, enable/disable, delete. */
'use strict';
(() => {
  const { t, h, badge, time, quota, copy, cfg, filteredList, statusToggle, deleteButton } = OA;
  const table = document.getElementById('token-table');
  const form = document.getElementById('token-filter');

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
    const copyButton = h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'data-action': 'copy' }, t('token.copy'));
    copyButton.addEventListener('click', () => copy(`sk-${token.key}`, t('token.copied', { name: token.name })));
    const toggle = statusToggle(token, '/api/token/?status_only=1', {
      disabledText: t('token.disabled_done', { name: token.name }), enabledText: t('token.enabled_done', { name: token.name }),
      done: () => view.reload(),
    });
    const remove = deleteButton(`/api/token/${token.id}`, {
      question: t('token.confirm_delete', { name: token.name }), doneText: t('token.deleted', { name: token.name }),
      done: () => view.reload(),
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

  const view = filteredList(form, table, renderRow, { base: '/api/token/' });
  view.search();
})();
