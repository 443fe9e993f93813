//! Test support: the real app served on port 0 with a fresh in-memory SurrealDB, a GraphQL client
//! that speaks to it over HTTP, the small directory every test imports, and a guard for `em-api`
//! child processes.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use em_api::auth::{AuthSettings, Authenticator, PartnerTrust};
use em_api::clock::SystemClock;
use em_api::graphql;
use em_api::limits::Limits;
use em_api::server::{self, AppState};
use em_api::service::Services;
use em_api::store::{Store, StoreConfig};
use em_engine::Actor;
use serde_json::{Value, json};

/// The app as the binary builds it, on 127.0.0.1 port 0, over its own in-memory database.
pub struct TestServer {
    pub api: Api,
    /// The services the server runs (for what a test measures inside the server).
    pub services: Services,
    task: tokio::task::JoinHandle<()>,
    /// The folder of an on-disk database, removed with the server.
    _folder: Option<tempfile::TempDir>,
    /// The SurrealDB server the store connects to over `ws://`, when the tests run on one
    /// (`EM_TEST_DATABASE=server`); killed with the server.
    pub database: Option<SurrealServer>,
}

impl TestServer {
    pub async fn start() -> Self {
        let (services, database) = Self::services_on(false).await;
        Self::serve(services, None, database).await
    }

    /// A server that requires bearer tokens (see [`TestServer::as_user`]) over `directory`,
    /// imported before it serves. Its own `api` sends no token.
    pub async fn with_auth(directory: Value) -> Self {
        Self::with_auth_on(directory, false).await
    }

    /// Like [`TestServer::with_auth`], on a virtual clock when `virtual_clock` (moved by the
    /// `advanceClock` mutation).
    pub async fn with_auth_on(directory: Value, virtual_clock: bool) -> Self {
        Self::with_auth_limited(directory, virtual_clock, Limits::default()).await
    }

    /// Like [`TestServer::with_auth_on`], under `limits` instead of the defaults.
    pub async fn with_auth_limited(directory: Value, virtual_clock: bool, limits: Limits) -> Self {
        let (services, database) = Self::services_on(virtual_clock).await;
        services
            .import_directory(&Actor::LocalOperator, &directory.to_string())
            .await
            .expect("the directory imports");
        let auth = Authenticator::new(auth_settings()).expect("the test key is usable");
        Self::serve_limited(services, Some(auth), database, limits).await
    }

    /// A server that requires bearer tokens over `directory`, keeping its data on `database`.
    pub async fn with_auth_over(directory: Value, database: SurrealServer) -> Self {
        em_api::telemetry::init_for_tests();
        let store = Store::open(&database.config("em")).await.expect("the server's store opens");
        let services = with_test_callouts(Services::new(store, Arc::new(SystemClock)));
        services.bootstrap().await.expect("bootstrap creates the General catalog");
        services
            .import_directory(&Actor::LocalOperator, &directory.to_string())
            .await
            .expect("the directory imports");
        let auth = Authenticator::new(auth_settings()).expect("the test key is usable");
        Self::serve(services, Some(auth), Some(database)).await
    }

    /// `count` replicas serving one database on a SurrealDB server (in memory), whatever
    /// `EM_TEST_DATABASE` says, each requiring bearer tokens, over `directory` (imported once),
    /// on virtual clocks when `virtual_clock`. The first holds the database server.
    pub async fn replicas(directory: Value, count: usize, virtual_clock: bool) -> Vec<Self> {
        em_api::telemetry::init_for_tests();
        let database = SurrealServer::start("memory").await;
        let config = database.config("em");
        let mut database = Some(database);
        let mut replicas = Vec::new();
        for i in 0..count {
            let store = Store::open(&config).await.expect("the server's store opens");
            let services = if virtual_clock {
                Services::with_virtual_clock(
                    store,
                    em_api::clock::ManualClock::starting_at(chrono::Utc::now()),
                )
            } else {
                Services::new(store, Arc::new(SystemClock))
            };
            let services = with_test_callouts(services);
            services.bootstrap().await.expect("bootstrap creates the General catalog");
            if i == 0 {
                services
                    .import_directory(&Actor::LocalOperator, &directory.to_string())
                    .await
                    .expect("the directory imports");
            }
            let auth = Authenticator::new(auth_settings()).expect("the test key is usable");
            replicas.push(Self::serve(services, Some(auth), database.take()).await);
        }
        replicas
    }

