// "Access packages": the packages I may request, a package's page and its request form.
import { h, replace, nextId, expirationText, localId, badge, words, when } from './dom.js';
import { gql } from './api.js';

const LIST = `query {
  accessPackagesForMe { id displayName description catalog { displayName }
    resourceRoleScopes { id role { displayName resource { displayName resourceType } } } } }`;

const PACKAGE = `query($id: ID!) {
  accessPackage(id: $id) { id displayName description isHidden catalog { displayName }
    resourceRoleScopes { id role { displayName roleType resource { displayName resourceType description } } } }
  getApplicablePolicyRequirements(accessPackageId: $id) {
    policyId policyDisplayName policyDescription isApprovalRequiredForAdd isRequestorJustificationRequired
    allowCustomAssignmentSchedule schedule { expiration { type endDateTime duration } }
    questions { id type text isRequired isSingleLineQuestion choices { actualValue text } isMultipleSelectionAllowed } } }`;

const HELD = `query($id: ID!) {
  assignments(filterByCurrentUser: true, filter: { accessPackageId: $id }) { nodes { id endDateTime } }
  assignmentRequests(filterByCurrentUser: target, filter: { accessPackageId: $id, state: "pendingApproval" }) { totalCount } }`;

const REQUEST = `mutation($input: CreateAssignmentRequestInput!) {
  createAssignmentRequest(input: $input) { assignmentRequest { id state status } } }`;

export const packageHref = (id) => `#/access-packages/${encodeURIComponent(localId(id))}`;

/** The resource roles of a package, as a list. */
export function rolesList(scopes) {
  const roles = (scopes || []).filter((s) => s.role);
  if (!roles.length) return h('p', { class: 'muted' }, 'No resources listed.');
  return h('ul', { class: 'roles' }, roles.map((s) =>
    h('li', {}, h('span', { class: 'role-resource' }, s.role.resource?.displayName || 'Resource'),
      h('span', { class: 'role-name' }, s.role.displayName),
      s.role.resource?.resourceType ? h('span', { class: 'role-type' }, s.role.resource.resourceType) : null)));
}

export async function packageList(ctx) {
  const data = await gql(LIST);
  const items = data.accessPackagesForMe;
  const search = h('input', { id: 'package-search', type: 'search', autocomplete: 'off' });
  const list = h('ul', { id: 'package-list', class: 'cards' });
  const empty = h('p', { class: 'muted', id: 'package-empty' });
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = items.filter((p) => !q || `${p.displayName} ${p.description || ''}`.toLowerCase().includes(q));
    replace(list, shown.map((p) => h('li', { class: 'card package', dataset: { packageId: localId(p.id) } },
      h('h2', {}, h('a', { href: packageHref(p.id) }, p.displayName)),
      p.description ? h('p', {}, p.description) : null,
      p.catalog ? h('p', { class: 'meta' }, `Catalog: ${p.catalog.displayName}`) : null,
      h('h3', { class: 'small-heading' }, 'Resources'),
      rolesList(p.resourceRoleScopes),
      h('div', { class: 'actions' }, h('a', { class: 'button primary', href: packageHref(p.id), 'aria-label': `Request ${p.displayName}` }, 'Request')))));
    empty.textContent = shown.length ? '' : (items.length ? 'No access package matches your search.' : 'There is no access package you can request right now.');
  };
  search.addEventListener('input', draw);
  draw();
  replace(ctx.main,
    ctx.title('Access packages'),
    h('p', { class: 'lead' }, 'Access packages bundle the groups, applications and sites you need. Pick one to request it.'),
    h('div', { class: 'toolbar' }, h('label', { for: 'package-search' }, 'Search access packages'), search),
    empty, list);
}

function notFound(ctx) {
  replace(ctx.main, h('section', { id: 'not-found', class: 'card not-found' },
    ctx.title('Not found'),
    h('p', {}, 'This access package does not exist, or you cannot see it.'),
    h('p', {}, h('a', { href: '#/access-packages' }, 'Back to access packages'))));
}

