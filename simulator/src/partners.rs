//! Seed scenario 2's outside world, as its people act: partners' contractors who sign in with
//! their own organization's identity provider and request a package; their sponsors, told on
//! `graphql-transport-ws`, who approve, deny or never answer; guests who ask to extend before
//! their access ends; reviewers, told on their socket that a review started, who decide its
//! items; and people of organizations nobody connected, who try.
//!
//! The simulator keeps its own model of every guest: when their access ends (their end date,
//! or the end of a review that denied them), when the tenant blocks them and when it deletes
//! them. [`Partnership::check`] compares the server's answers with it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::actions::{Attempts, Tokens};
use crate::client::{APPROVALS, Graphql, Mailbox, Subscriber, text};
use crate::harness::Harness;
use crate::rng::Rng;
use crate::scenario::{Organization, Partner, Phase};
use crate::stats::Samples;

/// How long an approver or a reviewer may take to be told.
const TOLD_WITHIN: Duration = Duration::from_secs(10);

const REQUEST: &str = "mutation($input: CreateAssignmentRequestInput!) {
    createAssignmentRequest(input: $input) { assignmentRequest { id state approval { stages { dueDateTime } } } } }";
const DECIDE: &str = "mutation($input: UpdateApprovalStageInput!) {
    updateApprovalStage(input: $input) { assignmentRequest { id state
      assignment { id endDateTime } requestorSubject { objectId } } } }";
const REVIEW_STARTED: &str =
    "subscription { events(filter: {kind: \"accessReview.started\"}) { event { subjectId data } } }";
const MY_ITEMS: &str =
    "query($a: String) { accessReviewDecisions(filterByCurrentUser: reviewer, first: 200, after: $a) {
    pageInfo { hasNextPage endCursor } nodes { id accessReviewId principalId decision } } }";
const RECORD: &str = "mutation($d: [ReviewDecisionInput!]!) {
    recordAccessReviewDecisions(input: {decisions: $d}) { decisions { id } } }";

/// A guest the sponsor let in, as the simulator expects them to be.
#[derive(Debug, Clone)]
pub struct Guest {
    pub id: String,
    assignment: String,
    /// Their assignment's end date, as the last approval set it.
    end: DateTime<Utc>,
    /// The end date they last asked to extend (they ask once per end date).
    asked: Option<DateTime<Utc>>,
    /// The end of a review that denied them: their access ends then.
    denied_until: Option<DateTime<Utc>>,
}

impl Guest {
    fn access_ends(&self) -> DateTime<Utc> {
        self.denied_until.map_or(self.end, |d| d.min(self.end))
    }
}

/// What partners, sponsors, reviewers and outsiders did.
#[derive(Debug, Clone, Default)]
pub struct PartnerTally {
    pub signups: usize,
    pub approved: usize,
    pub denied: usize,
    /// Requests their sponsor never answered, which time out.
    pub silent: usize,
    pub timed_out: usize,
    pub extensions: usize,
    /// Extensions approved and applied.
    pub extended: usize,
    pub review_items: usize,
    pub review_denied: usize,
    /// Requests by partners of connected organizations refused when sent, by error code.
    pub refused: BTreeMap<String, usize>,
    /// Requests that did not end as their sponsor decided, with what they ended as.
    pub unfinished: Vec<String>,
    /// Requests of people from organizations nobody connected.
    pub outsiders: Attempts,
    /// Approvals nobody was told of on their socket in time.
    pub unnotified: Vec<String>,
}

/// Where the people act: the server, its GraphQL endpoint, and the administrator's token.
#[derive(Clone, Copy)]
pub struct Wire<'a> {
    pub harness: &'a Harness,
    pub api: &'a Graphql,
    pub admin: &'a str,
}

/// What the tenant does to a guest entitlement management invited once their access ends.
#[derive(Debug, Clone, Copy)]
struct Lifecycle {
    block: bool,
    delete_after: Option<chrono::TimeDelta>,
}

