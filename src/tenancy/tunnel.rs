//! SSH tunnels to tenant databases that sit behind a bastion (russh).
//!
//! A tunnel belongs to one generation of one tenant's pool: it opens when the
//! pool is built and closes when the pool is dropped (idle eviction, reload,
//! a new configuration), so a tenant nobody uses holds no SSH session.
//!
//! - It listens on a loopback port of its own; each database session the pool
//!   opens connects there and is forwarded through one `direct-tcpip` channel
//!   to the database's host and port as the bastion sees them. Any driver works
//!   this way (PostgreSQL, Oracle's Easy Connect), and TLS to the database stays
//!   end to end. On Linux a connection is forwarded only when its other end is
//!   a socket of this process: another local process that finds the port gets
//!   nothing through it.
//! - The bastion must show the registered host key (compared by SHA-256
//!   fingerprint); another key is refused before authenticating.
//! - A supervisor checks the session every `check_every` (and notices at once
//!   when the connection closes) and reconnects with exponential backoff between
//!   `backoff_min` and `backoff_max`, ±20% jitter so many tenants behind one
//!   bastion do not retry in step.
//! - While the tunnel is down, opening a session fails at once with a reason
//!   safe to show, which the tenant's circuit breaker counts: the tenant answers
//!   TENANT_UNAVAILABLE quickly and no other tenant notices.
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use rand::Rng;
use russh::{
    client,
    keys::{decode_secret_key, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey},
};
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use crate::control::tenants::TunnelConfig;

/// How often tunnels are checked and how they back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelTimings {
    pub check_every: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Longest the bastion may take to connect and authenticate, or to open a channel.
    pub connect_timeout: Duration,
}

impl Default for TunnelTimings {
    fn default() -> Self {
        TunnelTimings {
            check_every: Duration::from_secs(60),
            backoff_min: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a tunnel cannot carry sessions. The messages are ours, safe to show;
/// the SSH library's text goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelError {
    BadPrivateKey,
    BadHostKey,
    Unreachable,
    HostKeyMismatch,
    AuthenticationRefused,
    Timeout,
    Lost,
}

impl std::fmt::Display for TunnelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for TunnelError {}

impl TunnelError {
    /// The reason as a static string, for `StoreError::Unavailable`.
    pub fn reason(&self) -> &'static str {
        match self {
            TunnelError::BadPrivateKey => {
                "the SSH private key is not an unencrypted OpenSSH or PEM private key"
            }
            TunnelError::BadHostKey => {
                "the expected host key is not an OpenSSH public key or a SHA256: fingerprint"
            }
            TunnelError::Unreachable => "the SSH bastion cannot be reached",
            TunnelError::HostKeyMismatch => {
                "the SSH bastion's host key does not match the registered one"
            }
            TunnelError::AuthenticationRefused => "the SSH bastion refused tenantql's key",
            TunnelError::Timeout => "the SSH bastion did not answer in time",
            TunnelError::Lost => "the SSH connection to the bastion was lost",
        }
    }
}

/// Reads a private key as an operator pastes it; refuses encrypted keys (the
/// server has no one to ask for a passphrase).
pub fn parse_private_key(pem: &str) -> Result<PrivateKey, TunnelError> {
    decode_secret_key(pem.trim(), None).map_err(|_| TunnelError::BadPrivateKey)
}

/// The SHA-256 fingerprint (`SHA256:…`) the bastion must show.
pub fn expected_fingerprint(host_key: &str) -> Result<String, TunnelError> {
    let host_key = host_key.trim();
    if let Some(encoded) = host_key.strip_prefix("SHA256:") {
        let plausible = (40..=46).contains(&encoded.len())
            && encoded
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=');
        return plausible
            .then(|| format!("SHA256:{}", encoded.trim_end_matches('=')))
            .ok_or(TunnelError::BadHostKey);
    }
    PublicKey::from_openssh(host_key)
        .map(|key| fingerprint(&key))
        .map_err(|_| TunnelError::BadHostKey)
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    /// The first connection is being made.
    Connecting,
    Up,
    /// Lost or never made; the supervisor retries with backoff.
    Down,
}

/// What pool stats, `/ready` and `/metrics` show of a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelStatus {
    pub state: TunnelState,
    /// When the tunnel entered its state.
    pub since: DateTime<Utc>,
    /// Successful reconnections after the first connection.
    pub reconnects: u64,
    /// Why it last went down (our wording).
    pub last_error: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    state: TunnelState,
    since: DateTime<Utc>,
    /// The monotonic time the current SSH session came up: sessions opened
    /// through an older one are dead.
    up_since: Option<Instant>,
    error: Option<TunnelError>,
}

