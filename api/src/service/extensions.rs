//! Custom extensions: a catalog's extensions (created and changed by whoever may edit the
//! catalog), the sender of their calls, and the callbacks of launch-and-wait extensions.
//!
//! **Calls are never lost and never doubled for a receiver that drops repeats by id.** The
//! engine decides each call with the change that makes it, and the governance transaction writes
//! it to its outbox row (`callout_outbox`, one per transaction; see `store::extensions`). After
//! the commit it is handed to the sender here; at start every call of the outbox without a result
//! is sent again. The row is deleted with the result of its last call. A call is signed as Standard
//! Webhooks specifies (`webhook-id` = the call's id, which is Graph's
//! `customExtensionStageInstanceId`; `webhook-timestamp`; `webhook-signature: v1,<base64 HMAC-SHA256
//! of "id.timestamp.body">` with the extension's secret), retried with exponential backoff up to
//! the extension's `maximumRetries`, and what became of it is recorded in batches with its
//! event (`customExtension.calloutSent` or `.calloutFailed`). A launch-and-wait call that fails
//! fails its request (the request lifecycle's `callout_failed`).
//!
//! **Callbacks** come to Graph's path, `POST /identityGovernance/entitlementManagement/
//! assignmentRequests/{id}/resume`, signed the same way with the extension's secret, or through
//! the `resumeAccessPackageAssignmentRequest` mutation from whoever may manage the request's
//! catalog's requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use em_engine::delegation::Right;
use em_engine::event::{Event, EventKind};
use em_engine::extension::{
    CallbackData, Callout, CalloutOwner, CustomCalloutExtension, CustomExtensionInput, EndpointRules,
};
use em_engine::id::{CatalogId, CustomExtensionId, RequestId};
use em_engine::{Actor, DomainError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};

use super::{ServiceError, ServiceResult, Services};
use crate::store::extensions::{CalloutDelivery, Outbox, StoredExtension};

/// How many calls are in flight at once.
const IN_FLIGHT: usize = 64;
/// How long the recorder waits for more results before writing a batch.
const RECORD_DELAY: Duration = Duration::from_millis(50);
/// The most results one batch records.
const RECORD_BATCH: usize = 256;
/// How far a callback's timestamp may be from the server's clock.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;
/// The longest callback body accepted.
pub const MAX_CALLBACK_BYTES: usize = 64 * 1024;

/// The sender's state.
pub(crate) struct Callouts {
    rules: EndpointRules,
    /// The first retry waits this long; each later one twice the one before (capped at a minute).
    retry_base: Duration,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
    client: OnceLock<reqwest::Client>,
    /// Extensions with their secrets, by id, at the catalog generation they were read at.
    extensions: Mutex<HashMap<String, (u64, Option<StoredExtension>)>>,
    results: Mutex<Recorder>,
}

#[derive(Default)]
struct Recorder {
    /// Results not yet written, with their events.
    pending: Vec<CalloutDelivery>,
    events: Vec<Event>,
    failed_requests: Vec<(RequestId, String, String)>,
    /// The calls of each outbox row handed to the sender that have no result yet.
    outboxes: HashMap<Arc<str>, usize>,
    /// Outbox rows whose every call has a result (to delete with the last of them).
    done: Vec<Arc<str>>,
    /// The calls handed to the sender without a result written, by owner: what
    /// [`Services::assignment_callouts`] shows as pending.
    unsent: HashMap<String, Vec<UnsentCall>>,
    flushing: bool,
}

/// A call handed to the sender, as the views show it before its result is written.
struct UnsentCall {
    id: String,
    custom_extension_id: CustomExtensionId,
    stage: em_engine::extension::CustomExtensionStage,
    created: chrono::DateTime<chrono::Utc>,
}

struct Job {
    callout: Callout,
    /// The outbox row the call is in.
    outbox: Arc<str>,
    attempt: u32,
}

