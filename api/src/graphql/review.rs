//! Access reviews in GraphQL, as Graph's access reviews name them: `accessReviewInstance` and
//! `accessReviewInstanceDecisionItem`, the decisions waiting for the signed-in reviewer
//! (`filterByCurrentUser(on: reviewer)`), recording decisions and stopping a review.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use em_engine::review::{
    AccessReviewDecision, AccessReviewDecisionItem, AccessReviewInstance, ApplyResult, Recommendation,
    ReviewStatus,
};

use super::directory::{UserNode, user_of};
use super::error::OrGraphql;
use super::page::{self, Conn};
use super::{actor, services};
use crate::service::model::StoredReviewItem;
use crate::service::reviews::DecisionInput;

/// `accessReviewInstance.status`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessReviewInstanceStatus", rename_items = "PascalCase")]
pub enum ReviewStatusValue {
    InProgress,
    Completed,
    Applied,
}

impl From<ReviewStatus> for ReviewStatusValue {
    fn from(s: ReviewStatus) -> Self {
        match s {
            ReviewStatus::InProgress => Self::InProgress,
            ReviewStatus::Completed => Self::Completed,
            ReviewStatus::Applied => Self::Applied,
        }
    }
}

/// A reviewer's decision.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessReviewDecision", rename_items = "PascalCase")]
pub enum DecisionValue {
    Approve,
    Deny,
    DontKnow,
    NotReviewed,
}

impl From<AccessReviewDecision> for DecisionValue {
    fn from(d: AccessReviewDecision) -> Self {
        match d {
            AccessReviewDecision::Approve => Self::Approve,
            AccessReviewDecision::Deny => Self::Deny,
            AccessReviewDecision::DontKnow => Self::DontKnow,
            AccessReviewDecision::NotReviewed => Self::NotReviewed,
        }
    }
}

impl From<DecisionValue> for AccessReviewDecision {
    fn from(d: DecisionValue) -> Self {
        match d {
            DecisionValue::Approve => Self::Approve,
            DecisionValue::Deny => Self::Deny,
            DecisionValue::DontKnow => Self::DontKnow,
            DecisionValue::NotReviewed => Self::NotReviewed,
        }
    }
}

/// What the review recommends, from the assignee's last sign-in.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessReviewRecommendation", rename_items = "PascalCase")]
pub enum RecommendationValue {
    Approve,
    Deny,
    NotAvailable,
}

impl From<Recommendation> for RecommendationValue {
    fn from(r: Recommendation) -> Self {
        match r {
            Recommendation::Approve => Self::Approve,
            Recommendation::Deny => Self::Deny,
            Recommendation::NotAvailable => Self::NotAvailable,
        }
    }
}

/// `applyResult` of an item.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessReviewApplyResult", rename_items = "PascalCase")]
pub enum ApplyResultValue {
    New,
    AppliedSuccessfully,
    AppliedSuccessfullyButObjectNotFound,
}

impl From<ApplyResult> for ApplyResultValue {
    fn from(r: ApplyResult) -> Self {
        match r {
            ApplyResult::New => Self::New,
            ApplyResult::AppliedSuccessfully => Self::AppliedSuccessfully,
            ApplyResult::AppliedSuccessfullyButObjectNotFound => Self::AppliedSuccessfullyButObjectNotFound,
        }
    }
}

/// `accessReviewInstance`: one review of a policy's assignments.
pub struct ReviewNode(pub AccessReviewInstance);

#[Object(name = "AccessReviewInstance")]
impl ReviewNode {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn status(&self) -> ReviewStatusValue {
        self.0.status.into()
    }
    /// Which review of the policy's schedule (1 for the first).
    async fn occurrence(&self) -> u32 {
        self.0.occurrence + 1
    }
    async fn start_date_time(&self) -> DateTime<Utc> {
        self.0.start_date_time
    }
    async fn end_date_time(&self) -> DateTime<Utc> {
        self.0.end_date_time
    }
    async fn stopped_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.stopped_date_time
    }
    async fn applied_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.applied_date_time
    }
    async fn access_package_id(&self) -> ID {
        ID(format!("AccessPackage:{}", self.0.access_package_id))
    }
    async fn policy_id(&self) -> ID {
        ID(format!("AccessPackageAssignmentPolicy:{}", self.0.policy_id))
    }
    /// The review's decision items, by assignee name.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn decisions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<DecisionNode>> {
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let items = services(ctx).access_review_items(&actor(ctx), &self.0.id, &request).await.gql()?;
        Ok(page::connection(items, has_previous, |s: StoredReviewItem| DecisionNode(s.item)))
    }
}

/// A reviewer of an item, and how they came to be one.
#[derive(SimpleObject)]
pub struct ReviewerValue {
    id: ID,
    display_name: Option<String>,
    via: String,
}

/// `accessReviewInstanceDecisionItem`: one assignment under review.
pub struct DecisionNode(pub AccessReviewDecisionItem);

/// Graph's `accessReviewInstanceDecisionItemResource`: what a decision item reviews.
#[derive(SimpleObject)]
#[graphql(name = "AccessReviewInstanceDecisionItemResource")]
pub struct DecisionItemResource {
    id: ID,
    display_name: Option<String>,
    /// `accessPackage`.
    r#type: &'static str,
}