export async function packagePage(ctx, id) {
  let data;
  try {
    data = await gql(PACKAGE, { id });
  } catch (err) {
    if (err.data?.accessPackage) data = { ...err.data, getApplicablePolicyRequirements: [], error: err };
    else if (['NOT_FOUND', 'VALIDATION_FAILED', 'FORBIDDEN', 'BAD_USER_INPUT'].includes(err.code)) return notFound(ctx);
    else throw err;
  }
  const pkg = data.accessPackage;
  if (!pkg) return notFound(ctx);
  const reqs = data.getApplicablePolicyRequirements || [];
  const held = await gql(HELD, { id: pkg.id }).catch(() => null);
  const assignment = held?.assignments.nodes[0];
  const pending = held?.assignmentRequests.totalCount > 0;
  let request;
  if (assignment || pending) {
    request = h('section', { class: 'card', id: 'request-unavailable' }, h('h2', {}, 'Request access'),
      assignment
        ? h('p', {}, `You already have this access package${assignment.endDateTime ? ` until ${when(assignment.endDateTime)}` : ''}. `,
          h('a', { href: '#/my-access' }, 'See my access'))
        : h('p', {}, 'Your request for this access package is waiting for approval. ', h('a', { href: '#/request-history' }, 'See request history')));
  } else if (reqs.length) {
    request = requestForm(ctx, pkg, reqs);
  } else {
    request = h('section', { class: 'card', id: 'request-unavailable' }, h('h2', {}, 'Request access'),
      h('p', {}, data.error ? data.error.message : 'You cannot request this access package: no policy lets you.'));
  }
  replace(ctx.main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/access-packages' }, 'Access packages'), ' / ', pkg.displayName),
    h('article', { id: 'package-details', class: 'card', dataset: { packageId: localId(pkg.id) } },
      ctx.title(pkg.displayName),
      pkg.description ? h('p', { class: 'lead' }, pkg.description) : null,
      pkg.catalog ? h('p', { class: 'meta' }, `Catalog: ${pkg.catalog.displayName}`) : null,
      h('h2', {}, 'Resources'),
      rolesList(pkg.resourceRoleScopes)),
    request);
}

function field(label, control, hint, required) {
  const hintId = hint ? nextId('hint') : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  if (required) control.required = true;
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label, required ? h('span', { class: 'req' }, ' (required)') : null),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    control);
}

function questionControl(q) {
  const id = nextId('q');
  const data = { questionId: q.id || '' };
  if (q.type === 'accessPackageMultipleChoiceQuestion') {
    const choices = q.choices || [];
    if (q.isMultipleSelectionAllowed) {
      return h('fieldset', { class: 'field choices', dataset: { ...data, multiple: 'true' } },
        h('legend', {}, q.text, q.isRequired ? h('span', { class: 'req' }, ' (required)') : null),
        choices.map((c) => {
          const cid = nextId('choice');
          return h('div', { class: 'check' }, h('input', { type: 'checkbox', id: cid, value: c.actualValue }), h('label', { for: cid }, c.text));
        }));
    }
    const select = h('select', { id, dataset: data },
      h('option', { value: '' }, 'Select an answer'),
      choices.map((c) => h('option', { value: c.actualValue }, c.text)));
    return field(q.text, select, null, q.isRequired);
  }
  const input = q.isSingleLineQuestion === false
    ? h('textarea', { id, rows: '3', dataset: data })
    : h('input', { id, type: 'text', autocomplete: 'off', dataset: data });
  return field(q.text, input, null, q.isRequired);
}

function collectAnswers(box) {
  const answers = [];
  for (const el of box.querySelectorAll('[data-question-id]')) {
    const questionId = el.dataset.questionId;
    if (el.dataset.multiple) {
      for (const c of el.querySelectorAll('input:checked')) answers.push({ questionId, value: c.value });
    } else if (el.value.trim()) answers.push({ questionId, value: el.value.trim() });
  }
  return answers;
}

