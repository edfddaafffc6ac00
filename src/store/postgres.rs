//! The PostgreSQL backend, through sqlx.
//!
//! sqlx rather than tokio-postgres: the control plane already links sqlx's
//! PostgreSQL driver (through sea-orm), so tenants on PostgreSQL add no second
//! driver, no second TLS stack and no second set of type conversions to keep in
//! step; and its per-connection statement cache makes each of our statements one
//! round trip (Parse/Bind/Execute pipelined, then only Bind/Execute).
//!
//! Values are bound as `$1`, `$2`, …; a NULL is bound with PostgreSQL's `unknown`
//! type so the server infers the column's type, as it does for a literal NULL.
//! The connection string's password, if any, is refused: the password lives
//! sealed in the tenant row.
use std::{str::FromStr, time::Duration};

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    encode::IsNull,
    error::BoxDynError,
    postgres::{
        PgArgumentBuffer, PgConnectOptions, PgConnection, PgRow, PgTypeInfo, PgValueFormat,
        PgValueRef,
    },
    ConnectOptions, Postgres, Row as _, TypeInfo, ValueRef,
};

use super::{Row, Sql, StoreError, Value};

/// Longest one statement may run before the server cancels it.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach one tenant's PostgreSQL database.
pub struct PostgresSettings {
    /// `host[:port]/database` or a `postgres://host:port/database?sslmode=…` URL
    /// (without a password).
    pub connect_string: String,
    pub username: String,
    pub password: Option<SecretString>,
}

/// Where a connect string points: what an SSH tunnel must forward to.
pub fn endpoint(connect_string: &str) -> Result<(String, u16), StoreError> {
    let options = parse(connect_string)?;
    Ok((options.get_host().to_string(), options.get_port()))
}

/// The connect string understood, before credentials are added. Kept free of
/// driver text in its reasons: connect strings are operator input.
pub fn parse(connect_string: &str) -> Result<PgConnectOptions, StoreError> {
    let url = if connect_string.contains("://") {
        connect_string.to_string()
    } else {
        format!("postgres://{connect_string}")
    };
    let options = PgConnectOptions::from_str(&url).map_err(|e| {
        StoreError::unavailable(
            "the PostgreSQL connect string is not `host[:port]/database` or a postgres:// URL",
            e,
        )
    })?;
    if url_has_password(&url) {
        return Err(StoreError::unavailable(
            "the PostgreSQL connect string must not carry a password (it is stored sealed)",
            "password in connect string",
        ));
    }
    if options.get_database().is_none_or(str::is_empty) {
        return Err(StoreError::unavailable(
            "the PostgreSQL connect string names no database",
            "no database",
        ));
    }
    Ok(options)
}

/// A password in the user info (`user:secret@host`) or as a query parameter
/// (`?password=secret`, which sqlx reads too).
fn url_has_password(url: &str) -> bool {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("");
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let in_query = url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            percent_decoded(key).eq_ignore_ascii_case("password")
        })
    });
    in_userinfo || in_query
}

/// `%XX` escapes decoded (a key spelled `pa%73sword` is still `password`).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct PostgresSession {
    conn: PgConnection,
    /// Set when the link failed: the pool drops the session instead of reusing it.
    broken: bool,
}

impl PostgresSession {
    /// Opens a session; `via` replaces the connect string's host and port (the
    /// local end of an SSH tunnel).
    pub async fn open(
        settings: &PostgresSettings,
        via: Option<std::net::SocketAddr>,
    ) -> Result<Self, StoreError> {
        let mut options = parse(&settings.connect_string)?
            .application_name("tenantql")
            .options([(
                "statement_timeout",
                format!("{}", STATEMENT_TIMEOUT.as_millis()),
            )])
            .statement_cache_capacity(256)
            .disable_statement_logging();
        if !settings.username.is_empty() {
            options = options.username(&settings.username);
        }
        if let Some(password) = &settings.password {
            options = options.password(password.expose_secret());
        }
        if let Some(addr) = via {
            options = options.host(&addr.ip().to_string()).port(addr.port());
        }
        let conn = options.connect().await.map_err(map_error)?;
        Ok(PostgresSession {
            conn,
            broken: false,
        })
    }