#[Object(name = "AccessReviewInstanceDecisionItem")]
impl DecisionNode {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn access_review_id(&self) -> ID {
        ID(self.0.instance_id.clone())
    }
    async fn assignment_id(&self) -> ID {
        ID(format!("AccessPackageAssignment:{}", self.0.assignment_id))
    }
    async fn access_package_id(&self) -> ID {
        ID(format!("AccessPackage:{}", self.0.access_package_id))
    }
    /// What is reviewed: the access package (Graph's `resource`), named for the reviewer even
    /// where they may not read its catalog.
    async fn resource(&self, ctx: &Context<'_>) -> async_graphql::Result<DecisionItemResource> {
        let display_name = services(ctx).reviewed_resource(&self.0).await.gql()?;
        Ok(DecisionItemResource {
            id: ID(format!("AccessPackage:{}", self.0.access_package_id)),
            display_name,
            r#type: "accessPackage",
        })
    }
    /// The assignee's id.
    async fn principal_id(&self) -> ID {
        ID(self.0.principal_id.to_string())
    }
    async fn principal_display_name(&self) -> Option<&str> {
        self.0.principal_display_name.as_deref()
    }
    /// The assignee, as far as the caller sees them.
    async fn principal(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        user_of(ctx, &self.0.principal_id).await
    }
    async fn recommendation(&self) -> RecommendationValue {
        self.0.recommendation.into()
    }
    /// Why it is recommended: the assignee's last sign-in.
    async fn recommendation_reason(&self) -> &str {
        &self.0.recommendation_reason
    }
    async fn reviewers(&self) -> Vec<ReviewerValue> {
        self.0
            .reviewers
            .iter()
            .map(|r| ReviewerValue {
                id: ID(r.id.clone()),
                display_name: r.display_name.clone(),
                via: r.via.clone(),
            })
            .collect()
    }
    /// How the reviewers were resolved, where something was missing.
    async fn notes(&self) -> &[String] {
        &self.0.notes
    }
    async fn decision(&self) -> DecisionValue {
        self.0.decision.into()
    }
    async fn justification(&self) -> Option<&str> {
        self.0.justification.as_deref()
    }
    async fn reviewed_by_id(&self) -> Option<ID> {
        self.0.reviewed_by.as_ref().map(|id| ID(id.to_string()))
    }
    async fn reviewed_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.reviewed_date_time
    }
    async fn apply_result(&self) -> ApplyResultValue {
        self.0.apply_result.into()
    }
    async fn applied_date_time(&self) -> Option<DateTime<Utc>> {
        self.0.applied_date_time
    }
}

/// `filterByCurrentUser(on: ...)` for review decisions.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccessReviewDecisionsOf", rename_items = "camelCase")]
pub enum DecisionsOf {
    /// The items the signed-in user has to decide in the reviews open now.
    Reviewer,
}

#[derive(Default)]
pub struct ReviewQuery;

#[Object]
impl ReviewQuery {
    /// A policy's reviews, oldest first: for whoever reads its catalog.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn access_review_instances(
        &self,
        ctx: &Context<'_>,
        policy_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<ReviewNode>> {
        let id = super::node::policy_id(&policy_id, "policyId").gql()?;
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let found = services(ctx).access_reviews(&actor(ctx), &id, &request).await.gql()?;
        Ok(page::connection(found, has_previous, ReviewNode))
    }

    async fn access_review_instance(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ReviewNode>> {
        Ok(services(ctx).access_review(&actor(ctx), &id).await.gql()?.map(ReviewNode))
    }

    /// The decisions waiting for the signed-in reviewer (Graph's
    /// `decisions/filterByCurrentUser(on='reviewer')`), by assignee name.
    #[graphql(complexity = "super::page::cost(first, child_complexity)")]
    async fn access_review_decisions(
        &self,
        ctx: &Context<'_>,
        filter_by_current_user: DecisionsOf,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<DecisionNode>> {
        let DecisionsOf::Reviewer = filter_by_current_user;
        let request = page::request(ctx, first, after).gql()?;
        let has_previous = request.after.is_some();
        let items = services(ctx).review_items_for_me(&actor(ctx), &request).await.gql()?;
        Ok(page::connection(items, has_previous, |s: StoredReviewItem| DecisionNode(s.item)))
    }
}

/// One decision: the item, the decision, and why.
#[derive(InputObject)]
pub struct ReviewDecisionInput {
    id: ID,
    decision: DecisionValue,
    justification: Option<String>,
}

/// Decisions to record, all or none.
#[derive(InputObject)]
pub struct RecordDecisionsInput {
    decisions: Vec<ReviewDecisionInput>,
}

#[derive(SimpleObject)]
pub struct RecordDecisionsPayload {
    decisions: Vec<DecisionNode>,
}

#[derive(InputObject)]
pub struct StopReviewInput {
    id: ID,
}

#[derive(SimpleObject)]
pub struct ReviewPayload {
    access_review_instance: ReviewNode,
}

#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Records the signed-in reviewer's decisions (Graph's `PATCH decisions/{id}`, one or many);
    /// a decision changes until the review ends.
    async fn record_access_review_decisions(
        &self,
        ctx: &Context<'_>,
        input: RecordDecisionsInput,
    ) -> async_graphql::Result<RecordDecisionsPayload> {
        let decisions: Vec<DecisionInput> = input
            .decisions
            .into_iter()
            .map(|d| DecisionInput {
                item_id: d.id.0,
                decision: d.decision.into(),
                justification: d.justification,
            })
            .collect();
        let decided = services(ctx).record_review_decisions(&actor(ctx), &decisions).await.gql()?;
        Ok(RecordDecisionsPayload { decisions: decided.into_iter().map(DecisionNode).collect() })
    }

    /// Stops a review before its end (Graph's `stop`) and applies its results.
    async fn stop_access_review_instance(
        &self,
        ctx: &Context<'_>,
        input: StopReviewInput,
    ) -> async_graphql::Result<ReviewPayload> {
        let stopped = services(ctx).stop_review(&actor(ctx), &input.id).await.gql()?;
        Ok(ReviewPayload { access_review_instance: ReviewNode(stopped) })
    }
}
