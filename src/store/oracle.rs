//! The Oracle backend, through the `oracle` crate (ODPI-C, which loads the Oracle
//! client library at run time).
//!
//! Every call blocks, so each runs on the blocking pool, never on an async worker.
//! Values are always bound (`:1`, `:2`, …) and the session keeps a statement cache;
//! `MODULE` is `tenantql` and `CLIENT_IDENTIFIER` the request id, so a DBA can tie a
//! session's work to our logs. A missing client library or an unreachable server
//! is `Unavailable` for that tenant only.
use std::{sync::Arc, time::Duration};

use chrono::NaiveDate;
use oracle::{sql_type::OracleType, sql_type::ToSql, ConnStatus, Connector};
use secrecy::{ExposeSecret, SecretString};

use super::{Row, Sql, StoreError, Value};

const STATEMENT_CACHE_SIZE: u32 = 128;
/// Longest a single call may run before the driver cancels it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach one tenant's Oracle database.
pub struct OracleSettings {
    /// Easy Connect (`host:port/service`) or a TNS alias.
    pub connect_string: String,
    pub username: String,
    pub password: SecretString,
}

/// Oracle's listener port when an Easy Connect string names none.
const DEFAULT_PORT: u16 = 1521;

/// An Easy Connect string split as `(host, port, rest)`: `[//]host[:port][/service…]`.
/// TNS aliases and descriptors have no host to forward to.
fn split_easy_connect(connect: &str) -> Result<(&str, u16, &str), StoreError> {
    let not_easy = || {
        StoreError::unavailable(
            "an SSH tunnel needs an Easy Connect string (`host:port/service`)",
            "not an Easy Connect string",
        )
    };
    let text = connect.trim().trim_start_matches("//");
    if text.contains('(') || text.contains('@') {
        return Err(not_easy());
    }
    let (host, after_host) = if let Some(bracketed) = text.strip_prefix('[') {
        let end = bracketed.find(']').ok_or_else(not_easy)?;
        (&bracketed[..end], &bracketed[end + 1..])
    } else {
        let end = text.find([':', '/']).unwrap_or(text.len());
        (&text[..end], &text[end..])
    };
    if host.is_empty() || !after_host.starts_with([':', '/']) && !after_host.is_empty() {
        return Err(not_easy());
    }
    match after_host.strip_prefix(':') {
        Some(port_and_rest) => {
            let end = port_and_rest.find('/').unwrap_or(port_and_rest.len());
            let port = port_and_rest[..end].parse().map_err(|_| not_easy())?;
            Ok((host, port, &port_and_rest[end..]))
        }
        None => Ok((host, DEFAULT_PORT, after_host)),
    }
}

/// The listener an Easy Connect string points at (what a tunnel forwards to).
pub fn endpoint(connect: &str) -> Result<(String, u16), StoreError> {
    split_easy_connect(connect).map(|(host, port, _)| (host.to_string(), port))
}

/// The same Easy Connect string pointed at `addr` (a tunnel's local end).
pub fn with_endpoint(connect: &str, addr: std::net::SocketAddr) -> Result<String, StoreError> {
    let (_, _, rest) = split_easy_connect(connect)?;
    Ok(format!("{}:{}{rest}", addr.ip(), addr.port()))
}

pub struct OracleSession {
    conn: Arc<oracle::Connection>,
}

impl OracleSession {
    pub async fn open(settings: &OracleSettings) -> Result<Self, StoreError> {
        let username = settings.username.clone();
        let password = settings.password.clone();
        let connect_string = settings.connect_string.clone();
        let conn = tokio::task::spawn_blocking(move || {
            let mut connector = Connector::new(username, password.expose_secret(), connect_string);
            connector
                .stmt_cache_size(STATEMENT_CACHE_SIZE)
                .driver_name("tenantql");
            let conn = connector.connect()?;
            conn.set_module("tenantql")?;
            conn.set_call_timeout(Some(CALL_TIMEOUT))?;
            Ok::<_, oracle::Error>(conn)
        })
        .await
        .map_err(|e| StoreError::Query(format!("blocking task failed: {e}")))?
        .map_err(|e| map_error(&e))?;
        Ok(OracleSession {
            conn: Arc::new(conn),
        })
    }

