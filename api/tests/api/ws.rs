//! GraphQL over WebSocket (`graphql-transport-ws` at `/graphql/ws`): the protocol's close codes,
//! ping/pong, operations over the socket, live events from mutations made over HTTP, who sees
//! which events, resuming from a cursor, and token expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use em_api::auth::{AuthSettings, Authenticator};
use em_api::clock::SystemClock;
use em_api::graphql;
use em_api::server::{self, AppState};
use em_api::service::Services;
use em_api::store::{Store, StoreConfig};
use em_engine::Actor;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{TestServer, text};

/// How long a test waits for a message it expects.
const WAIT: Duration = Duration::from_secs(10);

const EVENTS: &str = "subscription($after: String, $filter: EventFeedFilter) {
    events(after: $after, filter: $filter) { cursor event { kind actorId targetId catalogId data } } }";

/// A raw graphql-transport-ws client.
pub(crate) struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Opens a socket that offers the protocol.
    pub(crate) async fn open(base: &str) -> Self {
        Self::open_with(base, Some("graphql-transport-ws")).await
    }

    async fn open_with(base: &str, protocol: Option<&str>) -> Self {
        let url = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        if let Some(protocol) = protocol {
            request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocol).unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("the socket opens");
        Self { socket }
    }

    /// Opens a socket and initialises the connection with `payload`, expecting the ack.
    pub(crate) async fn connected(base: &str, payload: Value) -> Self {
        let mut ws = Self::open(base).await;
        ws.send(json!({ "type": "connection_init", "payload": payload })).await;
        assert_eq!(ws.message().await, json!({ "type": "connection_ack" }));
        ws
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.expect("the socket takes the message");
    }

    pub(crate) async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(
            json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }),
        )
        .await;
    }

    /// The next protocol message; fails on a close or after [`WAIT`].
    pub(crate) async fn message(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a message within the wait")
                .expect("the socket is open")
                .expect("the socket reads");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("messages are JSON"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Whether a protocol message arrives within `within`.
    pub(crate) async fn quiet_for(&mut self, within: Duration) -> Option<Value> {
        match tokio::time::timeout(within, self.socket.next()).await {
            Err(_) => None,
            Ok(Some(Ok(Message::Text(text)))) => Some(serde_json::from_str(&text).unwrap()),
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }

    /// The `next` payload's `data` of operation `id`.
    pub(crate) async fn next(&mut self, id: &str) -> Value {
        let message = self.message().await;
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("next"), Some(id)), "{message}");
        message["payload"]["data"].clone()
    }

    /// The next live event of subscription `id`.
    async fn event(&mut self, id: &str) -> Value {
        self.next(id).await["events"].clone()
    }

    /// The close code and reason the server closes with, within `within`.
    async fn closed_within(&mut self, within: Duration) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame =
                tokio::time::timeout_at(deadline, self.socket.next()).await.expect("a close within the wait");
            match frame {
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return (u16::from(code), reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
                Some(Ok(Message::Text(text))) => panic!("expected a close, got {text}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the socket failed instead of closing: {e}"),
            }
        }
    }

    async fn closed(&mut self) -> (u16, String) {
        self.closed_within(WAIT).await
    }

    /// Closes normally (1000).
    pub(crate) async fn close(mut self) {
        self.socket.close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() })).await.unwrap();
        while let Some(Ok(_)) = self.socket.next().await {}
    }
}

/// A cursor as the number it stands for, to compare.
fn cursor(event: &Value) -> u128 {
    text(&event["cursor"]).parse().expect("cursors are decimal")
}

#[tokio::test]
async fn a_socket_without_the_subprotocol_is_closed_with_4406() {
    let server = TestServer::start().await;
    let mut ws = Ws::open_with(&server.base, None).await;
    assert_eq!(ws.closed().await, (4406, "Subprotocol not acceptable".into()));
}

