/* Channels: list, search and filter, inline priority/weight, test, balance, enable/disable, delete. */
'use strict';
(() => {
  const { t, msg, h, run, api, busy, flash, badge, time, duration, filteredList, statusToggle, deleteButton } = OA;
  const types = JSON.parse(document.getElementById('channel-types').textContent);
  const table = document.getElementById('channel-table');
  const form = document.getElementById('channel-filter');
  const BALANCE_TYPES = new Set([1, 4, 5, 8, 10, 12, 13, 20, 36, 44]);
  const YUAN_TYPES = new Set([4, 5, 12, 13, 36, 44]);

  function statusBadge(status) {
    if (status === 1) return badge('green', t('status.enabled'));
    if (status === 2) return badge('gray', t('status.manually_disabled'));
    if (status === 3) return badge('amber', t('status.auto_disabled'));
    return badge('gray', t('status.unknown'));
  }

  function responseTime(channel) {
    if (!channel.test_time) return badge('gray', t('channel.not_tested'));
    if (!channel.response_time) return badge('red', t('channel.test_failed'));
    const ms = channel.response_time;
    const kind = ms <= 1000 ? 'green' : ms <= 3000 ? 'blue' : ms <= 5000 ? 'amber' : 'red';
    return h('span', { title: t('channel.tested_at', { time: time(channel.test_time) }) }, badge(kind, duration(ms)));
  }

  function balanceText(channel) {
    const prefix = YUAN_TYPES.has(channel.type) ? '¥' : channel.type === 10 ? '' : '$';
    return prefix + Number(channel.balance || 0).toFixed(2);
  }

  function balanceCell(channel) {
    if (!BALANCE_TYPES.has(channel.type)) return h('span', { class: 'muted' }, t('channel.balance_unsupported'));
    const button = h('button', {
      type: 'button', class: 'btn btn-sm btn-ghost', 'aria-label': t('channel.update_balance_of', { name: channel.name }),
      title: t('channel.balance_updated', { time: time(channel.balance_updated_time) }),
    }, balanceText(channel));
    button.addEventListener('click', () => busy(button, async () => {
      const result = await run('GET', `/api/channel/update_balance/${channel.id}`);
      if (!result) return;
      channel.balance = result.balance;
      channel.balance_updated_time = Math.floor(Date.now() / 1000);
      button.textContent = balanceText(channel);
      flash('success', t('channel.balance_done', { name: channel.name, balance: balanceText(channel) }));
    }));
    return button;
  }

  function inlineNumber(channel, field) {
    const input = h('input', {
      type: 'number', class: 'inline-number', value: channel[field] || 0, step: 1,
      'aria-label': t(`channel.${field}_of`, { name: channel.name }),
    });
    input.addEventListener('change', async () => {
      const value = Number.parseInt(input.value, 10);
      if (Number.isNaN(value)) { input.value = channel[field] || 0; return; }
      const result = await run('PUT', '/api/channel/', { id: channel.id, [field]: value },
        t('channel.saved_field', { name: channel.name }));
      if (result) channel[field] = value; else input.value = channel[field] || 0;
    });
    return input;
  }

  function testControls(channel) {
    const models = (channel.models || '').split(',').map((m) => m.trim()).filter(Boolean);
    const select = h('select', { class: 'select-sm', 'aria-label': t('channel.test_model_of', { name: channel.name }) },
      models.map((m) => h('option', { value: m }, m)));
    const button = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'test' }, t('channel.test'));
    button.addEventListener('click', () => busy(button, async () => {
      const model = select.value || '';
      const result = await api('GET', `/api/channel/test/${channel.id}?model=${encodeURIComponent(model)}`);
      const seconds = Number(result.time || 0).toFixed(2);
      if (result.success) {
        flash('success', t('channel.test_ok', { name: channel.name, time: seconds, reply: result.message || '' }));
        channel.response_time = Math.round(Number(result.time || 0) * 1000);
      } else {
        flash('error', t('channel.test_fail', { name: channel.name, error: msg(result.message) }));
        channel.response_time = 0;
      }
      channel.test_time = Math.floor(Date.now() / 1000);
      const cell = button.closest('tr').querySelector('[data-col="response"]');
      if (cell) cell.replaceChildren(responseTime(channel));
    }));
    return h('span', { class: 'test-controls' }, select, button);
  }

  function actions(channel) {
    const toggle = statusToggle(channel, '/api/channel/', {
      disabledText: t('channel.disabled_done', { name: channel.name }),
      enabledText: t('channel.enabled_done', { name: channel.name }), done: () => view.reload(),
    });
    const remove = deleteButton(`/api/channel/${channel.id}`, {
      question: t('channel.confirm_delete', { name: channel.name }), doneText: t('channel.deleted', { name: channel.name }),
      done: () => view.reload(),
    });
    return h('div', { class: 'row-actions' }, testControls(channel), toggle,
      h('a', { class: 'btn btn-sm', href: `/channel/edit/${channel.id}` }, t('common.edit')), remove);
  }

  function renderRow(channel) {
    const type = types[channel.type];
    return h('tr', { 'data-id': channel.id },
      h('td', {}, channel.id),
      h('td', { class: 'cell-strong' }, channel.name || '—'),
      h('td', {}, type ? type.name : String(channel.type)),
      h('td', {}, (channel.group || '').split(',').filter(Boolean).map((g) => badge('blue', g))),
      h('td', {}, statusBadge(channel.status)),
      h('td', { 'data-col': 'response' }, responseTime(channel)),
      h('td', {}, balanceCell(channel)),
      h('td', {}, inlineNumber(channel, 'priority')),
      h('td', {}, inlineNumber(channel, 'weight')),
      h('td', {}, actions(channel)));
  }

  function matches(channel, filter) {
    if (filter.status && String(channel.status) !== filter.status) return false;
    if (filter.type && String(channel.type) !== filter.type) return false;
    if (filter.group && !(channel.group || '').split(',').map((g) => g.trim()).includes(filter.group)) return false;
    return true;
  }

  const view = filteredList(form, table, renderRow, { base: '/api/channel/', keep: matches });

  function bulk(id, action) {
    const button = document.getElementById(id);
    button.addEventListener('click', () => busy(button, action));
  }
  bulk('test-all', () => run('GET', '/api/channel/test?scope=all', undefined, t('channel.test_started')));
  bulk('test-disabled', () => run('GET', '/api/channel/test?scope=disabled', undefined, t('channel.test_started')));
  bulk('update-balances', () => run('GET', '/api/channel/update_balance', undefined, t('channel.balances_started')));
  bulk('delete-disabled', async () => {
    if (!await OA.confirm(t('channel.confirm_delete_disabled'), t('common.delete'))) return;
    const result = await run('DELETE', '/api/channel/disabled');
    if (!result) return;
    flash('success', t('channel.deleted_disabled', { count: result.data || 0 }));
    view.search();
  });

  run('GET', '/api/group/').then((result) => {
    if (!result) return;
    document.getElementById('group-options').replaceChildren(...(result.data || []).sort().map((g) => h('option', { value: g })));
  });
  view.search();
})();
