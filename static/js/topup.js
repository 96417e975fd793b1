/* Top-up: redeem a code; the TopUpLink button carries username, user id and a fresh transaction id. */
'use strict';
(() => {
  const { t, run, busy, quota, cfg, uuid } = OA;
  const form = document.getElementById('redeem-form');
  const balance = document.getElementById('topup-balance');
  const link = document.getElementById('topup-link');

  if (link && cfg.user) {
    link.addEventListener('click', () => {
      const url = new URL(link.dataset.base, location.href);
      url.searchParams.set('username', cfg.user.username);
      url.searchParams.set('user_id', String(cfg.user.id));
      url.searchParams.set('transaction_id', uuid());
      link.href = url.toString();
    });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const key = form.elements.key.value.trim();
    if (!key) { OA.flash('error', t('topup.code_required')); form.elements.key.focus(); return; }
    busy(document.getElementById('redeem-submit'), async () => {
      const result = await run('POST', '/api/user/topup', { key });
      if (!result) return;
      const added = Number(result.data || 0);
      OA.flash('success', t('topup.done', { amount: quota(added) }));
      const now = Number(balance.dataset.quota) + added;
      balance.dataset.quota = String(now);
      balance.textContent = quota(now);
      form.reset();
    });
  });
})();
