//! The command line. It parses arguments and calls the library; nothing else.
use std::{
    io::{BufRead, IsTerminal, Write},
    path::PathBuf,
    time::Duration,
};

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use sea_orm::ActiveEnum;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::{
    admin::{api_keys, registry, tenant_database},
    audit::Actor,
    auth::api_keys::KeyLifetimes,
    config::{Config, ControlPlaneConfig, ServerConfig, TokenConfig},
    control::{
        entities::{
            api_key::ApiKeyRole,
            membership::MemberRole,
            tenant::{BackendKind, DocumentsMode, TenantStatus, WriteMode},
        },
        tenants,
        tenants::{
            ContractPlacement, NewTenant, PoolLimits, TenantChanges, TenantLimits, TunnelConfig,
        },
    },
    demo,
    origins::OriginList,
    schema,
    server::Application,
    state::{ServiceSettings, Services},
    telemetry::LogConfig,
};

/// tenantql — one GraphQL API for many tenants, each with its own database.
///
/// Every option can also be set by the environment variable shown with it.
/// With nothing configured, data lives in ./.tenantql (SQLite control plane and a
/// generated development master key).
#[derive(Debug, Parser)]
#[command(name = "tenantql", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub control: ControlPlaneConfig,
    #[command(flatten)]
    pub tokens: TokenConfig,
    #[command(flatten)]
    pub log: LogConfig,
    #[command(subcommand)]
    pub command: Command,
}