#[tokio::test]
async fn the_subprotocol_is_selected_and_the_connection_acknowledged() {
    let server = TestServer::start().await;
    let url = format!("{}/graphql/ws", server.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-ws, graphql-transport-ws"));
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    socket.send(Message::text(r#"{"type":"connection_init"}"#)).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert_eq!(ack.to_text().unwrap(), r#"{"type":"connection_ack"}"#);
}

#[tokio::test]
async fn no_connection_init_within_3_s_closes_with_4408() {
    let server = TestServer::start().await;
    let mut ws = Ws::open(&server.base).await;
    let started = Instant::now();
    // Ping is allowed before the init, and does not count as one.
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.message().await, json!({ "type": "pong" }));
    assert_eq!(ws.closed().await, (4408, "Connection initialisation timeout".into()));
    assert!(started.elapsed() >= Duration::from_millis(2500), "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let server = TestServer::start().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.closed().await, (4429, "Too many initialisation requests".into()));
}

#[tokio::test]
async fn subscribe_before_the_acknowledgement_closes_with_4401() {
    let server = TestServer::start().await;
    let mut ws = Ws::open(&server.base).await;
    ws.subscribe("1", "subscription { events { cursor } }", json!({})).await;
    assert_eq!(ws.closed().await, (4401, "Unauthorized".into()));
}

#[tokio::test]
async fn invalid_messages_close_with_4400_and_say_why() {
    let server = TestServer::start().await;
    for (message, reason) in [
        ("not json", "not JSON"),
        (r#"{"type":"nonsense"}"#, "unknown type `nonsense`"),
        (
            r#"{"type":"subscribe","payload":{"query":"{ __typename }"}}"#,
            "`subscribe` needs a non-empty string `id`",
        ),
        (
            r#"{"id":"1","type":"subscribe","payload":{"query":7}}"#,
            "the `subscribe` payload needs a string `query`",
        ),
        (r#"{"type":"ping","payload":[1]}"#, "the `ping` payload must be an object"),
        (r#"{"id":"1","type":"next","payload":{}}"#, "unexpected `next` from a client"),
    ] {
        let mut ws = Ws::connected(&server.base, json!({})).await;
        ws.send_text(message).await;
        assert_eq!(ws.closed().await, (4400, format!("Invalid message received: {reason}")), "for {message}");
    }
    // Before the init too.
    let mut ws = Ws::open(&server.base).await;
    ws.send_text("[]").await;
    assert_eq!(ws.closed().await.0, 4400);
}

#[tokio::test]
async fn a_duplicate_subscription_id_closes_with_4409() {
    let server = TestServer::start().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe("s", EVENTS, json!({})).await;
    ws.subscribe("s", EVENTS, json!({})).await;
    assert_eq!(ws.closed().await, (4409, "Subscriber for s already exists".into()));
}

#[tokio::test]
async fn ping_is_answered_with_pong_and_an_unsolicited_pong_is_accepted() {
    let server = TestServer::start().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.send(json!({ "type": "pong", "payload": { "beat": 1 } })).await;
    ws.send(json!({ "type": "ping", "payload": { "n": 7 } })).await;
    assert_eq!(ws.message().await, json!({ "type": "pong", "payload": { "n": 7 } }));
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.message().await, json!({ "type": "pong" }));
    ws.close().await;
}

#[tokio::test]
async fn queries_and_mutations_run_over_the_socket_with_one_result_then_complete() {
    let server = TestServer::start().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe(
        "m",
        "mutation($n: String!) { createCatalog(input: {displayName: $n}) { catalog { displayName } } }",
        json!({ "n": "Over the socket" }),
    )
    .await;
    assert_eq!(ws.next("m").await["createCatalog"]["catalog"]["displayName"], "Over the socket");
    assert_eq!(ws.message().await, json!({ "id": "m", "type": "complete" }));
    ws.subscribe("q", "{ catalogs { nodes { displayName } } }", json!({})).await;
    let names = ws.next("q").await["catalogs"]["nodes"].clone();
    assert!(names.as_array().unwrap().iter().any(|n| n["displayName"] == "Over the socket"), "{names}");
    assert_eq!(ws.message().await, json!({ "id": "q", "type": "complete" }));
    // A finished operation's id may be used again.
    ws.subscribe("q", "{ __typename }", json!({})).await;
    assert_eq!(ws.next("q").await, json!({ "__typename": "Query" }));
    assert_eq!(ws.message().await["type"], "complete");
}

#[tokio::test]
async fn a_request_the_schema_refuses_gets_one_error_and_no_complete() {
    let server = TestServer::start().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe("bad", "subscription { noSuchField }", json!({})).await;
    let error = ws.message().await;
    assert_eq!((error["type"].as_str(), error["id"].as_str()), (Some("error"), Some("bad")), "{error}");
    let errors = error["payload"].as_array().expect("the payload is the errors array");
    assert!(text(&errors[0]["message"]).contains("noSuchField"), "{error}");
    ws.subscribe("syntax", "subscription {", json!({})).await;
    assert_eq!(ws.message().await["type"], "error");
    // No `complete` followed either error; the socket still works.
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.message().await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn a_bad_cursor_is_refused() {
    let server = TestServer::start().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe("c", EVENTS, json!({ "after": "yesterday" })).await;
    let message = ws.message().await;
    let errors = if message["type"] == "error" { &message["payload"] } else { &message["payload"]["errors"] };
    assert_eq!(errors[0]["extensions"]["code"], "VALIDATION_FAILED", "{message}");
    assert_eq!(errors[0]["extensions"]["field"], "after", "{message}");
}

#[tokio::test]
async fn subscriptions_receive_the_events_of_mutations_in_commit_order() {
    let server = TestServer::with_directory().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe("all", EVENTS, json!({ "after": "0", "filter": { "kind": "catalog." } })).await;
    let mut ids = Vec::new();
    for name in ["First", "Second", "Third"] {
        ids.push(server.create_catalog(name).await);
    }
    let mut last = 0;
    for (id, name) in ids.iter().zip(["First", "Second", "Third"]) {
        let event = ws.event("all").await;
        assert_eq!(event["event"]["kind"], "catalog.created");
        assert_eq!(event["event"]["data"]["displayName"], name);
        assert_eq!(Some(text(&event["event"]["catalogId"]).as_str()), id.split(':').nth(1));
        assert!(cursor(&event) > last, "cursors ascend");
        last = cursor(&event);
    }
    // The subscription stops on the client's `complete`.
    ws.send(json!({ "id": "all", "type": "complete" })).await;
    server.create_catalog("Fourth").await;
    assert_eq!(ws.quiet_for(Duration::from_millis(500)).await, None);
    ws.close().await;
}

#[tokio::test]
async fn a_subscription_without_a_cursor_starts_with_the_events_committed_after_it() {
    let server = TestServer::with_directory().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe("now", EVENTS, json!({})).await;
    // The subscription starts when the server has handled the message: create catalogs until one
    // arrives. None of the events before (the import, earlier catalogs) may come first.
    server.create_catalog("Before").await;
    let mut created = Vec::new();
    let first = loop {
        let name = format!("After {}", created.len());
        server.create_catalog(&name).await;
        created.push(name);
        if let Some(message) = ws.quiet_for(Duration::from_millis(300)).await {
            break message;
        }
        assert!(created.len() < 20, "no event arrived");
    };
    let name = text(&first["payload"]["data"]["events"]["event"]["data"]["displayName"]);
    assert!(
        created.contains(&name),
        "the first event was `{name}`, not one created after subscribing: {first}"
    );
}

#[tokio::test]
async fn a_client_that_reconnects_with_its_last_cursor_gets_exactly_the_events_it_missed() {
    let server = TestServer::with_directory().await;
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe("feed", EVENTS, json!({ "after": "0" })).await;
    let imported = ws.event("feed").await;
    assert_eq!(imported["event"]["kind"], "directory.imported");
    server.create_catalog("Seen").await;
    let seen = ws.event("feed").await;
    assert_eq!(seen["event"]["data"]["displayName"], "Seen");
    ws.close().await;

    // Several changes while disconnected.
    let missed = ["Missed 1", "Missed 2", "Missed 3"];
    for name in missed {
        server.create_catalog(name).await;
    }
    let mut ws = Ws::connected(&server.base, json!({})).await;
    ws.subscribe("feed", EVENTS, json!({ "after": text(&seen["cursor"]) })).await;
    let mut cursors = vec![cursor(&seen)];
    for name in missed {
        let event = ws.event("feed").await;
        assert_eq!(event["event"]["data"]["displayName"], name);
        cursors.push(cursor(&event));
    }
    // Then live, without a gap between the replay and the live events.
    server.create_catalog("Live").await;
    let live = ws.event("feed").await;
    assert_eq!(live["event"]["data"]["displayName"], "Live");
    cursors.push(cursor(&live));
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert_eq!(ws.quiet_for(Duration::from_millis(500)).await, None, "no duplicate follows");
}

/// A server that requires bearer tokens, over a directory with an administrator (`u-admin`, a
/// Global Administrator) and a user (`u-user`).
struct AuthServer {
    base: String,
    minter: Authenticator,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl AuthServer {
    async fn start() -> Self {
        let settings = AuthSettings {
            hs256_secret: Some("a secret of at least thirty-two bytes".into()),
            jwks: None,
            issuer: "em-api".into(),
            audience: "em-api".into(),
            partners: Vec::new(),
        };
        let store = Store::open(&StoreConfig::memory()).await.unwrap();
        let services = Services::new(store, Arc::new(SystemClock));
        services.bootstrap().await.unwrap();
        let directory = json!({
            "users": [
                {"id": "u-admin", "displayName": "Ada Admin", "userPrincipalName": "admin@contoso.com"},
                {"id": "u-user", "displayName": "Una User", "userPrincipalName": "user@contoso.com"},
                {"id": "u-off", "displayName": "Otto Off", "userPrincipalName": "off@contoso.com",
                 "accountEnabled": false}
            ],
            "groups": [{"id": "g-team", "displayName": "Team", "securityEnabled": true}],
            "directoryRoles": [
                {"id": "role-ga", "displayName": "Global Administrator",
                 "roleTemplateId": "62e90394-69f5-4237-9190-012177145e10", "members": [{"id": "u-admin"}]}
            ]
        });
        services.import_directory(&Actor::LocalOperator, &directory.to_string()).await.unwrap();
        let schema = graphql::build_schema(services.clone());
        let state = AppState::new(schema, services).with_auth(Authenticator::new(settings.clone()).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, server::app(state)).await.unwrap();
        });
        Self {
            base: format!("http://{address}"),
            minter: Authenticator::new(settings).unwrap(),
            http: reqwest::Client::new(),
            task,
        }
    }

    fn token(&self, user: &str, ttl_seconds: i64) -> String {
        self.minter.mint(user, chrono::Utc::now().timestamp(), ttl_seconds).unwrap()
    }

    /// `data` of an operation `user` sends over HTTP, which must have no errors.
    async fn data(&self, user: &str, query: &str, variables: Value) -> Value {
        let body: Value = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(self.token(user, 600))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "unexpected errors for {query}:\n{body:#}");
        body["data"].clone()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_missing_or_bad_token_closes_with_4403() {
    let server = AuthServer::start().await;
    let other = Authenticator::new(AuthSettings {
        hs256_secret: Some("another secret of thirty-two bytes!".into()),
        jwks: None,
        issuer: "em-api".into(),
        audience: "em-api".into(),
        partners: Vec::new(),
    })
    .unwrap()
    .mint("u-admin", chrono::Utc::now().timestamp(), 600)
    .unwrap();
    for payload in [
        json!({}),
        json!({ "Authorization": "Bearer not-a-token" }),
        json!({ "Authorization": format!("Bearer {other}") }),
        json!({ "token": server.token("u-nobody", 600) }),
        json!({ "token": server.token("u-off", 600) }),
        json!({ "Authorization": format!("Bearer {}", server.token("u-user", -120)) }),
    ] {
        let mut ws = Ws::open(&server.base).await;
        ws.send(json!({ "type": "connection_init", "payload": payload })).await;
        let (code, reason) = ws.closed().await;
        assert_eq!(code, 4403, "for {payload}: {reason}");
        assert!(reason.starts_with("Forbidden"), "{reason}");
    }
    // A connection_init without any payload is refused the same way.
    let mut ws = Ws::open(&server.base).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.closed().await.0, 4403);
    // Each accepted key works.
    for payload in [
        json!({ "Authorization": format!("Bearer {}", server.token("u-user", 600)) }),
        json!({ "authorization": format!("Bearer {}", server.token("u-user", 600)) }),
        json!({ "token": server.token("u-user", 600) }),
    ] {
        Ws::connected(&server.base, payload).await.close().await;
    }
}

#[tokio::test]
async fn users_who_are_not_administrators_see_only_their_own_events() {
    let server = AuthServer::start().await;
    let as_user = |user: &str| json!({ "Authorization": format!("Bearer {}", server.token(user, 600)) });
    let mut admin = Ws::connected(&server.base, as_user("u-admin")).await;
    let mut user = Ws::connected(&server.base, as_user("u-user")).await;
    admin.subscribe("a", EVENTS, json!({ "after": "0" })).await;
    user.subscribe("u", EVENTS, json!({ "after": "0" })).await;
    assert_eq!(admin.event("a").await["event"]["kind"], "directory.imported");

    server
        .data(
            "u-admin",
            "mutation { createCatalog(input: {displayName: \"Admins only\"}) { catalog { id } } }",
            json!({}),
        )
        .await;
    let created = admin.event("a").await;
    assert_eq!(
        (created["event"]["kind"].as_str(), created["event"]["actorId"].as_str()),
        (Some("catalog.created"), Some("u-admin"))
    );

    server
        .data(
            "u-admin",
            "mutation { addGroupMember(input: {groupId: \"g-team\", principalId: \"u-user\"}) { group { id } } }",
            json!({}),
        )
        .await;
    let added = admin.event("a").await;
    assert_eq!(added["event"]["kind"], "group.memberAdded");
    // The user's first event is the one about them: not the import, not the catalog.
    let theirs = user.event("u").await;
    assert_eq!(
        (theirs["event"]["kind"].as_str(), theirs["event"]["targetId"].as_str()),
        (Some("group.memberAdded"), Some("u-user"))
    );
    assert_eq!(theirs["cursor"], added["cursor"], "one event, one cursor for everyone");
    assert_eq!(user.quiet_for(Duration::from_millis(300)).await, None);
}

#[tokio::test]
async fn an_expired_token_closes_the_socket_with_4403() {
    let server = AuthServer::start().await;
    let token = server.token("u-user", 2);
    let mut ws = Ws::connected(&server.base, json!({ "token": token })).await;
    ws.subscribe("u", EVENTS, json!({})).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.message().await, json!({ "type": "pong" }));
    let (code, reason) = ws.closed_within(Duration::from_secs(6)).await;
    assert_eq!((code, reason.as_str()), (4403, "Forbidden: token expired"));
}
