// "Request history" (my requests) and "My access" (my assignments, with extension and removal).
import { h, replace, nextId, when, badge, words, localId, humanize, debounce } from './dom.js';
import { gql } from './api.js';
import { packageHref, rolesList } from './packages.js';

const REQUEST_FIELDS = `fragment HistoryRequest on AccessPackageAssignmentRequest {
  id requestType state status createdDateTime completedDateTime justification targetId
  target { displayName } accessPackage { id displayName }
  approval { stages { id displayName status reviewResult justification reviewedBy { displayName } reviewedDateTime } }
  explanation { log { at text } } }`;

const HISTORY = `query($on: AccessPackageAssignmentRequestFilterByCurrentUserOptions!, $after: String) {
  assignmentRequests(filterByCurrentUser: $on, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { ...HistoryRequest } } } ${REQUEST_FIELDS}`;

const CANCEL = `mutation($id: ID!) { cancelAssignmentRequest(input: { id: $id }) { assignmentRequest { id state } } }`;

const ASSIGNMENTS = `query($after: String) {
  assignments(filterByCurrentUser: true, first: 100, after: $after) { pageInfo { hasNextPage endCursor }
    nodes { id state status endDateTime schedule { startDateTime }
      accessPackage { id displayName description resourceRoleScopes { id role { displayName resource { displayName resourceType } } } }
      assignmentPolicy { id displayName expiration { type duration endDateTime }
        requestorSettings { enableTargetsToSelfUpdateAccess enableTargetsToSelfRemoveAccess }
        requestApprovalSettings { isRequestorJustificationRequired isApprovalRequiredForUpdate } }
      deliveredResourceRoles { type description } } } }`;

const CHANGE = `mutation($input: CreateAssignmentRequestInput!) {
  createAssignmentRequest(input: $input) { assignmentRequest { id state status } } }`;

const OPEN = ['submitted', 'pendingApproval', 'scheduled'];
const TYPES = { userAdd: 'Request access', userUpdate: 'Extend access', userRemove: 'Remove access', adminAdd: 'Assigned by an administrator', adminUpdate: 'Updated by an administrator', adminRemove: 'Removed by an administrator', systemAdd: 'Assigned automatically', systemRemove: 'Removed automatically', onBehalfAdd: 'Requested on your behalf' };

/** Every page of a connection (at most 1,000 items). */
async function allPages(query, variables, pick) {
  const out = [];
  let after = null;
  for (let i = 0; i < 10; i++) {
    const conn = pick(await gql(query, { ...variables, after }));
    out.push(...conn.nodes);
    if (!conn.pageInfo.hasNextPage) break;
    after = conn.pageInfo.endCursor;
  }
  return out;
}

function stageText(s) {
  if (s.reviewResult === 'NotReviewed') return `${s.displayName}: ${words(s.status)}`;
  const by = s.reviewedBy?.displayName ? ` by ${s.reviewedBy.displayName}` : '';
  return `${s.displayName}: ${words(s.reviewResult)}${by}${s.reviewedDateTime ? ` on ${when(s.reviewedDateTime)}` : ''}${s.justification ? ` (“${s.justification}”)` : ''}`;
}

export async function requestHistory(ctx) {
  const opened = new Set(); // the requests whose activity log is open, kept open across refreshes
  const list = h('ul', { id: 'request-list', class: 'cards' });
  const empty = h('p', { class: 'muted' });
  replace(ctx.main, ctx.title('Request history'),
    h('p', { class: 'lead' }, 'Your requests and the requests made for you, newest first. This page updates by itself.'),
    empty, list);

  async function load() {
    const fetchOn = (on) => allPages(HISTORY, { on }, (d) => d.assignmentRequests);
    const [mine, forMe] = await Promise.all([fetchOn('createdBy'), fetchOn('target')]);
    const byId = new Map([...mine, ...forMe].map((r) => [r.id, r]));
    const requests = [...byId.values()].sort((a, b) => b.createdDateTime.localeCompare(a.createdDateTime));
    empty.textContent = requests.length ? '' : 'You have not requested anything yet.';
    replace(list, requests.map((r) => historyItem(ctx, r, refresh, opened)));
  }
  const refresh = debounce(() => load().catch((err) => ctx.announce(err.message, 'bad')), 150);
  await load();
  return {
    refresh,
    onActivity(a) { if (a.assignmentRequest && ctx.isMine(a)) refresh(); },
    dispose: refresh.cancel,
  };
}