/// Parsed once at start: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the GraphQL server (migrates the control plane first).
    Serve(ServerConfig),
    /// Apply pending control-plane migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    Schema,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Make a user a member of a tenant (or change the role they have there).
    Grant {
        /// The user's email.
        email: String,
        /// The tenant's slug.
        tenant: String,
        #[arg(value_enum)]
        role: MemberRole,
    },
    /// Remove a user from a tenant.
    Revoke { email: String, tenant: String },
    /// Mint a token for scripts and GraphiQL, without the user's password.
    Token {
        /// The tenant to act for; leave out (with a platform admin) for a platform token.
        #[arg(long)]
        tenant: Option<String>,
        /// The user's email.
        #[arg(long)]
        user: String,
        /// Lifetime: seconds, or a number with s, m, h or d (at most 90d).
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<Duration>,
    },
    /// Signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// API keys of a tenant's machine clients.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Trusted (published) documents.
    #[command(subcommand)]
    Documents(DocumentsCommand),
    /// Demo data.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Delete audit rows older than the given age (the prune itself is audited).
    Prune {
        /// Age: a number with d, h, m or s, e.g. 90d.
        #[arg(long, value_parser = parse_age)]
        older_than: Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Replace a tenant's ERP rows with deterministic generated data (all demo
    /// tenants when --tenant is left out). SQLite stores are created if missing;
    /// an Oracle tenant needs sql/oracle/erp_schema.sql applied first.
    Seed {
        #[arg(long)]
        tenant: Option<String>,
        /// Invoices to generate per tenant.
        #[arg(long, default_value_t = crate::config::DEFAULT_DEMO_INVOICES)]
        invoices: usize,
    },
    /// Print the same data as a SQL*Plus script for Oracle (sql/oracle/erp_seed.sql).
    SeedSql {
        /// The tenant slug the data is generated for (it seeds the generator).
        #[arg(long, default_value = "acme")]
        tenant: String,
        #[arg(long, default_value_t = 500)]
        invoices: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Add a tenant and its signing key. The database password, if any, is read
    /// from standard input (first line) and stored sealed.
    Add {
        /// Short name used in tokens and URLs: a-z, 0-9, '-'.
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = BackendKind::Sqlite)]
        backend: BackendKind,
        /// SQLite: a file path (default `<data dir>/tenants/<slug>.db`).
        /// Oracle: an Easy Connect string such as `db.example.com:1521/ERP`.
        /// PostgreSQL: `host[:port]/database` or a `postgres://` URL without
        /// password. Behind a bastion: the database as the bastion sees it.
        #[arg(long)]
        connect: Option<String>,
        /// Database user (Oracle, PostgreSQL).
        #[arg(long)]
        db_user: Option<String>,
        #[command(flatten)]
        tunnel: TunnelArgs,
        /// Read the database password from standard input.
        #[arg(long)]
        db_password_stdin: bool,
        /// Most connections one server instance opens to this tenant's database
        /// (with N instances the database sees up to N times this).
        #[arg(long, default_value_t = tenants::DEFAULT_POOL_MAX_SIZE)]
        pool_max: u32,
        /// Connections kept open while idle.
        #[arg(long, default_value_t = tenants::DEFAULT_POOL_MIN_IDLE)]
        pool_min_idle: u32,
        /// How long a request waits for a free connection, in milliseconds.
        #[arg(long, default_value_t = tenants::DEFAULT_POOL_ACQUIRE_TIMEOUT_MS)]
        acquire_timeout_ms: u32,
        /// The schema holding the contract's views and procedures (Oracle,
        /// PostgreSQL); default: the account's own schema.
        #[arg(long)]
        contract_schema: Option<String>,
        /// How writes reach the database: `tables` (a database tenantql
        /// created), `procedures` (the client's stored procedures) or `read-only`.
        #[arg(long, value_enum, default_value_t = WriteMode::Tables)]
        write_mode: WriteMode,
        /// Web origins of the tenant's own apps, comma-separated
        /// (`https://erp.client.example,https://*.client.example`): browsers on
        /// them may call with this tenant's tokens.
        #[arg(long)]
        allowed_origins: Option<String>,
    },
    /// List tenants.
    List,
    /// Show one tenant (secrets are never shown).
    Show { slug: String },
    /// Change a tenant's name, connection, pool or operation limits. A
    /// connection or pool change bumps its config version: every server
    /// replaces its pool.
    Update {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        connect: Option<String>,
        /// Database user; an empty value removes it.
        #[arg(long)]
        db_user: Option<String>,
        /// Sets (or replaces) the SSH bastion.
        #[command(flatten)]
        tunnel: TunnelArgs,
        /// Connect directly again (removes the SSH bastion).
        #[arg(long, conflicts_with = "ssh_host")]
        no_ssh: bool,
        #[arg(long)]
        pool_max: Option<u32>,
        #[arg(long)]
        pool_min_idle: Option<u32>,
        #[arg(long)]
        acquire_timeout_ms: Option<u32>,
        /// Operations per second the tenant may start (0: no limit).
        #[arg(long)]
        rate_limit: Option<u32>,
        #[arg(long)]
        rate_burst: Option<u32>,
        /// Operations per second each of its users may start (0: no limit).
        #[arg(long)]
        user_rate_limit: Option<u32>,
        #[arg(long)]
        user_rate_burst: Option<u32>,
        /// Its operations executing at once on one server.
        #[arg(long)]
        max_concurrent: Option<u32>,
        /// The schema holding the contract's objects; an empty value: the account's own.
        #[arg(long)]
        contract_schema: Option<String>,
        #[arg(long, value_enum)]
        write_mode: Option<WriteMode>,
        /// Replaces the tenant's web origins, comma-separated; an empty value: none.
        #[arg(long)]
        allowed_origins: Option<String>,
        /// Whether documents not published ahead of time run for its callers:
        /// off, allow, log-unknown, require, or deployment (the server's mode).
        #[arg(long, value_parser = parse_documents_mode)]
        documents_mode: Option<ModeChoice>,
    },
    /// Suspend a tenant: its members' requests answer TENANT_SUSPENDED.
    Suspend { slug: String },
    /// Re-activate a suspended tenant.
    Activate { slug: String },
    /// Soft-delete a tenant: its tokens end, its row stays for the audit trail,
    /// its slug is never reused.
    Delete {
        slug: String,
        /// Repeat the slug to confirm.
        #[arg(long)]
        confirm: String,
    },
    /// Store a new database password, read from standard input (first line).
    RotateCredentials { slug: String },
    /// Open one session to the tenant's database and run a trivial statement.
    TestConnection { slug: String },
    /// Hold the tenant's database against the contract (docs/TENANT_DATABASE.md):
    /// every relation, column, procedure and privilege, with what is wrong.
    /// Exits non-zero when something tenantql needs is missing.
    Check { slug: String },
    /// Bring tenantql's own objects in tenant databases (change log, and for
    /// databases tenantql created, sequences and triggers) to the target
    /// version. One tenant's failure never stops the others; a second run
    /// retries only what is not at the target. Exits non-zero when a tenant failed.
    Migrate {
        /// The tenants to migrate (or --all).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        slugs: Vec<String>,
        /// Every tenant that is not deleted.
        #[arg(long)]
        all: bool,
        /// Print, per tenant, the steps a run would apply; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Tenants migrated at once (at most 64).
        #[arg(long, default_value_t = crate::admin::tenant_database::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// Migrate this many tenants first, and stop if any of them fails.
        #[arg(long)]
        canary: Option<usize>,
    },
}