struct Shared {
    settings: TunnelConfig,
    key: Arc<PrivateKey>,
    fingerprint: String,
    /// The database as the bastion sees it.
    target: (String, u16),
    timings: TunnelTimings,
    state: watch::Sender<Snapshot>,
    session: RwLock<Option<Arc<client::Handle<Client>>>>,
    reconnects: AtomicU64,
    on_reconnect: Option<OnReconnect>,
}

/// Called when a lost tunnel is back (the pool closes the tenant's breaker, so
/// the next request goes through at once rather than at the breaker's next probe).
pub type OnReconnect = Box<dyn Fn() + Send + Sync>;

impl Shared {
    fn set(&self, state: TunnelState, error: Option<TunnelError>) {
        let up_since = (state == TunnelState::Up).then(Instant::now);
        self.state.send_replace(Snapshot {
            state,
            since: Utc::now(),
            up_since,
            error,
        });
    }

    fn session(&self) -> Option<Arc<client::Handle<Client>>> {
        self.session.read().expect("tunnel session lock").clone()
    }
}

/// One tenant's tunnel; dropping it closes the SSH session and the local port.
pub struct Tunnel {
    local: SocketAddr,
    shared: Arc<Shared>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Tunnel {
    /// Starts the tunnel: the local port is open at once, the SSH session comes
    /// up in the background (`ready` waits for it).
    pub async fn open(
        settings: TunnelConfig,
        target: (String, u16),
        timings: TunnelTimings,
        on_reconnect: Option<OnReconnect>,
    ) -> Result<Tunnel, TunnelError> {
        let key = Arc::new(parse_private_key(settings.private_key.expose_secret())?);
        let fingerprint = expected_fingerprint(&settings.host_key)?;
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot open a loopback port for an SSH tunnel");
                TunnelError::Unreachable
            })?;
        let local = listener
            .local_addr()
            .map_err(|_| TunnelError::Unreachable)?;
        let (state, _) = watch::channel(Snapshot {
            state: TunnelState::Connecting,
            since: Utc::now(),
            up_since: None,
            error: None,
        });
        let shared = Arc::new(Shared {
            settings,
            key,
            fingerprint,
            target,
            timings,
            state,
            session: RwLock::new(None),
            reconnects: AtomicU64::new(0),
            on_reconnect,
        });
        let supervisor = tokio::spawn(supervise(shared.clone()));
        let acceptor = tokio::spawn(accept(listener, shared.clone()));
        Ok(Tunnel {
            local,
            shared,
            tasks: [supervisor, acceptor],
        })
    }

    /// The local address to connect to, once the SSH session is up. Waits for
    /// the first connection; fails at once while the tunnel is down.
    pub async fn ready(&self) -> Result<SocketAddr, TunnelError> {
        let mut state = self.shared.state.subscribe();
        let wait = self.shared.timings.connect_timeout + Duration::from_secs(1);
        let settled =
            tokio::time::timeout(wait, state.wait_for(|s| s.state != TunnelState::Connecting))
                .await;
        match settled {
            Ok(Ok(snapshot)) if snapshot.state == TunnelState::Up => Ok(self.local),
            Ok(Ok(snapshot)) => Err(snapshot.error.clone().unwrap_or(TunnelError::Lost)),
            _ => Err(TunnelError::Timeout),
        }
    }

    /// Whether a session opened at `created` still runs over the live SSH session.
    pub fn carries(&self, created: Instant) -> bool {
        let snapshot = self.shared.state.borrow();
        snapshot.state == TunnelState::Up && snapshot.up_since.is_some_and(|up| created >= up)
    }

    pub fn status(&self) -> TunnelStatus {
        let snapshot = self.shared.state.borrow().clone();
        TunnelStatus {
            state: snapshot.state,
            since: snapshot.since,
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
            last_error: snapshot.error.as_ref().map(TunnelError::reason),
        }
    }
}

/// The russh client callbacks: host key check, and a drop guard that tells the
/// supervisor the session ended (the handler lives exactly as long as it).
struct Client {
    expected: String,
    mismatch: Arc<AtomicBool>,
    _ended: tokio::sync::oneshot::Sender<()>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKey) -> Result<bool, Self::Error> {
        let matches = fingerprint(key) == self.expected;
        if !matches {
            self.mismatch.store(true, Ordering::Relaxed);
        }
        Ok(matches)
    }
}

type Ended = tokio::sync::oneshot::Receiver<()>;

/// AES-GCM first: ring's hardware AES makes it the cheapest on the one core that
/// also serves requests (the library's default puts ChaCha20-Poly1305 first).
const PREFERRED_CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_GCM,
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_128_CTR,
];

