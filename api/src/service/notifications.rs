//! E-mail notifications through the operator's SMTP relay (`--smtp-url`; off without one).
//!
//! **Queued durably without a write of their own.** The events every change commits are the
//! queue: the notifier follows the live feed from a cursor it keeps in the store
//! (`notifier:cursor`), asks the engine which notifications each event calls for
//! (`em_engine::notification`), renders them for each recipient and sends them, then moves its
//! cursor on. A commit never waits for it; after a restart it goes on from its cursor, so a
//! notification is sent at least once (a crash between sending and saving the cursor sends the
//! last few again, with the same `Message-ID`, which mail systems drop as duplicates). On first
//! start it begins with the events committed from then on.
//!
//! A relay that refuses for now (a transient SMTP error, or unreachable) is retried with backoff
//! and holds the cursor; a message refused for good (a permanent 5xx, a recipient without a
//! valid address) is logged and skipped. Requestors' and assignees' notifications honour their
//! policy's `notificationSettings.isAssignmentNotificationDisabled`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use em_engine::notification::{Notification, notifications, render};
use futures::StreamExt;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{ServiceError, ServiceResult, Services};

/// How often the cursor is saved while events stream in.
const SAVE_EVERY: Duration = Duration::from_millis(500);

/// Where and as whom notifications are sent.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `smtp://host:port` (plain or STARTTLS when offered... as lettre's URL says),
    /// `smtps://host:465`, with `user:password@` when the relay wants them.
    pub url: String,
    /// `Entitlement management <noreply@contoso.com>`.
    pub from: String,
}

impl Services {
    /// Starts the notifier (see the module documentation). Refuses a relay URL or sender it
    /// cannot use, before anything is sent.
    pub async fn start_notifier(&self, settings: MailSettings) -> ServiceResult<()> {
        let from: Mailbox = settings.from.parse().map_err(|e| {
            ServiceError::Internal(format!("--mail-from `{}` is not a mailbox: {e}", settings.from))
        })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| ServiceError::Internal(format!("--smtp-url is not usable: {e}")))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let cursor = match self.store.notifier_cursor().await? {
            Some(cursor) => cursor,
            None => {
                let end = self.store.end_of_feed().await?;
                self.store.save_notifier_cursor(end).await?;
                end
            }
        };
        let services = self.clone();
        tokio::spawn(async move { services.notify_from(cursor, Arc::new(transport), from).await });
        Ok(())
    }

    /// Follows the feed after `cursor` forever, sending what each event calls for.
    async fn notify_from(
        &self,
        mut cursor: u128,
        transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    ) {
        let mut saved = cursor;
        let mut last_save = tokio::time::Instant::now();
        loop {
            let mut events = match self.event_feed().subscribe(Some(cursor)).await {
                Ok(events) => Box::pin(events),
                Err(e) => {
                    tracing::warn!(error = %e, "the notifier cannot read the event feed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                let next = tokio::time::timeout(SAVE_EVERY, events.next()).await;
                match next {
                    Ok(Some(Ok(feed_event))) => {
                        for notification in notifications(&feed_event.event) {
                            self.deliver(&notification, &transport, &from).await;
                        }
                        cursor = feed_event.cursor;
                    }
                    Ok(Some(Err(e))) => {
                        tracing::warn!(error = %e, "the notifier's feed failed; resuming");
                        break;
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
                if cursor != saved && last_save.elapsed() >= SAVE_EVERY {
                    match self.store.save_notifier_cursor(cursor).await {
                        Ok(()) => saved = cursor,
                        Err(e) => tracing::warn!(error = %e, "saving the notifier's cursor failed"),
                    }
                    last_save = tokio::time::Instant::now();
                }
            }
        }
    }

    /// Sends one notification to each of its recipients who has an address, unless its policy
    /// turned assignment notifications off.
    async fn deliver(
        &self,
        notification: &Notification,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        from: &Mailbox,
    ) {
        let context = match &notification.access_package_id {
            Some(id) => self.package_context(&id.as_str().into(), "accessPackageId").await.ok(),
            None => None,
        };
        if notification.about_assignment {
            let disabled = context.as_ref().zip(notification.policy_id.as_ref()).is_some_and(|(c, p)| {
                c.policies.iter().any(|policy| {
                    policy.id == *p
                        && policy.notification_settings.is_some_and(|n| n.is_assignment_notification_disabled)
                })
            });
            if disabled {
                return;
            }
        }
        let mut names = BTreeMap::new();
        if let Some(c) = &context {
            names.insert("package".to_owned(), c.package.display_name.clone());
        }
        if let Some(target) = &notification.target_id
            && let Ok(Some(user)) = self.cached_user(target).await
        {
            names.insert("target".to_owned(), user.display_name.clone().unwrap_or_else(|| target.clone()));
        }
        for recipient in &notification.recipients {
            let Ok(Some(user)) = self.cached_user(recipient).await else { continue };
            let Some(address) = user.mail.clone().or_else(|| user.user_principal_name.clone()) else {
                continue;
            };
            let name = user.display_name.clone().unwrap_or_else(|| address.clone());
            let mut names = names.clone();
            names.insert("recipient".to_owned(), name.clone());
            let (subject, body) = render(notification, &names);
            let to = address.parse().map(|email| Mailbox::new(Some(name.clone()), email));
            let to: Mailbox = match to {
                Ok(to) => to,
                Err(e) => {
                    tracing::warn!(user = %recipient, error = %e, "no valid e-mail address; not notified");
                    continue;
                }
            };
            let message_id = format!("<{}.{}@em-api>", notification.event_id, recipient);
            let message = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(subject)
                .message_id(Some(message_id))
                .header(ContentType::TEXT_PLAIN)
                .body(body);
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "a notification could not be built; skipped");
                    continue;
                }
            };
            let mut delay = Duration::from_millis(200);
            loop {
                match transport.send(message.clone()).await {
                    Ok(_) => break,
                    Err(e) if e.is_permanent() => {
                        tracing::warn!(user = %recipient, error = %e, "the relay refused a notification; skipped");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the relay is unavailable; retrying the notification");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(60));
                    }
                }
            }
        }
    }
}
