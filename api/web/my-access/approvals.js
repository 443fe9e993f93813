// "Approvals" (requests awaiting my decision, live) and "Access reviews" (my review decisions).
import { h, replace, nextId, when, badge, words, localId, humanize, debounce } from './dom.js';
import { gql } from './api.js';

export const APPROVAL_FIELDS = `fragment ApprovalRequest on AccessPackageAssignmentRequest {
  id state status requestType createdDateTime justification
  answers { questionId value displayValue }
  requestor { displayName mail } requestorSubject { displayName email connectedOrganization { displayName } }
  target { displayName } accessPackage { id displayName } assignmentPolicy { questions { id text } }
  approval { stages { id displayName status reviewResult assignedToMe isApproverJustificationRequired dueDateTime
    reviewedBy { displayName } reviewedDateTime justification } } }`;

const PENDING = `query { assignmentRequests(filterByCurrentUser: approver, first: 100) {
  totalCount nodes { ...ApprovalRequest } } } ${APPROVAL_FIELDS}`;

const DECIDE = `mutation($input: UpdateApprovalStageInput!) {
  updateApprovalStage(input: $input) { assignmentRequest { ...ApprovalRequest } } } ${APPROVAL_FIELDS}`;

const ONE = `query($id: ID!) { assignmentRequest(id: $id) { ...ApprovalRequest } } ${APPROVAL_FIELDS}`;

const OPEN_STAGE = (r) => (r.approval?.stages || []).find((s) => s.status === 'InProgress' || s.assignedToMe);

/** "Approved by Christie Cline", from the request's decided stage (or the change's reason). */
function decidedText(r, stageId, reason) {
  const stages = r?.approval?.stages || [];
  const stage = stages.find((s) => s.id === stageId) || [...stages].reverse().find((s) => s.reviewResult !== 'NotReviewed');
  if (stage && stage.reviewResult !== 'NotReviewed') {
    return `${words(stage.reviewResult)}${stage.reviewedBy?.displayName ? ` by ${stage.reviewedBy.displayName}` : ''}`;
  }
  if (r && !['pendingApproval', 'submitted'].includes(r.state)) return words(r.state);
  return reason ? humanize(reason) : 'No longer awaiting your decision';
}

export async function approvals(ctx) {
  const list = h('ul', { id: 'approval-list', class: 'cards' });
  const empty = h('p', { class: 'muted', id: 'approval-empty' });
  const items = new Map();
  replace(ctx.main, ctx.title('Approvals'),
    h('p', { class: 'lead' }, 'Requests waiting for your decision. New requests, and decisions by other approvers, appear here as they happen.'),
    empty, list);

  const countPending = () => {
    const n = [...items.values()].filter((el) => el.dataset.state === 'pending').length;
    empty.textContent = n ? '' : `Nothing${items.size ? ' else' : ''} is waiting for your decision.`;
  };

  function markDecided(id, text, request) {
    const el = items.get(id);
    if (!el || el.dataset.state === 'decided') return;
    el.dataset.state = 'decided';
    el.classList.add('decided');
    if (request?.status || request?.state) el.querySelector('.badge')?.replaceWith(badge(request.status || request.state));
    replace(el.querySelector('.decision'), h('p', { class: 'decided-note' }, h('strong', {}, 'Decided: '), text));
    countPending();
  }

  function upsert(r, atTop) {
    const id = localId(r.id);
    const stage = OPEN_STAGE(r);
    const existing = items.get(id);
    if (existing && existing.dataset.state === 'pending' && existing.dataset.stageId === (stage?.id || '')) return;
    const el = approvalItem(ctx, r, stage, markDecided);
    if (existing) existing.replaceWith(el);
    else if (atTop) list.prepend(el);
    else list.append(el);
    items.set(id, el);
    countPending();
  }

  async function load() {
    const data = await gql(PENDING);
    const pending = new Set();
    for (const r of data.assignmentRequests.nodes) { pending.add(localId(r.id)); upsert(r, false); }
    for (const [id, el] of items) if (el.dataset.state === 'pending' && !pending.has(id)) markDecided(id, 'No longer awaiting your decision');
    countPending();
  }
  await load();
  return {
    refresh: () => load().catch((err) => ctx.announce(err.message, 'bad')),
    onApprovalChange(change) {
      const r = change.assignmentRequest;
      const id = localId(r?.id);
      if (change.kind === 'assigned' && r) {
        upsert(r, true);
        ctx.announce(`New request for ${r.accessPackage?.displayName || 'an access package'} awaits your decision.`);
      } else if (change.kind === 'removed' && items.has(id)) {
        const text = decidedText(r, change.stageId, change.reason);
        markDecided(id, text, r);
        ctx.announce(`The request for ${r?.accessPackage?.displayName || 'an access package'} was decided: ${text}.`);
      }
    },
  };
}