/// The partner organizations, their people, the guests they became, and the sockets of the
/// sponsors and reviewers.
pub struct Partnership {
    organizations: Vec<Organization>,
    partners: Vec<Partner>,
    /// Partners who have not signed up yet, in the order they will (taken from the end).
    waiting: Vec<usize>,
    /// Guests by partner.
    guests: BTreeMap<usize, Guest>,
    /// Partners by guest id.
    partner_of: HashMap<String, usize>,
    /// Requests nobody answers, with when they time out.
    silent: Vec<(String, DateTime<Utc>)>,
    mailbox: Arc<Mailbox>,
    sockets: Vec<Subscriber>,
    reviewers: Vec<String>,
    /// Reviews a reviewer was told of and has not acted on yet.
    reviews_told: Vec<(String, Value)>,
    seed: u64,
    lifecycle: Lifecycle,
    due: f64,
    pub now: DateTime<Utc>,
    pub tally: PartnerTally,
}

impl Partnership {
    /// Connects the sockets of the sponsors (approvals) and of `reviewers` (reviews started),
    /// and reads the tenant's guest lifecycle setting. `now` is the virtual time.
    pub async fn start(
        wire: Wire<'_>,
        tokens: &mut Tokens<'_>,
        (organizations, partners): (Vec<Organization>, Vec<Partner>),
        reviewers: BTreeSet<String>,
        seed: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        let Wire { harness, api, admin } = wire;
        let mut waiting: Vec<usize> = (0..partners.len()).collect();
        Rng::seeded(seed ^ 0x5157_4E55_5053).shuffle(&mut waiting);
        let mailbox = Arc::new(Mailbox::default());
        let sponsors: BTreeSet<&String> = organizations.iter().map(|o| &o.sponsor).collect();
        let mut sockets = Vec::new();
        for sponsor in sponsors {
            let (mailbox, who) = (Arc::clone(&mailbox), sponsor.clone());
            sockets.push(
                Subscriber::listen(&harness.base, &tokens.of(sponsor)?, APPROVALS, move |_, data| {
                    let change = &data["approvalStageChanges"];
                    if change["kind"] == "assigned" {
                        let request = text(change, "/assignmentRequest/id");
                        mailbox.put(format!("approve/{who}/{request}"), Value::Null);
                    }
                })
                .await
                .with_context(|| format!("the approvals socket of {sponsor}"))?,
            );
        }
        for reviewer in &reviewers {
            let (mailbox, who) = (Arc::clone(&mailbox), reviewer.clone());
            sockets.push(
                Subscriber::listen(&harness.base, &tokens.of(reviewer)?, REVIEW_STARTED, move |_, data| {
                    mailbox.put(format!("review/{who}"), data["events"]["event"]["data"]["instance"].clone());
                })
                .await
                .with_context(|| format!("the reviews socket of {reviewer}"))?,
            );
        }
        let settings = api
            .execute(
                admin,
                "{ entitlementManagementSettings { externalUserLifecycleAction durationUntilExternalUserDeletedAfterBlocked } }",
                json!({}),
            )
            .await
            .map_err(|e| anyhow::anyhow!("entitlementManagementSettings: {} {}", e.code, e.message))?;
        let settings = &settings["entitlementManagementSettings"];
        let action = text(settings, "/externalUserLifecycleAction");
        let lifecycle = Lifecycle {
            block: action != "none",
            delete_after: (action == "blockSignInAndDelete")
                .then(|| days(text(settings, "/durationUntilExternalUserDeletedAfterBlocked")))
                .flatten(),
        };
        Ok(Self {
            organizations,
            partners,
            waiting,
            guests: BTreeMap::new(),
            partner_of: HashMap::new(),
            silent: Vec::new(),
            mailbox,
            sockets,
            reviewers: reviewers.into_iter().collect(),
            reviews_told: Vec::new(),
            seed,
            lifecycle,
            due: 0.0,
            now,
            tally: PartnerTally::default(),
        })
    }