    /// A server that requires bearer tokens over the demo directory (`scenarios/`), on SurrealKV
    /// in a temporary folder (the in-memory engine imports a directory this size slowly in one
    /// transaction): embedded, or served by a SurrealDB server with `EM_TEST_DATABASE=server`.
    pub async fn demo() -> Self {
        Self::demo_on(false).await
    }

    /// Like [`TestServer::demo`], on a virtual clock when `virtual_clock`.
    pub async fn demo_on(virtual_clock: bool) -> Self {
        em_api::telemetry::init_for_tests();
        let folder = tempfile::tempdir().expect("a temporary folder");
        let url = format!("surrealkv://{}", folder.path().join("data").display());
        let (store, database) = match TestDatabase::chosen() {
            TestDatabase::Memory => {
                (Store::open(&StoreConfig::at(&url)).await.expect("the store opens"), None)
            }
            TestDatabase::Server => {
                let server = SurrealServer::start(&url).await;
                (Store::open(&server.config("em")).await.expect("the server's store opens"), Some(server))
            }
        };
        let services = if virtual_clock {
            Services::with_virtual_clock(store, em_api::clock::ManualClock::starting_at(chrono::Utc::now()))
        } else {
            Services::new(store, Arc::new(SystemClock))
        };
        let services = with_test_callouts(services);
        services.bootstrap().await.expect("bootstrap creates the General catalog");
        assert!(em_api::demo::load(&services).await.expect("the demo loads"), "a new database");
        let auth = Authenticator::new(auth_settings()).expect("the test key is usable");
        let mut server = Self::serve(services, Some(auth), database).await;
        server._folder = Some(folder);
        server
    }

    /// A client of this server that sends `token`.
    pub fn with_token(&self, token: String) -> Api {
        Api { bearer: Some(token), ..Api::at_base(&self.api.base) }
    }

    /// A client signed in through the partner's identity provider as someone of tenant `tid`.
    pub fn as_partner(&self, tid: &str, oid: &str, email: &str, name: &str) -> Api {
        let issuer = PARTNER_ISSUER.replace("{tenantid}", tid);
        let claims =
            json!({ "iss": issuer, "aud": "em-api", "tid": tid, "oid": oid, "email": email, "name": name });
        self.with_token(es256_token(PARTNER_KEY, claims))
    }

    /// A client of this server that signs in as `user_id`, with a token valid for 10 minutes.
    pub fn as_user(&self, user_id: &str) -> Api {
        let minter = Authenticator::new(auth_settings()).expect("the test key is usable");
        let token = minter.mint(user_id, chrono::Utc::now().timestamp(), 600).expect("HS256 tokens mint");
        Api { bearer: Some(token), ..Api::at_base(&self.api.base) }
    }

    async fn services_on(virtual_clock: bool) -> (Services, Option<SurrealServer>) {
        // Internal errors are logged, not shown to clients; the harness prints them on failure.
        em_api::telemetry::init_for_tests();
        let (store, server) = match TestDatabase::chosen() {
            TestDatabase::Memory => {
                (Store::open(&StoreConfig::memory()).await.expect("the in-memory store opens"), None)
            }
            TestDatabase::Server => {
                let server = SurrealServer::start("memory").await;
                (Store::open(&server.config("em")).await.expect("the server's store opens"), Some(server))
            }
        };
        let services = if virtual_clock {
            Services::with_virtual_clock(store, em_api::clock::ManualClock::starting_at(chrono::Utc::now()))
        } else {
            Services::new(store, Arc::new(SystemClock))
        };
        let services = with_test_callouts(services);
        services.bootstrap().await.expect("bootstrap creates the General catalog");
        (services, server)
    }

    async fn serve(services: Services, auth: Option<Authenticator>, database: Option<SurrealServer>) -> Self {
        Self::serve_limited(services, auth, database, Limits::default()).await
    }