function historyItem(ctx, r, refresh, opened) {
  const forOther = ctx.me?.id && localId(r.targetId) !== localId(ctx.me.id) && r.target?.displayName;
  const stages = r.approval?.stages || [];
  const item = h('li', { class: 'card request', dataset: { requestId: localId(r.id), state: r.state } },
    h('div', { class: 'item-head' },
      h('h2', {}, r.accessPackage ? h('a', { href: packageHref(r.accessPackage.id) }, r.accessPackage.displayName) : 'Access package'),
      badge(r.state)),
    h('dl', { class: 'props' },
      h('dt', {}, 'Request'), h('dd', {}, TYPES[r.requestType] || words(r.requestType)),
      h('dt', {}, 'Submitted'), h('dd', {}, when(r.createdDateTime)),
      forOther ? [h('dt', {}, 'For'), h('dd', {}, r.target.displayName)] : null,
      r.completedDateTime ? [h('dt', {}, 'Completed'), h('dd', {}, when(r.completedDateTime))] : null,
      h('dt', {}, 'Status'), h('dd', { class: 'status-text' }, words(r.status)),
      r.justification ? [h('dt', {}, 'Justification'), h('dd', {}, r.justification)] : null),
    stages.length ? h('ul', { class: 'stages' }, stages.map((s) => h('li', {}, stageText(s)))) : null,
    r.explanation?.log?.length
      ? h('details', { open: opened.has(r.id), ontoggle: (e) => (e.target.open ? opened.add(r.id) : opened.delete(r.id)) },
        h('summary', {}, 'Activity'),
        h('ol', { class: 'log' }, r.explanation.log.map((e) => h('li', {}, h('time', { datetime: e.at }, when(e.at)), ' ', humanize(e.text)))))
      : null);
  if (OPEN.includes(r.state)) {
    const cancel = h('button', { type: 'button', class: 'subtle danger', dataset: { action: 'cancel' } }, 'Cancel request');
    cancel.addEventListener('click', async () => {
      cancel.disabled = true;
      try {
        await gql(CANCEL, { id: r.id });
        ctx.announce('Request canceled.', 'ok');
        refresh();
      } catch (err) {
        cancel.disabled = false;
        ctx.announce(err.message, 'bad');
      }
    });
    item.append(h('div', { class: 'actions' }, cancel));
  }
  return item;
}

export async function myAccess(ctx) {
  const list = h('ul', { id: 'assignment-list', class: 'cards' });
  const empty = h('p', { class: 'muted' });
  replace(ctx.main, ctx.title('My access'),
    h('p', { class: 'lead' }, 'The access packages you have, and when each ends.'),
    empty, list);
  async function load() {
    const items = await allPages(ASSIGNMENTS, {}, (d) => d.assignments);
    empty.textContent = items.length ? '' : 'You have no access package yet. ';
    if (!items.length) empty.append(h('a', { href: '#/access-packages' }, 'Request one'));
    replace(list, items.map((a) => assignmentItem(ctx, a, refresh)));
  }
  const refresh = debounce(() => load().catch((err) => ctx.announce(err.message, 'bad')), 150);
  await load();
  return {
    refresh,
    onActivity(a) { if (ctx.isMine(a)) refresh(); },
    dispose: refresh.cancel,
  };
}