function approvalItem(ctx, r, stage, markDecided) {
  const id = localId(r.id);
  const questions = new Map((r.assignmentPolicy?.questions || []).map((q) => [q.id, q.text]));
  const requestor = r.requestor?.displayName || r.requestorSubject?.displayName || r.requestorSubject?.email || 'Unknown requestor';
  const org = r.requestorSubject?.connectedOrganization?.displayName;
  const target = r.target?.displayName;
  const reasonId = nextId('reason');
  const required = Boolean(stage?.isApproverJustificationRequired);
  const reason = h('textarea', { id: reasonId, rows: '2', required: required || undefined, dataset: { field: 'reason' } });
  const error = h('p', { class: 'form-error', role: 'alert' });
  error.hidden = true;
  const approve = h('button', { type: 'button', class: 'primary', dataset: { action: 'approve' } }, 'Approve');
  const deny = h('button', { type: 'button', class: 'danger', dataset: { action: 'deny' } }, 'Deny');
  const decision = h('div', { class: 'decision' },
    h('label', { for: reasonId }, 'Reason', required ? h('span', { class: 'req' }, ' (required)') : h('span', { class: 'hint' }, ' (optional, shown to the requestor)')),
    reason, error, h('div', { class: 'actions' }, approve, deny));
  const el = h('li', { class: 'card approval', dataset: { requestId: id, state: 'pending', stageId: stage?.id || '' } },
    h('div', { class: 'item-head' },
      h('h2', {}, r.accessPackage?.displayName || 'Access package'),
      badge(r.status || r.state)),
    h('dl', { class: 'props' },
      h('dt', {}, 'Requested by'), h('dd', { class: 'requestor' }, requestor, org ? ` (${org})` : ''),
      target && target !== requestor ? [h('dt', {}, 'For'), h('dd', {}, target)] : null,
      h('dt', {}, 'Submitted'), h('dd', {}, when(r.createdDateTime)),
      stage?.dueDateTime ? [h('dt', {}, 'Decide by'), h('dd', {}, when(stage.dueDateTime))] : null,
      stage ? [h('dt', {}, 'Stage'), h('dd', {}, stage.displayName)] : null,
      h('dt', {}, 'Justification'), h('dd', { class: 'justification' }, r.justification || '—')),
    r.answers?.length
      ? h('div', { class: 'answers' }, h('h3', { class: 'small-heading' }, 'Answers'),
        h('dl', { class: 'props' }, r.answers.map((a) => [
          h('dt', {}, questions.get(a.questionId) || 'Question'), h('dd', {}, a.displayValue || a.value)])))
      : null,
    decision);

  const decide = async (result) => {
    if (required && !reason.value.trim()) {
      reason.setAttribute('aria-invalid', 'true');
      error.textContent = 'Give a reason for your decision.';
      error.hidden = false;
      reason.focus();
      return;
    }
    approve.disabled = deny.disabled = true;
    const input = { approvalId: r.id, reviewResult: result };
    if (stage?.id) input.stageId = stage.id;
    if (reason.value.trim()) input.justification = reason.value.trim();
    try {
      const data = await gql(DECIDE, { input });
      markDecided(id, `${result === 'Approve' ? 'Approved' : 'Denied'} by you`, data.updateApprovalStage.assignmentRequest);
      ctx.announce(`You ${result === 'Approve' ? 'approved' : 'denied'} the request for ${r.accessPackage?.displayName || 'the access package'}.`, 'ok');
    } catch (err) {
      if (err.code === 'CONFLICT') {
        const now = await gql(ONE, { id: r.id }).catch(() => null);
        markDecided(id, decidedText(now?.assignmentRequest, stage?.id, 'Already decided by another approver'), now?.assignmentRequest);
        ctx.announce('Another approver decided this request first.', 'warn');
        return;
      }
      approve.disabled = deny.disabled = false;
      error.textContent = err.details.join(' ');
      error.hidden = false;
    }
  };
  approve.addEventListener('click', () => decide('Approve'));
  deny.addEventListener('click', () => decide('Deny'));
  return el;
}

const REVIEWS = `query { accessReviewDecisions(filterByCurrentUser: reviewer, first: 100) { totalCount
  nodes { id accessReviewId accessPackageId resource { displayName } principalDisplayName principal { displayName mail }
    recommendation recommendationReason decision justification reviewedDateTime } } }`;

