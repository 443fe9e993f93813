//! Independent clients check the server against the public protocols: the `graphql-http` server
//! audit (GraphQL over HTTP) and a raw-socket check of `graphql-transport-ws`'s close codes
//! (`api/tests/conformance/`, run with Node.js; the npm packages are installed once per target
//! folder with `npm ci`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{TestServer, directory};

/// The conformance clients with their packages installed: `<target>/tmp/conformance`.
fn clients() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
        let lock = std::fs::read(source.join("package-lock.json")).expect("the lock file is readable");
        let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        let installed = folder.join("node_modules").exists()
            && std::fs::read(folder.join("package-lock.json")).is_ok_and(|l| l == lock);
        if !installed {
            // Installed beside, then moved in place: tests in other processes may race.
            let staging = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a staging folder");
            for file in ["package.json", "package-lock.json", "audit.mjs", "ws-protocol.mjs"] {
                std::fs::copy(source.join(file), staging.path().join(file)).expect("the client files copy");
            }
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(staging.path())
                .status()
                .expect("npm runs (the conformance tests need Node.js and npm)");
            assert!(status.success(), "npm ci installs the conformance clients");
            let _ = std::fs::remove_dir_all(&folder);
            let staged = staging.keep();
            if std::fs::rename(&staged, &folder).is_err() {
                // Another process installed them first.
                let _ = std::fs::remove_dir_all(&staged);
            }
        }
        folder
    })
}

/// Runs `script` with `args`: its exit status and what it printed.
fn node(script: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(clients())
        .output()
        .expect("node runs (the conformance tests need Node.js)");
    let printed =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), printed)
}

#[tokio::test]
async fn the_graphql_http_audit_passes_every_check_with_no_warning() {
    // Its checks of variables query `__type`: it audits a server that answers introspection.
    let limits = em_api::limits::Limits { introspection: true, ..em_api::limits::Limits::default() };
    let server = TestServer::with_auth_limited(directory(), false, limits).await;
    let token = server.as_user("u-ada").bearer.unwrap();
    let url = server.url("/graphql");
    let (passed, printed) =
        tokio::task::spawn_blocking(move || node("audit.mjs", &[&url, &token])).await.unwrap();
    assert!(passed, "{printed}");
    let summary = printed.lines().find(|l| l.starts_with("graphql-http audit:")).unwrap_or_default();
    assert!(summary.contains(" 0 warnings, 0 errors"), "{printed}");
}

#[tokio::test]
async fn the_graphql_transport_ws_checker_gets_every_close_code() {
    let server = TestServer::with_auth(directory()).await;
    let token = server.as_user("u-ada").bearer.unwrap();
    let url = format!("{}/graphql/ws", server.base.replacen("http://", "ws://", 1));
    let (passed, printed) =
        tokio::task::spawn_blocking(move || node("ws-protocol.mjs", &[&url, &token])).await.unwrap();
    assert!(passed, "{printed}");
    assert!(printed.contains("7/7 checks hold"), "{printed}");
}