/// The SSH bastion in front of a tenant's database.
#[derive(Debug, Args)]
pub struct TunnelArgs {
    /// Reach the database through this SSH bastion (Oracle, PostgreSQL).
    #[arg(long)]
    ssh_host: Option<String>,
    #[arg(long, default_value_t = tenants::DEFAULT_SSH_PORT, requires = "ssh_host")]
    ssh_port: u16,
    #[arg(long, requires = "ssh_host")]
    ssh_user: Option<String>,
    /// File holding the unencrypted private key tenantql signs in with (stored sealed).
    #[arg(long, requires = "ssh_host")]
    ssh_key_file: Option<PathBuf>,
    /// The bastion's host key: an OpenSSH public key line (`ssh-keyscan`'s
    /// output) or its `SHA256:…` fingerprint. Another key is refused.
    #[arg(long, requires = "ssh_host")]
    ssh_host_key: Option<String>,
}

impl TunnelArgs {
    fn config(&self) -> anyhow::Result<Option<TunnelConfig>> {
        let Some(host) = &self.ssh_host else {
            return Ok(None);
        };
        let (Some(user), Some(key_file), Some(host_key)) =
            (&self.ssh_user, &self.ssh_key_file, &self.ssh_host_key)
        else {
            bail!("--ssh-host needs --ssh-user, --ssh-key-file and --ssh-host-key");
        };
        let private_key = std::fs::read_to_string(key_file)
            .with_context(|| format!("reading the SSH key file {}", key_file.display()))?;
        Ok(Some(TunnelConfig {
            host: host.clone(),
            port: self.ssh_port,
            user: user.clone(),
            private_key: SecretString::from(private_key),
            host_key: host_key.clone(),
        }))
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from standard input (first line), unless
    /// `--set-password-token` is given.
    Add {
        email: String,
        /// Platform admins manage every tenant.
        #[arg(long)]
        platform_admin: bool,
        /// Create the user without a password and print a one-time token (valid
        /// 72 h) with which they choose one (`setPassword`): hand it to them
        /// over a channel you trust.
        #[arg(long)]
        set_password_token: bool,
    },
    /// Disable a user: their tokens stop working, login is refused.
    Disable { email: String },
    /// Enable a disabled user.
    Enable { email: String },
}

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Publish a manifest (Apollo's persisted query list, or an object of
    /// sha256:<hex> → document): it replaces the list of the deployment (or of
    /// --tenant) for every client (or --client), on every server.
    Publish {
        /// The manifest file; `-` for standard input.
        file: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
        /// Only for requests whose graphql-client-name is this.
        #[arg(long)]
        client: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// A new API key; the key is printed once, on standard output.
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// What it is for, e.g. "Power BI".
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value_t = ApiKeyRole::Member)]
        role: ApiKeyRole,
        /// Only published (trusted) documents run with it.
        #[arg(long)]
        persisted_only: bool,
        /// Days it lives (default TENANTQL_API_KEY_DEFAULT_DAYS).
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        lifetimes: KeyLifetimeArgs,
    },
    /// The tenant's keys (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key by its id.
    Revoke {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// A new key in place of ID; the old one works for --overlap-hours more.
    Rotate {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long, default_value_t = 24)]
        overlap_hours: u32,
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        lifetimes: KeyLifetimeArgs,
    },
}

/// The operator's bounds on key lifetimes, the same variables the server reads.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyLifetimeArgs {
    #[arg(long, env = "TENANTQL_API_KEY_DEFAULT_DAYS", default_value_t = crate::config::DEFAULT_API_KEY_DAYS, hide = true)]
    api_key_default_days: u32,
    #[arg(long, env = "TENANTQL_API_KEY_MAX_DAYS", default_value_t = crate::config::DEFAULT_API_KEY_MAX_DAYS, hide = true)]
    api_key_max_days: u32,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Replace a tenant's (or the platform's) signing key: every token it signed stops working.
    Rotate {
        /// The tenant; leave out with --platform.
        #[arg(long, required_unless_present = "platform")]
        tenant: Option<String>,
        #[arg(long, conflicts_with = "tenant")]
        platform: bool,
    },
}

/// `3600`, `90s`, `15m`, `12h`, `7d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_age(text)?;
    if ttl.is_zero() {
        return Err("a token lifetime must be positive".into());
    }
    Ok(ttl)
}