    // The futures are boxed as `Send` here, where their lifetimes are concrete:
    // sqlx's PostgreSQL executor otherwise fails the "Send for every lifetime"
    // check of the GraphQL resolvers that await them.

    pub fn query<'a>(&'a mut self, sql: &'a Sql) -> BoxFuture<'a, Result<Vec<Row>, StoreError>> {
        Box::pin(async move {
            let rows = bind_all(sql)
                .fetch_all(&mut self.conn)
                .await
                .map_err(|e| self.failed(e))?;
            rows.iter().map(convert_row).collect()
        })
    }

    pub fn execute<'a>(&'a mut self, sql: &'a Sql) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let done = bind_all(sql)
                .execute(&mut self.conn)
                .await
                .map_err(|e| self.failed(e))?;
            Ok(done.rows_affected())
        })
    }

    /// Runs several statements in one go (schema scripts; no bind values).
    pub fn execute_script<'a>(
        &'a mut self,
        script: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let run = sqlx::Executor::execute(&mut self.conn, sqlx::raw_sql(script));
            run.await.map_err(|e| self.failed(e))?;
            Ok(())
        })
    }

    pub fn commit(&mut self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.execute_script("COMMIT")
    }

    /// A local check: a session whose link failed is not reused.
    pub fn is_healthy(&self) -> bool {
        !self.broken
    }

    fn failed(&mut self, err: sqlx::Error) -> StoreError {
        let mapped = map_error(err);
        if matches!(mapped, StoreError::Unavailable { .. }) {
            self.broken = true;
        }
        mapped
    }
}

/// NULL of no particular type: PostgreSQL infers it from where it is used.
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        // OID 705 is `unknown`, what an untyped literal has.
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(705))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn bind_all(sql: &Sql) -> PgQuery<'_> {
    sql.params()
        .iter()
        .fold(sqlx::query(sql.text()), |query, param| match param {
            Value::Null => query.bind(UntypedNull),
            Value::Int(v) => query.bind(*v),
            Value::Text(t) => query.bind(t.as_str()),
            Value::Date(d) => query.bind(*d),
        })
}