    async fn serve_limited(
        services: Services,
        auth: Option<Authenticator>,
        database: Option<SurrealServer>,
        limits: Limits,
    ) -> Self {
        let schema = graphql::build_schema_with(services.clone(), &limits);
        let mut state = AppState::new(schema, services.clone()).with_limits(limits);
        if let Some(auth) = auth {
            state = state.with_auth(auth);
        }
        let app = server::app(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port 0 binds");
        let address = listener.local_addr().expect("a bound listener has an address");
        // On a database server, as `em-api serve` does: bound, joined, then serving.
        services.join_replicas(&format!("http://{address}")).await.expect("the replica joins");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the test server runs");
        });
        Self { api: Api::at(address), services, task, _folder: None, database }
    }

    /// A server with the small directory of [`directory`] imported.
    pub async fn with_directory() -> Self {
        let server = Self::start().await;
        server.import(directory()).await;
        server
    }
}

impl std::ops::Deref for TestServer {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Test servers accept custom extensions on loopback `http` (the tests' receivers), and retry a
/// failed call after 20 ms, then 40, 80...
fn with_test_callouts(services: Services) -> Services {
    services.with_callout_settings(
        em_engine::extension::EndpointRules { allow_loopback_http: true },
        Duration::from_millis(20),
    )
}

/// A GraphQL-over-HTTP client for one server.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    /// The bearer token sent with every operation, if any.
    pub bearer: Option<String>,
}

/// How [`TestServer::with_auth`] checks tokens and [`TestServer::as_user`] mints them; the
/// partner's identity provider is Entra's multi-tenant issuer with [`PARTNER_KEY`].
fn auth_settings() -> AuthSettings {
    let jwks = serde_json::from_value(json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "partner-key", "use": "sig", "alg": "ES256",
        "x": "3MRvxuZgWHT4DRZExitkhWnmnH68Eit-Ri1ki_ttgTI", "y": "O8p9t5Cm5rNyxnJzGWkkUS03K91kLi4wX_onEtgMwPE"
    }] }))
    .expect("a JWKS");
    AuthSettings {
        hs256_secret: Some("the integration tests' secret of 32+ bytes".into()),
        jwks: None,
        issuer: "em-api".into(),
        audience: "em-api".into(),
        partners: vec![PartnerTrust { issuer: PARTNER_ISSUER.into(), jwks }],
    }
}

/// The trusted partner's issuer: Entra's, for any tenant.
pub const PARTNER_ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

/// The trusted partner's signing key (ES256, P-256), a test fixture.
pub const PARTNER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS0/QPtIYvur1oYEX
eERslcVfKeyAUVHVyJV5FLGf6ByhRANCAATcxG/G5mBYdPgNFkTGK2SFaeacfrwS
K35GLWSL+22BMjvKfbeQpuazcsZycxlpJFEtNyvdZC4uMF/6JxLYDMDx
-----END PRIVATE KEY-----";

/// A key nobody trusts (ES256, P-256), a test fixture.
pub const UNTRUSTED_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgNH3C/sz3fcvpkxnA
r49oZ8g58xVpd/4UUgiD6N/tQzmhRANCAASdo55TjT2VpG/ED1dVGTWcuLIje3gK
tJGCkAznHEJlpyHsP4GDumS1B6TuD5Cj9gLrF91DGw+JUu12Qsb7/vhM
-----END PRIVATE KEY-----";

/// An ES256 token signed with `key` (PEM), as `kid` `partner-key`, with these claims and a
/// 10-minute lifetime.
pub fn es256_token(key: &str, mut claims: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    claims["exp"] = json!(now + 600);
    claims["iat"] = json!(now);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("partner-key".into());
    let key = jsonwebtoken::EncodingKey::from_ec_pem(key.as_bytes()).expect("a P-256 key");
    jsonwebtoken::encode(&header, &claims, &key).expect("the token signs")
}

/// The server's time (`{ clock { now } }`), as `api` asks it.
pub async fn clock_now(api: &Api) -> chrono::DateTime<chrono::Utc> {
    let now = api.data("{ clock { now } }", json!({})).await;
    chrono::DateTime::parse_from_rfc3339(&text(&now["clock"]["now"])).expect("an RFC 3339 time").to_utc()
}

/// Moves a virtual clock to `to` (`advanceClock`, as the administrator `admin`): its answer.
pub async fn advance_clock(admin: &Api, to: chrono::DateTime<chrono::Utc>) -> Value {
    admin
        .data(
            "mutation($to: DateTime!) { advanceClock(input: {to: $to}) { now firedTimers } }",
            json!({ "to": to.to_rfc3339() }),
        )
        .await["advanceClock"]
        .clone()
}