/// An age: `3600`, `90s`, `15m`, `12h`, `90d` (zero allowed, no upper bound).
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 3600, 15m, 12h or 7d"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit `{unit}`: use s, m, h or d")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

fn read_secret_line(what: &str) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what} (input is visible): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading standard input")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(SecretString::from(secret))
}

async fn services(cli: &Cli) -> anyhow::Result<Services> {
    services_with(cli, ServiceSettings::default()).await
}

async fn services_with(cli: &Cli, settings: ServiceSettings) -> anyhow::Result<Services> {
    let (services, _) = Services::start(&cli.control, &cli.tokens, settings).await?;
    Ok(services)
}

async fn api_key_command(cli: &Cli, actor: &Actor, command: &ApiKeyCommand) -> anyhow::Result<()> {
    let lifetimes = match command {
        ApiKeyCommand::Create { lifetimes, .. } | ApiKeyCommand::Rotate { lifetimes, .. } => {
            KeyLifetimes {
                default_days: lifetimes.api_key_default_days,
                max_days: lifetimes.api_key_max_days,
            }
        }
        _ => KeyLifetimes::default(),
    };
    let services = services_with(
        cli,
        ServiceSettings {
            api_key_lifetimes: lifetimes,
            ..ServiceSettings::default()
        },
    )
    .await?;
    let tenant_of = |slug: &str| {
        let db = services.control.db.clone();
        let slug = slug.to_string();
        async move { tenants::get_by_slug(&db, &slug).await }
    };
    let print_created = |created: api_keys::CreatedKey| {
        use secrecy::ExposeSecret;
        eprintln!(
            "API key {} ({}, {}) expires {}; shown once:",
            created.row.id,
            created.row.name,
            created.row.role.as_str(),
            created.row.expires_at.to_rfc3339()
        );
        println!("{}", created.key.expose_secret());
    };
    match command {
        ApiKeyCommand::Create {
            tenant,
            name,
            role,
            persisted_only,
            expires_in_days,
            ..
        } => {
            let t = tenant_of(tenant).await?;
            let spec = api_keys::KeySpec {
                name: name.clone(),
                role: *role,
                persisted_only: *persisted_only,
                expires_in_days: *expires_in_days,
            };
            print_created(api_keys::create(&services, actor, (&t.id, &t.slug), spec).await?);
        }
        ApiKeyCommand::List { tenant } => {
            let t = tenant_of(tenant).await?;
            println!(
                "{:<14} {:<8} {:<8} {:<26} {:<26} NAME",
                "ID", "ROLE", "STATUS", "EXPIRES", "LAST USED"
            );
            for key in api_keys::list(&services, &t.id).await? {
                let status = if key.revoked_at.is_some() {
                    "revoked"
                } else if key.expires_at <= chrono::Utc::now() {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<14} {:<8} {:<8} {:<26} {:<26} {}",
                    key.id,
                    key.role.as_str(),
                    status,
                    key.expires_at.to_rfc3339(),
                    key.last_used_at
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "-".into()),
                    key.name
                );
            }
        }
        ApiKeyCommand::Revoke { tenant, id } => {
            let t = tenant_of(tenant).await?;
            api_keys::revoke(&services, actor, (&t.id, &t.slug), id).await?;
            eprintln!("revoked API key {id}");
        }
        ApiKeyCommand::Rotate {
            tenant,
            id,
            overlap_hours,
            expires_in_days,
            ..
        } => {
            let t = tenant_of(tenant).await?;
            let created = api_keys::rotate(
                &services,
                actor,
                (&t.id, &t.slug),
                id,
                *overlap_hours,
                *expires_in_days,
            )
            .await?;
            eprintln!("{id} keeps working for {overlap_hours} h");
            print_created(created);
        }
    }
    Ok(())
}

