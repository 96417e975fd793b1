/* User editor (admin): create with username/password; edit name, password, group and quota. */
'use strict';
(() => {
  const { t, h, run, flash, saveThenGo, quotaHint, $$ } = OA;
  const form = document.getElementById('user-form');
  const id = form.dataset.id ? Number(form.dataset.id) : null;
  const hint = document.getElementById('quota-hint');

  function syncHint() { if (hint && form.elements.quota) hint.textContent = quotaHint(form.elements.quota.value); }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (!username) { flash('error', t('user.username_required')); form.elements.username.focus(); return; }
    if ((!id || password) && (password.length < 8 || password.length > 20)) {
      flash('error', t('register.password_help')); form.elements.password.focus(); return;
    }
    const body = { username, display_name: form.elements.display_name.value.trim() || username, password };
    if (id) {
      const quotaValue = Number.parseInt(form.elements.quota.value || '0', 10);
      if (Number.isNaN(quotaValue) || quotaValue < 0) { flash('error', t('token.quota_invalid')); return; }
      Object.assign(body, { id, group: form.elements.group.value.trim() || 'default', quota: quotaValue });
    }
    saveThenGo(document.getElementById('user-submit'), id ? 'PUT' : 'POST', '/api/user/', body,
      id ? t('user.updated', { name: username }) : t('user.created', { name: username }), '/user');
  });

  if (id) {
    form.elements.quota.addEventListener('input', syncHint);
    (async () => {
      const [user, groups] = await Promise.all([run('GET', `/api/user/${id}`), run('GET', '/api/group/')]);
      if (groups) {
        document.getElementById('group-options').replaceChildren(...(groups.data || []).sort().map((g) => h('option', { value: g })));
      }
      if (!user) return;
      const data = user.data;
      for (const name of ['username', 'display_name', 'group', 'quota']) form.elements[name].value = data[name] ?? '';
      $$('[data-bind]', form).forEach((el) => { el.textContent = data[el.dataset.bind] || '—'; });
      syncHint();
    })();
  }
})();