impl Default for Callouts {
    fn default() -> Self {
        Self::new(EndpointRules::default(), Duration::from_secs(1))
    }
}

impl Callouts {
    pub(crate) fn new(rules: EndpointRules, retry_base: Duration) -> Self {
        Self {
            rules,
            retry_base,
            queue: OnceLock::new(),
            client: OnceLock::new(),
            extensions: Mutex::default(),
            results: Mutex::default(),
        }
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The key behind a `whsec_` secret.
fn secret_key(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_else(|_| secret.as_bytes().to_vec())
}

/// The Standard Webhooks signature of a message: base64 of HMAC-SHA256 over `id.timestamp.body`.
#[must_use]
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret_key(secret)) else { return String::new() };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signatures` (a `webhook-signature` header: space-separated `v1,<base64>`) holds the
/// signature of the message, compared in constant time.
#[must_use]
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], signatures: &str) -> bool {
    let expected = sign(secret, id, timestamp, body);
    !expected.is_empty()
        && signatures.split_whitespace().filter_map(|s| s.strip_prefix("v1,")).any(|given| {
            given.len() == expected.len()
                && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        })
}

/// The headers of a signed callback.
#[derive(Debug, Clone, Default)]
pub struct SignedHeaders {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
}

/// Why a signed callback was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The signature is missing, malformed, stale or does not verify.
    #[error("{0}")]
    Unauthenticated(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl Services {
    /// These services with the operator's rules for extension URLs and the first retry's delay.
    #[must_use]
    pub fn with_callout_settings(mut self, rules: EndpointRules, retry_base: Duration) -> Self {
        self.callouts = Arc::new(Callouts::new(rules, retry_base));
        self
    }

    // ----------------------------------------------------------------------------------------
    // The catalog's extensions

    /// Creates an extension in a catalog; returns it with its signing secret, which is shown
    /// only here.
    pub async fn create_extension(
        &self,
        actor: &Actor,
        catalog_id: &CatalogId,
        input: CustomExtensionInput,
    ) -> ServiceResult<(CustomCalloutExtension, String)> {
        self.catalog_for(actor, Right::UpdateCatalog, catalog_id, "catalogId").await?;
        let extension = CustomCalloutExtension::create(
            self.new_id().into(),
            catalog_id.clone(),
            input,
            self.callouts.rules,
            &actor.label(),
            self.now(),
        )?;
        let secret = new_secret();
        let event = self.extension_event(actor, EventKind::CustomExtensionCreated, &extension);
        self.store.create_extension(&extension, &secret, event).await?;
        Ok((extension, secret))
    }

    /// Replaces an extension's properties (its type and secret stay).
    pub async fn update_extension(
        &self,
        actor: &Actor,
        id: &CustomExtensionId,
        input: CustomExtensionInput,
    ) -> ServiceResult<CustomCalloutExtension> {
        let current = self.managed_extension(actor, id).await?;
        let next = current.update(input, self.callouts.rules, &actor.label(), self.now())?;
        let event = self.extension_event(actor, EventKind::CustomExtensionUpdated, &next);
        self.store.update_extension(&next, event).await?;
        Ok(next)
    }

    /// Deletes an extension no policy calls.
    pub async fn delete_extension(&self, actor: &Actor, id: &CustomExtensionId) -> ServiceResult<()> {
        let current = self.managed_extension(actor, id).await?;
        let event = self.extension_event(actor, EventKind::CustomExtensionDeleted, &current);
        self.store.delete_extension(id, event).await?;
        Ok(())
    }

    /// An extension the caller may change.
    async fn managed_extension(
        &self,
        actor: &Actor,
        id: &CustomExtensionId,
    ) -> ServiceResult<CustomCalloutExtension> {
        let delegations = self.require_anywhere(actor, Right::UpdateCatalog).await?;
        let missing = || DomainError::not_found("custom extension", id).at("id");
        let stored = self.store.extension(id).await?.ok_or_else(missing)?;
        self.require_in(&delegations, Right::UpdateCatalog, &stored.extension.catalog_id, missing).await?;
        Ok(stored.extension)
    }

    /// A catalog's extensions, for whoever sees the catalog.
    pub async fn catalog_extensions(
        &self,
        actor: &Actor,
        catalog_id: &CatalogId,
    ) -> ServiceResult<Vec<CustomCalloutExtension>> {
        self.catalog_for(actor, Right::ReadCatalog, catalog_id, "catalogId").await?;
        Ok(self.store.catalog_extensions(catalog_id).await?)
    }

    /// An extension, when the caller sees its catalog.
    pub async fn visible_extension(
        &self,
        actor: &Actor,
        id: &CustomExtensionId,
    ) -> ServiceResult<Option<CustomCalloutExtension>> {
        let Some(stored) = self.store.extension(id).await? else { return Ok(None) };
        let delegations = self.delegations(actor).await?;
        Ok(delegations.allows(Right::ReadCatalog, &stored.extension.catalog_id).then_some(stored.extension))
    }

    fn extension_event(&self, actor: &Actor, kind: EventKind, extension: &CustomCalloutExtension) -> Event {
        self.event(actor, kind, "CustomCalloutExtension", &extension.id)
            .in_catalog(&extension.catalog_id)
            .with_data(serde_json::json!({ "customExtension": extension }))
    }

    /// The catalog's extensions a policy's stage settings name must exist there, at stages their
    /// type allows.
    pub(crate) async fn check_stage_settings(
        &self,
        catalog_id: &CatalogId,
        policy: &em_engine::policy::AccessPackageAssignmentPolicy,
    ) -> ServiceResult<()> {
        if policy.custom_extension_stage_settings.is_empty() {
            return Ok(());
        }
        let extensions = self.store.catalog_extensions(catalog_id).await?;
        em_engine::extension::check_stage_settings(&policy.custom_extension_stage_settings, &extensions)?;
        Ok(())
    }

    // ----------------------------------------------------------------------------------------
    // Sending

    /// Sends every call still in the outbox (at start: those a stopped server had not sent).
    pub async fn send_pending_callouts(&self) -> ServiceResult<usize> {
        let mut sent = 0;
        for pending in self.store.pending_callouts().await? {
            if pending.unsent.is_empty() {
                // Every call has its result: a server stopped before deleting the row.
                self.store.record_callouts(&[], &[pending.outbox.id], Vec::new(), false).await?;
                continue;
            }
            sent += pending.unsent.len();
            let outbox = Outbox { id: pending.outbox.id, calls: pending.unsent.len() };
            hand_off(self, &pending.unsent, Some(&outbox));
        }
        Ok(sent)
    }

    /// The extension a call goes to, with its secret (cached at the catalog generation).
    async fn callout_extension(&self, id: &str) -> ServiceResult<Option<StoredExtension>> {
        let generation = self.store.catalog_generation();
        {
            let cache = self.callouts.extensions.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, hit)) = cache.get(id)
                && *at == generation
            {
                return Ok(hit.clone());
            }
        }
        let stored = self.store.extension(id).await?;
        self.callouts
            .extensions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), (generation, stored.clone()));
        Ok(stored)
    }

    /// One attempt at a call: sent, retried later, or given up.
    async fn attempt(&self, job: Job) {
        let Job { callout, outbox, attempt } = job;
        let extension = match self.callout_extension(&callout.custom_extension_id).await {
            Ok(Some(extension)) => extension,
            Ok(None) => {
                self.record(&callout, &outbox, attempt + 1, Some("the custom extension was deleted".into()));
                return;
            }
            Err(e) => {
                // The store is unreachable: try again later, as a failed attempt would.
                tracing::warn!(error = %e, callout = %callout.id, "reading the custom extension failed");
                self.retry_later(Job { callout, outbox, attempt });
                return;
            }
        };
        let client = self.callouts.client.get_or_init(|| {
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default()
        });
        let body = callout.body_bytes("em-api");
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&extension.secret, &callout.id, timestamp, &body);
        let timeout = Duration::from_millis(u64::from(
            extension.extension.client_configuration.timeout_in_milliseconds,
        ));
        let outcome = client
            .post(&extension.extension.target_url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("webhook-id", &callout.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", format!("v1,{signature}"))
            .body(body)
            .send()
            .await;
        let error = match outcome {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the endpoint answered HTTP {}", response.status().as_u16())),
            Err(e) if e.is_timeout() => Some(format!("no answer within {} ms", timeout.as_millis())),
            Err(e) => Some(format!("the endpoint could not be reached: {}", without_url(&e))),
        };
        match error {
            None => self.record(&callout, &outbox, attempt + 1, None),
            Some(error) if attempt < extension.extension.client_configuration.maximum_retries => {
                tracing::debug!(callout = %callout.id, attempt, %error, "call failed; retrying");
                self.retry_later(Job { callout, outbox, attempt });
            }
            Some(error) => {
                let retries = extension.extension.client_configuration.maximum_retries;
                let error = format!("{error} (after {retries} retries)");
                self.record(&callout, &outbox, attempt + 1, Some(error));
            }
        }
    }

    /// Sends the job's call again after a delay that doubles with each attempt.
    fn retry_later(&self, job: Job) {
        let delay =
            self.callouts.retry_base.saturating_mul(1 << job.attempt.min(16)).min(Duration::from_secs(60));
        let services = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(queue) = services.callouts.queue.get() {
                let _ = queue.send(Job { attempt: job.attempt + 1, ..job });
            }
        });
    }

    /// Records what became of a call; written in batches.
    fn record(&self, callout: &Callout, outbox: &Arc<str>, attempts: u32, error: Option<String>) {
        let now = chrono::Utc::now();
        let kind = if error.is_some() {
            EventKind::CustomExtensionCalloutFailed
        } else {
            EventKind::CustomExtensionCalloutSent
        };
        let (subject_type, subject_id) = match &callout.owner {
            CalloutOwner::Request(id) => ("AccessPackageAssignmentRequest", id.to_string()),
            CalloutOwner::Assignment(id) => ("AccessPackageAssignment", id.to_string()),
        };
        let mut event = self
            .event(&Actor::System, kind, subject_type, &subject_id)
            .in_catalog(&callout.catalog_id)
            .for_package(&callout.access_package_id)
            .with_data(serde_json::json!({
                "customExtensionStageInstanceId": callout.id,
                "customExtensionId": callout.custom_extension_id,
                "stage": callout.stage.as_str(),
                "attempts": attempts,
            }))
            .with_reason(match &error {
                None => format!("custom extension called at {}", callout.stage.label()),
                Some(e) => format!("custom extension at {} could not be called: {e}", callout.stage.label()),
            });
        event.target_id = Some(callout.target_id.to_string());
        let start = {
            let mut recorder = self.callouts.results.lock().unwrap_or_else(PoisonError::into_inner);
            recorder.pending.push(CalloutDelivery {
                id: callout.id.clone(),
                owner_id: callout.owner.id().to_owned(),
                status: if error.is_some() { "failed" } else { "sent" }.to_owned(),
                attempts,
                error: error.clone(),
                completed_date_time: now,
                custom_extension_id: Some(callout.custom_extension_id.to_string()),
                stage: Some(callout.stage),
                launched_date_time: Some(callout.created_date_time),
            });
            recorder.events.push(event);
            if let Some(left) = recorder.outboxes.get_mut(outbox) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    recorder.outboxes.remove(outbox);
                    recorder.done.push(Arc::clone(outbox));
                }
            }
            if let (Some(error), CalloutOwner::Request(id)) = (&error, &callout.owner) {
                recorder.failed_requests.push((id.clone(), callout.id.clone(), error.clone()));
            }
            !std::mem::replace(&mut recorder.flushing, true)
        };
        if start {
            let services = self.clone();
            tokio::spawn(async move { services.flush_callouts().await });
        }
    }

    /// Writes recorded results until none are left; a failed write is tried again.
    async fn flush_callouts(&self) {
        loop {
            tokio::time::sleep(RECORD_DELAY).await;
            let (batch, done, events, failed) = {
                let mut recorder = self.callouts.results.lock().unwrap_or_else(PoisonError::into_inner);
                if recorder.pending.is_empty() && recorder.done.is_empty() {
                    recorder.flushing = false;
                    return;
                }
                let n = recorder.pending.len().min(RECORD_BATCH);
                // An outbox row goes with the results of all its calls, so only once they are
                // all in this batch.
                let done =
                    if n == recorder.pending.len() { std::mem::take(&mut recorder.done) } else { Vec::new() };
                let batch: Vec<CalloutDelivery> = recorder.pending.drain(..n).collect();
                let events: Vec<Event> = recorder.events.drain(..n).collect();
                let failed = std::mem::take(&mut recorder.failed_requests);
                (batch, done, events, failed)
            };
            let done_ids: Vec<String> = done.iter().map(ToString::to_string).collect();
            let mut written = self.store.record_callouts(&batch, &done_ids, events.clone(), false).await;
            if written.is_err() {
                written = self.store.record_callouts(&batch, &done_ids, events.clone(), true).await;
            }
            if let Err(e) = written {
                tracing::warn!(error = %e, "recording custom extension calls failed; retrying");
                {
                    let mut recorder = self.callouts.results.lock().unwrap_or_else(PoisonError::into_inner);
                    recorder.pending.splice(0..0, batch);
                    recorder.events.splice(0..0, events);
                    recorder.done.extend(done);
                    recorder.failed_requests.extend(failed);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            {
                let mut recorder = self.callouts.results.lock().unwrap_or_else(PoisonError::into_inner);
                for result in &batch {
                    if let Some(calls) = recorder.unsent.get_mut(&result.owner_id) {
                        calls.retain(|c| c.id != result.id);
                        if calls.is_empty() {
                            recorder.unsent.remove(&result.owner_id);
                        }
                    }
                }
            }
            for (request, callout, error) in failed {
                if let Err(e) = self.callout_failed(&request, &callout, &error).await {
                    tracing::warn!(%request, error = %e, "recording a failed call on its request failed");
                }
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Callbacks

    /// A callback signed with the extension's secret, to Graph's `resume` path.
    pub async fn resume_signed(
        &self,
        request_id: &RequestId,
        headers: &SignedHeaders,
        body: &[u8],
    ) -> Result<(), ResumeError> {
        if body.len() > MAX_CALLBACK_BYTES {
            return Err(ServiceError::from(DomainError::invalid(
                "body",
                format!("a callback is at most {MAX_CALLBACK_BYTES} bytes"),
            ))
            .into());
        }
        let (Some(id), Some(timestamp), Some(signature)) =
            (&headers.id, &headers.timestamp, &headers.signature)
        else {
            return Err(ResumeError::Unauthenticated(
                "sign the callback: `webhook-id`, `webhook-timestamp` and `webhook-signature` headers (Standard Webhooks), with the extension's secret".into(),
            ));
        };
        let timestamp: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| ResumeError::Unauthenticated("`webhook-timestamp` is seconds since 1970".into()))?;
        if (chrono::Utc::now().timestamp() - timestamp).abs() > SIGNATURE_TOLERANCE_SECONDS {
            return Err(ResumeError::Unauthenticated(format!(
                "`webhook-timestamp` is more than {SIGNATURE_TOLERANCE_SECONDS} s from now; sign the callback when you send it"
            )));
        }
        let data = callback_from_body(body)?;
        let stored = self.store.request(request_id).await.map_err(ServiceError::from)?.ok_or_else(|| {
            ServiceError::from(DomainError::not_found("assignment request", request_id).at("id"))
        })?;
        let instance_id = data.custom_extension_stage_instance_id.trim();
        let Some(instance) =
            stored.request.custom_extension_callout_instances.iter().find(|i| i.id == instance_id)
        else {
            return Err(ServiceError::from(
                DomainError::not_found("custom extension stage instance", instance_id)
                    .at("data.customExtensionStageInstanceId"),
            )
            .into());
        };
        let secret = self
            .store
            .extension(&instance.custom_extension_id)
            .await
            .map_err(ServiceError::from)?
            .map(|e| e.secret)
            .unwrap_or_default();
        if secret.is_empty() || !verify(&secret, id, timestamp, body, signature) {
            return Err(ResumeError::Unauthenticated(
                "the signature does not verify with the custom extension's secret".into(),
            ));
        }
        self.resume_request(&Actor::System, request_id, &data).await?;
        Ok(())
    }

    /// A callback from whoever may manage the requests of the request's catalog (Graph's
    /// `resume` with a bearer token).
    pub async fn resume_as(
        &self,
        actor: &Actor,
        request_id: &RequestId,
        data: &CallbackData,
    ) -> ServiceResult<em_engine::request::AccessPackageAssignmentRequest> {
        let delegations = self.require_anywhere(actor, Right::ManageRequests).await?;
        let missing = || DomainError::not_found("assignment request", request_id).at("id");
        let stored = self.store.request(request_id).await?.ok_or_else(missing)?;
        self.require_in(&delegations, Right::ManageRequests, &stored.request.catalog_id, missing).await?;
        self.resume_request(actor, request_id, data).await
    }
}

/// `customExtensionCalloutInstanceStatus`, with `calloutPending` for a call not sent yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalloutState {
    CalloutPending,
    CalloutSent,
    WaitingForCallback,
    CallbackReceived,
    CalloutFailed,
    CallbackTimedOut,
}

/// A call of a custom extension as the caller sees it: what the request recorded and what the
/// sender recorded, together.
#[derive(Debug, Clone)]
pub struct CalloutView {
    pub id: String,
    pub custom_extension_id: String,
    pub stage: em_engine::extension::CustomExtensionStage,
    pub status: CalloutState,
    /// The callback's detail, or why the call failed; shown to the requestor, the target and
    /// whoever reads the catalog's requests.
    pub detail: Option<String>,
    pub attempts: u32,
    pub launched_date_time: chrono::DateTime<chrono::Utc>,
    pub completed_date_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl Services {
    /// The calls made for a request the caller sees (Graph's `customExtensionCalloutInstances`).
    pub async fn request_callouts(
        &self,
        actor: &Actor,
        request: &em_engine::request::AccessPackageAssignmentRequest,
    ) -> ServiceResult<Vec<CalloutView>> {
        use em_engine::extension::CalloutStatus as S;
        if request.custom_extension_callout_instances.is_empty() {
            return Ok(Vec::new());
        }
        let delegations = self.delegations(actor).await?;
        let shown = super::authz::is_party(actor, request)
            || delegations.allows(Right::ReadRequests, &request.catalog_id);
        let sent = self.store.callouts_of(&request.id).await?;
        Ok(request
            .custom_extension_callout_instances
            .iter()
            .map(|i| {
                let delivery = sent.iter().find(|d| d.id == i.id);
                let failed = delivery.filter(|d| d.status == "failed");
                let (status, detail) = match (i.status, delivery, failed) {
                    (S::CallbackReceived, _, _) => (CalloutState::CallbackReceived, i.detail.clone()),
                    (S::CallbackTimedOut, _, _) => (CalloutState::CallbackTimedOut, None),
                    (S::CalloutFailed, _, _) => (CalloutState::CalloutFailed, i.detail.clone()),
                    (_, _, Some(f)) => (CalloutState::CalloutFailed, f.error.clone()),
                    (S::WaitingForCallback, _, _) => (CalloutState::WaitingForCallback, None),
                    (S::Launched, Some(_), _) => (CalloutState::CalloutSent, None),
                    (S::Launched, None, _) => (CalloutState::CalloutPending, None),
                };
                CalloutView {
                    id: i.id.clone(),
                    custom_extension_id: i.custom_extension_id.to_string(),
                    stage: i.stage,
                    status,
                    detail: detail.filter(|_| shown),
                    attempts: delivery.map_or(0, |d| d.attempts),
                    launched_date_time: i.launched_date_time,
                    completed_date_time: i.completed_date_time.or(delivery.map(|d| d.completed_date_time)),
                }
            })
            .collect())
    }

    /// The calls made for an assignment the caller sees (before its expiry, as it ends).
    pub async fn assignment_callouts(&self, assignment_id: &str) -> ServiceResult<Vec<CalloutView>> {
        let sent = self.store.callouts_of(assignment_id).await?;
        let mut out: Vec<CalloutView> = {
            let recorder = self.callouts.results.lock().unwrap_or_else(PoisonError::into_inner);
            let unsent = recorder.unsent.get(assignment_id).map_or(&[][..], Vec::as_slice);
            unsent
                .iter()
                .filter(|c| !sent.iter().any(|d| d.id == c.id))
                .map(|c| CalloutView {
                    id: c.id.clone(),
                    custom_extension_id: c.custom_extension_id.to_string(),
                    stage: c.stage,
                    status: CalloutState::CalloutPending,
                    detail: None,
                    attempts: 0,
                    launched_date_time: c.created,
                    completed_date_time: None,
                })
                .collect()
        };
        for d in sent {
            let stage = em_engine::extension::CustomExtensionStage::AssignmentRequestRemoved;
            out.push(CalloutView {
                id: d.id,
                custom_extension_id: d.custom_extension_id.clone().unwrap_or_default(),
                stage: d.stage.unwrap_or(stage),
                status: if d.status == "failed" {
                    CalloutState::CalloutFailed
                } else {
                    CalloutState::CalloutSent
                },
                detail: d.error,
                attempts: d.attempts,
                launched_date_time: d.launched_date_time.unwrap_or(d.completed_date_time),
                completed_date_time: Some(d.completed_date_time),
            });
        }
        out.sort_by_key(|c| c.launched_date_time);
        Ok(out)
    }
}

/// Graph's resume body: `{source, type, data: {stage, customExtensionStageInstanceId,
/// customExtensionStageInstanceDetail, state}}`; `type` names the stage
/// (`microsoft.graph.accessPackageCustomExtensionStage.<stage>`).
pub fn callback_from_body(body: &[u8]) -> Result<CallbackData, ServiceError> {
    let invalid = |message: &str| ServiceError::from(DomainError::invalid("body", message.to_owned()));
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(&format!("the body is not JSON: {e}")))?;
    let data = value.get("data").ok_or_else(|| invalid("the body has no `data`"))?;
    let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(str::to_owned);
    let stage_text = text(data.get("stage")).or_else(|| text(value.get("type")));
    let stage = match stage_text {
        Some(s) => Some(em_engine::extension::CustomExtensionStage::parse(&s).ok_or_else(|| {
            ServiceError::from(DomainError::invalid("type", format!("`{s}` is not a custom extension stage")))
        })?),
        None => None,
    };
    let instance = text(data.get("customExtensionStageInstanceId"))
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ServiceError::from(DomainError::invalid(
                "data.customExtensionStageInstanceId",
                "name the stage instance the callback answers (`customExtensionStageInstanceId` of the call)",
            ))
        })?;
    Ok(CallbackData {
        stage,
        custom_extension_stage_instance_id: instance,
        custom_extension_stage_instance_detail: text(data.get("customExtensionStageInstanceDetail")),
        state: text(data.get("state")),
    })
}