/// Who the audit log names for this command's changes: the OS user running it.
fn operator() -> Actor {
    let os_user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Actor::cli(&os_user)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let actor = operator();
    match &cli.command {
        Command::Serve(server) => {
            serve(Config {
                control: cli.control.clone(),
                tokens: cli.tokens.clone(),
                server: server.clone(),
            })
            .await
        }
        Command::Schema => {
            print!("{}", schema::sdl());
            Ok(())
        }
        Command::Migrate => {
            services(&cli).await?;
            eprintln!("control plane is up to date");
            Ok(())
        }
        Command::Tenant(command) => {
            tenant_command(&services(&cli).await?, &actor, &cli, command).await
        }
        Command::User(command) => user_command(&services(&cli).await?, &actor, command).await,
        Command::Grant {
            email,
            tenant,
            role,
        } => {
            registry::grant(&services(&cli).await?, &actor, email, tenant, *role).await?;
            eprintln!("{email} is now {role:?} of {tenant}");
            Ok(())
        }
        Command::Revoke { email, tenant } => {
            if registry::revoke(&services(&cli).await?, &actor, email, tenant).await? {
                eprintln!("{email} is no longer a member of {tenant}");
            } else {
                eprintln!("{email} was not a member of {tenant}");
            }
            Ok(())
        }
        Command::Token { tenant, user, ttl } => {
            let services = services(&cli).await?;
            let ttl = ttl.unwrap_or(cli.tokens.ttl());
            let signed_in = services.sessions.mint(user, tenant.as_deref(), ttl).await?;
            println!("{}", signed_in.issued.token);
            eprintln!("expires at {}", signed_in.issued.expires_at().to_rfc3339());
            Ok(())
        }
        Command::Demo(DemoCommand::Seed { tenant, invoices }) => {
            let services = services(&cli).await?;
            let slugs: Vec<String> = match tenant {
                Some(slug) => vec![slug.clone()],
                None => demo::DEMO_TENANTS
                    .iter()
                    .map(|(slug, _)| slug.to_string())
                    .collect(),
            };
            for slug in slugs {
                let counts = demo::seed_tenant(&services, &slug, *invoices).await?;
                eprintln!(
                    "{slug}: {} companies, {} partners, {} invoices, {} payments, {} treasury transactions",
                    counts.companies, counts.partners, counts.invoices, counts.payments, counts.transactions
                );
            }
            Ok(())
        }
        Command::Demo(DemoCommand::SeedSql { tenant, invoices }) => {
            let data =
                crate::erp::seed::generate(tenant, crate::erp::seed::SeedPlan::new(*invoices));
            print!("{}", crate::erp::seed::oracle_script(&data));
            Ok(())
        }
        Command::Key(KeyCommand::Rotate { tenant, .. }) => {
            let services = services(&cli).await?;
            let kid = registry::rotate_signing_key(&services, &actor, tenant.as_deref()).await?;
            eprintln!("new signing key {kid}; tokens signed by the old key no longer verify");
            Ok(())
        }
        Command::ApiKey(command) => api_key_command(&cli, &actor, command).await,
        Command::Documents(DocumentsCommand::Publish {
            file,
            tenant,
            client,
        }) => {
            let manifest = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let services = services(&cli).await?;
            let published = crate::admin::documents::publish(
                &services,
                &actor,
                tenant.as_deref(),
                client.as_deref(),
                &manifest,
            )
            .await?;
            eprintln!(
                "published {} documents for {}{}",
                published.documents,
                published.tenant.as_deref().unwrap_or("the deployment"),
                if published.client_name.is_empty() {
                    String::new()
                } else {
                    format!(" (client {})", published.client_name)
                }
            );
            Ok(())
        }
        Command::Audit(AuditCommand::Prune { older_than }) => {
            let services = services(&cli).await?;
            let pruned = registry::prune_audit(&services, &actor, *older_than).await?;
            eprintln!("pruned {pruned} audit rows");
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let demo = config.server.demo;
    let app = Application::build(config).await?;
    if demo {
        println!("{}", demo::banner(app.local_addr()));
    }
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    let result = app.run_until_stopped(shutdown).await;
    signals.abort();
    tokio::task::spawn_blocking(crate::telemetry::shutdown)
        .await
        .ok();
    result
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

async fn tenant_command(
    services: &Services,
    actor: &Actor,
    cli: &Cli,
    command: &TenantCommand,
) -> anyhow::Result<()> {
    let control = &services.control;
    match command {
        TenantCommand::Add {
            slug,
            name,
            backend,
            connect,
            db_user,
            tunnel,
            db_password_stdin,
            pool_max,
            pool_min_idle,
            acquire_timeout_ms,
            contract_schema,
            write_mode,
            allowed_origins,
        } => {
            let connect_string = match (connect, backend) {
                (Some(c), _) => c.clone(),
                (None, BackendKind::Sqlite) => cli
                    .control
                    .data_dir
                    .join("tenants")
                    .join(format!("{slug}.db"))
                    .display()
                    .to_string(),
                (None, BackendKind::Oracle | BackendKind::Postgres) => {
                    bail!("--connect is required for an Oracle or PostgreSQL tenant")
                }
            };
            let db_password = if *db_password_stdin {
                Some(read_secret_line("database password")?)
            } else {
                None
            };
            let tenant = registry::add_tenant(
                services,
                actor,
                NewTenant {
                    slug: slug.clone(),
                    display_name: name.clone().unwrap_or_else(|| slug.clone()),
                    backend: *backend,
                    connect_string,
                    db_username: db_user.clone(),
                    db_password,
                    pool: PoolLimits {
                        max_size: *pool_max,
                        min_idle: *pool_min_idle,
                        acquire_timeout_ms: *acquire_timeout_ms,
                    },
                    tunnel: tunnel.config()?,
                    contract: ContractPlacement {
                        schema: contract_schema.clone().filter(|s| !s.trim().is_empty()),
                        write_mode: *write_mode,
                    },
                    allowed_origins: allowed_origins
                        .as_deref()
                        .map(origin_list)
                        .unwrap_or_default(),
                },
            )
            .await?;
            eprintln!("added tenant {} ({})", tenant.slug, tenant.id);
        }
        TenantCommand::List => {
            let versions: std::collections::HashMap<String, i32> =
                crate::control::tenant_databases::all(&control.db)
                    .await?
                    .into_iter()
                    .map(|d| (d.tenant_id, d.schema_version))
                    .collect();
            println!(
                "{:<24} {:<10} {:<8} {:<10} {:<9} NAME",
                "SLUG", "STATUS", "BACKEND", "WRITES", "DB VER"
            );
            for t in tenants::list(&control.db).await? {
                println!(
                    "{:<24} {:<10} {:<8} {:<10} {:<9} {}",
                    t.slug,
                    t.status.to_value(),
                    t.backend.to_value(),
                    t.write_mode.as_str(),
                    versions.get(&t.id).copied().unwrap_or(0),
                    t.display_name
                );
            }
        }
        TenantCommand::Show { slug } => {
            let t = tenants::get_by_slug(&control.db, slug).await?;
            println!("id:              {}", t.id);
            println!("slug:            {}", t.slug);
            println!("name:            {}", t.display_name);
            println!("status:          {}", t.status.to_value());
            println!("backend:         {}", t.backend.to_value());
            println!("connect:         {}", t.connect_string);
            println!(
                "contract schema: {}",
                t.contract_schema
                    .as_deref()
                    .unwrap_or("- (the account's own)")
            );
            println!("write mode:      {}", t.write_mode.as_str());
            println!(
                "documents mode:  {}",
                t.documents_mode
                    .map_or("- (the deployment's)", |m| m.as_str())
            );
            let origins = OriginList::from_stored(t.allowed_origins.as_deref()).rules();
            println!(
                "origins:         {}",
                if origins.is_empty() {
                    "- (the deployment's only)".to_string()
                } else {
                    origins.join(", ")
                }
            );
            println!(
                "db user:         {}",
                t.db_username.as_deref().unwrap_or("-")
            );
            println!(
                "db password:     {}",
                if t.db_password_sealed.is_some() {
                    "set (sealed)"
                } else {
                    "-"
                }
            );
            match (&t.ssh_host, &t.ssh_user) {
                (Some(host), Some(user)) => println!(
                    "ssh bastion:     {user}@{host}:{} (host key {}; private key sealed)",
                    t.ssh_port.unwrap_or(i32::from(tenants::DEFAULT_SSH_PORT)),
                    t.ssh_host_key.as_deref().unwrap_or("-")
                ),
                _ => println!("ssh bastion:     -"),
            }
            println!(
                "pool:            max {}, warm {}, acquire timeout {} ms (per instance)",
                t.pool_max_size, t.pool_min_idle, t.pool_acquire_timeout_ms
            );
            let limits = TenantLimits::of(&t);
            let shown = |value: Option<u32>| value.map_or("default".to_string(), |v| v.to_string());
            println!(
                "limits:          {}/s (burst {}) per tenant, {}/s (burst {}) per user, {} at once",
                shown(limits.rate_limit_per_sec),
                shown(limits.rate_limit_burst),
                shown(limits.user_rate_limit_per_sec),
                shown(limits.user_rate_limit_burst),
                shown(limits.max_concurrent_operations)
            );
            println!("config version:  {}", t.config_version);
            println!("created:         {}", t.created_at.to_rfc3339());
            let target = crate::contract::migrations::target_version();
            match crate::control::tenant_databases::get(&control.db, &t.id).await? {
                Some(db) => {
                    println!(
                        "database:        tenantql's objects at version {} of {target}, {} (attempt {}, {} ms){}",
                        db.schema_version,
                        db.status.as_str(),
                        db.attempt,
                        db.duration_ms.unwrap_or(0),
                        db.last_error
                            .map(|e| format!("; last error: {e}"))
                            .unwrap_or_default()
                    );
                }
                None => println!(
                    "database:        never migrated (target version {target}): run `tenantql tenant migrate {}`",
                    t.slug
                ),
            }
        }
        TenantCommand::Update {
            slug,
            name,
            connect,
            db_user,
            tunnel,
            no_ssh,
            pool_max,
            pool_min_idle,
            acquire_timeout_ms,
            rate_limit,
            rate_burst,
            user_rate_limit,
            user_rate_burst,
            max_concurrent,
            contract_schema,
            write_mode,
            allowed_origins,
            documents_mode,
        } => {
            let current = tenants::get_by_slug(&control.db, slug).await?;
            let given = [
                rate_limit,
                rate_burst,
                user_rate_limit,
                user_rate_burst,
                max_concurrent,
            ];
            let operation_limits = given.iter().any(|v| v.is_some()).then(|| {
                let now = TenantLimits::of(&current);
                TenantLimits {
                    rate_limit_per_sec: rate_limit.or(now.rate_limit_per_sec),
                    rate_limit_burst: rate_burst.or(now.rate_limit_burst),
                    user_rate_limit_per_sec: user_rate_limit.or(now.user_rate_limit_per_sec),
                    user_rate_limit_burst: user_rate_burst.or(now.user_rate_limit_burst),
                    max_concurrent_operations: max_concurrent.or(now.max_concurrent_operations),
                }
            });
            let limits = PoolLimits::of(&current);
            let pool =
                (pool_max.is_some() || pool_min_idle.is_some() || acquire_timeout_ms.is_some())
                    .then(|| PoolLimits {
                        max_size: pool_max.unwrap_or(limits.max_size),
                        min_idle: pool_min_idle.unwrap_or(limits.min_idle),
                        acquire_timeout_ms: acquire_timeout_ms.unwrap_or(limits.acquire_timeout_ms),
                    });
            let changes = TenantChanges {
                display_name: name.clone(),
                connect_string: connect.clone(),
                db_username: db_user.clone(),
                pool,
                limits: operation_limits,
                tunnel: match tunnel.config()? {
                    Some(config) => Some(Some(config)),
                    None => no_ssh.then_some(None),
                },
                contract_schema: contract_schema
                    .as_ref()
                    .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty())),
                write_mode: *write_mode,
                allowed_origins: allowed_origins.as_deref().map(origin_list),
                documents_mode: documents_mode.map(|choice| choice.0),
            };
            let tenant = registry::update_tenant(services, actor, slug, changes).await?;
            eprintln!("updated {slug} (config version {})", tenant.config_version);
        }
        TenantCommand::Suspend { slug } => {
            registry::set_tenant_status(services, actor, slug, TenantStatus::Suspended).await?;
            eprintln!("suspended {slug}");
        }
        TenantCommand::Activate { slug } => {
            registry::set_tenant_status(services, actor, slug, TenantStatus::Active).await?;
            eprintln!("activated {slug}");
        }
        TenantCommand::Delete { slug, confirm } => {
            registry::delete_tenant(services, actor, slug, confirm).await?;
            eprintln!("deleted {slug}; its tokens no longer verify");
        }
        TenantCommand::RotateCredentials { slug } => {
            let password = read_secret_line("new database password")?;
            let tenant = registry::rotate_credentials(services, actor, slug, &password).await?;
            eprintln!(
                "stored a new database password for {slug} (config version {})",
                tenant.config_version
            );
        }
        TenantCommand::TestConnection { slug } => {
            let probe = registry::test_connection(services, actor, slug).await?;
            let ms = probe.latency.as_secs_f64() * 1000.0;
            match probe.reason {
                None => println!("{slug}: reachable in {ms:.1} ms"),
                Some(reason) => bail!("{slug}: not reachable after {ms:.1} ms: {reason}"),
            }
        }
        TenantCommand::Check { slug } => {
            let report = tenant_database::check(services, actor, slug).await?;
            print!("{}", describe_check(slug, &report));
            if !report.ok() {
                bail!("{slug}: {} error(s) in its database", report.errors());
            }
        }
        TenantCommand::Migrate {
            slugs,
            all: _,
            dry_run,
            concurrency,
            canary,
        } => {
            let request = tenant_database::RolloutRequest {
                slugs: slugs.clone(),
                dry_run: *dry_run,
                concurrency: *concurrency,
                canary: *canary,
            };
            let rollout = tenant_database::migrate(services, actor, request).await?;
            print!("{}", describe_rollout(&rollout));
            let failed = rollout.count(tenant_database::Outcome::Failed)
                + rollout.count(tenant_database::Outcome::Locked);
            if failed > 0 || rollout.status == "stopped" {
                bail!(
                    "rollout {}: {failed} tenant(s) not migrated",
                    rollout.status
                );
            }
        }
    }
    Ok(())
}

/// The contract check as the operator reads it: one line per object, one per finding.
fn describe_check(slug: &str, report: &crate::contract::CheckReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{slug}: contract {} in schema {}, write mode {}; tenantql's objects at version {} of {}",
        report.contract_version,
        report.schema.as_deref().unwrap_or("(the account's own)"),
        report.write_mode.as_str(),
        report.own_version,
        report.target_version
    );
    for object in &report.objects {
        let state = match (&object.found_as, object.ok()) {
            (None, _) => "MISSING".to_string(),
            (Some(kind), true) => format!("ok ({kind})"),
            (Some(kind), false) => format!("BROKEN ({kind})"),
        };
        let _ = writeln!(out, "  {:<9} {:<26} {state}", object.kind, object.name);
        for finding in &object.findings {
            let severity = match finding.severity {
                crate::contract::Severity::Error => "error",
                crate::contract::Severity::Warning => "warning",
            };
            let subject = finding
                .subject
                .as_deref()
                .map(|s| format!("{s}: "))
                .unwrap_or_default();
            let _ = writeln!(out, "      {severity}: {subject}{}", finding.message);
        }
    }
    let _ = writeln!(
        out,
        "{} error(s), {} warning(s)",
        report.errors(),
        report.warnings()
    );
    out
}

