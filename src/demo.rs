//! The embedded demo: two SQLite tenants and four users, created by `serve --demo`
//! on an empty control plane so that a fresh checkout has something to sign in to.
use std::path::Path;

use secrecy::SecretString;

use crate::{
    admin::registry,
    audit::Actor,
    control::{
        entities::{
            membership::MemberRole,
            tenant::{BackendKind, WriteMode},
        },
        tenant_databases,
        tenants::{self, NewTenant, PoolLimits},
    },
    erp::seed::{self, SeedCounts, SeedPlan},
    state::Services,
};

/// The password of every demo user. Demo data only: never use it elsewhere.
pub const DEMO_PASSWORD: &str = "tenantql-demo";

pub const DEMO_TENANTS: &[(&str, &str)] = &[
    ("acme", "Acme Corporation"),
    ("globex", "Globex Corporation"),
];

/// A demo user: email, platform-admin flag, memberships (tenant slug, role).
pub type DemoUser = (&'static str, bool, &'static [(&'static str, MemberRole)]);

pub const DEMO_USERS: &[DemoUser] = &[
    ("root@tenantql.test", true, &[]),
    ("alice@acme.test", false, &[("acme", MemberRole::Admin)]),
    ("bob@globex.test", false, &[("globex", MemberRole::Member)]),
    (
        "carol@acme.test",
        false,
        &[("acme", MemberRole::Member), ("globex", MemberRole::Member)],
    ),
];

/// Creates the demo tenants and users if the control plane has no tenant yet, and
/// fills the demo tenants' stores if they are missing. Returns whether tenants
/// were created.
pub async fn bootstrap(
    services: &Services,
    data_dir: &Path,
    invoices: usize,
) -> anyhow::Result<bool> {
    let control = &services.control;
    let created = if tenants::list(&control.db).await?.is_empty() {
        create_tenants_and_users(services, data_dir).await?;
        true
    } else {
        tracing::info!("demo: control plane already has tenants; not adding any");
        false
    };
    for (slug, _) in DEMO_TENANTS {
        let Some(tenant) = tenants::find_by_slug(&control.db, slug).await? else {
            continue;
        };
        let unseeded =
            tenant.backend == BackendKind::Sqlite && !Path::new(&tenant.connect_string).exists();
        if unseeded {
            let counts = seed_tenant(services, slug, invoices).await?;
            tracing::info!(
                tenant = slug,
                invoices = counts.invoices,
                payments = counts.payments,
                "demo: store seeded"
            );
        }
    }
    Ok(created)
}

/// Replaces a tenant's ERP rows with generated demo data (`tenantql demo seed`).
pub async fn seed_tenant(
    services: &Services,
    slug: &str,
    invoices: usize,
) -> anyhow::Result<SeedCounts> {
    let control = &services.control;
    let tenant = tenants::get_by_slug(&control.db, slug).await?;
    if tenant.contract_schema.is_some() || tenant.write_mode != WriteMode::Tables {
        anyhow::bail!(
            "{slug} reads a client's database through its contract ({} write mode): the demo seeder writes only tenantql's own tables",
            tenant.write_mode.as_str()
        );
    }
    let plan = SeedPlan::new(invoices);
    let (counts, version) = if tenant.backend == BackendKind::Sqlite {
        // The file may not exist yet: the seeder creates it.
        seed::seed_sqlite(&tenant.connect_string, slug, plan).await?
    } else {
        let mut session = services.pools.open_session(&tenant).await?;
        seed::seed(&mut session.conn, slug, plan).await?
    };
    tenant_databases::record_version(&control.db, &tenant.id, version).await?;
    Ok(counts)
}

async fn create_tenants_and_users(services: &Services, data_dir: &Path) -> anyhow::Result<()> {
    let actor = Actor::cli("demo-bootstrap");
    let stores = data_dir.join("tenants");
    std::fs::create_dir_all(&stores)?;
    for (slug, name) in DEMO_TENANTS {
        registry::add_tenant(
            services,
            &actor,
            NewTenant {
                slug: slug.to_string(),
                display_name: name.to_string(),
                backend: BackendKind::Sqlite,
                connect_string: stores.join(format!("{slug}.db")).display().to_string(),
                db_username: None,
                db_password: None,
                pool: PoolLimits::default(),
                tunnel: None,
                contract: Default::default(),
                allowed_origins: Vec::new(),
            },
        )
        .await?;
    }
    for (email, platform_admin, grants) in DEMO_USERS {
        registry::add_user(
            services,
            &actor,
            email,
            SecretString::from(DEMO_PASSWORD.to_string()),
            *platform_admin,
        )
        .await?;
        for (slug, role) in grants.iter() {
            registry::grant(services, &actor, email, slug, *role).await?;
        }
    }
    tracing::info!("demo: created tenants acme and globex and four users");
    Ok(())
}

/// What `serve --demo` prints so a new user can sign in.
pub fn banner(addr: std::net::SocketAddr) -> String {
    [
        format!("tenantql demo is running at http://{addr}"),
        format!("  GraphiQL:  http://{addr}/graphiql"),
        format!("  Users (password `{DEMO_PASSWORD}`):"),
        "    root@tenantql.test  platform admin".into(),
        "    alice@acme.test     admin of acme".into(),
        "    bob@globex.test     member of globex".into(),
        "    carol@acme.test     member of acme and globex".into(),
        "  Sign in from GraphiQL:".into(),
        format!(
            "    mutation {{ login(email: \"alice@acme.test\", password: \"{DEMO_PASSWORD}\", tenant: \"acme\") {{ token }} }}"
        ),
        "  or mint a token on the command line (same directory):".into(),
        "    cargo run --release -- token --tenant acme --user alice@acme.test".into(),
        "  then set the GraphiQL header {\"Authorization\": \"Bearer <token>\"} and run".into(),
        "    { me { email tenant { slug } role } }".into(),
    ]
    .join("\n")
}