    /// Closes the sockets.
    pub async fn stop(self) {
        for socket in self.sockets {
            if let Err(e) = socket.close().await {
                tracing::warn!(error = %e, "a socket ended with an error");
            }
        }
    }

    /// Guests whose access holds now.
    #[must_use]
    pub fn guests_with_access(&self) -> usize {
        self.guests.values().filter(|g| g.access_ends() > self.now).count()
    }

    /// The day's partners: reviewers decide the reviews they were told of, partners sign up
    /// (their sponsor decides), guests near their end ask to extend, outsiders try. Each kind
    /// is drawn first, then acted by `clients` concurrent clients, and counted in the order it
    /// was drawn; every decision is drawn from the seed and what it is about, so the counts do
    /// not depend on timing.
    pub async fn day(
        &mut self,
        wire: Wire<'_>,
        tokens: &mut Tokens<'_>,
        phase: &Phase,
        package: &str,
        clients: usize,
        operations: &mut BTreeMap<String, Samples>,
    ) -> anyhow::Result<()> {
        self.reviews(wire.api, tokens, phase, clients, operations).await?;
        self.sign_ups(wire, tokens, phase, package, clients, operations).await?;
        if phase.extend > 0.0 {
            self.extensions(wire, tokens, phase, package, clients, operations).await?;
        }
        for _ in 0..phase.outsiders {
            self.outsider(wire, phase, package, operations).await;
        }
        Ok(())
    }

    fn chance(&self, what: &str, share: f64) -> bool {
        chance(self.seed, what, share)
    }

    fn partner_token(&self, harness: &Harness, n: usize) -> anyhow::Result<String> {
        let p = &self.partners[n];
        let tenant = &self.organizations[p.organization].tenant;
        harness.partner_token(tenant, &p.object_id, &p.email, &p.name, Duration::from_secs(24 * 3600))
    }

    fn answers(phase: &Phase) -> Value {
        phase.answers.iter().map(|(q, a)| json!({ "questionId": q, "value": a })).collect()
    }

    /// The day's sign-ups: each partner drawn signs in and requests `package`; their sponsor,
    /// told on their socket, decides (or never answers); an approved partner is a guest from
    /// then on, with their sponsor as manager.
    async fn sign_ups(
        &mut self,
        wire: Wire<'_>,
        tokens: &mut Tokens<'_>,
        phase: &Phase,
        package: &str,
        clients: usize,
        operations: &mut BTreeMap<String, Samples>,
    ) -> anyhow::Result<()> {
        #[allow(clippy::cast_precision_loss)]
        {
            self.due += phase.signups * self.waiting.len() as f64;
        }
        let mut plans = Vec::new();
        while self.due >= 1.0 {
            self.due -= 1.0;
            let Some(n) = self.waiting.pop() else { break };
            let sponsor = self.organizations[self.partners[n].organization].sponsor.clone();
            let decision = if self.chance(&format!("silent/{n}"), phase.sponsor_silent) {
                None
            } else {
                Some(self.chance(&format!("approve/{n}"), phase.sponsor_approve))
            };
            let input = json!({ "input": { "requestType": "userAdd", "accessPackageId": package,
                "answers": Self::answers(phase), "consentToShareProfile": true,
                "justification": format!("{} joins the project", self.partners[n].name) } });
            plans.push(SignUp {
                n,
                token: self.partner_token(wire.harness, n)?,
                sponsor_token: tokens.of(&sponsor)?,
                sponsor,
                decision,
                input,
            });
        }
        let mailbox = &self.mailbox;
        let outcomes: Vec<(usize, Done)> = futures::stream::iter(plans)
            .map(|plan| async move { (plan.n, sign_up(wire.api, wire.admin, mailbox, plan).await) })
            .buffered(clients.max(1))
            .collect()
            .await;
        for (n, done) in outcomes {
            self.tally.signups += 1;
            record(operations, &done.operations);
            match done.ended {
                Ended::Refused(code, why) => {
                    *self.tally.refused.entry(code).or_default() += 1;
                    self.tally.unfinished.push(format!("{}: refused {why}", self.partners[n].email));
                }
                Ended::Untold(why) => self.tally.unnotified.push(why),
                Ended::Silent(id, due) => {
                    self.tally.silent += 1;
                    self.silent.push((id, due.unwrap_or(self.now)));
                }
                Ended::Delivered { guest, assignment, end } => {
                    self.tally.approved += 1;
                    self.partner_of.insert(guest.clone(), n);
                    self.guests
                        .insert(n, Guest { id: guest, assignment, end, asked: None, denied_until: None });
                }
                Ended::Denied => self.tally.denied += 1,
                Ended::Otherwise(what) => {
                    self.tally.unfinished.push(format!("{} {what}", self.partners[n].email));
                }
            }
        }
        Ok(())
    }