async fn connect(shared: &Shared) -> Result<(client::Handle<Client>, Ended), TunnelError> {
    let config = Arc::new(client::Config {
        // The library's own keepalive closes a session whose bastion stopped
        // answering even between our checks.
        keepalive_interval: Some(shared.timings.check_every),
        keepalive_max: 3,
        nodelay: true,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(PREFERRED_CIPHERS),
            ..Default::default()
        },
        ..Default::default()
    });
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    let mismatch = Arc::new(AtomicBool::new(false));
    let handler = Client {
        expected: shared.fingerprint.clone(),
        mismatch: mismatch.clone(),
        _ended: ended_tx,
    };
    let settings = &shared.settings;
    let mut handle = client::connect(config, (settings.host.as_str(), settings.port), handler)
        .await
        .map_err(|e| {
            if mismatch.load(Ordering::Relaxed) {
                TunnelError::HostKeyMismatch
            } else {
                tracing::info!(bastion = %settings.host, error = %e, "SSH connection failed");
                TunnelError::Unreachable
            }
        })?;
    let hash = if shared.key.algorithm().is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten()
    } else {
        None
    };
    let auth = handle
        .authenticate_publickey(
            settings.user.clone(),
            PrivateKeyWithHashAlg::new(shared.key.clone(), hash),
        )
        .await
        .map_err(|e| {
            tracing::info!(bastion = %settings.host, error = %e, "SSH authentication failed");
            TunnelError::Unreachable
        })?;
    if !auth.success() {
        return Err(TunnelError::AuthenticationRefused);
    }
    Ok((handle, ended))
}

/// Keeps the SSH session up for as long as the tunnel lives.
async fn supervise(shared: Arc<Shared>) {
    let timings = shared.timings;
    let mut backoff = timings.backoff_min;
    let mut connected_before = false;
    loop {
        let attempt = tokio::time::timeout(timings.connect_timeout, connect(&shared)).await;
        match attempt.unwrap_or(Err(TunnelError::Timeout)) {
            Ok((handle, ended)) => {
                let handle = Arc::new(handle);
                *shared.session.write().expect("tunnel session lock") = Some(handle.clone());
                // Counted before it shows as up; the breaker closed after, so the
                // request it lets through finds the tunnel up.
                if connected_before {
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(bastion = %shared.settings.host, "SSH tunnel reconnected");
                }
                shared.set(TunnelState::Up, None);
                if connected_before {
                    if let Some(on_reconnect) = &shared.on_reconnect {
                        on_reconnect();
                    }
                }
                connected_before = true;
                backoff = timings.backoff_min;
                let lost = watch_session(&handle, ended, timings).await;
                *shared.session.write().expect("tunnel session lock") = None;
                tracing::warn!(bastion = %shared.settings.host, reason = lost.reason(), "SSH tunnel down");
                shared.set(TunnelState::Down, Some(lost));
            }
            Err(error) => {
                tracing::warn!(bastion = %shared.settings.host, reason = error.reason(), retry_in_ms = backoff.as_millis() as u64, "SSH tunnel cannot connect");
                shared.set(TunnelState::Down, Some(error));
            }
        }
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(timings.backoff_max);
    }
}

/// Returns when the session is gone: closed by either side, or not answering a check.
async fn watch_session(
    handle: &client::Handle<Client>,
    mut ended: Ended,
    timings: TunnelTimings,
) -> TunnelError {
    loop {
        tokio::select! {
            _ = &mut ended => return TunnelError::Lost,
            _ = tokio::time::sleep(timings.check_every) => {
                let answered = tokio::time::timeout(timings.connect_timeout, handle.send_ping()).await;
                if !matches!(answered, Ok(Ok(()))) {
                    return TunnelError::Timeout;
                }
                if handle.is_closed() {
                    return TunnelError::Lost;
                }
            }
        }
    }
}

/// ±20% around `base`.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

/// Forwards each local connection through its own channel.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "SSH tunnel: accepting a local connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !peer_is_this_process(peer, listener.local_addr().ok()) {
            tracing::warn!(%peer, "SSH tunnel: a connection from another process was refused");
            continue;
        }
        // No session: dropping the socket makes the driver fail at once.
        let Some(session) = shared.session() else {
            continue;
        };
        let (host, port) = shared.target.clone();
        let timeout = shared.timings.connect_timeout;
        tokio::spawn(async move {
            let opened = tokio::time::timeout(
                timeout,
                session.channel_open_direct_tcpip(
                    host,
                    port.into(),
                    "127.0.0.1",
                    peer.port().into(),
                ),
            )
            .await;
            drop(session);
            let channel = match opened {
                Ok(Ok(channel)) => channel,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "SSH tunnel: the bastion refused a forward");
                    return;
                }
                Err(_) => return,
            };
            let mut stream = channel.into_stream();
            let mut socket = socket;
            let _ = socket.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
        });
    }
}

