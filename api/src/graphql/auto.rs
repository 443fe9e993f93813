//! Auto-assignment in GraphQL: the what-if of a proposed rule, the users a policy selects but
//! cannot assign (and why), and the reconciliation that repairs drift.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::directory::UserNode;
use super::error::OrGraphql;
use super::node::{package_id, policy_id};
use super::{actor, services};
use crate::service::auto::AutoOutcome;

/// Who a proposed rule would give the package to and take it from.
#[derive(SimpleObject)]
pub struct AutoAssignmentWhatIf {
    /// How many users the rule selects.
    pub matching_count: usize,
    /// Selected users who do not hold the package (ids, sorted): they would get it.
    pub gain: Vec<ID>,
    /// Users holding the package through its auto-assignment policy whom the rule would not
    /// select (ids, sorted): they would lose it.
    pub lose: Vec<ID>,
}

/// A user an auto-assignment policy selects but cannot assign.
pub struct AutoAssignmentExclusionNode(crate::service::model::Exclusion);

#[Object(name = "AutoAssignmentExclusion")]
impl AutoAssignmentExclusionNode {
    async fn user_id(&self) -> ID {
        ID(self.0.target_id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserNode>> {
        super::directory::user_of(ctx, &self.0.target_id).await
    }
    /// Why: the incompatible package or group that blocks the assignment.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn recorded_date_time(&self) -> &str {
        &self.0.recorded_date_time
    }
}

/// What a reconciliation did.
#[derive(SimpleObject)]
pub struct ReconcileAutoAssignmentsPayload {
    pub assigned: usize,
    pub removals_scheduled: usize,
    pub removed: usize,
    pub removals_canceled: usize,
    /// Selected users who could not be assigned (see `autoAssignmentExclusions`).
    pub excluded: usize,
}

impl From<AutoOutcome> for ReconcileAutoAssignmentsPayload {
    fn from(o: AutoOutcome) -> Self {
        Self {
            assigned: o.assigned,
            removals_scheduled: o.removals_scheduled,
            removed: o.removed,
            removals_canceled: o.removals_canceled,
            excluded: o.excluded,
        }
    }
}

#[derive(InputObject, Default)]
pub struct ReconcileAutoAssignmentsInput {
    /// One auto-assignment policy; every one when left out.
    pub policy_id: Option<ID>,
}

#[derive(Default)]
pub struct AutoQuery;

#[Object]
impl AutoQuery {
    /// For a proposed auto-assignment rule on a package, who would gain the package and who
    /// would lose it, before the policy is saved. Administrators only.
    async fn auto_assignment_what_if(
        &self,
        ctx: &Context<'_>,
        access_package_id: ID,
        rule: String,
    ) -> async_graphql::Result<AutoAssignmentWhatIf> {
        let package = package_id(&access_package_id, "accessPackageId").gql()?;
        let found = services(ctx).auto_what_if(&actor(ctx), &package, &rule).await.gql()?;
        Ok(AutoAssignmentWhatIf {
            matching_count: found.matching,
            gain: found.gain.into_iter().map(ID).collect(),
            lose: found.lose.into_iter().map(ID).collect(),
        })
    }

    /// The users an auto-assignment policy selects but cannot assign (separation of duties),
    /// with the reason. Administrators only.
    async fn auto_assignment_exclusions(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "policyId")] policy: ID,
    ) -> async_graphql::Result<Vec<AutoAssignmentExclusionNode>> {
        let id = policy_id(&policy, "policyId").gql()?;
        let exclusions = services(ctx).auto_exclusions(&actor(ctx), &id).await.gql()?;
        Ok(exclusions.into_iter().map(AutoAssignmentExclusionNode).collect())
    }
}

#[derive(Default)]
pub struct AutoMutation;

#[Object]
impl AutoMutation {
    /// Evaluates auto-assignment policies over the whole directory and acts on every
    /// difference: repairs drift, and changes nothing when run again. Administrators only.
    async fn reconcile_auto_assignments(
        &self,
        ctx: &Context<'_>,
        input: Option<ReconcileAutoAssignmentsInput>,
    ) -> async_graphql::Result<ReconcileAutoAssignmentsPayload> {
        let policy =
            input.and_then(|i| i.policy_id).map(|id| policy_id(&id, "policyId")).transpose().gql()?;
        let outcome = services(ctx).reconcile_auto_assignments(&actor(ctx), policy.as_ref()).await.gql()?;
        Ok(outcome.into())
    }
}
