//! E-mail notifications through a real SMTP conversation: a small SMTP receiver on loopback
//! takes what the server's notifier sends. Approvers hear when a stage waits for them,
//! requestors when their request is decided, holders before their access ends; a policy with
//! `isAssignmentNotificationDisabled` tells its requestors and holders nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::requests::create_policy;
use crate::support::{Api, TestServer, advance_clock, clock_now};

const MEGAN: &str = "00000000-0000-0000-0000-0000000000a3";
const CHRISTIE: &str = "00000000-0000-0000-0000-0000000000a2";
const ADELE: &str = "00000000-0000-0000-0000-0000000000a5";

/// A message the receiver took.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    data: String,
}

impl Mail {
    /// The subject, unfolded (a long header continues on lines that start with a space).
    fn subject(&self) -> String {
        let mut lines = self.data.lines().skip_while(|l| !l.starts_with("Subject: "));
        let mut subject = lines.next().unwrap_or_default().trim_start_matches("Subject: ").to_owned();
        for more in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            subject.push(' ');
            subject.push_str(more.trim());
        }
        subject
    }
}

/// An SMTP receiver (RFC 5321's commands a client needs, no TLS, no authentication) on a free
/// loopback port; returns its port and what it received.
async fn smtp_receiver() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let store = Arc::clone(&mails);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 receiver ESMTP\r\n").await.unwrap();
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-receiver\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        to.clear();
                        b"250 OK\r\n"
                    } else if let Some(rcpt) = upper.strip_prefix("RCPT TO:") {
                        to.push(rcpt.trim().trim_matches(['<', '>']).to_ascii_lowercase());
                        b"250 OK\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        store.lock().unwrap().push(Mail { to: std::mem::take(&mut to), data });
                        b"250 OK queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else if upper == "RSET" || upper == "NOOP" {
                        b"250 OK\r\n"
                    } else {
                        b"502 not implemented\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, mails)
}

/// Waits until `n` messages arrived, and returns them.
async fn received(mails: &Arc<Mutex<Vec<Mail>>>, n: usize) -> Vec<Mail> {
    for _ in 0..200 {
        if mails.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    mails.lock().unwrap().clone()
}

fn policy(notifications_off: bool) -> Value {
    json!({
        "displayName": "Members, approved by Christie",
        "allowedTargetScope": "allMemberUsers",
        "requestorSettings": {"enableTargetsToSelfAddAccess": true},
        "requestApprovalSettings": {"isApprovalRequiredForAdd": true, "stages": [
            {"durationBeforeAutomaticDenial": "P7D", "primaryApprovers": [{"type": "singleUser", "userId": CHRISTIE}]}]},
        "expiration": {"type": "afterDuration", "duration": "P30D"},
        "notificationSettings": {"isAssignmentNotificationDisabled": notifications_off}
    })
}

async fn request_and_approve(adele: &Api, christie: &Api, package: &str) {
    let request = adele
        .data(
            "mutation($input: CreateAssignmentRequestInput!) { createAssignmentRequest(input: $input) { assignmentRequest { id } } }",
            json!({ "input": { "accessPackageId": package, "justification": "Quarter-end reporting" } }),
        )
        .await["createAssignmentRequest"]["assignmentRequest"]["id"]
        .clone();
    christie
        .data(
            "mutation($input: UpdateApprovalStageInput!) { updateApprovalStage(input: $input) { assignmentRequest { state } } }",
            json!({ "input": { "approvalId": request, "reviewResult": "Approve", "justification": "ok" } }),
        )
        .await;
}

#[tokio::test]
async fn approvers_requestors_and_holders_are_told_by_mail() {
    let server = TestServer::demo_on(true).await;
    let (port, mails) = smtp_receiver().await;
    server
        .services
        .start_notifier(em_api::service::notifications::MailSettings {
            url: format!("smtp://127.0.0.1:{port}"),
            from: "Entitlement management <noreply@contoso.com>".into(),
        })
        .await
        .unwrap();
    let (megan, christie, adele) = (server.as_user(MEGAN), server.as_user(CHRISTIE), server.as_user(ADELE));
    let catalog = megan.create_catalog("Finance").await;
    let package = megan.create_package(&catalog, "Finance reports").await;
    create_policy(&megan, &package, policy(false)).await;

    request_and_approve(&adele, &christie, &package).await;
    let got = received(&mails, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].to, ["christie.cline@contoso.com"]);
    assert_eq!(got[0].subject(), "Approval needed: Finance reports for Adele Vance");
    assert!(got[0].data.contains("Justification: Quarter-end reporting"), "{}", got[0].data);
    assert!(got[0].data.contains("Message-ID: <"), "a message id the relay can drop repeats by");
    assert_eq!(got[1].to, ["adele.vance@contoso.com"]);
    assert_eq!(got[1].subject(), "Your request for Finance reports: delivered: the access is yours");

    // 16 days later, 14 days before the end, Adele is reminded.
    let now = clock_now(&megan).await;
    advance_clock(&megan, now + chrono::Duration::days(16) + chrono::Duration::hours(1)).await;
    let got = received(&mails, 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2].to, ["adele.vance@contoso.com"]);
    assert_eq!(got[2].subject(), "Your access to Finance reports ends in 14 days");

    // A policy that turns assignment notifications off: the approver is still told, Adele not.
    let quiet = megan.create_package(&catalog, "Quiet reports").await;
    create_policy(&megan, &quiet, policy(true)).await;
    request_and_approve(&adele, &christie, &quiet).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received(&mails, 4).await;
    let subjects: Vec<String> = got[3..].iter().map(Mail::subject).collect();
    assert_eq!(subjects, ["Approval needed: Quiet reports for Adele Vance"]);
}
