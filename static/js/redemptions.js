/* Redemption codes (admin): list, search, copy, enable/disable, delete. */
'use strict';
(() => {
  const { t, h, badge, time, quota, copy, filteredList, statusToggle, deleteButton } = OA;
  const table = document.getElementById('redemption-table');
  const form = document.getElementById('redemption-filter');

  function statusBadge(status) {
    return { 1: badge('green', t('redemption.status_unused')), 2: badge('gray', t('status.disabled')), 3: badge('blue', t('redemption.status_used')) }[status]
      || badge('gray', t('status.unknown'));
  }

  function actions(code) {
    const copyButton = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'copy' }, t('common.copy'));
    copyButton.addEventListener('click', () => copy(code.key));
    const children = [copyButton];
    if (code.status !== 3) {
      const toggle = statusToggle(code, '/api/redemption/?status_only=1', {
        disabledText: t('redemption.disabled_done', { name: code.name }),
        enabledText: t('redemption.enabled_done', { name: code.name }), done: () => view.reload(),
      });
      children.push(toggle, h('a', { class: 'btn btn-sm', href: `/redemption/edit/${code.id}` }, t('common.edit')));
    }
    children.push(deleteButton(`/api/redemption/${code.id}`, {
      question: t('redemption.confirm_delete', { name: code.name }), doneText: t('redemption.deleted', { name: code.name }),
      done: () => view.reload(),
    }));
    return h('div', { class: 'row-actions' }, children);
  }

  function renderRow(code) {
    return h('tr', { 'data-id': code.id },
      h('td', {}, code.id),
      h('td', { class: 'cell-strong' }, code.name || '—'),
      h('td', {}, statusBadge(code.status)),
      h('td', { class: 'num' }, quota(code.quota)),
      h('td', {}, time(code.created_time)),
      h('td', {}, time(code.redeemed_time)),
      h('td', {}, actions(code)));
  }

  const view = filteredList(form, table, renderRow, { base: '/api/redemption/' });
  view.search();
})();
