//! The pages in a real browser: Debian's Chromium (`apt-get install chromium`), driven by
//! Playwright's driver (`playwright-core`, which never downloads a browser) from the Node.js
//! scripts of `api/tests/browser/`, against the real binary serving the demo as a user starts
//! it (`em-api serve --demo`, its tokens read from what it prints).
//!
//! The demo's store is in memory in both passes of the tests, so the `EM_TEST_DATABASE=server`
//! pass leaves this test to the first. Screenshots of every page are kept in `<target>/tmp/screenshots/` (or `EM_SCREENSHOTS`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{free_port, node, npm_installed};

/// `em-api serve --demo` on an in-memory database, and the tokens it printed.
struct Demo {
    child: Child,
    base: String,
    /// Administrator (Megan), requestor (Adele), approver (Christie).
    tokens: [String; 3],
}

impl Demo {
    fn start(log: &Path) -> Self {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_em-api"))
            .args(["serve", "--demo", "--db", "mem://", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("the log file is created"))
            .spawn()
            .expect("em-api starts");
        // It prints each token on the line after whom it is for, once the demo is loaded; the
        // rest of what it prints is read too, so its output never blocks or breaks.
        let stdout = child.stdout.take().unwrap();
        let (found, tokens) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let mut token_after = |who: &str| {
                lines.by_ref().find(|line| line.starts_with(who))?;
                lines.next().map(|line| line.trim().to_owned())
            };
            let tokens = (|| {
                Some([token_after("Administrator")?, token_after("Requestor")?, token_after("Approver")?])
            })();
            let _ = found.send(tokens);
            lines.for_each(drop);
        });
        let tokens = match tokens.recv_timeout(std::time::Duration::from_secs(180)) {
            Ok(Some(tokens)) => tokens,
            outcome => {
                let _ = child.kill();
                panic!(
                    "em-api serve --demo printed no tokens ({outcome:?}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        };
        let demo = Self { child, base: format!("http://127.0.0.1:{port}"), tokens };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "em-api does not listen");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        demo
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON a script printed on its `<name>: {...}` line.
fn summary(printed: &str, name: &str) -> Value {
    let prefix = format!("{name}: ");
    let line = printed.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{printed}"));
    serde_json::from_str(line).unwrap()
}

fn screenshots() -> PathBuf {
    let folder = std::env::var_os("EM_SCREENSHOTS")
        .map_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"), PathBuf::from);
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

#[test]
fn the_playground_and_my_access_work_in_chromium_with_nothing_from_other_hosts() {
    if crate::support::TestDatabase::chosen() == crate::support::TestDatabase::Server {
        // The pages do not depend on where the store is: the first pass drove them.
        return;
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "the browser tests drive Debian's Chromium: `apt-get install chromium` (or set CHROMIUM)"
    );
    let scripts = npm_installed("browser");
    // The playground's committed assets are the pinned packages' files, byte for byte.
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor.mjs");
    let modules = scripts.join("node_modules");
    let (same, printed) =
        node(scripts, vendor.to_str().unwrap(), &["--check", modules.to_str().unwrap()], &[]);
    assert!(same, "{printed}");

    let log = tempfile::NamedTempFile::new().unwrap();
    let demo = Demo::start(log.path());
    let shots = screenshots();
    let [admin, adele, christie] = &demo.tokens;
    let env = [
        ("ADMIN_TOKEN", admin.as_str()),
        ("ADELE_TOKEN", adele.as_str()),
        ("CHRISTIE_TOKEN", christie.as_str()),
    ];
    let shots_arg = shots.to_str().unwrap();

    let (passed, printed) = node(scripts, "playground.mjs", &[&demo.base, shots_arg], &env);
    assert!(passed, "{printed}\n{}", std::fs::read_to_string(log.path()).unwrap_or_default());
    let playground = summary(&printed, "playground");
    assert_eq!(playground["externalRequests"], 0, "{playground}");
    assert!(playground["firstLoadBytes"].as_u64().unwrap() < 1_000_000, "{playground}");
    eprintln!("playground: {playground}");

    let (passed, printed) = node(scripts, "my-access.mjs", &[&demo.base, shots_arg], &env);
    assert!(passed, "{printed}\n{}", std::fs::read_to_string(log.path()).unwrap_or_default());
    let my_access = summary(&printed, "my-access");
    assert_eq!(my_access["externalRequests"], 0, "{my_access}");
    assert!(my_access["firstLoadBytes"].as_u64().unwrap() < 1_000_000, "{my_access}");
    assert!(my_access["approvalSeenMs"].as_f64().unwrap() < 100.0, "{my_access}");
    eprintln!("my-access: {my_access}");
}
