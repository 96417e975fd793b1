/* Sign-in, registration, password reset, WeChat code and OAuth callback pages. */
'use strict';
(() => {
  const { t, msg, run, busy, flash, flashNext, $ } = OA;

  function turnstileQuery(form) {
    const field = form.querySelector('[name="cf-turnstile-response"]');
    return field && field.value ? `?turnstile=${encodeURIComponent(field.value)}` : '';
  }

  const login = document.getElementById('login-form');
  if (login) {
    login.addEventListener('submit', (event) => {
      event.preventDefault();
      const username = login.username.value.trim();
      const password = login.password.value;
      if (!username || !password) { flash('error', t('login.fill_both')); return; }
      busy(login.querySelector('[type=submit]'), async () => {
        const result = await run('POST', '/api/user/login', { username, password });
        if (!result) return;
        flashNext('success', t('login.welcome', { name: (result.data && (result.data.display_name || result.data.username)) || username }));
        location.href = login.dataset.next || '/dashboard';
      });
    });
  }

  const register = document.getElementById('register-form');
  if (register) {
    const sendCode = document.getElementById('send-code');
    if (sendCode) {
      sendCode.addEventListener('click', () => busy(sendCode, async () => {
        const email = register.email.value.trim();
        if (!email) { flash('error', t('register.email_required')); return; }
        const extra = turnstileQuery(register).replace('?', '&');
        await run('GET', `/api/verification?email=${encodeURIComponent(email)}${extra}`, undefined, t('register.code_sent'));
      }));
    }
    register.addEventListener('submit', (event) => {
      event.preventDefault();
      const body = {
        username: register.username.value.trim(),
        password: register.password.value,
        aff_code: register.aff_code.value,
      };
      if (!body.username || !body.password) { flash('error', t('login.fill_both')); return; }
      if (body.password.length < 8 || body.password.length > 20) { flash('error', t('register.password_help')); return; }
      if (body.password !== register.password2.value) { flash('error', t('register.mismatch')); return; }
      if (register.email) {
        body.email = register.email.value.trim();
        body.verification_code = register.verification_code.value.trim();
      }
      busy(register.querySelector('[type=submit]'), async () => {
        const result = await run('POST', '/api/user/register' + turnstileQuery(register), body);
        if (!result) return;
        flashNext('success', t('register.done'));
        location.href = '/login';
      });
    });
  }

  const reset = document.getElementById('reset-form');
  if (reset) {
    reset.addEventListener('submit', (event) => {
      event.preventDefault();
      const email = reset.email.value.trim();
      const extra = turnstileQuery(reset).replace('?', '&');
      busy(reset.querySelector('[type=submit]'), () =>
        run('GET', `/api/reset_password?email=${encodeURIComponent(email)}${extra}`, undefined, t('reset.sent')));
    });
  }

  const confirmReset = document.getElementById('reset-confirm-form');
  if (confirmReset) {
    confirmReset.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(confirmReset.querySelector('[type=submit]'), async () => {
        const result = await run('POST', '/api/user/reset',
          { email: confirmReset.dataset.email, token: confirmReset.dataset.token }, t('reset.done'));
        if (!result) return;
        document.getElementById('new-password').value = result.data;
        document.getElementById('new-password-box').hidden = false;
      });
    });
  }

  const wechatButton = document.querySelector('[data-oauth="wechat"]');
  const wechatPanel = document.getElementById('wechat-panel');
  if (wechatButton && wechatPanel) {
    wechatButton.addEventListener('click', () => {
      wechatPanel.hidden = !wechatPanel.hidden;
      wechatButton.setAttribute('aria-expanded', String(!wechatPanel.hidden));
    });
    wechatPanel.addEventListener('submit', (event) => {
      event.preventDefault();
      const code = wechatPanel.wechat_code.value.trim();
      busy(wechatPanel.querySelector('[type=submit]'), async () => {
        const result = await run('GET', `/api/oauth/wechat?code=${encodeURIComponent(code)}`);
        if (!result) return;
        location.href = '/dashboard';
      });
    });
  }

  const callback = document.getElementById('oauth-callback');
  if (callback) {
    (async () => {
      const params = new URLSearchParams(location.search);
      const provider = callback.dataset.provider;
      const query = `code=${encodeURIComponent(params.get('code') || '')}&state=${encodeURIComponent(params.get('state') || '')}`;
      const result = await OA.api('GET', `/api/oauth/${provider}?${query}`);
      const status = $('#oauth-status');
      if (!result.success) {
        status.textContent = msg(result.message) || t('error.unknown');
        status.classList.add('text-danger');
        return;
      }
      if (result.message === 'bind') {
        flashNext('success', t('oauth.bound'));
        location.href = '/setting';
      } else {
        flashNext('success', t('oauth.signed_in'));
        location.href = '/dashboard';
      }
    })();
  }
})();
