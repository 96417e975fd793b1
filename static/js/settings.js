/* Settings: personal (profile, password, access token, invite link, bindings) and the root's option tabs. */
'use strict';
(() => {
  const { t, run, busy, flash, flashNext, copy, jsonObjectError, fromLocalInput, cfg, $$ } = OA;

  // -- tabs --------------------------------------------------------------------------------------
  const tabs = $$('[role="tab"]');
  function showTab() {
    const wanted = location.hash.slice(1);
    const current = tabs.find((tab) => tab.id === `tab-${wanted}`) || tabs[0];
    tabs.forEach((tab) => {
      const selected = tab === current;
      tab.setAttribute('aria-selected', String(selected));
      tab.classList.toggle('active', selected);
      document.getElementById(tab.getAttribute('aria-controls')).hidden = !selected;
    });
  }
  window.addEventListener('hashchange', showTab);
  tabs.forEach((tab, i) => tab.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(i + step + tabs.length) % tabs.length];
    next.focus();
    location.hash = next.getAttribute('href');
  }));
  showTab();

  // -- personal ----------------------------------------------------------------------------------
  const profile = document.getElementById('profile-form');
  profile.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = { username: profile.username.value.trim(), display_name: profile.display_name.value.trim() };
    if (!body.username) { flash('error', t('user.username_required')); return; }
    busy(profile.querySelector('[type=submit]'), () => run('PUT', '/api/user/self', body, t('setting.profile_saved')));
  });

  const passwordForm = document.getElementById('password-form');
  passwordForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const password = passwordForm.password.value;
    if (password.length < 8 || password.length > 20) { flash('error', t('register.password_help')); passwordForm.password.focus(); return; }
    if (password !== passwordForm.password2.value) { flash('error', t('register.mismatch')); passwordForm.password2.focus(); return; }
    const body = { username: profile.username.defaultValue, display_name: profile.display_name.defaultValue, password };
    busy(passwordForm.querySelector('[type=submit]'), async () => {
      if (!await run('PUT', '/api/user/self', body)) return;
      flashNext('success', t('setting.password_changed'));
      location.reload();
    });
  });

  const generate = document.getElementById('generate-token');
  generate.addEventListener('click', () => busy(generate, async () => {
    const result = await run('GET', '/api/user/token');
    if (!result) return;
    document.getElementById('access-token').value = result.data;
    await copy(result.data, t('setting.token_generated'));
  }));

  const invite = document.getElementById('copy-invite');
  invite.addEventListener('click', () => busy(invite, async () => {
    const field = document.getElementById('invite-link');
    if (!field.value) {
      const result = await run('GET', '/api/user/aff');
      if (!result) return;
      const origin = (cfg.serverAddress || location.origin).replace(/\/+$/, '');
      field.value = `${origin}/register?aff=${encodeURIComponent(result.data)}`;
    }
    await copy(field.value, t('setting.invite_copied'));
  }));

  const bindForm = document.getElementById('email-bind-form');
  if (bindForm) {
    const send = document.getElementById('send-bind-code');
    send.addEventListener('click', () => busy(send, () =>
      run('GET', `/api/verification?email=${encodeURIComponent(bindForm.email.value.trim())}`, undefined, t('register.code_sent'))));
    bindForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const query = `email=${encodeURIComponent(bindForm.email.value.trim())}&code=${encodeURIComponent(bindForm.code.value.trim())}`;
      busy(bindForm.querySelector('[type=submit]'), async () => {
        if (!await run('GET', `/api/oauth/email/bind?${query}`)) return;
        flashNext('success', t('setting.email_bound'));
        location.reload();
      });
    });
  }

  const wechatForm = document.getElementById('wechat-bind-form');
  if (wechatForm) {
    wechatForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const code = encodeURIComponent(wechatForm.code.value.trim());
      busy(wechatForm.querySelector('[type=submit]'), async () => {
        if (!await run('GET', `/api/oauth/wechat/bind?code=${code}`)) return;
        flashNext('success', t('setting.wechat_bound'));
        location.reload();
      });
    });
  }

  document.querySelectorAll('[data-unbind]').forEach((button) => {
    button.addEventListener('click', () => busy(button, async () => {
      if (!await run('POST', '/api/user/unbind', { kind: button.dataset.unbind })) return;
      flashNext('success', t('setting.unbound'));
      location.reload();
    }));
  });

  const deleteAccount = document.getElementById('delete-account');
  if (deleteAccount) {
    deleteAccount.addEventListener('click', async () => {
      if (!await OA.confirm(t('setting.confirm_delete_account'), t('setting.delete_account'))) return;
      if (!await run('DELETE', '/api/user/self')) return;
      flashNext('success', t('setting.account_deleted'));
      location.href = '/';
    });
  }

  // -- options (root) ----------------------------------------------------------------------------
  const isNumber = (v) => typeof v === 'number' && Number.isFinite(v);

  function changed(el) {
    if (el.dataset.kind === 'bool') return el.checked !== el.defaultChecked;
    if (el.dataset.kind === 'secret') return el.value !== '';
    return el.value !== el.defaultValue;
  }
  function valueOf(el) {
    if (el.dataset.kind === 'bool') return String(el.checked);
    if (el.dataset.kind === 'json') return JSON.stringify(JSON.parse(el.value));
    return el.value;
  }

  function checkJson(el) {
    const error = jsonObjectError(el.value, isNumber) || (el.value.trim() ? '' : t('json.not_object'));
    const box = document.getElementById(`${el.id}-error`);
    box.textContent = error ? t('setting.json_invalid', { key: el.dataset.option, error }) : '';
    box.hidden = !error;
    el.setAttribute('aria-invalid', error ? 'true' : 'false');
    return error;
  }

  $$('.option-form').forEach((form) => {
    const fields = $$('[data-option]', form);
    // Checked on save, not on blur: a message appearing on blur would move the button being clicked.
    fields.filter((el) => el.dataset.kind === 'json').forEach((el) => el.addEventListener('input', () => {
      document.getElementById(`${el.id}-error`).hidden = true;
      el.removeAttribute('aria-invalid');
    }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      // Booleans last: a switch like GitHubOAuthEnabled needs the client id saved first.
      const pending = fields.filter(changed).sort((a, b) => (a.dataset.kind === 'bool') - (b.dataset.kind === 'bool'));
      for (const el of pending) {
        if (el.dataset.kind === 'json') {
          const error = checkJson(el);
          if (error) { flash('error', t('setting.json_invalid', { key: el.dataset.option, error })); el.focus(); return; }
        }
      }
      if (!pending.length) { flash('info', t('setting.nothing_changed')); return; }
      busy(form.querySelector('[type=submit]'), async () => {
        let saved = 0;
        for (const el of pending) {
          const result = await run('PUT', '/api/option/', { key: el.dataset.option, value: valueOf(el) });
          if (!result) break;
          saved += 1;
          if (el.dataset.kind === 'bool') el.defaultChecked = el.checked;
          else if (el.dataset.kind === 'secret') el.value = '';
          else el.defaultValue = el.value;
        }
        if (saved === pending.length) flash('success', t('setting.saved', { count: saved }));
      });
    });
  });

  $$('[data-format-json]').forEach((button) => button.addEventListener('click', () => {
    const el = document.getElementById(button.dataset.formatJson);
    if (checkJson(el)) return;
    el.value = JSON.stringify(JSON.parse(el.value), null, 2);
  }));

  const cleanup = document.getElementById('log-cleanup-form');
  if (cleanup) {
    cleanup.addEventListener('submit', async (event) => {
      event.preventDefault();
      const target = fromLocalInput(cleanup.target.value);
      if (!target) { flash('error', t('setting.clean_date_required')); cleanup.target.focus(); return; }
      if (!await OA.confirm(t('setting.confirm_clean', { time: OA.time(target) }), t('setting.clean_logs'))) return;
      const result = await run('DELETE', `/api/log/?target_timestamp=${target}`);
      if (result) flash('success', t('setting.cleaned', { count: result.data || 0 }));
    });
  }
})();
