//! Live subscriptions: the event log as it grows, with a cursor per event so that a client that
//! reconnects receives exactly the events it missed.
//!
//! Administrators see every event; other users see the events they did, the events about them
//! (`targetId`) and the events addressed to them (`audience`).

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Subscription};
use em_engine::id::{AccessPackageId, CatalogId};
use em_engine::{Actor, DomainError};
use futures::{Stream, StreamExt};

use em_engine::request::AccessPackageAssignmentRequest;

use super::audit::AuditEventNode;
use super::error::{OrGraphql, to_graphql};
use super::node::{catalog_id, optional, package_id};
use super::request::{AccessPackageAssignmentNode, AccessPackageAssignmentRequestNode};
use super::{actor, services};
use crate::feed::EventFeed;
use crate::service::ServiceError;
use crate::service::Services;
use crate::service::model::{FeedEvent, StoreResult};

pub struct LiveEventNode(Arc<FeedEvent>);

/// An event of the live feed and where it sits in the feed.
#[Object(name = "LiveEvent")]
impl LiveEventNode {
    /// The event's place in the feed: subscribe with `after` set to the last cursor received to
    /// resume exactly after it.
    async fn cursor(&self) -> String {
        self.0.cursor.to_string()
    }
    async fn event(&self) -> AuditEventNode {
        AuditEventNode(self.0.event.clone())
    }
}

/// Which events of the live feed to receive.
#[derive(InputObject, Default)]
pub struct EventFeedFilter {
    /// Events whose kind starts with this: `catalog.`, `accessPackage.created`.
    kind: Option<String>,
    catalog_id: Option<ID>,
    access_package_id: Option<ID>,
}

#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
    /// Events as they are committed, oldest first. With `after` (a `cursor` received earlier, or
    /// `"0"` for the whole log the feed keeps), the events committed after it come first; without
    /// it, the events committed from now on. Administrators receive every event, other users the
    /// events they did, that are about them, or that are addressed to them.
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        filter: Option<EventFeedFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LiveEventNode>> + use<>> {
        let filter = Filter::new(filter.unwrap_or_default())?;
        let reader = Reader::new(ctx);
        let events = live(ctx, after).await?;
        Ok(events.filter_map(move |item| {
            let (reader, pass) = (reader.clone(), item.as_ref().is_ok_and(|e| filter.matches(e)));
            async move {
                match item {
                    Ok(e) if pass && reader.sees(&e).await => Some(Ok(LiveEventNode(e))),
                    Ok(_) => None,
                    Err(e) => Some(Err(to_graphql(e.into()))),
                }
            }
        }))
    }
}

/// A stage assigned to the signed-in approver, or taken from them.
pub struct ApprovalStageChangeNode {
    event: Arc<FeedEvent>,
    request: Option<AccessPackageAssignmentRequest>,
}

#[Object(name = "ApprovalStageChange")]
impl ApprovalStageChangeNode {
    /// Subscribe again with `after` set to this to resume exactly after it.
    async fn cursor(&self) -> String {
        self.event.cursor.to_string()
    }
    /// `assigned` (a stage opened for you, or escalated to you) or `removed` (decided by
    /// another approver, canceled, timed out, or decided by you).
    async fn kind(&self) -> &str {
        let kind = self.event.event.kind.as_str();
        kind.strip_prefix("approvalStage.").unwrap_or(kind)
    }
    async fn stage_id(&self) -> ID {
        ID(self.event.event.subject_id.clone())
    }
    /// Why: the request's latest step (`stage 1 awaits ...`, `stage 1 approved by ...`).
    async fn reason(&self) -> Option<&str> {
        self.event.event.reason.as_deref()
    }
    async fn occurred_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.event.event.occurred_date_time
    }
    /// The request as it was right after the change.
    async fn assignment_request(&self) -> Option<AccessPackageAssignmentRequestNode> {
        self.request.clone().map(|r| AccessPackageAssignmentRequestNode(r, None))
    }
}

/// A change to a request or an assignment.
pub struct AssignmentActivityNode {
    event: Arc<FeedEvent>,
}