/// An HTTP client error without the URL (which may carry a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the endpoint");
    }
    text
}

/// Hands committed calls to the sender (the step after a governance commit, and the start):
/// data put on the sender's queue, whose task (started with the first call) sends them.
/// `outbox` is the row they were committed to, with the number of its calls without a result
/// (each change of a transaction hands off its own calls with the transaction's row).
pub(crate) fn hand_off(services: &Services, callouts: &[Callout], outbox: Option<&Outbox>) {
    let Some(outbox) = outbox.filter(|_| !callouts.is_empty()) else { return };
    let outbox_id: Arc<str> = {
        let mut recorder = services.callouts.results.lock().unwrap_or_else(PoisonError::into_inner);
        let id: Arc<str> = match recorder.outboxes.get_key_value(outbox.id.as_str()) {
            Some((id, _)) => Arc::clone(id),
            None => {
                let id: Arc<str> = Arc::from(outbox.id.as_str());
                recorder.outboxes.insert(Arc::clone(&id), outbox.calls);
                id
            }
        };
        for callout in callouts {
            recorder.unsent.entry(callout.owner.id().to_owned()).or_default().push(UnsentCall {
                id: callout.id.clone(),
                custom_extension_id: callout.custom_extension_id.clone(),
                stage: callout.stage,
                created: callout.created_date_time,
            });
        }
        id
    };
    let queue = services.callouts.queue.get_or_init(|| {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(services.clone(), receiver));
        sender
    });
    for callout in callouts {
        let _ = queue.send(Job { callout: callout.clone(), outbox: Arc::clone(&outbox_id), attempt: 0 });
    }
}

