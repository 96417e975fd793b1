/* Channel editor: type-specific fields, models (type / all / custom), groups, mapping check, batch keys. */
'use strict';
(() => {
  const { t, h, run, flash, saveThenGo, copy, jsonObjectError, $$ } = OA;
  const form = document.getElementById('channel-form');
  const id = form.dataset.id ? Number(form.dataset.id) : null;
  const types = JSON.parse(document.getElementById('channel-types').textContent);
  const KEY_FORMATS = { 15: 'channel.key_format_baidu', 18: 'channel.key_format_xunfei', 22: 'channel.key_format_fastgpt', 23: 'channel.key_format_tencent' };
  const OTHER_LABELS = {
    3: ['channel.other_azure', '2024-03-01-preview'], 17: ['channel.other_ali', 'web_search'],
    18: ['channel.other_xunfei', 'v3.5'], 21: ['channel.other_library', '123456'], 24: ['channel.other_gemini', 'v1beta'],
  };
  const USER_ID_LABELS = { 34: 'channel.user_id_coze', 37: 'channel.user_id_cloudflare' };
  const AZURE = 3; const AWS = 33; const VERTEX = 42;

  let models = [];
  let typeModels = {};
  let allModels = [];
  const chips = document.getElementById('model-chips');
  const groupBox = document.getElementById('group-checks');
  const typeSelect = form.elements.type;

  function label(input, key) {
    const el = form.querySelector(`label[for="${input.id}"]`);
    if (el) el.firstChild.textContent = t(key);
  }

  function currentType() { return Number(typeSelect.value); }

  /* Show the fields of the chosen type; label and hint the generic ones for it. */
  function applyType() {
    const type = currentType();
    $$('[data-types]', form).forEach((el) => { el.hidden = !el.dataset.types.split(',').map(Number).includes(type); });
    $$('[data-types-not]', form).forEach((el) => { el.hidden = el.dataset.typesNot.split(',').map(Number).includes(type); });
    const info = types[type] || { base_url: '' };
    const base = form.elements.base_url;
    const baseHelp = document.getElementById(base.id + '-help');
    base.placeholder = info.base_url || (type === AZURE ? 'https://example.openai.azure.com' : 'https://');
    base.required = type === AZURE || type === 8;
    label(base, type === AZURE ? 'channel.base_url_azure' : 'channel.base_url');
    baseHelp.textContent = type === AZURE ? t('channel.base_url_azure_help')
      : info.base_url ? t('channel.base_url_default', { url: info.base_url }) : t('channel.base_url_help');
    if (OTHER_LABELS[type]) {
      label(form.elements.other, OTHER_LABELS[type][0]);
      form.elements.other.placeholder = OTHER_LABELS[type][1];
    }
    if (USER_ID_LABELS[type]) label(form.elements.config_user_id, USER_ID_LABELS[type]);
    form.elements.key.placeholder = id ? t('channel.key_keep') : t(KEY_FORMATS[type] || 'channel.key_placeholder');
  }

  function renderModels() {
    chips.replaceChildren(...models.map((model) => h('li', { class: 'chip' },
      h('span', {}, model),
      h('button', { type: 'button', class: 'chip-remove', 'aria-label': t('channel.remove_model', { model }),
        onclick: () => { models = models.filter((m) => m !== model); renderModels(); } }, '×'))));
    document.getElementById('models-empty').hidden = models.length > 0;
  }

  function addModels(names) {
    for (const name of names) {
      const model = name.trim();
      if (model && !models.includes(model)) models.push(model);
    }
    renderModels();
  }

  function renderGroups(available, selected) {
    const names = [...new Set([...available, ...selected])].sort();
    groupBox.replaceChildren(...names.map((group) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'groups', value: group, checked: selected.includes(group) }), ' ', group)));
  }

  function selectedGroups() {
    return $$('input[name="groups"]:checked', groupBox).map((el) => el.value);
  }

  const customInput = document.getElementById('custom-model');
  function addCustom() {
    addModels(customInput.value.split(','));
    customInput.value = '';
    customInput.focus();
  }
  document.getElementById('add-model').addEventListener('click', addCustom);
  customInput.addEventListener('keydown', (event) => { if (event.key === 'Enter') { event.preventDefault(); addCustom(); } });
  document.getElementById('fill-type-models').addEventListener('click', () => {
    const list = typeModels[String(currentType())] || [];
    if (!list.length) flash('info', t('channel.no_type_models'));
    addModels(list);
  });
  document.getElementById('fill-all-models').addEventListener('click', () => addModels(allModels));
  document.getElementById('clear-models').addEventListener('click', () => { models = []; renderModels(); });
  document.getElementById('copy-models').addEventListener('click', () => { if (models.length) copy(models.join(',')); });

  typeSelect.addEventListener('change', () => {
    applyType();
    if (!models.length) addModels(typeModels[String(currentType())] || []);
  });
  const batch = form.elements.batch;
  if (batch) {
    batch.addEventListener('change', () => {
      document.getElementById('keys-block').hidden = !batch.checked;
      form.elements.key.closest('.field').hidden = batch.checked;
    });
  }

  const mapping = form.elements.model_mapping;
  const mappingError = document.getElementById('mapping-error');
  function checkMapping() {
    const error = jsonObjectError(mapping.value, (v) => typeof v === 'string');
    mappingError.textContent = error ? t('channel.mapping_invalid', { error }) : '';
    mappingError.hidden = !error;
    mapping.setAttribute('aria-invalid', error ? 'true' : 'false');
    return !error;
  }
  mapping.addEventListener('input', () => { mappingError.hidden = true; mapping.removeAttribute('aria-invalid'); });

  function configValues() {
    const config = {};
    $$('[data-config]', form).forEach((el) => {
      if (!el.closest('[hidden]') && el.value.trim()) config[el.dataset.config] = el.value.trim();
    });
    return config;
  }

  function fill(channel) {
    typeSelect.value = String(channel.type);
    for (const name of ['name', 'base_url', 'other', 'system_prompt', 'priority', 'weight']) {
      form.elements[name].value = channel[name] ?? '';
    }
    let mappingText = channel.model_mapping || '';
    try { if (mappingText) mappingText = JSON.stringify(JSON.parse(mappingText), null, 2); } catch (e) { /* keep as is */ }
    mapping.value = mappingText;
    let config = {};
    try { config = channel.config ? JSON.parse(channel.config) : {}; } catch (e) { config = {}; }
    $$('[data-config]', form).forEach((el) => { el.value = config[el.dataset.config] || ''; });
    models = [];
    addModels((channel.models || '').split(','));
    applyType();
    return (channel.group || '').split(',').map((g) => g.trim()).filter(Boolean);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const type = currentType();
    const name = form.elements.name.value.trim();
    const config = configValues();
    let key = batch && batch.checked ? form.elements.keys.value : form.elements.key.value.trim();
    if (!key && type === AWS && config.ak && config.sk && config.region) key = `${config.ak}|${config.sk}|${config.region}`;
    if (!key && type === VERTEX && config.region && config.vertex_ai_project_id && config.vertex_ai_adc) {
      key = `${config.region}|${config.vertex_ai_project_id}|${config.vertex_ai_adc}`;
    }
    if (!name) { flash('error', t('channel.name_required')); form.elements.name.focus(); return; }
    if (!id && !key.trim()) { flash('error', t('channel.key_required')); return; }
    if (type !== 43 && !models.length) { flash('error', t('channel.models_required')); customInput.focus(); return; }
    const groups = selectedGroups();
    if (!groups.length) { flash('error', t('channel.groups_required')); return; }
    if (!checkMapping()) { flash('error', mappingError.textContent); mapping.focus(); return; }
    let baseUrl = form.elements.base_url.closest('[hidden]') ? '' : form.elements.base_url.value.trim().replace(/\/+$/, '');
    if (form.elements.base_url.required && !baseUrl) { flash('error', t('channel.base_url_required')); return; }
    let other = form.elements.other.closest('[hidden]') ? '' : form.elements.other.value.trim();
    if (type === AZURE && !other) other = '2024-03-01-preview';
    const body = {
      type, name, key, base_url: baseUrl, other, models: models.join(','), group: groups.join(','),
      model_mapping: mapping.value.trim(), system_prompt: form.elements.system_prompt.value,
      config: JSON.stringify(config), priority: Number(form.elements.priority.value || 0),
      weight: Number(form.elements.weight.value || 0),
    };
    if (id) body.id = id;
    saveThenGo(document.getElementById('channel-submit'), id ? 'PUT' : 'POST', '/api/channel/', body,
      id ? t('channel.updated', { name }) : t('channel.created', { name }), '/channel');
  });

  (async () => {
    const [modelMap, catalogue, groupList, channel] = await Promise.all([
      run('GET', '/api/models'), run('GET', '/api/channel/models'), run('GET', '/api/group/'),
      id ? run('GET', `/api/channel/${id}`) : Promise.resolve(null),
    ]);
    typeModels = (modelMap && modelMap.data) || {};
    const catalogueData = catalogue && catalogue.data;
    allModels = Array.isArray(catalogueData) ? catalogueData.map((m) => m.id)
      : (catalogueData && Array.isArray(catalogueData.data) ? catalogueData.data.map((m) => m.id) : []);
    if (!allModels.length) allModels = [...new Set(Object.values(typeModels).flat())];
    document.getElementById('all-models').replaceChildren(...allModels.map((m) => h('option', { value: m })));
    let selectedGroupNames = ['default'];
    if (channel && channel.data) selectedGroupNames = fill(channel.data);
    else if (!id) { applyType(); addModels(typeModels[String(currentType())] || []); }
    renderGroups((groupList && groupList.data) || ['default'], selectedGroupNames);
  })();
  applyType();
  renderModels();
})();