    pub async fn query(&mut self, sql: &Sql, request_id: &str) -> Result<Vec<Row>, StoreError> {
        let conn = self.conn.clone();
        let text = sql.text().to_string();
        let params = sql.params().to_vec();
        let request_id = request_id.to_string();
        tokio::task::spawn_blocking(move || -> Result<Vec<Row>, oracle::Error> {
            // Sent with the next round trip, not on its own.
            conn.set_client_identifier(&request_id)?;
            let owned: Vec<Box<dyn ToSql>> = params.iter().map(to_sql).collect();
            let binds: Vec<&dyn ToSql> = owned.iter().map(|b| b.as_ref()).collect();
            let mut rows = Vec::new();
            for row in conn.query(&text, &binds)? {
                rows.push(convert_row(&row?)?);
            }
            Ok(rows)
        })
        .await
        .map_err(|e| StoreError::Query(format!("blocking task failed: {e}")))?
        .map_err(|e| map_error(&e))
    }

    /// Runs a statement that returns no rows; the caller commits.
    pub async fn execute(&mut self, sql: &Sql) -> Result<u64, StoreError> {
        let conn = self.conn.clone();
        let text = sql.text().to_string();
        let params = sql.params().to_vec();
        tokio::task::spawn_blocking(move || -> Result<u64, oracle::Error> {
            let owned: Vec<Box<dyn ToSql>> = params.iter().map(to_sql).collect();
            let binds: Vec<&dyn ToSql> = owned.iter().map(|b| b.as_ref()).collect();
            conn.execute(&text, &binds)?.row_count()
        })
        .await
        .map_err(|e| StoreError::Query(format!("blocking task failed: {e}")))?
        .map_err(|e| map_error(&e))
    }

    /// Runs a PL/SQL block whose first bind is an OUT number (`:out_id`) and
    /// returns it; the other binds follow in order.
    pub async fn call_returning_id(&mut self, sql: &Sql) -> Result<i64, StoreError> {
        let conn = self.conn.clone();
        let text = sql.text().to_string();
        let params = sql.params().to_vec();
        tokio::task::spawn_blocking(move || -> Result<i64, oracle::Error> {
            let owned: Vec<Box<dyn ToSql>> = params.iter().map(to_sql).collect();
            let out = OracleType::Int64;
            let mut binds: Vec<&dyn ToSql> = vec![&out];
            binds.extend(owned.iter().map(|b| b.as_ref() as &dyn ToSql));
            let mut stmt = conn.statement(&text).build()?;
            stmt.execute(&binds)?;
            stmt.bind_value(1)
        })
        .await
        .map_err(|e| StoreError::Query(format!("blocking task failed: {e}")))?
        .map_err(|e| map_error(&e))
    }

    pub async fn commit(&mut self) -> Result<(), StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || conn.commit())
            .await
            .map_err(|e| StoreError::Query(format!("blocking task failed: {e}")))?
            .map_err(|e| map_error(&e))
    }

    /// A local check (no round trip): is the session still open and usable?
    pub fn is_healthy(&self) -> bool {
        matches!(self.conn.status(), Ok(ConnStatus::Normal))
    }
}

fn to_sql(value: &Value) -> Box<dyn ToSql> {
    match value {
        Value::Null => Box::new(None::<String>),
        Value::Int(v) => Box::new(*v),
        Value::Text(t) => Box::new(t.clone()),
        Value::Date(d) => Box::new(*d),
    }
}

fn convert_row(row: &oracle::Row) -> Result<Row, oracle::Error> {
    let mut values = Vec::with_capacity(row.sql_values().len());
    for value in row.sql_values() {
        if value.is_null()? {
            values.push(Value::Null);
            continue;
        }
        values.push(match value.oracle_type()? {
            OracleType::Number(_, _) | OracleType::Int64 | OracleType::UInt64 => {
                let text: String = value.get()?;
                match text.parse::<i64>() {
                    Ok(v) => Value::Int(v),
                    Err(_) => Value::Text(text),
                }
            }
            OracleType::Date | OracleType::Timestamp(_) => Value::Date(value.get::<NaiveDate>()?),
            _ => Value::Text(value.get()?),
        });
    }
    Ok(Row(values))
}