/// The sender: each call on a task of its own, at most [`IN_FLIGHT`] at once.
async fn dispatch(services: Services, mut receiver: mpsc::UnboundedReceiver<Job>) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(job) = receiver.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
        let services = services.clone();
        tokio::spawn(async move {
            services.attempt(job).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_and_the_exact_message() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        let signature = sign(&secret, "msg_1", 1_700_000_000, b"{}");
        let header = format!("v1,bogus v1,{signature}");
        assert!(verify(&secret, "msg_1", 1_700_000_000, b"{}", &header));
        assert!(!verify(&secret, "msg_1", 1_700_000_001, b"{}", &header));
        assert!(!verify(&secret, "msg_2", 1_700_000_000, b"{}", &header));
        assert!(!verify(&secret, "msg_1", 1_700_000_000, b"{ }", &header));
        assert!(!verify(&new_secret(), "msg_1", 1_700_000_000, b"{}", &header));
        assert!(!verify(&secret, "msg_1", 1_700_000_000, b"{}", &signature), "without `v1,`");
    }

    /// The Standard Webhooks test vector.
    #[test]
    fn the_signature_is_standard_webhooks() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_resume_body_is_read_as_graph_writes_it() {
        let body = br#"{"source": "tap", "type": "microsoft.graph.accessPackageCustomExtensionStage.assignmentRequestApproved",
            "data": {"@odata.type": "microsoft.graph.accessPackageAssignmentRequestCallbackData",
                     "customExtensionStageInstanceId": "i1", "customExtensionStageInstanceDetail": "TAP: 1234"}}"#;
        let data = callback_from_body(body).unwrap();
        assert_eq!(data.stage, Some(em_engine::extension::CustomExtensionStage::AssignmentRequestApproved));
        assert_eq!(data.custom_extension_stage_instance_id, "i1");
        assert_eq!(data.custom_extension_stage_instance_detail.as_deref(), Some("TAP: 1234"));
        assert!(callback_from_body(b"{").is_err());
        assert!(callback_from_body(br#"{"data": {}}"#).is_err());
    }
}