#[Object(name = "AssignmentActivity")]
impl AssignmentActivityNode {
    async fn cursor(&self) -> String {
        self.event.cursor.to_string()
    }
    /// `assignmentRequest.created`, `assignmentRequest.stateChanged`, `assignment.created`,
    /// `assignment.stateChanged`, ...
    async fn kind(&self) -> &str {
        self.event.event.kind.as_str()
    }
    async fn reason(&self) -> Option<&str> {
        self.event.event.reason.as_deref()
    }
    async fn occurred_date_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.event.event.occurred_date_time
    }
    /// Who made the change.
    async fn actor(&self) -> &str {
        &self.event.event.actor
    }
    /// The request as it was right after the change (request events).
    async fn assignment_request(&self) -> Option<AccessPackageAssignmentRequestNode> {
        let data = self.event.event.data.get("request")?;
        serde_json::from_value(data.clone()).ok().map(|r| AccessPackageAssignmentRequestNode(r, None))
    }
    /// The assignment as it was right after the change (assignment events).
    async fn assignment(&self) -> Option<AccessPackageAssignmentNode> {
        let data = self.event.event.data.get("assignment")?;
        serde_json::from_value(data.clone()).ok().map(AccessPackageAssignmentNode)
    }
}

/// Which request and assignment activity to receive.
#[derive(InputObject, Default)]
pub struct AssignmentActivityFilter {
    catalog_id: Option<ID>,
    access_package_id: Option<ID>,
}

#[derive(Default)]
pub struct ApprovalSubscription;

#[Subscription]
impl ApprovalSubscription {
    /// For the signed-in approver: each approval stage assigned to them (when it opens, or
    /// escalates to them) and each taken from them (decided, canceled, timed out). With `after`,
    /// the changes committed after that cursor come first.
    async fn approval_stage_changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ApprovalStageChangeNode>> + use<>>
    {
        let Actor::User { id: me } = actor(ctx) else {
            return Err(DomainError::invalid(
                "actor",
                "approval notifications are for a signed-in directory user",
            ))
            .gql();
        };
        let events = live_for(ctx, Some(me.as_str()), after).await?;
        Ok(events.filter_map(move |item| {
            let out = match item {
                // The stream holds only the events naming this approver.
                Ok(e) if e.event.kind.is_approval_stage() => {
                    let request =
                        e.event.data.get("request").and_then(|r| serde_json::from_value(r.clone()).ok());
                    Some(Ok(ApprovalStageChangeNode { event: e, request }))
                }
                Ok(_) => None,
                Err(e) => Some(Err(to_graphql(e.into()))),
            };
            std::future::ready(out)
        }))
    }

    /// Request and assignment activity. Requestors and targets receive every change to their
    /// own requests and assignments; administrators every change, narrowed by `filter` to a
    /// catalog or an access package.
    async fn assignment_activity(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        filter: Option<AssignmentActivityFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<AssignmentActivityNode>> + use<>>
    {
        let f = filter.unwrap_or_default();
        let filter = Filter::new(EventFeedFilter {
            kind: None,
            catalog_id: f.catalog_id,
            access_package_id: f.access_package_id,
        })?;
        let reader = Reader::new(ctx);
        let events = live(ctx, after).await?;
        Ok(events.filter_map(move |item| {
            let relevant = item.as_ref().is_ok_and(|e| {
                let kind = &e.event.kind;
                (kind.starts_with("assignmentRequest.") || kind.starts_with("assignment."))
                    && filter.matches(e)
            });
            let reader = reader.clone();
            async move {
                match item {
                    Ok(e) if relevant && reader.sees(&e).await => {
                        Some(Ok(AssignmentActivityNode { event: e }))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(to_graphql(e.into()))),
                }
            }
        }))
    }
}

/// The live feed from `after`, for a subscription resolver.
async fn live(
    ctx: &Context<'_>,
    after: Option<String>,
) -> async_graphql::Result<impl Stream<Item = StoreResult<Arc<FeedEvent>>> + Send + use<>> {
    live_for(ctx, None, after).await
}

/// The live feed from `after`, only the events whose audience names `recipient` when given
/// (from the recipient's own channel, so an event wakes its audience's subscribers only).
async fn live_for(
    ctx: &Context<'_>,
    recipient: Option<&str>,
    after: Option<String>,
) -> async_graphql::Result<impl Stream<Item = StoreResult<Arc<FeedEvent>>> + Send + use<>> {
    let after = after.as_deref().map(parse_cursor).transpose().gql()?;
    let Some(feed) = ctx.data_opt::<EventFeed>() else {
        return Err(ServiceError::Internal("the schema was built without an event feed".into())).gql();
    };
    feed.subscribe_for(recipient, after).await.map_err(|e| to_graphql(e.into()))
}

/// A cursor argument: the decimal string of a `LiveEvent.cursor`.
fn parse_cursor(raw: &str) -> Result<u128, DomainError> {
    raw.trim().parse().map_err(|_| {
        DomainError::invalid("after", format!("`{raw}` is not a cursor; pass a `cursor` of a received event"))
    })
}

/// A subscriber, who sees the events the read path lets them see: decided at each event on what
/// they hold then, so a role given or taken while subscribed counts from the next event.
#[derive(Clone)]
struct Reader {
    services: Services,
    actor: Actor,
}

impl Reader {
    fn new(ctx: &Context<'_>) -> Self {
        Self { services: services(ctx).clone(), actor: actor(ctx) }
    }