/// What an Oracle or ODPI-C error means for the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OracleFailure {
    /// The session cannot be had: client library, network, listener, credentials,
    /// database down. Reason is client-safe.
    Unavailable(&'static str),
    /// The call ran past its deadline or was cancelled.
    Timeout,
    /// A contract object is missing, invalid or not granted.
    Contract,
    /// A client procedure refused the write (`RAISE_APPLICATION_ERROR` -20400, -20409).
    Refused(super::Refusal),
    /// A unique key refused the row.
    Duplicate,
    /// The statement itself failed.
    Statement,
}

/// Classifies by ORA-/DPI- number; the text is never shown to clients.
pub fn classify(code: i32, message: &str) -> OracleFailure {
    use OracleFailure::*;
    const NO_CLIENT: &str = "the Oracle client library is not installed on this server";
    const NETWORK: &str = "the tenant's Oracle database cannot be reached";
    const CREDENTIALS: &str = "the tenant's Oracle database refused the configured credentials";
    const DOWN: &str = "the tenant's Oracle database is not open";
    if let Some(dpi) = message.strip_prefix("DPI-").and_then(|m| m.get(..4)) {
        return match dpi {
            // cannot load / locate / use the client library
            "1047" | "1072" | "1050" | "1020" => Unavailable(NO_CLIENT),
            // connection closed or broken
            "1010" | "1080" => Unavailable(NETWORK),
            // call timeout exceeded
            "1067" => Timeout,
            _ => Statement,
        };
    }
    match code {
        // TNS: listener, resolution, timeouts, lost connections
        12154 | 12170 | 12500..=12599 | 3113 | 3114 | 3135 | 12152 | 12153 => Unavailable(NETWORK),
        1017 | 28000 | 28001 | 1005 | 1045 => Unavailable(CREDENTIALS),
        1033 | 1034 | 1089 | 1090 | 1092 | 1109 => Unavailable(DOWN),
        1013 => Timeout,
        // invalid identifier, no such table or view, no such object, PL/SQL
        // compilation error (an undeclared procedure), no privilege, no such sequence
        904 | 942 | 4043 | 6550 | 1031 | 2289 | 4063 => Contract,
        1 => Duplicate,
        20400 => Refused(super::Refusal::BadInput),
        20409 => Refused(super::Refusal::Conflict),
        _ => Statement,
    }
}

/// The text a procedure gave `RAISE_APPLICATION_ERROR`, without the `ORA-2xxxx: ` prefix.
fn application_message(message: &str) -> &str {
    match message.split_once(": ") {
        Some((code, text)) if code.starts_with("ORA-") => text,
        _ => message,
    }
}