/// A rollout as the operator reads it: one line per tenant.
fn describe_rollout(rollout: &tenant_database::Rollout) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rollout {} to version {}: {}",
        rollout.id.as_deref().unwrap_or("(dry run)"),
        rollout.target_version,
        rollout.status
    );
    for t in &rollout.tenants {
        let steps: Vec<String> = t
            .steps
            .iter()
            .map(|s| {
                if s.applies {
                    format!("{} {}", s.version, s.name)
                } else {
                    format!("{} {} (not applicable)", s.version, s.name)
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "  {:<24} {:<9} {} -> {}  {} ms{}{}",
            t.slug,
            t.outcome.as_str(),
            t.from_version,
            t.to_version,
            t.duration_ms,
            if steps.is_empty() {
                String::new()
            } else {
                format!("  steps: {}", steps.join(", "))
            },
            t.error
                .as_deref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    out
}

async fn user_command(
    services: &Services,
    actor: &Actor,
    command: &UserCommand,
) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            email,
            platform_admin,
            set_password_token: true,
        } => {
            let (user, token, expires_at) =
                registry::add_user_with_token(services, actor, email, *platform_admin).await?;
            eprintln!(
                "added user {} ({}); their password-set token, valid until {expires_at}:",
                user.email, user.id
            );
            println!("{}", token.expose_secret());
        }
        UserCommand::Add {
            email,
            platform_admin,
            set_password_token: false,
        } => {
            let password = read_secret_line("password")?;
            let user =
                registry::add_user(services, actor, email, password, *platform_admin).await?;
            eprintln!("added user {} ({})", user.email, user.id);
        }
        UserCommand::Disable { email } => {
            registry::set_user_disabled(services, actor, email, true).await?;
            eprintln!("disabled {email}");
        }
        UserCommand::Enable { email } => {
            registry::set_user_disabled(services, actor, email, false).await?;
            eprintln!("enabled {email}");
        }
    }
    Ok(())
}

/// A tenant's trusted-documents mode: its own, or None for the deployment's.
#[derive(Debug, Clone, Copy)]
pub struct ModeChoice(Option<DocumentsMode>);

/// `deployment` (the server's mode) or a mode of its own.
fn parse_documents_mode(text: &str) -> Result<ModeChoice, String> {
    if text == "deployment" {
        return Ok(ModeChoice(None));
    }
    <DocumentsMode as clap::ValueEnum>::from_str(text, false).map(|mode| ModeChoice(Some(mode)))
}

/// A comma-separated list of origins, without empty entries.
fn origin_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("5w").is_err());
        assert!(parse_ttl("abc").is_err());
        assert_eq!(parse_age("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert!(parse_age("99999999999999999d").is_err());
    }
}