    /// Guests whose access ends within `extend_within` days ask, once per end date, to extend
    /// it (a share `extend` of them); their sponsor approves.
    async fn extensions(
        &mut self,
        wire: Wire<'_>,
        tokens: &mut Tokens<'_>,
        phase: &Phase,
        package: &str,
        clients: usize,
        operations: &mut BTreeMap<String, Samples>,
    ) -> anyhow::Result<()> {
        let horizon = self.now + chrono::TimeDelta::days(i64::from(phase.extend_within));
        let near: Vec<usize> = self
            .guests
            .iter()
            .filter(|(_, g)| g.access_ends() > self.now && g.end <= horizon && g.asked != Some(g.end))
            .map(|(n, _)| *n)
            .collect();
        let mut plans = Vec::new();
        for n in near {
            let (end, assignment) = {
                let guest = self.guests.get_mut(&n).context("a guest")?;
                guest.asked = Some(guest.end);
                (guest.end, guest.assignment.clone())
            };
            if !self.chance(&format!("extend/{n}/{end}"), phase.extend) {
                continue;
            }
            let sponsor = self.organizations[self.partners[n].organization].sponsor.clone();
            let input = json!({ "input": { "requestType": "userUpdate", "accessPackageId": package,
                "assignmentId": assignment, "justification": "The project runs on" } });
            plans.push((
                end,
                SignUp {
                    n,
                    token: self.partner_token(wire.harness, n)?,
                    sponsor_token: tokens.of(&sponsor)?,
                    sponsor,
                    decision: Some(true),
                    input,
                },
            ));
        }
        let mailbox = &self.mailbox;
        let outcomes: Vec<(usize, DateTime<Utc>, Done)> = futures::stream::iter(plans)
            .map(|(end, plan)| async move { (plan.n, end, extend(wire.api, mailbox, plan).await) })
            .buffered(clients.max(1))
            .collect()
            .await;
        for (n, end, done) in outcomes {
            self.tally.extensions += 1;
            record(operations, &done.operations);
            match done.ended {
                Ended::Delivered { end: new_end, .. } if new_end > end => {
                    self.tally.extended += 1;
                    if let Some(guest) = self.guests.get_mut(&n) {
                        guest.end = new_end;
                    }
                }
                Ended::Untold(why) => self.tally.unnotified.push(why),
                Ended::Refused(_, why) => self.tally.unfinished.push(format!("extension refused: {why}")),
                Ended::Delivered { end: new_end, .. } => {
                    self.tally
                        .unfinished
                        .push(format!("extension of {end} delivered with the end {new_end}"));
                }
                Ended::Silent(..) | Ended::Denied | Ended::Otherwise(_) => {
                    self.tally
                        .unfinished
                        .push(format!("extension of {}: {:?}", self.partners[n].email, done.ended));
                }
            }
        }
        Ok(())
    }