fn map_error(err: &oracle::Error) -> StoreError {
    let (code, message) = match err.db_error() {
        Some(db) => (db.code(), db.message().to_string()),
        None => (0, err.to_string()),
    };
    // The full text (hosts, users, schema names) goes to the log only.
    let detail = err.to_string();
    match classify(code, &message) {
        OracleFailure::Unavailable(reason) => StoreError::Unavailable { reason, detail },
        OracleFailure::Timeout => StoreError::Timeout { detail },
        OracleFailure::Contract => StoreError::Contract {
            object: super::error::named_object(application_message(&message)),
            detail,
        },
        OracleFailure::Refused(refusal) => StoreError::Refused {
            refusal,
            message: super::Refusal::message(application_message(&message)),
        },
        OracleFailure::Duplicate => StoreError::Duplicate(detail),
        OracleFailure::Statement => StoreError::Query(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_client_library_is_unavailable() {
        let failure = classify(
            0,
            "DPI-1047: Cannot locate a 64-bit Oracle Client library: \"libclntsh.so: cannot open shared object file\"",
        );
        assert_eq!(
            failure,
            OracleFailure::Unavailable("the Oracle client library is not installed on this server")
        );
    }

    #[test]
    fn network_credentials_and_down_databases() {
        for code in [12541, 12514, 12505, 12170, 3113, 3114, 12154] {
            assert!(
                matches!(classify(code, "ORA-x"), OracleFailure::Unavailable(r) if r.contains("reached")),
                "{code}"
            );
        }
        for code in [1017, 28000, 28001] {
            assert!(
                matches!(classify(code, "ORA-x"), OracleFailure::Unavailable(r) if r.contains("credentials")),
                "{code}"
            );
        }
        for code in [1033, 1034, 1089] {
            assert!(
                matches!(classify(code, "ORA-x"), OracleFailure::Unavailable(r) if r.contains("not open")),
                "{code}"
            );
        }
    }

    #[test]
    fn timeouts_and_statement_errors() {
        assert_eq!(
            classify(1013, "ORA-01013: user requested cancel"),
            OracleFailure::Timeout
        );
        assert_eq!(
            classify(0, "DPI-1067: call timeout of 30000 ms exceeded"),
            OracleFailure::Timeout
        );
        assert_eq!(
            classify(942, "ORA-00942: table or view does not exist"),
            OracleFailure::Contract
        );
        assert_eq!(
            classify(904, "ORA-00904: \"VAT_CENTS\": invalid identifier"),
            OracleFailure::Contract
        );
        assert_eq!(
            super::super::error::named_object(application_message(
                "ORA-00904: \"VAT_CENTS\": invalid identifier"
            )),
            "VAT_CENTS"
        );
        assert_eq!(
            classify(
                1795,
                "ORA-01795: maximum number of expressions in a list is 1000"
            ),
            OracleFailure::Statement
        );
    }

    #[test]
    fn procedure_refusals_follow_the_code_convention() {
        use crate::store::Refusal;
        assert_eq!(
            classify(20400, "ORA-20400: the payment date is in a closed period"),
            OracleFailure::Refused(Refusal::BadInput)
        );
        assert_eq!(
            classify(20409, "ORA-20409: x"),
            OracleFailure::Refused(Refusal::Conflict)
        );
        // Other application errors are the procedure's bugs, not the caller's.
        assert_eq!(classify(20001, "ORA-20001: x"), OracleFailure::Statement);
        assert_eq!(
            Refusal::message(application_message(
                "ORA-20400: the payment date is in a closed period\nORA-06512: at \"ERP.PAY\", line 9"
            )),
            "the payment date is in a closed period"
        );
        assert_eq!(
            classify(1, "ORA-00001: unique constraint"),
            OracleFailure::Duplicate
        );
    }

    #[test]
    fn reasons_never_carry_driver_text() {
        let failure = classify(
            12541,
            "ORA-12541: TNS:no listener at secret-host.internal:1521",
        );
        let OracleFailure::Unavailable(reason) = failure else {
            panic!()
        };
        assert!(!reason.contains("secret-host"));
    }

    #[test]
    fn easy_connect_strings_are_pointed_at_a_tunnel() {
        assert_eq!(
            endpoint("db.internal:1522/ERP").unwrap(),
            ("db.internal".into(), 1522)
        );
        assert_eq!(
            endpoint("//db.internal/ERP").unwrap(),
            ("db.internal".into(), 1521)
        );
        assert_eq!(
            endpoint("[fd00::5]:1521/ERP").unwrap(),
            ("fd00::5".into(), 1521)
        );
        let local: std::net::SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert_eq!(
            with_endpoint("db.internal:1522/ERP:dedicated", local).unwrap(),
            "127.0.0.1:40001/ERP:dedicated"
        );
        assert_eq!(
            with_endpoint("db.internal", local).unwrap(),
            "127.0.0.1:40001"
        );
        for bad in [
            "(DESCRIPTION=(ADDRESS=(HOST=x)(PORT=1521)))",
            "ERPALIAS@x",
            ":1521/ERP",
            "db:port/ERP",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn without_a_client_library_opening_is_unavailable() {
        // This machine has no Oracle client: opening must fail cleanly, not panic.
        let settings = OracleSettings {
            connect_string: "127.0.0.1:1/NOPE".into(),
            username: "nobody".into(),
            password: SecretString::from("x".to_string()),
        };
        match OracleSession::open(&settings).await {
            Err(StoreError::Unavailable { .. }) => {}
            Err(other) => panic!("expected Unavailable, got {other:?}"),
            Ok(_) => panic!("no Oracle server listens on port 1"),
        }
    }
}