function requestForm(ctx, pkg, reqs) {
  let chosen = reqs[0];
  const body = h('div', { class: 'policy-body' });
  const errors = h('div', { id: 'request-errors', class: 'form-error', role: 'alert' });
  errors.hidden = true;
  const submit = h('button', { type: 'submit', class: 'primary', id: 'submit-request' }, 'Submit request');
  const form = h('form', { id: 'request-form', class: 'card', novalidate: true },
    h('h2', {}, 'Request access'),
    reqs.length > 1
      ? h('fieldset', { class: 'field policies' }, h('legend', {}, 'How do you need access?'),
        reqs.map((r, i) => {
          const rid = nextId('policy');
          const radio = h('input', { type: 'radio', name: 'policy', id: rid, value: r.policyId, checked: i === 0 });
          radio.addEventListener('change', () => { chosen = r; draw(); });
          return h('div', { class: 'check' }, radio, h('label', { for: rid }, r.policyDisplayName,
            r.policyDescription ? h('span', { class: 'hint block' }, r.policyDescription) : null));
        }))
      : null,
    body, errors, h('div', { class: 'actions' }, submit));

  function draw() {
    const r = chosen;
    const typed = body.querySelector('#justification')?.value || '';
    const justification = h('textarea', { id: 'justification', rows: '3', maxlength: '4000' }, typed);
    const parts = [
      h('ul', { class: 'facts' },
        h('li', {}, r.isApprovalRequiredForAdd ? 'Approval is required' : 'No approval needed: access is delivered at once'),
        h('li', {}, expirationText(r.schedule?.expiration))),
      field('Business justification', justification, 'Why do you need this access?', r.isRequestorJustificationRequired),
      (r.questions || []).map(questionControl),
    ];
    if (r.allowCustomAssignmentSchedule) {
      parts.push(h('fieldset', { class: 'field schedule' }, h('legend', {}, 'Schedule (optional)'),
        field('Start', h('input', { id: 'schedule-start', type: 'datetime-local' })),
        field('End', h('input', { id: 'schedule-end', type: 'datetime-local' }))));
    }
    replace(body, parts);
  }
  draw();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const show = (lines) => {
      replace(errors, h('p', {}, 'The request was not submitted:'), h('ul', {}, lines.map((l) => h('li', {}, l))));
      errors.hidden = false;
    };
    const missing = [];
    for (const el of body.querySelectorAll('[required]')) {
      const blank = !el.value.trim();
      if (blank) el.setAttribute('aria-invalid', 'true');
      else el.removeAttribute('aria-invalid');
      if (blank) missing.push(`${el.labels?.[0]?.firstChild?.textContent || 'A field'} is required.`);
    }
    for (const fs of body.querySelectorAll('fieldset[data-multiple]')) {
      const q = chosen.questions.find((x) => (x.id || '') === fs.dataset.questionId);
      if (q?.isRequired && !fs.querySelector('input:checked')) missing.push(`${q.text} Pick at least one answer.`);
    }
    if (missing.length) { show(missing); body.querySelector('[aria-invalid]')?.focus(); return; }
    const input = {
      accessPackageId: pkg.id,
      assignmentPolicyId: chosen.policyId,
      answers: collectAnswers(body),
    };
    const justification = body.querySelector('#justification').value.trim();
    if (justification) input.justification = justification;
    const start = body.querySelector('#schedule-start')?.value;
    const end = body.querySelector('#schedule-end')?.value;
    if (start || end) {
      input.schedule = {};
      if (start) input.schedule.startDateTime = new Date(start).toISOString();
      if (end) input.schedule.expiration = { type: 'afterDateTime', endDateTime: new Date(end).toISOString() };
    }
    submit.disabled = true;
    submit.textContent = 'Submitting…';
    try {
      const data = await gql(REQUEST, { input });
      const req = data.createAssignmentRequest.assignmentRequest;
      ctx.announce(`Request for ${pkg.displayName} submitted: ${words(req.state)}.`, 'ok');
      replace(form, h('div', { id: 'request-submitted', dataset: { requestId: localId(req.id), state: req.state } },
        h('h2', {}, 'Request submitted'),
        h('p', {}, 'Your request for ', h('strong', {}, pkg.displayName), ' is ', badge(req.state), '.'),
        h('p', {}, h('a', { href: '#/request-history' }, 'See it in your request history'))));
    } catch (err) {
      if (err.status === 401) return;
      show(err.details || [err.message]);
      submit.disabled = false;
      submit.textContent = 'Submit request';
    }
  });
  return form;
}