    /// A read that fails is not a "no": the event waits until what the subscriber holds can be
    /// read (the database answers again), so an outage delays a subscriber's events and drops
    /// none of them, in order.
    async fn sees(&self, feed_event: &FeedEvent) -> bool {
        const FIRST_WAIT: std::time::Duration = std::time::Duration::from_millis(25);
        let mut wait = FIRST_WAIT;
        loop {
            match self.services.delegations(&self.actor).await {
                Ok(delegations) => return Services::sees_event(&delegations, &self.actor, &feed_event.event),
                Err(e) => {
                    if wait == FIRST_WAIT {
                        tracing::warn!(error = %e, "cannot tell what a subscriber holds yet; the event waits");
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(1));
                }
            }
        }
    }
}

/// An [`EventFeedFilter`] with the ids resolved.
struct Filter {
    kind: Option<String>,
    catalog_id: Option<CatalogId>,
    access_package_id: Option<AccessPackageId>,
}

impl Filter {
    fn new(input: EventFeedFilter) -> async_graphql::Result<Self> {
        Ok(Self {
            kind: input.kind,
            catalog_id: optional(input.catalog_id, "filter.catalogId", catalog_id)?,
            access_package_id: optional(input.access_package_id, "filter.accessPackageId", package_id)?,
        })
    }

    fn matches(&self, feed_event: &FeedEvent) -> bool {
        let event = &feed_event.event;
        self.kind.as_ref().is_none_or(|k| event.kind.starts_with(k.as_str()))
            && self.catalog_id.as_ref().is_none_or(|want| event.catalog_id.as_ref() == Some(want))
            && self
                .access_package_id
                .as_ref()
                .is_none_or(|want| event.access_package_id.as_ref() == Some(want))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use em_engine::event::Event;

    use super::*;

    fn feed_event(actor: &Actor) -> FeedEvent {
        let event = Event::new(
            "e".into(),
            em_engine::event::EventKind::AccessPackageCreated,
            actor,
            DateTime::<Utc>::UNIX_EPOCH,
            "AccessPackage",
            "p",
        )
        .in_catalog(&CatalogId::new("c"))
        .for_package(&em_engine::id::AccessPackageId::new("p"));
        FeedEvent { cursor: 1, event }
    }

    #[test]
    fn filters_match_kind_prefixes_and_ids() {
        let event = feed_event(&Actor::System);
        let filter = |kind: Option<&str>, catalog: Option<&str>, package: Option<&str>| {
            Filter::new(EventFeedFilter {
                kind: kind.map(str::to_owned),
                catalog_id: catalog.map(ID::from),
                access_package_id: package.map(ID::from),
            })
            .unwrap()
        };
        assert!(filter(None, None, None).matches(&event));
        assert!(filter(Some("accessPackage."), Some("AccessPackageCatalog:c"), Some("p")).matches(&event));
        assert!(!filter(Some("catalog."), None, None).matches(&event));
        assert!(!filter(None, Some("other"), None).matches(&event));
        assert!(
            Filter::new(EventFeedFilter {
                catalog_id: Some(ID::from("AccessPackage:p")),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn cursors_are_decimal_strings() {
        assert_eq!(parse_cursor("0"), Ok(0));
        assert_eq!(parse_cursor(&u128::MAX.to_string()), Ok(u128::MAX));
        assert!(parse_cursor("-1").is_err());
        assert!(parse_cursor("abc").is_err());
    }
}
