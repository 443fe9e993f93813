//! Guests for people from connected organizations (see `em_engine::guest`): who a partner's
//! token names (an outsider, or the guest invited for them), the subject a request of theirs
//! decides on, the guest step a change of their assignments takes in its own transaction
//! (invited with their first assignment, blocked with the loss of their last one, unblocked
//! with a new one), the acceptance of their invitation at their first sign-in, and their
//! deletion when its timer fires.

use std::collections::BTreeSet;

use em_engine::connected_organization::{ConnectedOrganization, email_domain};
use em_engine::event::{Event, EventKind};
use em_engine::guest::{self, Guest, ManagedGuest};
use em_engine::id::{ConnectedOrganizationId, UserId};
use em_engine::policy::ConnectedOrganizationFacts;
use em_engine::request::change::TimerOwner;
use em_engine::{Actor, ExternalSubject};

use super::context::{Subject, TargetState};
use super::{ServiceResult, Services, found};
use crate::store::requests::GovernanceWrite;

/// The domain of guests' user principal names when none is configured.
pub const DEFAULT_INITIAL_DOMAIN: &str = "contoso.onmicrosoft.com";

impl Services {
    /// The caller a partner's token names: the guest invited for them (their first sign-in
    /// accepts the invitation), else an outsider from the connected organization of their home
    /// tenant, else of their e-mail domain (none when neither is connected). `None` when their
    /// guest is blocked from signing in.
    pub async fn external_caller(&self, mut subject: ExternalSubject) -> ServiceResult<Option<Actor>> {
        let id = guest::guest_id(&subject.issuer, &subject.object_id);
        if let Some(user) = self.caller_as(&id, true).await? {
            if !user.account_enabled() {
                return Ok(None);
            }
            if let Some(accepted) = guest::accept(&user, self.now()) {
                let event = self.guest_event(
                    &Actor::User { id: id.clone() },
                    EventKind::ExternalUserInvitationAccepted,
                    &accepted,
                    "signed in for the first time: invitation accepted",
                );
                if self.store.accept_invitation(&id, self.now(), event).await? {
                    self.forget_user(&id);
                }
            }
            return Ok(Some(Actor::User { id }));
        }
        let index = self.organization_index().await?;
        let domain = email_domain(&subject.email);
        subject.connected_organization_id =
            index.resolve(subject.tenant_id.as_deref(), domain.as_deref()).map(|entry| entry.id.clone());
        Ok(Some(Actor::External { subject: Box::new(subject) }))
    }

