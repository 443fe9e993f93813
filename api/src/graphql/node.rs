//! Relay's `Node` interface: global ids (`<Type>:<id>`) and `node(id:)`.
//!
//! A global id is the GraphQL type name and the object's Graph id joined by a colon, e.g.
//! `AccessPackage:5f3c...`. Arguments that take an id of a known type also accept the bare Graph
//! id, so ids copied from Microsoft Graph or an import file work as they are.

use async_graphql::{Context, ID, Interface, Object};
use em_engine::DomainError;

use super::catalog::{AccessPackageCatalogNode, AccessPackageNode, AccessPackageResourceNode};
use super::directory::{ApplicationNode, DirectoryRoleNode, GroupNode, SiteNode, UserNode};
use super::error::OrGraphql;
use super::organization::ConnectedOrganizationNode;
use super::policy::AccessPackageAssignmentPolicyNode;
use super::request::{AccessPackageAssignmentNode, AccessPackageAssignmentRequestNode};
use super::roles::UnifiedRoleAssignmentNode;
use super::{actor, services};

/// An object with a global id.
#[expect(
    clippy::large_enum_variant,
    reason = "short-lived response values; boxing users would only add indirection"
)]
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "ID", desc = "The global id: `<Type>:<Graph id>`."))]
pub enum Node {
    User(UserNode),
    Group(GroupNode),
    Application(ApplicationNode),
    Site(SiteNode),
    DirectoryRole(DirectoryRoleNode),
    AccessPackageCatalog(AccessPackageCatalogNode),
    AccessPackageResource(AccessPackageResourceNode),
    AccessPackage(AccessPackageNode),
    AccessPackageAssignmentPolicy(AccessPackageAssignmentPolicyNode),
    AccessPackageAssignmentRequest(AccessPackageAssignmentRequestNode),
    AccessPackageAssignment(AccessPackageAssignmentNode),
    UnifiedRoleAssignment(UnifiedRoleAssignmentNode),
    ConnectedOrganization(ConnectedOrganizationNode),
}

/// Types whose ids are global.
const TYPES: [&str; 14] = [
    "User",
    "Group",
    "Application",
    "Site",
    "DirectoryRole",
    "AccessPackageCatalog",
    "AccessPackageResource",
    "AccessPackage",
    "AccessPackageAssignmentPolicy",
    "AccessPackageAssignmentRequest",
    "AccessPackageAssignment",
    "UnifiedRoleAssignment",
    "ConnectedOrganization",
    "CustomCalloutExtension",
];

/// The global id of an object of `type_name` with Graph id `id`.
#[must_use]
pub fn global_id(type_name: &str, id: &str) -> ID {
    ID(format!("{type_name}:{id}"))
}

/// Splits a global id into its type and Graph id.
fn split(raw: &str) -> Option<(&'static str, &str)> {
    let (prefix, rest) = raw.split_once(':')?;
    TYPES.iter().find(|t| **t == prefix).map(|t| (*t, rest))
}

/// The Graph id behind an id argument that must name a `type_name`; `field` is the argument.
pub fn local_id(raw: &str, type_name: &str, field: &str) -> Result<String, DomainError> {
    let raw = raw.trim();
    match split(raw) {
        Some((t, id)) if t == type_name && !id.is_empty() => Ok(id.to_owned()),
        Some((t, _)) if t != type_name => {
            Err(DomainError::invalid(field, format!("`{raw}` is the id of a {t}, not of a {type_name}")))
        }
        _ if raw.is_empty() => Err(DomainError::invalid(field, format!("`{field}` must not be empty"))),
        _ => Ok(raw.to_owned()),
    }
}

/// A catalog's id from its global or local id, as [`local_id`].
pub fn catalog_id(raw: &str, field: &str) -> Result<em_engine::id::CatalogId, DomainError> {
    local_id(raw, "AccessPackageCatalog", field).map(Into::into)
}

/// An access package's id from its global or local id, as [`local_id`].
pub fn package_id(raw: &str, field: &str) -> Result<em_engine::id::AccessPackageId, DomainError> {
    local_id(raw, "AccessPackage", field).map(Into::into)
}

