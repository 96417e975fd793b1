/* Redemption codes (admin): list, search, copy, enable/disable, delete. */
'use strict';
(() => {
  const { t, h, run, busy, badge, time, quota, copy, searchableList } = OA;
  const table = document.getElementById('redemption-table');
  const form = document.getElementById('redemption-filter');
  let keyword = '';

  function statusBadge(status) {
    return { 1: badge('green', t('redemption.status_unused')), 2: badge('gray', t('status.disabled')), 3: badge('blue', t('redemption.status_used')) }[status]
      || badge('gray', t('status.unknown'));
  }

  function actions(code) {
    const copyButton = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'copy' }, t('common.copy'));
    copyButton.addEventListener('click', () => copy(code.key));
    const children = [copyButton];
    if (code.status !== 3) {
      const enabled = code.status === 1;
      const toggle = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'toggle' }, enabled ? t('common.disable') : t('common.enable'));
      toggle.addEventListener('click', () => busy(toggle, async () => {
        const ok = await run('PUT', '/api/redemption/?status_only=1', { id: code.id, status: enabled ? 2 : 1 },
          enabled ? t('redemption.disabled_done', { name: code.name }) : t('redemption.enabled_done', { name: code.name }));
        if (ok) view.reload();
      }));
      children.push(toggle, h('a', { class: 'btn btn-sm', href: `/redemption/edit/${code.id}` }, t('common.edit')));
    }
    const remove = h('button', { type: 'button', class: 'btn btn-sm btn-danger-outline', 'data-action': 'delete' }, t('common.delete'));
    remove.addEventListener('click', async () => {
      if (!await OA.confirm(t('redemption.confirm_delete', { name: code.name }), t('common.delete'))) return;
      if (await run('DELETE', `/api/redemption/${code.id}`, undefined, t('redemption.deleted', { name: code.name }))) view.reload();
    });
    children.push(remove);
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

  const view = searchableList(table, renderRow, {
    paged: () => '/api/redemption/',
    search: () => (keyword ? `/api/redemption/search?keyword=${encodeURIComponent(keyword)}` : ''),
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    keyword = form.keyword.value.trim();
    view.search();
  });
  view.search();
})();