/// A refusal: `errors[0]` of a response whose operation wrote no data.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    /// `extensions.problems` as `(path, message)`.
    pub problems: Vec<(String, String)>,
}

impl Refusal {
    /// The problem paths, sorted.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.problems.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort_unstable();
        paths
    }
}

impl Api {
    pub fn at(address: SocketAddr) -> Self {
        Self::at_base(&format!("http://{address}"))
    }

    pub fn at_base(base: &str) -> Self {
        Self { base: base.to_owned(), http: reqwest::Client::new(), bearer: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs one operation and returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(self.url("/graphql"));
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), 200, "POST /graphql for {query}");
        response.json().await.expect("the body is JSON")
    }

    /// `data` of a response that must have no errors.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors for {query}:\n{body:#}");
        body["data"].clone()
    }

    /// The refusal of an operation that must fail, after checking that it produced no data.
    pub async fn refusal(&self, query: &str, variables: Value) -> Refusal {
        let body = self.gql(query, variables).await;
        let error = &body["errors"][0];
        assert!(error.is_object(), "expected an error for {query}:\n{body:#}");
        match &body["data"] {
            Value::Null => {}
            Value::Object(fields) => {
                assert!(fields.values().all(Value::is_null), "a refused operation returned data:\n{body:#}");
            }
            other => panic!("unexpected data {other}"),
        }
        let extensions = &error["extensions"];
        let problems = extensions["problems"]
            .as_array()
            .map(|list| list.iter().map(|p| (text(&p["path"]), text(&p["message"]))).collect::<Vec<_>>())
            .unwrap_or_default();
        Refusal {
            code: text(&extensions["code"]),
            field: extensions["field"].as_str().map(str::to_owned),
            message: text(&error["message"]),
            problems,
        }
    }

    /// Asserts that an operation is refused with `code` at `field`, and returns the refusal.
    pub async fn refused(&self, query: &str, variables: Value, code: &str, field: Option<&str>) -> Refusal {
        let refusal = self.refusal(query, variables.clone()).await;
        assert_eq!(
            (refusal.code.as_str(), refusal.field.as_deref()),
            (code, field),
            "refusal of {query} with {variables}: {}",
            refusal.message
        );
        refusal
    }

    /// Imports a directory document and returns the payload's counts.
    pub async fn import(&self, directory: Value) -> Value {
        self.data(IMPORT, json!({ "d": directory })).await["importDirectory"].clone()
    }

    /// How many objects of each kind the directory holds, and the fixture's Sales Team members.
    pub async fn census(&self) -> Value {
        self.data(
            "{ users { totalCount } groups { totalCount } applications { totalCount }
               sites { totalCount } directoryRoles { totalCount }
               group(id: \"g-sales\") { memberCount owners { objectId } } }",
            json!({}),
        )
        .await
    }

    /// Creates a catalog and returns its global id.
    pub async fn create_catalog(&self, name: &str) -> String {
        let data = self
            .data(
                "mutation($n: String!) { createCatalog(input: {displayName: $n}) { catalog { id } } }",
                json!({ "n": name }),
            )
            .await;
        text(&data["createCatalog"]["catalog"]["id"])
    }

    /// Adds a directory object to a catalog and returns the resource (id, originId, roles).
    pub async fn add_resource(&self, catalog: &str, system: &str, origin: &str) -> Value {
        let data = self.data(RESOURCE_REQUEST, resource_request(catalog, "adminAdd", system, origin)).await;
        data["createResourceRequest"]["resource"].clone()
    }

    /// Creates an access package in a catalog and returns its global id.
    pub async fn create_package(&self, catalog: &str, name: &str) -> String {
        let data = self
            .data(
                "mutation($c: ID!, $n: String!) {
                   createAccessPackage(input: {catalogId: $c, displayName: $n}) { accessPackage { id } } }",
                json!({ "c": catalog, "n": name }),
            )
            .await;
        text(&data["createAccessPackage"]["accessPackage"]["id"])
    }

    /// Adds a resource role, named by its origin id, to a package; returns the role scope.
    pub async fn add_role_scope(&self, package: &str, resource: &str, role_origin: &str) -> Value {
        let data = self
            .data(
                ADD_ROLE_SCOPE,
                json!({ "input": { "accessPackageId": package, "resourceId": resource, "roleOriginId": role_origin } }),
            )
            .await;
        data["addAccessPackageResourceRoleScope"]["resourceRoleScope"].clone()
    }
}

