//! The server binary starts on each storage engine it is built with and answers `/health`.
//! (`em-api`'s integration tests run against it over `ws://`; this test also makes
//! `cargo test --workspace` build the binary they start.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

async fn answers_health(storage: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_surreal"))
        .args(["start", "--bind", &format!("127.0.0.1:{port}"), "--user", "root", "--pass", "root"])
        .args(["--log", "warn", "--no-banner", storage])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("the server starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let healthy = loop {
        let answer = reqwest::get(format!("http://127.0.0.1:{port}/health")).await;
        if let Ok(response) = answer {
            break response.status() == 200;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(healthy, "the server on `{storage}` answers /health with 200");
}

#[tokio::test]
async fn starts_in_memory() {
    answers_health("memory").await;
}

#[tokio::test]
async fn starts_on_surrealkv() {
    let folder = tempfile::tempdir().unwrap();
    answers_health(&format!("surrealkv://{}", folder.path().join("data").display())).await;
}
