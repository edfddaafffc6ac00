//! The operators' docker compose stack, checked for structure (no container
//! engine runs where these tests do): the services and their start order,
//! healthchecks, no secret written into the file, every variable it reads
//! documented in `.env.example`, and an image that pins Oracle Instant Client.
use std::collections::BTreeSet;

use yaml_rust2::{Yaml, YamlLoader};

fn read(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Yaml {
    YamlLoader::load_from_str(&read("docker-compose.yml"))
        .expect("docker-compose.yml is YAML")
        .remove(0)
}

/// A service's environment as (name, value), YAML merge keys (`<<: *anchor`) applied.
fn environment(service: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(map) = service["environment"].as_hash() else {
        return out;
    };
    for (key, value) in map {
        if key.as_str() == Some("<<") {
            for (k, v) in value.as_hash().expect("a merged mapping") {
                out.push((k.as_str().unwrap().into(), v.as_str().unwrap_or("").into()));
            }
        } else {
            let value = match value {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                other => panic!("environment value {other:?}"),
            };
            out.push((key.as_str().unwrap().into(), value));
        }
    }
    out
}

/// `${NAME…}` references in a text.
fn variables(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find([':', '}', '-', '?'])?;
            Some(rest[..end].to_string())
        })
        .collect()
}

#[test]
fn the_stack_has_its_services_in_order_with_healthchecks() {
    let doc = compose();
    let services = doc["services"].as_hash().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Yaml::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["tenantql", "register", "postgres", "redis", "oracle"])
    );
    for name in ["tenantql", "postgres", "redis", "oracle"] {
        let check = &doc["services"][name]["healthcheck"];
        assert!(
            check["test"].as_vec().is_some_and(|t| !t.is_empty()),
            "{name} has a healthcheck"
        );
        assert!(check["interval"].as_str().is_some(), "{name} interval");
    }
    let waits_for = |service: &str, on: &str| {
        doc["services"][service]["depends_on"][on]["condition"].as_str() == Some("service_healthy")
    };
    for dependency in ["postgres", "redis", "oracle"] {
        assert!(
            waits_for("tenantql", dependency),
            "tenantql waits for {dependency}"
        );
    }
    assert!(waits_for("register", "tenantql"));
    assert!(waits_for("register", "oracle"));
    assert_eq!(doc["services"]["register"]["restart"].as_str(), Some("no"));
    assert_eq!(
        doc["services"]["register"]["image"], doc["services"]["tenantql"]["image"],
        "register runs the image tenantql builds"
    );
    // Oracle's init script creates the tenant schemas from sql/oracle.
    let volumes: Vec<&str> = doc["services"]["oracle"]["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(volumes
        .iter()
        .any(|v| v.starts_with("./docker/oracle-init:/container-entrypoint-initdb.d")));
    assert!(volumes.iter().any(|v| v.starts_with("./sql/oracle:")));
    let init = read("docker/oracle-init/01-tenant-schemas.sh");
    assert!(init.contains("@/opt/tenantql/sql/oracle/erp_schema.sql"));
    // The tenants are client databases: the vendor's schema, the contract as
    // views and procedures, tenantql's own account.
    for script in [
        "01_vendor_erp.sql",
        "02_contract_views.sql",
        "03_contract_procedures.sql",
        "04_change_triggers.sql",
    ] {
        assert!(
            init.contains(&format!("@/opt/tenantql/sql/oracle/examples/{script}")),
            "{script}"
        );
        let path = format!("sql/oracle/examples/{script}");
        assert!(std::path::Path::new(&path).exists(), "{path}");
    }
    // Redis requires a password, and tenantql uses it.
    let redis_command = format!("{:?}", doc["services"]["redis"]["command"]);
    assert!(redis_command.contains("--requirepass"), "{redis_command}");
    let tenantql_env = environment(&doc["services"]["tenantql"]);
    let redis_url = tenantql_env
        .iter()
        .find(|(k, _)| k == "TENANTQL_REDIS_URL")
        .map(|(_, v)| v.clone())
        .expect("tenantql uses Redis");
    assert!(
        redis_url.starts_with("redis://:${REDIS_PASSWORD"),
        "{redis_url}"
    );
}

#[test]
fn no_secret_is_written_in_the_stack() {
    let doc = compose();
    let secret_name = |name: &str| {
        ["PASSWORD", "KEY", "SECRET", "TOKEN", "AUTH"]
            .iter()
            .any(|word| name.contains(word))
    };
    for (name, service) in doc["services"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        for (key, value) in environment(service) {
            if secret_name(&key) {
                assert!(
                    value.starts_with("${") && value.ends_with('}') && !value.contains(":-"),
                    "{name}.{key} must come from .env, without a default: {value}"
                );
            }
            if value.contains("://") && value.contains('@') {
                let credentials = value
                    .split("://")
                    .nth(1)
                    .unwrap()
                    .split('@')
                    .next()
                    .unwrap();
                if let Some((_, password)) = credentials.split_once(':') {
                    assert!(
                        password.starts_with("${"),
                        "{name}.{key} carries a literal password: {value}"
                    );
                }
            }
        }
    }
    // Every variable the stack reads is documented, and .env.example gives no secret.
    let example = read(".env.example");
    let documented: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .collect();
    let used = variables(&read("docker-compose.yml"));
    assert!(!used.is_empty());
    for variable in &used {
        assert!(
            documented.contains(variable),
            "{variable} is used by docker-compose.yml but not in .env.example"
        );
    }
    for line in example.lines().filter(|l| !l.starts_with('#')) {
        if let Some((key, value)) = line.split_once('=') {
            if secret_name(key) {
                assert!(value.trim().is_empty(), ".env.example sets {key}");
            }
        }
    }
    let ignored = read(".gitignore");
    assert!(
        ignored.lines().any(|l| l == "/.env"),
        ".env is ignored by git"
    );
    assert!(read(".dockerignore").lines().any(|l| l == ".env"));
}

#[test]
fn the_image_pins_oracle_instant_client() {
    let dockerfile = read("Dockerfile");
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "multi-stage");
    let pinned = |arg: &str| {
        dockerfile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("ARG {arg}=")))
            .unwrap_or_else(|| panic!("ARG {arg} is pinned"))
            .to_string()
    };
    let url = pinned("INSTANTCLIENT_URL");
    assert!(
        url.starts_with("https://download.oracle.com/")
            && url.contains("instantclient-basiclite-linux.x64-"),
        "{url}"
    );
    let sha = pinned("INSTANTCLIENT_SHA256");
    assert!(
        sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
        "{sha}"
    );
    assert!(
        dockerfile.contains("sha256sum -c"),
        "the download is verified"
    );
    assert!(
        dockerfile.contains("docker/instantclient/"),
        "the local folder still overrides"
    );
    assert!(dockerfile.contains("COPY docker/register-tenants.sh"));
    let register = read("docker/register-tenants.sh");
    assert!(register.contains("--db-password-stdin"));
    // Registered as client databases, migrated and checked.
    for step in [
        "--contract-schema",
        "--write-mode procedures",
        "tenantql tenant migrate",
        "tenantql tenant check",
    ] {
        assert!(register.contains(step), "{step}");
    }
    assert!(
        !register.contains("--password "),
        "no secret on a command line"
    );
}
