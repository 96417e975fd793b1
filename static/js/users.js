/* Users (admin): list, search, sort, promote/demote, enable/disable, delete; root is protected. */
'use strict';
(() => {
  const { t, h, run, busy, badge, quota, cfg, filteredList } = OA;
  const table = document.getElementById('user-table');
  const form = document.getElementById('user-filter');
  const ROOT = 100; const ADMIN = 10;

  function roleBadge(role) {
    if (role >= ROOT) return badge('purple', t('role.root'));
    if (role >= ADMIN) return badge('blue', t('role.admin'));
    return badge('gray', t('role.common'));
  }
  function statusBadge(status) {
    return { 1: badge('green', t('status.enabled')), 2: badge('red', t('status.banned')), 3: badge('gray', t('status.deleted')) }[status]
      || badge('gray', t('status.unknown'));
  }

  async function manage(user, action, button) {
    const labels = {
      promote: 'user.confirm_promote', demote: 'user.confirm_demote', disable: 'user.confirm_disable', delete: 'user.confirm_delete',
    };
    if (labels[action] && !await OA.confirm(t(labels[action], { name: user.username }), t(`user.action_${action}`))) return;
    await busy(button, async () => {
      const ok = await run('POST', '/api/user/manage', { username: user.username, action },
        t('user.done', { name: user.username, action: t(`user.action_${action}`) }));
      if (ok) view.reload();
    });
  }

  function actionButton(user, action, danger) {
    const button = h('button', { type: 'button', class: `btn btn-sm${danger ? ' btn-danger-outline' : ''}`, 'data-action': action },
      t(`user.action_${action}`));
    button.addEventListener('click', () => manage(user, action, button));
    return button;
  }

  function actions(user) {
    if (user.role >= ROOT) return badge('gray', t('user.root_protected'));
    const me = cfg.user || { role: 0 };
    return h('div', { class: 'row-actions' },
      me.role >= ROOT ? (user.role >= ADMIN ? actionButton(user, 'demote') : actionButton(user, 'promote')) : null,
      user.status === 1 ? actionButton(user, 'disable') : actionButton(user, 'enable'),
      h('a', { class: 'btn btn-sm', href: `/user/edit/${user.id}` }, t('common.edit')),
      actionButton(user, 'delete', true));
  }

  function renderRow(user) {
    return h('tr', { 'data-id': user.id, 'data-username': user.username },
      h('td', {}, user.id),
      h('td', { class: 'cell-strong' }, user.username,
        user.display_name && user.display_name !== user.username ? h('div', { class: 'muted small' }, user.display_name) : null),
      h('td', {}, badge('blue', user.group || 'default')),
      h('td', { class: 'num' }, quota(user.quota)),
      h('td', { class: 'num' }, quota(user.used_quota)),
      h('td', { class: 'num' }, (user.request_count || 0).toLocaleString('en-US')),
      h('td', {}, roleBadge(user.role)),
      h('td', {}, statusBadge(user.status)),
      h('td', {}, actions(user)));
  }

  const view = filteredList(form, table, renderRow, { base: '/api/user/' });
  form.order.addEventListener('change', () => form.requestSubmit());
  view.search();
})();