/// Whether the loopback connection from `peer` to `local` was opened by this
/// process: its socket (found in `/proc/net/tcp` by the two ports) is one of
/// this process's open files. Read once per database session the pool opens,
/// which is rare next to the queries it then carries. Elsewhere than Linux,
/// every local connection is let through (the production note says so).
fn peer_is_this_process(peer: SocketAddr, local: Option<SocketAddr>) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Some(local) = local else {
            return false;
        };
        let Some(inode) = loopback_socket_inode(peer.port(), local.port()) else {
            return false;
        };
        let wanted = format!("socket:[{inode}]");
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str())
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (peer, local);
        true
    }
}

/// The inode of the IPv4 socket whose local port is `port` and whose remote
/// port is `remote_port` (the connecting side of a loopback connection).
#[cfg(target_os = "linux")]
fn loopback_socket_inode(port: u16, remote_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port_of = |address: &str| {
        address
            .rsplit_once(':')
            .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
        (port_of(local)? == port && port_of(remote)? == remote_port)
            .then(|| inode.parse().ok())
            .flatten()
    })
}

/// Connects once and reports how long the SSH hop took (connection tests), with
/// the tunnel and its local address.
pub async fn probe(
    settings: TunnelConfig,
    target: (String, u16),
    timings: TunnelTimings,
) -> (Duration, Result<(Tunnel, SocketAddr), TunnelError>) {
    let started = Instant::now();
    let tunnel = match Tunnel::open(settings, target, timings, None).await {
        Ok(tunnel) => tunnel,
        Err(e) => return (started.elapsed(), Err(e)),
    };
    let ready = tunnel.ready().await;
    (started.elapsed(), ready.map(|local| (tunnel, local)))
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn only_this_process_may_use_the_loopback_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let ours = tokio::net::TcpStream::connect(local).await.unwrap();
        let (_accepted, peer) = listener.accept().await.unwrap();
        assert!(super::peer_is_this_process(peer, Some(local)));
        drop(ours);
        // Another process (a shell) connecting to the same port is refused.
        let mut child = std::process::Command::new("bash")
            .args([
                "-c",
                &format!("exec 3<>/dev/tcp/127.0.0.1/{}; sleep 5", local.port()),
            ])
            .spawn()
            .unwrap();
        let (_other, peer) =
            tokio::time::timeout(std::time::Duration::from_secs(5), listener.accept())
                .await
                .expect("the shell connects")
                .unwrap();
        assert!(!super::peer_is_this_process(peer, Some(local)));
        child.kill().ok();
        child.wait().ok();
    }

    use super::*;
    use secrecy::SecretString;

    const HOST_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";

    #[test]
    fn host_keys_by_line_or_fingerprint() {
        let from_line = expected_fingerprint(HOST_KEY).unwrap();
        assert!(from_line.starts_with("SHA256:"), "{from_line}");
        assert_eq!(expected_fingerprint(&from_line).unwrap(), from_line);
        assert_eq!(
            expected_fingerprint(&format!("{from_line}=")).unwrap(),
            from_line
        );
        for bad in ["", "ssh-ed25519 not-base64", "SHA256:short", "MD5:aa:bb"] {
            assert_eq!(
                expected_fingerprint(bad),
                Err(TunnelError::BadHostKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn private_keys_must_be_readable() {
        assert_eq!(
            parse_private_key(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----"
            )
            .err(),
            Some(TunnelError::BadPrivateKey)
        );
        assert!(parse_private_key("").is_err());
    }

    #[test]
    fn backoff_jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(5));
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(6),
                "{d:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_bastion_is_down_quickly_with_a_safe_reason() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let key = russh::keys::PrivateKey::random(
            &mut rand::rngs::OsRng,
            russh::keys::Algorithm::Ed25519,
        )
        .unwrap();
        let pem = key
            .to_openssh(russh::keys::ssh_key::LineEnding::LF)
            .unwrap();
        let settings = TunnelConfig {
            host: "127.0.0.1".into(),
            port,
            user: "nobody".into(),
            private_key: SecretString::from(pem.to_string()),
            host_key: HOST_KEY.into(),
        };
        let tunnel = Tunnel::open(
            settings,
            ("db".into(), 5432),
            TunnelTimings::default(),
            None,
        )
        .await
        .unwrap();
        let started = Instant::now();
        assert_eq!(tunnel.ready().await, Err(TunnelError::Unreachable));
        assert!(started.elapsed() < Duration::from_secs(2));
        let status = tunnel.status();
        assert_eq!(status.state, TunnelState::Down);
        assert_eq!(status.last_error, Some("the SSH bastion cannot be reached"));
        assert!(!tunnel.carries(Instant::now()));
    }
}
