/* Token editor: name, expiry (date-time or never), quota (amount or unlimited), allowed models, subnet. */
'use strict';
(() => {
  const { t, h, run, flash, saveThenGo, quotaHint, toLocalInput, fromLocalInput, $$ } = OA;
  const form = document.getElementById('token-form');
  const id = form.dataset.id ? Number(form.dataset.id) : null;
  const never = form.elements.never_expires;
  const expiry = form.elements.expired_time;
  const unlimited = form.elements.unlimited_quota;
  const remain = form.elements.remain_quota;
  const hint = document.getElementById('quota-hint');
  const modelBox = document.getElementById('model-checks');
  let loaded = null;

  function sync() {
    expiry.disabled = never.checked;
    remain.disabled = unlimited.checked;
    hint.textContent = unlimited.checked ? '' : quotaHint(remain.value);
  }
  never.addEventListener('change', () => {
    if (!never.checked && !expiry.value) expiry.value = toLocalInput(Math.floor(Date.now() / 1000) + 30 * 86400);
    sync();
  });
  unlimited.addEventListener('change', sync);
  remain.addEventListener('input', sync);
  $$('[data-expire]', form).forEach((button) => button.addEventListener('click', () => {
    const seconds = Number(button.dataset.expire);
    never.checked = seconds === 0;
    if (seconds) expiry.value = toLocalInput(Math.floor(Date.now() / 1000) + seconds);
    sync();
  }));

  function renderModels(available, selected) {
    const names = [...new Set([...available, ...selected])].sort();
    if (!names.length) { modelBox.replaceChildren(h('span', { class: 'muted' }, t('token.no_models'))); return; }
    modelBox.replaceChildren(...names.map((model) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'models', value: model, checked: selected.includes(model) }), ' ', model)));
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    if (!name) { flash('error', t('token.name_required')); form.elements.name.focus(); return; }
    let expiredTime = -1;
    if (!never.checked) {
      expiredTime = fromLocalInput(expiry.value);
      if (!expiredTime) { flash('error', t('token.expiry_invalid')); expiry.focus(); return; }
      if (expiredTime <= Date.now() / 1000) { flash('error', t('token.expiry_past')); expiry.focus(); return; }
    }
    const remainQuota = Number.parseInt(remain.value || '0', 10);
    if (!unlimited.checked && (Number.isNaN(remainQuota) || remainQuota < 0)) {
      flash('error', t('token.quota_invalid')); remain.focus(); return;
    }
    const body = {
      name, expired_time: expiredTime, unlimited_quota: unlimited.checked,
      remain_quota: Number.isNaN(remainQuota) ? 0 : remainQuota,
      models: $$('input[name="models"]:checked', modelBox).map((el) => el.value).join(','),
      subnet: form.elements.subnet.value.trim(),
    };
    if (id) Object.assign(body, { id, status: loaded ? loaded.status : 1 });
    saveThenGo(document.getElementById('token-submit'), id ? 'PUT' : 'POST', '/api/token/', body,
      id ? t('token.updated', { name }) : t('token.created', { name }), '/token');
  });

  (async () => {
    const [available, token] = await Promise.all([
      run('GET', '/api/user/available_models'), id ? run('GET', `/api/token/${id}`) : Promise.resolve(null),
    ]);
    let selected = [];
    if (token && token.data) {
      loaded = token.data;
      form.elements.name.value = loaded.name || '';
      never.checked = loaded.expired_time === -1;
      if (loaded.expired_time !== -1) expiry.value = toLocalInput(loaded.expired_time);
      unlimited.checked = Boolean(loaded.unlimited_quota);
      remain.value = loaded.remain_quota;
      form.elements.subnet.value = loaded.subnet || '';
      selected = (loaded.models || '').split(',').map((m) => m.trim()).filter(Boolean);
    }
    renderModels((available && available.data) || [], selected);
    sync();
  })();
  sync();
})();