/// The string in a JSON value, or an empty string.
pub fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The `field` of every item of a JSON list.
pub fn pluck(list: &Value, field: &str) -> Vec<String> {
    list.as_array().map(|l| l.iter().map(|x| text(&x[field])).collect()).unwrap_or_default()
}

pub const IMPORT: &str = "mutation($d: JSON!) { importDirectory(input: {directory: $d}) {
    users groups memberships applications sites directoryRoles } }";

pub const RESOURCE_REQUEST: &str = "mutation($input: CreateResourceRequestInput!) {
    createResourceRequest(input: $input) {
      resourceRequest { requestType state requestor catalog { id } }
      resource { id displayName originId originSystem resourceType
                 roles { id displayName originId roleType }
                 scopes { id originId isRootScope } } } }";

pub const ADD_ROLE_SCOPE: &str = "mutation($input: AddResourceRoleScopeInput!) {
    addAccessPackageResourceRoleScope(input: $input) {
      accessPackage { id }
      resourceRoleScope { id role { id originId displayName } scope { id isRootScope } } } }";

/// Variables for [`RESOURCE_REQUEST`].
pub fn resource_request(catalog: &str, request_type: &str, system: &str, origin: &str) -> Value {
    json!({ "input": {
        "catalogId": catalog,
        "requestType": request_type,
        "resource": { "originId": origin, "originSystem": system },
    } })
}

/// A custom extension property name, in Entra's `extension_<appId>_<name>` form.
pub const OFFICE_NUMBER: &str = "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber";

/// A small directory in Microsoft Graph's shape: 5 users in a manager tree (one guest), 7 groups
/// (security, nested, Microsoft 365, Team, dynamic, on-premises synced, distribution), 2
/// applications (one without app roles), 2 sites (one with its own roles) and 2 directory roles
/// (one privileged). 6 memberships and ownerships.
pub fn directory() -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directory",
        "users": [
            {"id": "u-ada", "displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace",
             "userPrincipalName": "ada@contoso.com", "mail": "ada@contoso.com", "jobTitle": "CEO",
             "department": "Executive", "country": "United Kingdom", "usageLocation": "GB",
             "employeeHireDate": "2015-03-01T00:00:00Z",
             "onPremisesExtensionAttributes": {"extensionAttribute15": "EMEA"},
             "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber": "101",
             "@odata.type": "#microsoft.graph.user"},
            // Eve's manager comes later in the file: references may point forward.
            {"id": "u-eve", "displayName": "Eve Online", "userType": "guest", "accountEnabled": false,
             "userPrincipalName": "eve_fabrikam.com#EXT#@contoso.onmicrosoft.com", "mail": "eve@fabrikam.com",
             "companyName": "Fabrikam", "country": "Germany", "manager": {"id": "u-bob"}},
            {"id": "u-bob", "displayName": "Bob Builder", "userPrincipalName": "bob@contoso.com",
             "mail": "bob@contoso.com", "department": "Sales", "country": "Germany",
             "manager": {"id": "u-ada"}},
            {"id": "u-carol", "displayName": "Carol Danvers", "userPrincipalName": "carol@contoso.com",
             "department": "Sales", "country": "Germany", "manager": {"id": "u-ada"}},
            {"id": "u-dan", "displayName": "Dan Brown", "userPrincipalName": "dan@contoso.com",
             "department": "Engineering", "country": "United States", "manager": {"id": "u-ada"}}
        ],
        "groups": [
            {"id": "g-sales", "displayName": "Sales Team", "securityEnabled": true,
             "members": [{"id": "u-bob"}, {"id": "u-carol"}], "owners": [{"id": "u-ada"}]},
            {"id": "g-all", "displayName": "All Staff", "securityEnabled": true,
             "members": [{"id": "u-ada"}, {"id": "g-sales"}]},
            {"id": "g-m365", "displayName": "Marketing 365", "groupTypes": ["Unified"], "mailEnabled": true,
             "mail": "marketing@contoso.com", "members": [{"id": "u-dan"}]},
            {"id": "g-team", "displayName": "Project Falcon", "groupTypes": ["Unified"], "mailEnabled": true,
             "resourceProvisioningOptions": ["Team"], "members": []},
            {"id": "g-dynamic", "displayName": "Sales (dynamic)", "securityEnabled": true,
             "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Sales\""},
            {"id": "g-onprem", "displayName": "Legacy AD Group", "securityEnabled": true,
             "onPremisesSyncEnabled": true},
            {"id": "g-dist", "displayName": "Newsletter", "mailEnabled": true, "securityEnabled": false}
        ],
        "applications": [
            {"id": "app-sf", "appId": "00000000-0000-0000-0000-00000000a5f0", "displayName": "Salesforce",
             "appRoles": [
                {"id": "r-sf-user", "displayName": "User", "value": "user", "allowedMemberTypes": ["User"]},
                {"id": "r-sf-admin", "displayName": "Administrator", "value": "admin"},
                {"id": "r-sf-daemon", "displayName": "Daemon", "allowedMemberTypes": ["Application"]},
                {"id": "r-sf-old", "displayName": "Legacy", "isEnabled": false}
             ]},
            {"id": "app-wiki", "displayName": "Wiki"}
        ],
        "sites": [
            {"id": "site-mkt", "displayName": "Marketing Site",
             "webUrl": "https://contoso.sharepoint.com/sites/marketing"},
            {"id": "site-hr", "displayName": "HR Portal", "webUrl": "https://contoso.sharepoint.com/sites/hr",
             "roles": [{"id": "3", "displayName": "HR Owners"},
                       {"id": "7", "displayName": "HR Readers", "description": "Read"}]}
        ],
        "directoryRoles": [
            {"id": "role-helpdesk", "displayName": "Helpdesk Administrator",
             "roleTemplateId": "729827e3-9c14-49f7-bb1b-9608f156bbb8"},
            {"id": "role-ga", "displayName": "Global Administrator", "isPrivileged": true,
             "roleTemplateId": "62e90394-69f5-4237-9190-012177145e10"}
        ]
    })
}

