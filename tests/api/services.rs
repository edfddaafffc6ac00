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