const RECORD = `mutation($input: RecordDecisionsInput!) {
  recordAccessReviewDecisions(input: $input) { decisions { id decision justification reviewedDateTime } } }`;

/** When each review ends, by id (one query, with aliases): a reviewer reads the reviews they take part in. */
async function reviewEnds(ids) {
  const list = [...new Set(ids)].slice(0, 40);
  if (!list.length) return new Map();
  const vars = list.map((_, i) => `$r${i}: ID!`).join(', ');
  const fields = list.map((_, i) => `r${i}: accessReviewInstance(id: $r${i}) { endDateTime }`).join(' ');
  const variables = Object.fromEntries(list.map((id, i) => [`r${i}`, id]));
  const data = await gql(`query(${vars}) { ${fields} }`, variables).catch((err) => err.data || {});
  return new Map(list.map((id, i) => [id, data?.[`r${i}`]?.endDateTime]));
}

export async function accessReviews(ctx) {
  const list = h('ul', { id: 'review-list', class: 'cards' });
  const empty = h('p', { class: 'muted' });
  replace(ctx.main, ctx.title('Access reviews'),
    h('p', { class: 'lead' }, 'Decide whether these people should keep their access. You can change a decision until the review ends.'),
    empty, list);
  async function load() {
    const data = await gql(REVIEWS);
    const items = data.accessReviewDecisions.nodes;
    const ends = await reviewEnds(items.map((d) => d.accessReviewId));
    empty.textContent = items.length ? '' : 'No access review is waiting for you.';
    // Keep the items being edited; add new ones, drop those no longer waiting.
    const keep = new Map([...list.children].map((el) => [el.dataset.decisionId, el]));
    replace(list, items.map((d) => keep.get(localId(d.id)) || reviewItem(ctx, d, ends.get(d.accessReviewId))));
  }
  const refresh = debounce(() => load().catch((err) => ctx.announce(err.message, 'bad')), 150);
  await load();
  return {
    refresh,
    onReviewEvent(event) { if (/started|completed|applied|stopped/.test(event.kind)) refresh(); },
    dispose: refresh.cancel,
  };
}

function reviewItem(ctx, d, endsAt) {
  const packageName = d.resource?.displayName;
  const reasonId = nextId('review-reason');
  const reason = h('textarea', { id: reasonId, rows: '2' }, d.justification || '');
  const current = h('span', {}, badge(d.decision));
  const buttons = [['Approve', 'primary', 'Approve'], ['Deny', 'danger', 'Deny'], ['DontKnow', 'subtle', 'Don’t know']].map(([value, cls, label]) =>
    h('button', { type: 'button', class: cls, dataset: { decision: value } }, label));
  const el = h('li', { class: 'card review', dataset: { decisionId: localId(d.id), decision: d.decision, packageId: localId(d.accessPackageId) } },
    h('div', { class: 'item-head' }, h('h2', {}, d.principal?.displayName || d.principalDisplayName || d.principalId || 'User'), current),
    h('dl', { class: 'props' },
      h('dt', {}, 'Access package'), h('dd', {}, packageName || `Package ${localId(d.accessPackageId)}`),
      endsAt ? [h('dt', {}, 'Review ends'), h('dd', {}, when(endsAt))] : null,
      h('dt', {}, 'Recommendation'), h('dd', {}, badge(d.recommendation), ' ', humanize(d.recommendationReason)),
      d.reviewedDateTime ? [h('dt', {}, 'Decided'), h('dd', {}, when(d.reviewedDateTime))] : null),
    h('div', { class: 'decision' }, h('label', { for: reasonId }, 'Reason'), reason, h('div', { class: 'actions' }, buttons)));
  for (const b of buttons) {
    b.addEventListener('click', async () => {
      buttons.forEach((x) => { x.disabled = true; });
      const input = { decisions: [{ id: d.id, decision: b.dataset.decision, justification: reason.value.trim() || null }] };
      try {
        const res = await gql(RECORD, { input });
        const saved = res.recordAccessReviewDecisions.decisions[0];
        el.dataset.decision = saved.decision;
        replace(current, badge(saved.decision));
        ctx.announce(`Decision recorded: ${words(saved.decision)}.`, 'ok');
      } catch (err) {
        ctx.announce(err.details.join(' '), 'bad');
      } finally {
        buttons.forEach((x) => { x.disabled = false; });
      }
    });
  }
  return el;
}