/// The import payload for [`directory`].
pub fn directory_counts() -> Value {
    json!({"users": 5, "groups": 7, "memberships": 6, "applications": 2, "sites": 2, "directoryRoles": 2})
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("port 0 binds");
    listener.local_addr().expect("a bound listener has an address").port()
}

/// An `em-api` process, killed (SIGKILL) when dropped so a failing test leaves none behind.
pub struct Process {
    child: std::process::Child,
    pub api: Api,
}

impl Process {
    /// Starts `em-api serve` on the database at `db` and waits until `/healthz` answers.
    pub async fn serve(db: &str, log: &Path) -> Self {
        Self::serve_with(db, log, &[]).await
    }

    /// Starts `em-api serve` with more arguments (`--virtual-clock`, `--auth-secret ...`).
    pub async fn serve_with(db: &str, log: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let log = std::fs::File::create(log).expect("the log file is created");
        let child = Command::new(env!("CARGO_BIN_EXE_em-api"))
            .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("em-api starts");
        let process = Self { child, api: Api::at(SocketAddr::from(([127, 0, 0, 1], port))) };
        process.wait_healthy().await;
        process
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self.api.http.get(self.api.url("/healthz")).send().await;
            if let Ok(response) = answer
                && response.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "em-api did not become healthy within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL: no graceful shutdown, no flush.
    pub fn kill(mut self) {
        self.child.kill().expect("the process can be killed");
        self.child.wait().expect("the killed process is reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the tests' stores live: the in-memory engine (the default) or, with
/// `EM_TEST_DATABASE=server`, a SurrealDB server of their own reached over `ws://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDatabase {
    Memory,
    Server,
}

impl TestDatabase {
    pub fn chosen() -> Self {
        match std::env::var("EM_TEST_DATABASE").as_deref() {
            Err(_) | Ok("" | "memory") => Self::Memory,
            Ok("server") => Self::Server,
            Ok(other) => panic!("EM_TEST_DATABASE is `memory` or `server`, not `{other}`"),
        }
    }
}

/// A SurrealDB server (the workspace's `surreal` binary, built from the official crate) on a
/// free loopback port with root credentials, killed (SIGKILL) when dropped.
pub struct SurrealServer {
    child: Option<std::process::Child>,
    port: u16,
    storage: String,
}

impl SurrealServer {
    /// Starts a server over `storage` (`memory` or `surrealkv://PATH`) and waits until it answers
    /// `/health`.
    pub async fn start(storage: &str) -> Self {
        let mut server = Self { child: None, port: free_port(), storage: storage.to_owned() };
        server.launch().await;
        server
    }

    /// The `surreal` binary next to this test binary (`target/<profile>/surreal`), or `SURREAL_BIN`.
    fn binary() -> std::path::PathBuf {
        if let Some(path) = std::env::var_os("SURREAL_BIN") {
            return path.into();
        }
        let test = std::env::current_exe().expect("the test binary has a path");
        let profile = test.parent().and_then(Path::parent).expect("tests run from target/<profile>/deps");
        let binary = profile.join("surreal");
        assert!(
            binary.exists(),
            "{} is missing: `cargo test --workspace` builds it, or `cargo build -p em-surreal`",
            binary.display()
        );
        binary
    }

    async fn launch(&mut self) {
        let child = Command::new(Self::binary())
            .args([
                "start",
                "--bind",
                &format!("127.0.0.1:{}", self.port),
                "--user",
                "root",
                "--pass",
                "root",
            ])
            .args(["--log", "warn", "--no-banner", &self.storage])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the SurrealDB server starts");
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = http.get(format!("http://127.0.0.1:{}/health", self.port)).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "the SurrealDB server did not answer /health within 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How a store reaches database `database` (namespace `em`) on this server.
    pub fn config(&self, database: &str) -> StoreConfig {
        StoreConfig {
            username: Some("root".to_owned()),
            password: Some("root".to_owned()),
            database: database.to_owned(),
            ..StoreConfig::at(&format!("ws://127.0.0.1:{}", self.port))
        }
    }

    /// Starts the server again on the same port and storage.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Kills the server with SIGKILL (what it had not synced to its storage is gone).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SurrealServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Node.js scripts of `api/tests/<name>/` with their npm packages installed (`npm ci`, once
/// per target folder and lock file): `<target>/tmp/<name>`.
pub fn npm_installed(name: &'static str) -> &'static Path {
    static INSTALLED: std::sync::Mutex<Vec<(&'static str, &'static Path)>> =
        std::sync::Mutex::new(Vec::new());
    let mut installed = INSTALLED.lock().unwrap();
    if let Some((_, folder)) = installed.iter().find(|(n, _)| *n == name) {
        return folder;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name);
    let lock = std::fs::read(source.join("package-lock.json")).expect("the lock file is readable");
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let scripts: Vec<_> = std::fs::read_dir(&source)
        .expect("the scripts' folder is readable")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    let current = folder.join("node_modules").exists()
        && std::fs::read(folder.join("package-lock.json")).is_ok_and(|l| l == lock);
    if !current {
        // Installed beside, then moved in place: tests in other processes may race.
        let staging = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a staging folder");
        for script in &scripts {
            std::fs::copy(script, staging.path().join(script.file_name().unwrap())).expect("the files copy");
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(staging.path())
            .status()
            .expect("npm runs (these tests need Node.js and npm)");
        assert!(status.success(), "npm ci installs the packages of api/tests/{name}");
        let _ = std::fs::remove_dir_all(&folder);
        let staged = staging.keep();
        if std::fs::rename(&staged, &folder).is_err() {
            // Another process installed them first.
            let _ = std::fs::remove_dir_all(&staged);
        }
    }
    // The scripts themselves are always the repository's.
    for script in &scripts {
        std::fs::copy(script, folder.join(script.file_name().unwrap())).expect("the scripts copy");
    }
    let folder: &'static Path = Box::leak(folder.into_boxed_path());
    installed.push((name, folder));
    folder
}

/// Runs the Node.js `script` in `folder` with `args` and `env`: its exit status and what it
/// printed.
pub fn node(folder: &Path, script: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new("node")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(folder)
        .output()
        .expect("node runs (these tests need Node.js)");
    let printed =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), printed)
}
