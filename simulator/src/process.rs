//! The server as another program, for what only a separate process can show: `em-api serve`
//! killed with SIGKILL and started again on the same database folder.
//!
//! The program is the `em-api` binary, or this binary's hidden `em-api` subcommand, which runs
//! the same `em_api::cli` code (`serve` and `import`): what `callouts` uses when no `em-api` is
//! built beside it, and what the tests use, since Cargo builds no binary of a dependency.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// How long a server may take to answer `/healthz` after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How to run `em-api`.
#[derive(Debug, Clone)]
pub struct Program {
    path: PathBuf,
    /// Arguments before em-api's own (the subcommand of a binary that embeds it).
    leading: Vec<String>,
}

impl Program {
    /// The `em-api` binary at `path`.
    pub fn em_api(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), leading: Vec::new() }
    }

    /// `em-api` as the subcommand `name` of the binary at `path` (`em-simulator em-api`).
    pub fn subcommand(path: impl Into<PathBuf>, name: &str) -> Self {
        Self { path: path.into(), leading: vec![name.to_owned()] }
    }

    /// `em-api` beside this executable when it was built (`cargo build -p em-api`), else this
    /// executable's own `em-api` subcommand.
    pub fn find() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot tell where this executable is")?;
        let beside = exe.with_file_name(format!("em-api{}", std::env::consts::EXE_SUFFIX));
        Ok(if beside.is_file() { Self::em_api(beside) } else { Self::subcommand(exe, "em-api") })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        command.args(&self.leading).stdin(Stdio::null());
        command
    }

    /// Imports the directory file at `directory` into the database at `db` (`em-api import`),
    /// with no server running; returns how long it took.
    pub async fn import(&self, db: &str, directory: &Path) -> anyhow::Result<Duration> {
        self.import_with(db, directory, &[]).await
    }

    /// [`Self::import`] with `env` set (a SurrealDB server's credentials, say).
    pub async fn import_with(
        &self,
        db: &str,
        directory: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Duration> {
        let mut command = self.command();
        command.args(["import", "--db", db, "--directory"]).arg(directory).envs(env.iter().copied());
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || command.output())
            .await?
            .with_context(|| format!("cannot run {self}"))?;
        anyhow::ensure!(
            output.status.success(),
            "{self} import failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(started.elapsed())
    }

    /// Starts `em-api serve` on a free loopback port over the database at `db`, with `args`
    /// after em-api's own and `env` set, its log written to `log`; waits until it answers
    /// `/healthz`.
    pub async fn serve(
        &self,
        db: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let log_file =
            std::fs::File::create(log).with_context(|| format!("cannot create `{}`", log.display()))?;
        let mut command = self.command();
        command
            .args(["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file);
        let started = Instant::now();
        let child = command.spawn().with_context(|| format!("cannot start {self}"))?;
        let mut server =
            Server { child, base: format!("http://127.0.0.1:{port}"), start_time: Duration::ZERO };
        server.wait_healthy(log).await?;
        server.start_time = started.elapsed();
        Ok(server)
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}", self.path.display())?;
        for arg in &self.leading {
            write!(f, " {arg}")?;
        }
        write!(f, "`")
    }
}

/// A running `em-api serve`, killed (SIGKILL) when dropped so a failed run leaves none behind.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// From the start of the process to its first healthy answer.
    pub start_time: Duration,
}

impl Server {
    /// Kills the process (SIGKILL on Unix: no graceful shutdown, nothing flushed) and reaps it.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("cannot kill the server")?;
        self.child.wait().context("cannot reap the killed server")?;
        Ok(())
    }

    async fn wait_healthy(&mut self, log: &Path) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the server exited ({status}) before it served:\n{}", tail(log));
            }
            let answer = http.get(format!("{}/healthz", self.base)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the server did not answer /healthz within {START_TIMEOUT:?}:\n{}",
                tail(log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The last lines of a log, to say why a server did not start.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