/// An assignment policy's id from its global or local id, as [`local_id`].
pub fn policy_id(raw: &str, field: &str) -> Result<em_engine::id::PolicyId, DomainError> {
    local_id(raw, "AccessPackageAssignmentPolicy", field).map(Into::into)
}

/// A request's id from its global or local id, as [`local_id`].
pub fn request_id(raw: &str, field: &str) -> Result<em_engine::id::RequestId, DomainError> {
    local_id(raw, "AccessPackageAssignmentRequest", field).map(Into::into)
}

/// An assignment's id from its global or local id, as [`local_id`].
pub fn assignment_id(raw: &str, field: &str) -> Result<em_engine::id::AssignmentId, DomainError> {
    local_id(raw, "AccessPackageAssignment", field).map(Into::into)
}

/// An optional id argument parsed by `parse` (one of the typed ids above), naming `field`.
pub fn optional<T>(
    raw: Option<ID>,
    field: &str,
    parse: fn(&str, &str) -> Result<T, DomainError>,
) -> async_graphql::Result<Option<T>> {
    raw.map(|id| parse(&id, field)).transpose().gql()
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global id; an object the caller may not see is `null`, as one
    /// that does not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let (svc, who) = (services(ctx), actor(ctx));
        let Some((type_name, key)) = split(&id) else {
            return Err(DomainError::invalid("id", format!("`{}` is not a global id (`<Type>:<id>`)", id.0)))
                .gql();
        };
        let node = match type_name {
            "User" => svc.user(&who, key).await.gql()?.map(|x| Node::User(UserNode(x))),
            "Group" => svc.group(&who, key).await.gql()?.map(|x| Node::Group(GroupNode(x))),
            "Application" => {
                svc.application(&who, key).await.gql()?.map(|x| Node::Application(ApplicationNode(x)))
            }
            "Site" => svc.site(&who, key).await.gql()?.map(|x| Node::Site(SiteNode(x))),
            "DirectoryRole" => {
                svc.directory_role(&who, key).await.gql()?.map(|x| Node::DirectoryRole(DirectoryRoleNode(x)))
            }
            "AccessPackageCatalog" => svc
                .catalog(&who, &key.into())
                .await
                .gql()?
                .map(|x| Node::AccessPackageCatalog(AccessPackageCatalogNode(x))),
            "AccessPackageResource" => svc
                .resource(&who, key)
                .await
                .gql()?
                .map(|x| Node::AccessPackageResource(AccessPackageResourceNode(x))),
            "AccessPackageAssignmentPolicy" => svc
                .assignment_policy(&who, &key.into())
                .await
                .gql()?
                .map(|x| Node::AccessPackageAssignmentPolicy(AccessPackageAssignmentPolicyNode(x))),
            "AccessPackageAssignmentRequest" => svc
                .visible_request(&who, &key.into())
                .await
                .gql()?
                .map(|x| Node::AccessPackageAssignmentRequest(x.into())),
            "AccessPackageAssignment" => svc
                .visible_assignment(&who, &key.into())
                .await
                .gql()?
                .map(|x| Node::AccessPackageAssignment(x.into())),
            "UnifiedRoleAssignment" => svc
                .role_assignment(&who, key)
                .await
                .gql()?
                .map(|x| Node::UnifiedRoleAssignment(UnifiedRoleAssignmentNode(x))),
            "ConnectedOrganization" => svc
                .connected_organization(&who, key)
                .await
                .gql()?
                .map(|x| Node::ConnectedOrganization(ConnectedOrganizationNode(x))),
            _ => svc
                .access_package(&who, &key.into())
                .await
                .gql()?
                .map(|x| Node::AccessPackage(AccessPackageNode(x))),
        };
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_global_and_graph_forms() {
        assert_eq!(package_id("AccessPackage:abc", "id").ok().as_deref(), Some("abc"));
        assert_eq!(package_id("abc", "id").ok().as_deref(), Some("abc"));
        assert!(package_id("User:abc", "id").is_err());
        assert!(package_id("  ", "id").is_err());
    }
}