/// Sorts a driver error by what it means for the tenant. The SQLSTATE classes
/// follow PostgreSQL's appendix A.
pub fn map_error(err: sqlx::Error) -> StoreError {
    let detail = err.to_string();
    match &err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            StoreError::Unavailable {
                reason: "the tenant's PostgreSQL server cannot be reached",
                detail,
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Timeout { detail },
        sqlx::Error::Database(db) => match db.code().as_deref().map(classify) {
            Some(PgFailure::Unavailable(reason)) => StoreError::Unavailable { reason, detail },
            Some(PgFailure::Timeout) => StoreError::Timeout { detail },
            Some(PgFailure::Contract) => StoreError::Contract {
                object: super::error::named_object(db.message()),
                detail,
            },
            Some(PgFailure::Refused(refusal)) => StoreError::Refused {
                refusal,
                message: super::Refusal::message(db.message()),
            },
            Some(PgFailure::Duplicate) => StoreError::Duplicate(detail),
            _ => StoreError::Query(detail),
        },
        _ => StoreError::Query(detail),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum PgFailure {
    Unavailable(&'static str),
    Timeout,
    /// A contract object is missing or not granted.
    Contract,
    /// A client procedure refused the write (SQLSTATE `TQ400`, `TQ409`).
    Refused(super::Refusal),
    Duplicate,
    Statement,
}

fn classify(sqlstate: &str) -> PgFailure {
    match sqlstate {
        // 28000 invalid authorization, 28P01 invalid password.
        s if s.starts_with("28") => {
            PgFailure::Unavailable("the tenant's database refused tenantql's credentials")
        }
        // 3D000 invalid catalog name: the database does not exist.
        "3D000" => PgFailure::Unavailable("the tenant's database does not exist"),
        // 57P01..57P03 admin shutdown, crash shutdown, cannot connect now; 53300 too many connections.
        "57P01" | "57P02" | "57P03" | "53300" => {
            PgFailure::Unavailable("the tenant's database is not accepting sessions")
        }
        // 08xxx connection exceptions.
        s if s.starts_with("08") => {
            PgFailure::Unavailable("the tenant's PostgreSQL server cannot be reached")
        }
        // 57014 query canceled (statement_timeout).
        "57014" => PgFailure::Timeout,
        // 42703 undefined column, 42P01 undefined table, 42883 undefined function,
        // 3F000 invalid schema name, 42501 insufficient privilege.
        "42703" | "42P01" | "42883" | "3F000" | "42501" => PgFailure::Contract,
        "23505" => PgFailure::Duplicate,
        "TQ400" => PgFailure::Refused(super::Refusal::BadInput),
        "TQ409" => PgFailure::Refused(super::Refusal::Conflict),
        _ => PgFailure::Statement,
    }
}

fn convert_row(row: &PgRow) -> Result<Row, StoreError> {
    let mapping = |e: sqlx::Error| StoreError::Mapping(e.to_string());
    let mut values = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i).map_err(mapping)?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let value = match raw.type_info().name() {
            "INT8" => Value::Int(row.try_get::<i64, _>(i).map_err(mapping)?),
            "INT4" => Value::Int(row.try_get::<i32, _>(i).map_err(mapping)?.into()),
            "INT2" => Value::Int(row.try_get::<i16, _>(i).map_err(mapping)?.into()),
            "BOOL" => Value::Int(row.try_get::<bool, _>(i).map_err(mapping)?.into()),
            "DATE" => Value::Date(row.try_get(i).map_err(mapping)?),
            "NUMERIC" => numeric(raw)?,
            "FLOAT4" | "FLOAT8" => {
                Value::Text(row.try_get::<f64, _>(i).map_err(mapping)?.to_string())
            }
            "TIMESTAMPTZ" => Value::Text(
                row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)
                    .map_err(mapping)?
                    .to_rfc3339(),
            ),
            "TIMESTAMP" => Value::Text(
                row.try_get::<chrono::NaiveDateTime, _>(i)
                    .map_err(mapping)?
                    .to_string(),
            ),
            _ => Value::Text(row.try_get::<String, _>(i).map_err(mapping)?),
        };
        values.push(value);
    }
    Ok(Row(values))
}

/// A NUMERIC (what `SUM` of a BIGINT column gives) as an integer when it has no
/// fraction, else as its decimal text. sqlx decodes NUMERIC only through the
/// decimal crates; the binary format is small enough to read here.
fn numeric(raw: PgValueRef<'_>) -> Result<Value, StoreError> {
    if raw.format() != PgValueFormat::Binary {
        let text = raw
            .as_str()
            .map_err(|e| StoreError::Mapping(e.to_string()))?;
        return Ok(text
            .parse::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::Text(text.to_string())));
    }
    let bytes = raw
        .as_bytes()
        .map_err(|e| StoreError::Mapping(e.to_string()))?;
    decode_numeric(bytes)
}