    /// The caller as the policies they may request through read them: a directory user (a guest
    /// with their organization), or an outsider as the guest they would become; `None` for the
    /// engine and the local operator, and for a user who no longer exists.
    pub(crate) async fn caller_subject(&self, actor: &Actor) -> ServiceResult<Option<Subject>> {
        let id = match actor {
            Actor::User { id } => id.clone(),
            Actor::External { subject } => guest::guest_id(&subject.issuer, &subject.object_id),
            Actor::System | Actor::LocalOperator => return Ok(None),
        };
        match self.target_subject(&id, actor, "actor").await {
            Ok(subject) => Ok(Some(subject)),
            Err(super::ServiceError::Domain(e)) if e.code == em_engine::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The user a request targets, as policies read them: an outsider's guest-to-be (from the
    /// request's `requestor`) when no such user exists yet, and for a guest, the organization
    /// entitlement management invited them from, else the one of their e-mail domain.
    pub(crate) async fn target_subject(
        &self,
        target_id: &UserId,
        requestor: &Actor,
        field: &str,
    ) -> ServiceResult<Subject> {
        if let Actor::External { subject } = requestor
            && guest::guest_id(&subject.issuer, &subject.object_id) == *target_id
            && self.cached_user(target_id).await?.is_none()
        {
            return self.outsider_subject(subject).await;
        }
        let mut target = self.subject(target_id, field).await?;
        if target.user.user_type() == em_engine::directory::UserType::Guest {
            // The organization entitlement management invited them from, else the one of their
            // e-mail domain (a guest invited otherwise).
            let id = match self.store.managed_guest(target_id).await? {
                Some(record) => {
                    if record.blocked_date_time.is_some() {
                        // Blocked by their lifecycle for having no access: access given now
                        // unblocks them (the guest step), so it is not refused as to someone
                        // blocked from signing in.
                        target.user.account_enabled = Some(true);
                    }
                    record.connected_organization_id
                }
                None => {
                    let domain = target.user.mail.as_deref().and_then(email_domain);
                    self.organization_index().await?.resolve(None, domain.as_deref()).map(|e| e.id.clone())
                }
            };
            target.organization = self.organization_with_facts(id.as_deref()).await?;
        }
        Ok(target)
    }

    /// An outsider as the guest they would become, from their organization; one without an
    /// organization as from a `proposed` one, which only `allExternalUsers` policies cover.
    pub(crate) async fn outsider_subject(&self, subject: &ExternalSubject) -> ServiceResult<Subject> {
        let organization =
            match self.organization_with_facts(subject.connected_organization_id.as_deref()).await? {
                Some(found) => found,
                None => {
                    let domain = email_domain(&subject.email).unwrap_or_default();
                    let proposed = ConnectedOrganization::proposed("".into(), &domain, self.now());
                    let facts = ConnectedOrganizationFacts { id: String::new(), state: proposed.state };
                    (proposed, facts)
                }
            };
        let invited = guest::invite(subject, Some(&organization.0), &self.initial_domain, self.now());
        Ok(Subject { user: invited.user, group_ids: BTreeSet::new(), organization: Some(organization) })
    }

    async fn organization_with_facts(
        &self,
        id: Option<&str>,
    ) -> ServiceResult<Option<(ConnectedOrganization, ConnectedOrganizationFacts)>> {
        let Some(id) = id else { return Ok(None) };
        Ok(self.known_organization(&ConnectedOrganizationId::new(id)).await?.map(|org| {
            let facts = ConnectedOrganizationFacts { id: org.id.to_string(), state: org.state };
            ((*org).clone(), facts)
        }))
    }

    /// The guest step of `write`, decided on `state` and added to it: an outsider's first
    /// assignment invites their guest; a managed guest's last assignment lost blocks them (and
    /// schedules their deletion) as the tenant's settings say; an assignment while blocked
    /// unblocks them. Members, and guests entitlement management did not invite, are left alone.
    pub(crate) async fn with_guest_step(
        &self,
        mut write: GovernanceWrite,
        mut events: Vec<Event>,
        state: &TargetState,
        actor: &Actor,
    ) -> ServiceResult<(GovernanceWrite, Vec<Event>)> {
        let before = state.assignments.len();
        let after = state.after(&write).assignments.len();
        if (before == 0) == (after == 0) {
            return Ok((write, events));
        }
        let now = self.now();
        let target = write.target_id.clone();
        let Some(user) = self.cached_user(&target).await? else {
            // An outsider approved: their guest is invited with the assignment.
            let outsider = write.requests.iter().find_map(|(request, _)| match &request.requestor {
                Actor::External { subject }
                    if guest::guest_id(&subject.issuer, &subject.object_id) == target =>
                {
                    Some(subject.clone())
                }
                _ => None,
            });
            let Some(subject) = outsider.filter(|_| after > 0) else { return Ok((write, events)) };
            let organization = match &subject.connected_organization_id {
                Some(id) => self.known_organization(id).await?,
                None => None,
            };
            let invited = guest::invite(&subject, organization.as_deref(), &self.initial_domain, now);
            let company = organization.map_or_else(String::new, |o| format!(" from `{}`", o.display_name));
            let reason = format!("invited{company} with their first assignment");
            events.push(self.guest_event(actor, EventKind::ExternalUserCreated, &invited.user, &reason));
            write.guest = Some(invited);
            return Ok((write, events));
        };
        if user.user_type() != em_engine::directory::UserType::Guest {
            return Ok((write, events));
        }
        let Some(record) = self.store.managed_guest(&target).await? else { return Ok((write, events)) };
        let settings = self.store.entitlement_management_settings().await?;
        if let Some((step, kind, reason)) =
            guest::on_access(Guest { user: &user, record: &record }, before, after, &settings, now)
        {
            events.push(self.guest_event(actor, kind, &step.user, &reason));
            write.timers.push((TimerOwner::Guest, ManagedGuest::timer_owner(&target), step.record.timers()));
            write.guest = Some(step);
        }
        Ok((write, events))
    }

    /// Fires a guest's deletion timer: the guest deleted with their memberships when still
    /// blocked and holding nothing; otherwise the timer is stale and goes.
    pub(crate) async fn fire_guest_timer(&self, target_id: &UserId) -> ServiceResult<()> {
        let now = self.now();
        let record = self.store.managed_guest(target_id).await?;
        let state = self.target_state(target_id).await?;
        let Some(record) = record.filter(|r| guest::is_deletion_due(r, state.assignments.len(), now)) else {
            let mut write = GovernanceWrite::new(target_id, state.version);
            write.timers.push((TimerOwner::Guest, ManagedGuest::timer_owner(target_id), Vec::new()));
            return self.commit_governance(write, Vec::new(), &state).await;
        };
        let user = found(self.cached_user(target_id).await?, "user", "id", target_id)?;
        let event = self.guest_event(
            &Actor::System,
            EventKind::ExternalUserDeleted,
            &user,
            "was deleted: blocked with no access for the tenant's set duration",
        );
        self.store.delete_managed_guest(&record, event).await?;
        self.forget_user(target_id);
        Ok(())
    }

    fn guest_event(
        &self,
        actor: &Actor,
        kind: EventKind,
        user: &em_engine::directory::User,
        reason: &str,
    ) -> Event {
        guest::event(self.new_id(), kind, actor, user, reason, self.now())
    }
}