    /// Each reviewer decides their items of every review they were told of since yesterday
    /// (reviewers concurrently): a share `review_deny` denied, the rest approved. A denied
    /// guest's access ends with the review.
    async fn reviews(
        &mut self,
        api: &Graphql,
        tokens: &mut Tokens<'_>,
        phase: &Phase,
        clients: usize,
        operations: &mut BTreeMap<String, Samples>,
    ) -> anyhow::Result<()> {
        for reviewer in &self.reviewers {
            for instance in self.mailbox.drain(&format!("review/{reviewer}")) {
                self.reviews_told.push((reviewer.clone(), instance));
            }
        }
        // Each reviewer acts `review_after` days after the review started: a virtual time, so
        // what they find does not depend on when their socket delivered the news.
        let after = chrono::TimeDelta::days(i64::from(phase.review_after));
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.reviews_told.drain(..).partition(|(_, instance)| {
            text(instance, "/startDateTime").parse::<DateTime<Utc>>().is_ok_and(|start| start + after <= now)
        });
        self.reviews_told = later;
        let mut plans = Vec::new();
        for (reviewer, instance) in due {
            plans.push((tokens.of(&reviewer)?, reviewer, instance));
        }
        let (seed, share) = (self.seed, phase.review_deny);
        let outcomes: Vec<anyhow::Result<Reviewed>> = futures::stream::iter(plans)
            .map(|(token, reviewer, instance)| async move {
                review(api, &token, &reviewer, &instance, |what| chance(seed, what, share)).await
            })
            .buffered(clients.max(1))
            .collect()
            .await;
        for outcome in outcomes {
            let reviewed = outcome?;
            record(operations, &reviewed.operations);
            self.tally.review_items += reviewed.items;
            self.tally.review_denied += reviewed.denied.len();
            for principal in reviewed.denied {
                if let Some(guest) = self.partner_of.get(&principal).and_then(|n| self.guests.get_mut(n)) {
                    let ends = reviewed.ends;
                    guest.denied_until = Some(guest.denied_until.map_or(ends, |d| d.min(ends)));
                }
            }
        }
        Ok(())
    }

    /// Someone of an organization nobody connected requests the package: it must be refused.
    async fn outsider(
        &mut self,
        Wire { harness, api, .. }: Wire<'_>,
        phase: &Phase,
        package: &str,
        operations: &mut BTreeMap<String, Samples>,
    ) {
        let k = self.tally.outsiders.made + 1;
        let token = match harness.partner_token(
            &format!("ffffffff-0000-4000-8000-{k:012}"),
            &format!("outsider-oid-{k}"),
            &format!("someone-{k}@outsider-{k}.example"),
            &format!("Outsider {k}"),
            Duration::from_secs(3600),
        ) {
            Ok(token) => token,
            Err(e) => {
                self.tally.outsiders.made += 1;
                self.tally.outsiders.let_through.push(format!("no token for outsider {k}: {e}"));
                return;
            }
        };
        let input = json!({ "input": { "requestType": "userAdd", "accessPackageId": package,
            "answers": Self::answers(phase), "consentToShareProfile": true, "justification": "let me in" } });
        let at = Instant::now();
        let sent = api.execute(&token, REQUEST, input).await;
        operations.entry("createAssignmentRequest (outsider)".into()).or_default().push(at.elapsed());
        self.tally.outsiders.record(sent, |data| format!("outsider {k} was let in: {data}"));
    }

    /// Requests nobody answered whose time is up: each must have ended denied.
    pub async fn check_timeouts(&mut self, api: &Graphql, admin: &str) -> anyhow::Result<()> {
        let now = self.now;
        let (due, waiting): (Vec<_>, Vec<_>) = self.silent.drain(..).partition(|(_, due)| *due <= now);
        self.silent = waiting;
        for (id, _) in due {
            let data = api
                .execute(
                    admin,
                    "query($id: ID!) { assignmentRequest(id: $id) { state status } }",
                    json!({ "id": id }),
                )
                .await
                .map_err(|e| anyhow::anyhow!("assignmentRequest {id}: {} {}", e.code, e.message))?;
            let request = &data["assignmentRequest"];
            if text(request, "/state") == "denied" && text(request, "/status") == "Expired" {
                self.tally.timed_out += 1;
            } else {
                self.tally.unfinished.push(format!("{id}, never answered, is {request} after its due date"));
            }
        }
        Ok(())
    }

