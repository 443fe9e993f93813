//! Live subscriptions: the event log as it grows, with a cursor per event so that a client that
//! reconnects receives exactly the events it missed.
//!
//! Administrators see every event; other users see the events they did, the events about them
//! (`targetId`) and the events addressed to them (`audience`).

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Subscription};
use em_engine::{Actor, DomainError, ErrorCode};
use futures::{Stream, StreamExt};

use super::audit::AuditEventNode;
use super::error::OrGraphql;
use super::{actor, services};
use crate::feed::EventFeed;
use crate::service::ServiceError;
use crate::store::events::FeedEvent;

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
        let after = after.as_deref().map(parse_cursor).transpose().gql()?;
        let filter = Filter::new(filter.unwrap_or_default())?;
        let who = actor(ctx);
        let reader = match services(ctx).require_admin(&who).await {
            Ok(()) => Reader::Administrator,
            Err(ServiceError::Domain(e)) if e.code == ErrorCode::Forbidden => match who {
                Actor::User { id } => Reader::User(id),
                Actor::System | Actor::LocalOperator => Reader::Administrator,
            },
            Err(e) => return Err(e).gql(),
        };
        let Some(feed) = ctx.data_opt::<EventFeed>() else {
            return Err(ServiceError::Internal("the schema was built without an event feed".into())).gql();
        };
        let events = feed.subscribe(after).await.gql()?;
        Ok(events.filter_map(move |item| {
            let out = match item {
                Ok(e) if reader.sees(&e) && filter.matches(&e) => Some(Ok(LiveEventNode(e))),
                Ok(_) => None,
                Err(e) => Some(Err(e).gql()),
            };
            std::future::ready(out)
        }))
    }
}

/// A cursor argument: the decimal string of a `LiveEvent.cursor`.
fn parse_cursor(raw: &str) -> Result<u128, DomainError> {
    raw.trim().parse().map_err(|_| {
        DomainError::invalid("after", format!("`{raw}` is not a cursor; pass a `cursor` of a received event"))
    })
}

/// Whose events a subscriber may see.
enum Reader {
    Administrator,
    User(String),
}

impl Reader {
    fn sees(&self, feed_event: &FeedEvent) -> bool {
        let event = &feed_event.event;
        match self {
            Self::Administrator => true,
            Self::User(id) => {
                event.actor_id.as_deref() == Some(id)
                    || event.target_id.as_deref() == Some(id)
                    || event.audience.iter().any(|a| a == id)
            }
        }
    }
}

/// An [`EventFeedFilter`] with the ids resolved.
struct Filter {
    kind: Option<String>,
    catalog_id: Option<String>,
    access_package_id: Option<String>,
}

impl Filter {
    fn new(input: EventFeedFilter) -> async_graphql::Result<Self> {
        let id = |raw: Option<ID>, type_name: &str, field: &str| {
            raw.map(|i| super::node::local_id(&i, type_name, field)).transpose().gql()
        };
        Ok(Self {
            kind: input.kind,
            catalog_id: id(input.catalog_id, "AccessPackageCatalog", "filter.catalogId")?,
            access_package_id: id(input.access_package_id, "AccessPackage", "filter.accessPackageId")?,
        })
    }

    fn matches(&self, feed_event: &FeedEvent) -> bool {
        let event = &feed_event.event;
        let same = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        self.kind.as_ref().is_none_or(|k| event.kind.starts_with(k.as_str()))
            && same(&self.catalog_id, &event.catalog_id)
            && same(&self.access_package_id, &event.access_package_id)
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
            "accessPackage.created",
            actor,
            DateTime::<Utc>::UNIX_EPOCH,
            "AccessPackage",
            "p",
        )
        .in_catalog("c")
        .for_package("p");
        FeedEvent { cursor: 1, event }
    }

    #[test]
    fn users_see_what_they_did_what_is_about_them_and_what_is_addressed_to_them() {
        let ada = Reader::User("ada".into());
        assert!(ada.sees(&feed_event(&Actor::User { id: "ada".into() })));
        let mut other = feed_event(&Actor::User { id: "bob".into() });
        assert!(!ada.sees(&other));
        assert!(Reader::Administrator.sees(&other));
        other.event.target_id = Some("ada".into());
        assert!(ada.sees(&other));
        other.event.target_id = None;
        other.event.audience = vec!["carol".into(), "ada".into()];
        assert!(ada.sees(&other));
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