fn decode_numeric(bytes: &[u8]) -> Result<Value, StoreError> {
    let word = |i: usize| -> Result<i16, StoreError> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| StoreError::Mapping("short NUMERIC value".into()))
    };
    let digits = word(0)?.max(0) as usize;
    let weight = word(1)? as i32;
    let sign = word(2)? as u16;
    let scale = word(3)?.max(0) as usize;
    if sign == 0xC000 {
        return Ok(Value::Text("NaN".into()));
    }
    // Base-10000 digits, the first worth 10000^weight; zero groups at either
    // end are not stored.
    let mut integer: i128 = 0;
    let mut fraction = String::new();
    for position in 0..digits {
        let digit = i128::from(word(4 + position)?);
        let power = weight - position as i32;
        if power >= 0 {
            integer = 10_000i128
                .checked_pow(power as u32)
                .and_then(|unit| unit.checked_mul(digit))
                .and_then(|v| integer.checked_add(v))
                .ok_or_else(|| StoreError::Mapping("NUMERIC value too large".into()))?;
        } else {
            let starts_at = ((-power - 1) * 4) as usize;
            while fraction.len() < starts_at {
                fraction.push('0');
            }
            fraction.push_str(&format!("{digit:04}"));
        }
    }
    fraction.truncate(scale);
    let negative = sign == 0x4000;
    if fraction.bytes().all(|b| b == b'0') {
        let value = if negative { -integer } else { integer };
        return Ok(i64::try_from(value)
            .map(Value::Int)
            .unwrap_or_else(|_| Value::Text(value.to_string())));
    }
    while fraction.len() < scale {
        fraction.push('0');
    }
    Ok(Value::Text(format!(
        "{}{integer}.{fraction}",
        if negative { "-" } else { "" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, scale: i16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [digits.len() as i16, weight, sign as i16, scale] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode() {
        // 123456789 = 1|2345|6789, weight 2.
        assert_eq!(
            decode_numeric(&numeric_bytes(2, 0, 0, &[1, 2345, 6789])).unwrap(),
            Value::Int(123_456_789)
        );
        // 50000 = 5|0000 stored as [5], weight 1 (trailing zero group dropped).
        assert_eq!(
            decode_numeric(&numeric_bytes(1, 0, 0, &[5])).unwrap(),
            Value::Int(50_000)
        );
        // 100000000 = 1|0000|0000 stored as [1], weight 2.
        assert_eq!(
            decode_numeric(&numeric_bytes(2, 0, 0, &[1])).unwrap(),
            Value::Int(100_000_000)
        );
        // -42.
        assert_eq!(
            decode_numeric(&numeric_bytes(0, 0x4000, 0, &[42])).unwrap(),
            Value::Int(-42)
        );
        // 0: no digits.
        assert_eq!(
            decode_numeric(&numeric_bytes(0, 0, 0, &[])).unwrap(),
            Value::Int(0)
        );
        // 12.5 = 12 . 5000, scale 1.
        assert_eq!(
            decode_numeric(&numeric_bytes(0, 0, 1, &[12, 5000])).unwrap(),
            Value::Text("12.5".into())
        );
        // 0.0001 = weight -1, [1], scale 4.
        assert_eq!(
            decode_numeric(&numeric_bytes(-1, 0, 4, &[1])).unwrap(),
            Value::Text("0.0001".into())
        );
        // 0.00000001 = weight -2, [1], scale 8.
        assert_eq!(
            decode_numeric(&numeric_bytes(-2, 0, 8, &[1])).unwrap(),
            Value::Text("0.00000001".into())
        );
        assert!(decode_numeric(&[0, 1]).is_err());
    }

    #[test]
    fn connect_strings() {
        assert_eq!(
            endpoint("db.internal:6543/erp").unwrap(),
            ("db.internal".to_string(), 6543)
        );
        assert_eq!(
            endpoint("postgres://db.internal/erp?sslmode=require").unwrap(),
            ("db.internal".to_string(), 5432)
        );
        for bad in [
            "postgres://u:secret@db/erp",
            "db.internal:5432",
            "u:secret@db/erp",
            "postgres://u@db/erp?password=secret",
            "postgres://u@db/erp?sslmode=require&PASSWORD=secret",
            "db/erp?pa%73sword=secret",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
            assert!(matches!(err, StoreError::Unavailable { .. }), "{bad}");
        }
    }

    #[test]
    fn sqlstates_sort_by_meaning() {
        assert!(
            matches!(classify("28P01"), PgFailure::Unavailable(r) if r.contains("credentials"))
        );
        assert!(matches!(classify("3D000"), PgFailure::Unavailable(_)));
        assert!(matches!(classify("57P03"), PgFailure::Unavailable(_)));
        assert!(matches!(classify("08006"), PgFailure::Unavailable(_)));
        assert_eq!(classify("57014"), PgFailure::Timeout);
        // A missing relation, column or function, or a missing grant: the contract.
        for sqlstate in ["42P01", "42703", "42883", "3F000", "42501"] {
            assert_eq!(classify(sqlstate), PgFailure::Contract, "{sqlstate}");
        }
        assert_eq!(classify("23505"), PgFailure::Duplicate);
        assert_eq!(
            classify("TQ400"),
            PgFailure::Refused(crate::store::Refusal::BadInput)
        );
        assert_eq!(
            classify("TQ409"),
            PgFailure::Refused(crate::store::Refusal::Conflict)
        );
        assert_eq!(classify("P0001"), PgFailure::Statement);
        assert_eq!(classify("22012"), PgFailure::Statement);
    }
}
