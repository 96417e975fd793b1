/* Generate N redemption codes in one request (then copy or download them), or edit one code. */
'use strict';
(() => {
  const { t, run, busy, flash, saveThenGo, copy, quotaHint } = OA;
  const form = document.getElementById('redemption-form');
  const id = form.dataset.id ? Number(form.dataset.id) : null;
  const hint = document.getElementById('quota-hint');
  let batchName = '';

  const syncHint = () => { hint.textContent = quotaHint(form.elements.quota.value); };
  form.elements.quota.addEventListener('input', syncHint);

  function download(keys) {
    const blob = new Blob([keys.join('\n') + '\n'], { type: 'text/plain;charset=utf-8' });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `redemption-${batchName || 'codes'}-${new Date().toISOString().slice(0, 10)}.txt`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    const quotaValue = Number.parseInt(form.elements.quota.value, 10);
    if (!name || name.length > 20) { flash('error', t('redemption.name_help')); form.elements.name.focus(); return; }
    if (Number.isNaN(quotaValue) || quotaValue <= 0) { flash('error', t('token.quota_invalid')); form.elements.quota.focus(); return; }
    if (id) {
      saveThenGo(document.getElementById('redemption-submit'), 'PUT', '/api/redemption/', { id, name, quota: quotaValue },
        t('redemption.updated', { name }), '/redemption');
      return;
    }
    const count = Number.parseInt(form.elements.count.value, 10);
    if (Number.isNaN(count) || count < 1 || count > 100) { flash('error', t('redemption.count_help')); form.elements.count.focus(); return; }
    busy(document.getElementById('redemption-submit'), async () => {
      const result = await OA.api('POST', '/api/redemption/', { name, quota: quotaValue, count });
      const keys = Array.isArray(result.data) ? result.data : [];
      if (!result.success) flash('error', OA.msg(result.message) || t('error.unknown'));
      if (!keys.length) return;
      batchName = name;
      if (result.success) flash('success', t('redemption.generated_done', { count: keys.length }));
      document.getElementById('generated-keys').value = keys.join('\n');
      document.getElementById('generated-summary').textContent = t('redemption.generated_summary',
        { count: keys.length, name, quota: OA.quota(quotaValue) });
      document.getElementById('generated').hidden = false;
    });
  });

  const copyAll = document.getElementById('copy-generated');
  if (copyAll) {
    copyAll.addEventListener('click', () => copy(document.getElementById('generated-keys').value));
    document.getElementById('download-generated').addEventListener('click', () =>
      download(document.getElementById('generated-keys').value.split('\n').filter(Boolean)));
  }

  if (id) {
    run('GET', `/api/redemption/${id}`).then((result) => {
      if (!result) return;
      form.elements.name.value = result.data.name || '';
      form.elements.quota.value = result.data.quota;
      syncHint();
    });
  }
  syncHint();
})();