    /// Compares `holders` of the package partners request, and the directory's guests, with
    /// the model: the first difference, if any.
    pub async fn check(
        &self,
        api: &Graphql,
        admin: &str,
        holders: &BTreeSet<String>,
        is_member: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Option<String>> {
        let now = self.now;
        let expected: BTreeSet<&String> =
            self.guests.values().filter(|g| g.access_ends() > now).map(|g| &g.id).collect();
        let outside: Vec<&String> =
            holders.iter().filter(|h| !is_member(h) && !self.partner_of.contains_key(*h)).take(3).collect();
        if !outside.is_empty() {
            return Ok(Some(format!("holders who are neither members nor guests let in: {outside:?}")));
        }
        let held: BTreeSet<&String> = holders.iter().filter(|h| self.partner_of.contains_key(*h)).collect();
        if held != expected {
            let missing: Vec<_> = expected.difference(&held).take(3).collect();
            let extra: Vec<_> = held.difference(&expected).take(3).collect();
            return Ok(Some(format!(
                "{} guests expected to hold it, {} do; not holding it: {missing:?}; holding it wrongly: {extra:?}",
                expected.len(),
                held.len()
            )));
        }
        let enabled = self.guests.values().filter(|g| !self.lifecycle.block || g.access_ends() > now).count();
        let present = self
            .guests
            .values()
            .filter(|g| self.lifecycle.delete_after.is_none_or(|after| g.access_ends() + after > now))
            .count();
        let count = |filter: Value| async move {
            api.execute(
                admin,
                "query($f: UserFilter) { users(filter: $f) { totalCount } }",
                json!({ "f": filter }),
            )
            .await
            .map(|d| d["users"]["totalCount"].as_u64().unwrap_or(0))
            .map_err(|e| anyhow::anyhow!("users: {} {}", e.code, e.message))
        };
        let (all, on) = (
            count(json!({ "userType": "Guest" })).await?,
            count(json!({ "userType": "Guest", "accountEnabled": true })).await?,
        );
        if (all, on) != (present as u64, enabled as u64) {
            return Ok(Some(format!(
                "the directory has {all} guests, {on} of them enabled; expected {present}, {enabled} enabled"
            )));
        }
        Ok(None)
    }
}

/// Whether a draw from `seed` and `what` falls within `share`: the same answer for the same
/// question, whenever and in whatever order it is asked.
fn chance(seed: u64, what: &str, share: f64) -> bool {
    let mut hash = seed ^ 0xcbf2_9ce4_8422_2325;
    for byte in what.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    #[allow(clippy::cast_precision_loss)]
    let draw = (Rng::seeded(hash).next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    draw < share
}

/// A partner's request drawn for the day (to join, or to extend), with what their sponsor
/// will decide: approve, deny, or (`None`) never answer.
struct SignUp {
    n: usize,
    token: String,
    sponsor: String,
    sponsor_token: String,
    decision: Option<bool>,
    input: Value,
}

/// How a partner's request went, and its operations' latencies.
struct Done {
    operations: Vec<(&'static str, Duration)>,
    ended: Ended,
}

#[derive(Debug)]
enum Ended {
    /// Refused when sent: the code, and the whole reason.
    Refused(String, String),
    /// The sponsor was not told in time.
    Untold(String),
    /// Left unanswered, with its stage's due time.
    Silent(String, Option<DateTime<Utc>>),
    Delivered {
        guest: String,
        assignment: String,
        end: DateTime<Utc>,
    },
    Denied,
    Otherwise(String),
}

/// Adds operations' latencies to the day's, by kind.
fn record(operations: &mut BTreeMap<String, Samples>, timed: &[(&'static str, Duration)]) {
    for (kind, took) in timed {
        operations.entry((*kind).to_owned()).or_default().push(*took);
    }
}

/// Sends a partner's request (timed as `kind`) and waits until their sponsor is told of it on
/// their socket: the request as answered, or how it ended before reaching the sponsor.
async fn sent_and_told(
    api: &Graphql,
    mailbox: &Mailbox,
    plan: &mut SignUp,
    kind: &'static str,
    operations: &mut Vec<(&'static str, Duration)>,
) -> Result<Value, Ended> {
    let at = Instant::now();
    let sent = api.execute(&plan.token, REQUEST, std::mem::take(&mut plan.input)).await;
    operations.push((kind, at.elapsed()));
    let request = match sent {
        Ok(data) => data["createAssignmentRequest"]["assignmentRequest"].clone(),
        Err(e) => return Err(Ended::Refused(e.code.clone(), format!("{} {}", e.code, e.message))),
    };
    let id = text(&request, "/id");
    match mailbox.take(&format!("approve/{}/{id}", plan.sponsor), TOLD_WITHIN).await {
        Some(_) => Ok(request),
        None => Err(Ended::Untold(format!("{} was not told of {id}", plan.sponsor))),
    }
}

/// A partner signs up: requests, their sponsor is told and decides; once delivered, the
/// administrator makes the sponsor the guest's manager.
async fn sign_up(api: &Graphql, admin: &str, mailbox: &Mailbox, mut plan: SignUp) -> Done {
    let mut operations = Vec::new();
    let request =
        match sent_and_told(api, mailbox, &mut plan, "createAssignmentRequest (partner)", &mut operations)
            .await
        {
            Ok(request) => request,
            Err(ended) => return Done { operations, ended },
        };
    let id = text(&request, "/id").to_owned();
    let Some(approve) = plan.decision else {
        let due = text(&request, "/approval/stages/0/dueDateTime").parse().ok();
        return Done { operations, ended: Ended::Silent(id, due) };
    };
    let decided = decide(api, &plan.sponsor_token, &id, approve, &mut operations).await;
    let ended = match (approve, text(&decided, "/state")) {
        (true, "delivered") => {
            let guest = text(&decided, "/requestorSubject/objectId");
            let guest = guest.strip_prefix("User:").unwrap_or(guest).to_owned();
            let at = Instant::now();
            let managed = api
                .execute(
                    admin,
                    "mutation($id: ID!, $m: ID!) { updateUser(input: {id: $id, managerId: $m}) { user { id } } }",
                    json!({ "id": guest, "m": plan.sponsor }),
                )
                .await;
            operations.push(("updateUser (guest's manager)", at.elapsed()));
            match (managed, text(&decided, "/assignment/endDateTime").parse()) {
                (Ok(_), Ok(end)) => {
                    Ended::Delivered { guest, assignment: text(&decided, "/assignment/id").to_owned(), end }
                }
                (Err(e), _) => {
                    Ended::Otherwise(format!("{id}: the guest's manager not set: {} {}", e.code, e.message))
                }
                (_, Err(_)) => Ended::Otherwise(format!("{id}: delivered without an end date: {decided}")),
            }
        }
        (false, "denied") => Ended::Denied,
        (_, other) => Ended::Otherwise(format!("{id}: {other} {decided}")),
    };
    Done { operations, ended }
}

/// A guest asks to extend their access; their sponsor is told and approves.
async fn extend(api: &Graphql, mailbox: &Mailbox, mut plan: SignUp) -> Done {
    let mut operations = Vec::new();
    let id =
        match sent_and_told(api, mailbox, &mut plan, "createAssignmentRequest (extension)", &mut operations)
            .await
        {
            Ok(request) => text(&request, "/id").to_owned(),
            Err(ended) => return Done { operations, ended },
        };
    let decided = decide(api, &plan.sponsor_token, &id, true, &mut operations).await;
    let ended = match (text(&decided, "/state"), text(&decided, "/assignment/endDateTime").parse()) {
        ("delivered", Ok(end)) => Ended::Delivered {
            guest: String::new(),
            assignment: text(&decided, "/assignment/id").to_owned(),
            end,
        },
        (other, _) => Ended::Otherwise(format!("{id}: {other} {decided}")),
    };
    Done { operations, ended }
}

/// What a reviewer did with a review.
struct Reviewed {
    operations: Vec<(&'static str, Duration)>,
    items: usize,
    /// The principals denied.
    denied: Vec<String>,
    /// The review's end, when denials are applied.
    ends: DateTime<Utc>,
}

/// `reviewer` pages through their items of the review `instance` (its id and end) and decides
/// each not decided yet, 100 a mutation: denied where `deny(what)` says so, approved otherwise.
async fn review(
    api: &Graphql,
    token: &str,
    reviewer: &str,
    instance: &Value,
    deny: impl Fn(&str) -> bool,
) -> anyhow::Result<Reviewed> {
    let id = text(instance, "/id").to_owned();
    let ends: DateTime<Utc> = text(instance, "/endDateTime").parse().context("a review's end")?;
    let started = text(instance, "/startDateTime");
    let mut operations = Vec::new();
    let mut items = Vec::new();
    let mut after = Value::Null;
    loop {
        let at = Instant::now();
        let page = api
            .execute(token, MY_ITEMS, json!({ "a": after }))
            .await
            .map_err(|e| anyhow::anyhow!("accessReviewDecisions of {reviewer}: {} {}", e.code, e.message))?;
        operations.push(("accessReviewDecisions (a page)", at.elapsed()));
        let page = &page["accessReviewDecisions"];
        items.extend(
            page["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| text(i, "/accessReviewId") == id && i["decision"] == "NotReviewed")
                .cloned(),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let mut denied = Vec::new();
    for chunk in items.chunks(100) {
        let mut decisions = Vec::new();
        for item in chunk {
            let principal = text(item, "/principalId");
            let principal = principal.strip_prefix("User:").unwrap_or(principal).to_owned();
            // Keyed by what is the same on every run (the review's start, the guest), not by ids
            // the server draws.
            let no = deny(&format!("review/{started}/{principal}"));
            let decision = if no { "Deny" } else { "Approve" };
            if no {
                denied.push(principal);
            }
            decisions.push(json!({ "id": item["id"], "decision": decision,
                                   "justification": format!("{decision}: reviewed by the manager") }));
        }
        let at = Instant::now();
        api.execute(token, RECORD, json!({ "d": decisions })).await.map_err(|e| {
            anyhow::anyhow!("recordAccessReviewDecisions of {reviewer}: {} {}", e.code, e.message)
        })?;
        operations.push(("recordAccessReviewDecisions (100 items)", at.elapsed()));
    }
    Ok(Reviewed { operations, items: items.len(), denied, ends })
}

/// `approver` approves or denies `request`; answers the request as it is after.
async fn decide(
    api: &Graphql,
    token: &str,
    request: &str,
    approve: bool,
    operations: &mut Vec<(&'static str, Duration)>,
) -> Value {
    let input = json!({ "input": { "approvalId": request, "reviewResult": if approve { "Approve" } else { "Deny" },
                                   "justification": "decided by the sponsor" } });
    let at = Instant::now();
    let decided = api.execute(token, DECIDE, input).await;
    operations.push(("updateApprovalStage (sponsor)", at.elapsed()));
    match decided {
        Ok(data) => data["updateApprovalStage"]["assignmentRequest"].clone(),
        Err(e) => json!({ "state": format!("{} {}", e.code, e.message) }),
    }
}

/// Whole days of an ISO 8601 duration `PnD`.
fn days(duration: &str) -> Option<chrono::TimeDelta> {
    let n: i64 = duration.strip_prefix('P')?.strip_suffix('D')?.parse().ok()?;
    Some(chrono::TimeDelta::days(n))
}

#[cfg(test)]
mod tests {
    use super::days;

    #[test]
    fn whole_days_are_read_from_iso_durations() {
        assert_eq!(days("P30D"), Some(chrono::TimeDelta::days(30)));
        assert_eq!(days("PT1H"), None);
    }
}
