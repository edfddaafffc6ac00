//! The loopback services tests and benchmarks start for themselves — a private
//! `redis-server`, a private `sshd` as a tenant's bastion — each on a free port,
//! stopped by its PID when dropped. Shared with `benches/load.rs` (`#[path]`), so
//! it depends on nothing of the test crate.
use std::{
    path::Path,
    process::{Command, Stdio},
};

use secrecy::SecretString;

/// A port nothing listens on right now (for processes that take `--listen`/`--port`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `program` runs; when it does not, the test is skipped, or fails under
/// TENANTQL_TEST_REQUIRE_ALL (scripts/test.sh installs everything).
pub fn installed(program: &str, probe: &[&str]) -> bool {
    let runs = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !runs {
        if std::env::var_os("TENANTQL_TEST_REQUIRE_ALL").is_some() {
            panic!(
                "{program} is not installed but TENANTQL_TEST_REQUIRE_ALL is: run scripts/test.sh"
            );
        }
        eprintln!("notice: {program} is not installed; skipping a test that needs it");
    }
    runs
}

/// Waits until something listens on the loopback `port` (bounded: 5 s).
pub async fn wait_for_listener(port: u16, what: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on {port}");
}

/// A private `redis-server` on a free loopback port, stopped when dropped.
/// Each test gets its own, so one may kill and restart it freely.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts one, or returns None (a skip) when `redis-server` is not installed,
    /// which fails instead under TENANTQL_TEST_REQUIRE_ALL (scripts/test.sh).
    pub async fn start() -> Option<RedisServer> {
        if !installed("redis-server", &["--version"]) {
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.restart().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        wait_for_listener(self.port, "redis-server").await;
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private OpenSSH server on a free loopback port, as a tenant's bastion:
/// its own host key and config, one authorized client key (for the user the
/// tests run as), stopped when dropped.
pub struct SshServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

const SSHD: &str = "/usr/sbin/sshd";

fn ssh_keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "tenantql-test", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

impl SshServer {
    /// Starts one, or None (a skip) when OpenSSH's server is not installed.
    pub async fn start() -> Option<SshServer> {
        if !installed(SSHD, &["-V"]) {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        ssh_keygen(&dir.path().join("host_key"));
        ssh_keygen(&dir.path().join("client_key"));
        ssh_keygen(&dir.path().join("other_host_key"));
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .expect("authorized_keys");
        let user = Self::user();
        let root = user == "root";
        if root {
            // Privilege separation needs its empty directory.
            std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        }
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin {permit_root}\nAllowUsers {user}\nAllowTcpForwarding yes\n\
             PermitOpen any\nX11Forwarding no\nLogLevel ERROR\n",
            dir = dir.path().display(),
            permit_root = if root { "prohibit-password" } else { "no" },
        );
        std::fs::write(dir.path().join("sshd_config"), config).expect("sshd_config");
        let mut server = SshServer {
            port,
            dir,
            child: None,
        };
        server.restart().await;
        Some(server)
    }

    fn user() -> String {
        let output = Command::new("id").arg("-un").output().expect("id runs");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The tunnel settings of a tenant behind this server; `host_key_file`
    /// picks which host key the tenant expects (`host_key.pub` is the real one).
    pub fn tunnel(&self, host_key_file: &str) -> tenantql::control::tenants::TunnelConfig {
        tenantql::control::tenants::TunnelConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            user: Self::user(),
            private_key: SecretString::from(read(&self.dir.path().join("client_key"))),
            host_key: read(&self.dir.path().join(host_key_file)),
        }
    }

    /// (Re)starts sshd on its port and waits until it accepts connections.
    pub async fn restart(&mut self) {
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        self.child = Some(child);
        wait_for_listener(self.port, "sshd").await;
    }

    /// SSH connections being served now (sshd forks one process per connection).
    pub fn connections(&self) -> usize {
        self.child
            .as_ref()
            .map_or(0, |child| children_of(child.id()).len())
    }

    /// Kills sshd and every session process it forked (they would otherwise
    /// keep established tunnels alive), as a crash of the bastion would.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut doomed = vec![child.id()];
        let mut i = 0;
        while i < doomed.len() {
            doomed.extend(children_of(doomed[i]));
            i += 1;
        }
        for pid in doomed.iter().rev() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = child.wait();
    }
}

/// Direct children of `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|candidate| {
            std::fs::read_to_string(format!("/proc/{candidate}/stat"))
                .ok()
                .and_then(|stat| {
                    // Field 4, after the parenthesised command name.
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One message the SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct SinkMail {
    pub recipients: Vec<String>,
    /// Headers and body as sent, quoted-printable soft line breaks undone.
    pub text: String,
}

/// An SMTP server on a loopback port that accepts every message and keeps it
/// for the test to read (what a relay would deliver to the recipient's inbox).
/// It speaks plain SMTP (no STARTTLS advertised); it stops with its task when dropped.
pub struct SmtpSink {
    pub port: u16,
    mails: std::sync::Arc<std::sync::Mutex<Vec<SinkMail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = std::sync::Arc::default();
        let kept = std::sync::Arc::clone(&mails);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = std::sync::Arc::clone(&kept);
                tokio::spawn(async move {
                    let _ = Self::converse(socket, kept).await;
                });
            }
        });
        SmtpSink { port, mails, task }
    }

    /// `smtp://127.0.0.1:PORT`, for TENANTQL_SMTP_URL.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<SinkMail> {
        self.mails.lock().unwrap().clone()
    }

    /// The mails to `address`, oldest first.
    pub fn mails_to(&self, address: &str) -> Vec<SinkMail> {
        self.mails()
            .into_iter()
            .filter(|m| m.recipients.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// One session: greeting, envelope, DATA up to the lone dot, QUIT. Every
    /// line is bounded by the test's own client, lettre.
    async fn converse(
        socket: tokio::net::TcpStream,
        kept: std::sync::Arc<std::sync::Mutex<Vec<SinkMail>>>,
    ) -> std::io::Result<()> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (reader, mut writer) = socket.into_split();
        let mut lines = BufReader::new(reader).lines();
        writer.write_all(b"220 sink.test ESMTP\r\n").await?;
        let mut recipients = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-sink.test\r\n250 8BITMIME\r\n",
                "HELO" | "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
                "RCPT" => {
                    let address = line
                        .split(['<', '>'])
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    recipients.push(address);
                    b"250 OK\r\n"
                }
                "DATA" => {
                    writer.write_all(b"354 go ahead\r\n").await?;
                    let mut text = String::new();
                    while let Some(line) = lines.next_line().await? {
                        if line == "." {
                            break;
                        }
                        match line.strip_suffix('=') {
                            Some(soft) => text.push_str(soft),
                            None => {
                                text.push_str(line.strip_prefix('.').unwrap_or(&line));
                                text.push('\n');
                            }
                        }
                    }
                    kept.lock().unwrap().push(SinkMail {
                        recipients: std::mem::take(&mut recipients),
                        text,
                    });
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    writer.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"502 not implemented\r\n",
            };
            writer.write_all(reply).await?;
        }
        Ok(())
    }
}

impl SinkMail {
    /// The invitation token: the line after "Your invitation token:".
    pub fn invitation_token(&self) -> Option<String> {
        let mut lines = self.text.lines();
        lines.find(|l| l.trim() == "Your invitation token:")?;
        lines
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