function assignmentItem(ctx, a, refresh) {
  const settings = a.assignmentPolicy?.requestorSettings;
  const canExtend = Boolean(settings?.enableTargetsToSelfUpdateAccess && a.endDateTime);
  const canRemove = Boolean(settings?.enableTargetsToSelfRemoveAccess);
  const actions = h('div', { class: 'actions' });
  const panel = h('div', { class: 'inline-panel' });
  const item = h('li', { class: 'card assignment', dataset: { assignmentId: localId(a.id), state: a.state } },
    h('div', { class: 'item-head' },
      h('h2', {}, a.accessPackage ? h('a', { href: packageHref(a.accessPackage.id) }, a.accessPackage.displayName) : 'Access package'),
      badge(a.state)),
    a.accessPackage?.description ? h('p', {}, a.accessPackage.description) : null,
    h('dl', { class: 'props' },
      h('dt', {}, 'Started'), h('dd', {}, when(a.schedule?.startDateTime)),
      h('dt', {}, 'Ends'), h('dd', { class: 'end-date' }, a.endDateTime ? when(a.endDateTime) : 'No end date'),
      a.status && a.status.toLowerCase() !== a.state.toLowerCase() ? [h('dt', {}, 'Status'), h('dd', {}, words(a.status))] : null),
    a.accessPackage?.resourceRoleScopes?.length
      ? rolesList(a.accessPackage.resourceRoleScopes)
      : a.deliveredResourceRoles?.length
        ? h('ul', { class: 'roles' }, a.deliveredResourceRoles.map((g) => h('li', {}, g.description || words(g.type))))
        : null,
    actions, panel);
  const open = (kind) => {
    const justificationRequired = Boolean(a.assignmentPolicy?.requestApprovalSettings?.isRequestorJustificationRequired);
    const id = nextId('why');
    const text = h('textarea', { id, rows: '2', required: justificationRequired || undefined });
    const go = h('button', { type: 'submit', class: kind === 'extend' ? 'primary' : 'danger' }, kind === 'extend' ? 'Request extension' : 'Remove my access');
    const back = h('button', { type: 'button', class: 'subtle' }, 'Cancel');
    const form = h('form', { class: 'mini-form', novalidate: true, dataset: { form: kind } },
      h('label', { for: id }, kind === 'extend' ? 'Why do you need the access longer?' : 'Reason (optional)',
        justificationRequired && kind === 'extend' ? h('span', { class: 'req' }, ' (required)') : null),
      text, h('div', { class: 'actions' }, go, back));
    back.addEventListener('click', () => { replace(panel); actions.hidden = false; });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (justificationRequired && kind === 'extend' && !text.value.trim()) {
        text.setAttribute('aria-invalid', 'true');
        ctx.announce('A justification is required.', 'bad');
        text.focus();
        return;
      }
      go.disabled = true;
      const input = {
        requestType: kind === 'extend' ? 'userUpdate' : 'userRemove',
        accessPackageId: a.accessPackage?.id, assignmentId: a.id, assignmentPolicyId: a.assignmentPolicy?.id,
      };
      if (text.value.trim()) input.justification = text.value.trim();
      try {
        const data = await gql(CHANGE, { input });
        const state = data.createAssignmentRequest.assignmentRequest.state;
        ctx.announce(`${kind === 'extend' ? 'Extension' : 'Removal'} requested: ${words(state)}.`, 'ok');
        replace(panel, h('p', { class: 'note' }, `${kind === 'extend' ? 'Extension' : 'Removal'} requested (${words(state)}). `,
          h('a', { href: '#/request-history' }, 'See request history')));
        refresh();
      } catch (err) {
        go.disabled = false;
        ctx.announce(err.details.join(' '), 'bad');
      }
    });
    actions.hidden = true;
    replace(panel, form);
    text.focus();
  };
  if (canExtend) actions.append(h('button', { type: 'button', class: 'secondary', dataset: { action: 'extend' }, onclick: () => open('extend') }, 'Request extension'));
  if (canRemove) actions.append(h('button', { type: 'button', class: 'subtle danger', dataset: { action: 'remove' }, onclick: () => open('remove') }, 'Remove access'));
  return item;
}
