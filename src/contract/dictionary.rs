//! What a tenant database's data dictionary says about the contract's names:
//! Oracle `ALL_OBJECTS`, `ALL_TAB_COLUMNS`, `ALL_ARGUMENTS` and the privilege
//! views, `ALL_SEQUENCES`; PostgreSQL `pg_catalog`; SQLite `pragma_table_xinfo`.
//! Four round trips at most, whatever the contract's size.
use std::collections::HashMap;

use super::{Kind, PROCEDURES, RELATIONS};
use crate::store::{Connection, Dialect, Row, Sql, StoreError, Value};

/// A column as the database declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnEntry {
    /// The declared type, as the dictionary spells it.
    pub declared: String,
    /// The kinds tenantql can read from it.
    pub accepts: &'static [Kind],
    /// No declared type (an SQLite view over an expression): read at run time.
    pub untyped: bool,
    pub nullable: bool,
}

/// What tenantql's account may do with a relation; `None` where the backend
/// has no privileges (an SQLite file is as writable as the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges {
    pub select: bool,
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationEntry {
    /// table, view, materialized view, …
    pub object_type: String,
    pub columns: HashMap<String, ColumnEntry>,
    pub privileges: Option<Privileges>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureEntry {
    pub arguments: usize,
    pub execute: bool,
}

/// The contract's names as one schema of one database has them (keys in lower case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    pub relations: HashMap<String, RelationEntry>,
    pub procedures: HashMap<String, ProcedureEntry>,
    /// The `<table>_id_seq` sequences present (lower case); `None` where the
    /// backend has none (SQLite).
    pub sequences: Option<std::collections::HashSet<String>>,
}

/// The schema name as the database stores an unquoted identifier.
pub fn folded(dialect: Dialect, schema: &str) -> String {
    match dialect {
        Dialect::Oracle => schema.to_ascii_uppercase(),
        Dialect::Postgres | Dialect::Sqlite => schema.to_ascii_lowercase(),
    }
}

fn relation_names(dialect: Dialect) -> Vec<Value> {
    RELATIONS
        .iter()
        .map(|r| Value::from(folded(dialect, r.name)))
        .collect()
}

fn procedure_names(dialect: Dialect) -> Vec<Value> {
    PROCEDURES
        .iter()
        .map(|p| Value::from(folded(dialect, p.name)))
        .collect()
}

/// `owner = :1` for the contract schema, or the session's own schema.
fn push_schema(sql: &mut Sql, column: &str, schema: Option<&str>) {
    let dialect = sql.dialect();
    sql.push(column).push(" = ");
    match schema {
        Some(schema) => {
            sql.bind(folded(dialect, schema));
        }
        None => {
            sql.push(match dialect {
                Dialect::Oracle => "SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')",
                Dialect::Postgres | Dialect::Sqlite => "current_schema()",
            });
        }
    }
}

/// The relations and their columns (and, on PostgreSQL, the privileges).
pub fn relations_sql(dialect: Dialect, schema: Option<&str>) -> Sql {
    let mut sql = Sql::new(dialect);
    match dialect {
        Dialect::Sqlite => {
            sql.push(
                "SELECT m.name, m.type, p.name, p.type, p.\"notnull\" FROM sqlite_master m \
                 JOIN pragma_table_xinfo(m.name) p WHERE m.type IN ('table', 'view') AND ",
            )
            .in_list("m.name", relation_names(dialect))
            .push(" ORDER BY m.name, p.cid");
        }
        Dialect::Postgres => {
            sql.push(
                "SELECT c.relname, CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' \
                 WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END, \
                 a.attname, format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN 1 ELSE 0 END, \
                 CASE WHEN has_table_privilege(c.oid, 'SELECT') THEN 1 ELSE 0 END, \
                 CASE WHEN has_table_privilege(c.oid, 'INSERT') THEN 1 ELSE 0 END, \
                 CASE WHEN has_table_privilege(c.oid, 'UPDATE') THEN 1 ELSE 0 END, \
                 CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 1 ELSE 0 END \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ",
            );
            push_schema(&mut sql, "n.nspname", schema);
            sql.push(" AND ")
                .in_list("c.relname", relation_names(dialect))
                .push(" ORDER BY c.relname, a.attnum");
        }
        Dialect::Oracle => {
            sql.push(
                "SELECT o.object_name, LOWER(o.object_type), c.column_name, c.data_type, c.data_scale, \
                 CASE c.nullable WHEN 'N' THEN 1 ELSE 0 END \
                 FROM all_objects o JOIN all_tab_columns c ON c.owner = o.owner AND c.table_name = o.object_name \
                 WHERE o.object_type IN ('TABLE', 'VIEW', 'MATERIALIZED VIEW') AND ",
            );
            push_schema(&mut sql, "o.owner", schema);
            sql.push(" AND ")
                .in_list("o.object_name", relation_names(dialect))
                .push(" ORDER BY o.object_name, c.column_id");
        }
    }
    sql
}

/// Oracle: the object privileges tenantql's account holds in the schema,
/// directly, through PUBLIC or through a role; `OWNER` when the schema is its own.
pub fn oracle_privileges_sql(schema: Option<&str>) -> Sql {
    let mut sql = Sql::new(Dialect::Oracle);
    sql.push("SELECT table_name, privilege FROM all_tab_privs WHERE ");
    push_schema(&mut sql, "table_schema", schema);
    sql.push(" AND grantee IN (USER, 'PUBLIC') UNION SELECT table_name, privilege FROM role_tab_privs WHERE ");
    push_schema(&mut sql, "owner", schema);
    sql.push(" UNION SELECT object_name, 'OWNER' FROM user_objects WHERE ");
    push_schema(&mut sql, "SYS_CONTEXT('USERENV', 'SESSION_USER')", schema);
    sql
}

/// The contract's procedures in the schema: argument count and EXECUTE.
pub fn procedures_sql(dialect: Dialect, schema: Option<&str>) -> Option<Sql> {
    let mut sql = Sql::new(dialect);
    match dialect {
        Dialect::Sqlite => return None,
        Dialect::Postgres => {
            sql.push(
                "SELECT p.proname, p.pronargs, CASE WHEN has_function_privilege(p.oid, 'EXECUTE') THEN 1 ELSE 0 END \
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE ",
            );
            push_schema(&mut sql, "n.nspname", schema);
            sql.push(" AND ")
                .in_list("p.proname", procedure_names(dialect));
        }
        Dialect::Oracle => {
            sql.push(
                "SELECT object_name, COUNT(argument_name), 0 FROM all_arguments \
                 WHERE package_name IS NULL AND ",
            );
            push_schema(&mut sql, "owner", schema);
            sql.push(" AND ")
                .in_list("object_name", procedure_names(dialect))
                .push(" GROUP BY object_name");
        }
    }
    Some(sql)
}

/// The id sequences `tables` write mode takes ids from, in the schema.
pub fn sequences_sql(dialect: Dialect, schema: Option<&str>) -> Option<Sql> {
    let names: Vec<Value> = RELATIONS
        .iter()
        .filter(|r| r.written)
        .map(|r| Value::from(folded(dialect, &super::sequence_of(r.name))))
        .collect();
    let mut sql = Sql::new(dialect);
    match dialect {
        Dialect::Sqlite => return None,
        Dialect::Postgres => {
            sql.push(
                "SELECT c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND ",
            );
            push_schema(&mut sql, "n.nspname", schema);
        }
        Dialect::Oracle => {
            sql.push("SELECT sequence_name FROM all_sequences WHERE ");
            push_schema(&mut sql, "sequence_owner", schema);
        }
    }
    let column = match dialect {
        Dialect::Oracle => "sequence_name",
        _ => "c.relname",
    };
    sql.push(" AND ").in_list(column, names);
    Some(sql)
}

const INTEGER: &[Kind] = &[Kind::Integer];
const TEXT: &[Kind] = &[Kind::Text];
const DATE: &[Kind] = &[Kind::Date];
const TEXT_OR_DATE: &[Kind] = &[Kind::Text, Kind::Date];
const ANY: &[Kind] = &[Kind::Integer, Kind::Text, Kind::Date];

/// What tenantql can read from a PostgreSQL type (`format_type`'s spelling).
pub fn postgres_accepts(declared: &str) -> &'static [Kind] {
    let t = declared.to_ascii_lowercase();
    match t.as_str() {
        "bigint" | "integer" | "smallint" | "numeric" => INTEGER,
        "text" | "name" | "bpchar" | "varchar" => TEXT,
        "date" => DATE,
        _ if t.starts_with("numeric(") && t.ends_with(",0)") => INTEGER,
        _ if t.starts_with("character") => TEXT,
        _ => &[],
    }
}

/// What tenantql can read from an Oracle type.
pub fn oracle_accepts(data_type: &str, scale: Option<i64>) -> &'static [Kind] {
    match data_type {
        "NUMBER" if matches!(scale, None | Some(0)) => INTEGER,
        "INTEGER" => INTEGER,
        "VARCHAR2" | "NVARCHAR2" | "CHAR" | "NCHAR" | "CLOB" | "NCLOB" => TEXT,
        "DATE" => DATE,
        t if t.starts_with("TIMESTAMP") => DATE,
        _ => &[],
    }
}

/// What tenantql can read from an SQLite declared type (by its affinity);
/// dates are `YYYY-MM-DD` text there.
pub fn sqlite_accepts(declared: &str) -> &'static [Kind] {
    let t = declared.to_ascii_uppercase();
    if t.is_empty() {
        ANY
    } else if t.contains("INT") {
        INTEGER
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        TEXT_OR_DATE
    } else if t.contains("DATE") || t.contains("TIME") {
        DATE
    } else if t.contains("NUMERIC") || t.contains("DECIMAL") {
        INTEGER
    } else {
        &[]
    }
}

fn flag(row: &Row, index: usize) -> Result<bool, StoreError> {
    Ok(row.int_or_zero(index)? != 0)
}

/// Reads the dictionary for the contract schema (`None`: the session's own).
pub async fn read(conn: &mut Connection, schema: Option<&str>) -> Result<Dictionary, StoreError> {
    let dialect = conn.dialect();
    let mut dictionary = Dictionary::default();
    for row in conn
        .query(&relations_sql(dialect, schema), "contract-check")
        .await?
    {
        let relation = row.text(0)?.to_ascii_lowercase();
        let object_type = row.text(1)?.to_ascii_lowercase();
        let column = row.text(2)?.to_ascii_lowercase();
        let declared = row.opt_text(3)?.unwrap_or_default();
        let (accepts, not_null, privileges) = match dialect {
            Dialect::Sqlite => (sqlite_accepts(&declared), flag(&row, 4)?, None),
            Dialect::Postgres => (
                postgres_accepts(&declared),
                flag(&row, 4)?,
                Some(Privileges {
                    select: flag(&row, 5)?,
                    insert: flag(&row, 6)?,
                    update: flag(&row, 7)?,
                    delete: flag(&row, 8)?,
                }),
            ),
            Dialect::Oracle => {
                let scale = match row.0.get(4) {
                    Some(Value::Int(s)) => Some(*s),
                    _ => None,
                };
                (
                    oracle_accepts(&declared, scale),
                    flag(&row, 5)?,
                    Some(Privileges::default()),
                )
            }
        };
        let entry = dictionary
            .relations
            .entry(relation)
            .or_insert_with(|| RelationEntry {
                object_type,
                columns: HashMap::new(),
                privileges,
            });
        entry.columns.insert(
            column,
            ColumnEntry {
                untyped: declared.is_empty(),
                declared,
                accepts,
                nullable: !not_null,
            },
        );
    }
    let mut execute = HashMap::new();
    if dialect == Dialect::Oracle {
        let mut owner = Vec::new();
        for row in conn
            .query(&oracle_privileges_sql(schema), "contract-check")
            .await?
        {
            let object = row.text(0)?.to_ascii_lowercase();
            let privilege = row.text(1)?;
            if privilege == "OWNER" {
                owner.push(object.clone());
            }
            if privilege == "EXECUTE" || privilege == "OWNER" {
                execute.insert(object.clone(), true);
            }
            if let Some(relation) = dictionary.relations.get_mut(&object) {
                let p = relation.privileges.get_or_insert_with(Privileges::default);
                let all = privilege == "OWNER";
                p.select |= all || privilege == "SELECT" || privilege == "READ";
                p.insert |= all || privilege == "INSERT";
                p.update |= all || privilege == "UPDATE";
                p.delete |= all || privilege == "DELETE";
            }
        }
    }
    if let Some(sql) = sequences_sql(dialect, schema) {
        let mut found = std::collections::HashSet::new();
        for row in conn.query(&sql, "contract-check").await? {
            found.insert(row.text(0)?.to_ascii_lowercase());
        }
        dictionary.sequences = Some(found);
    }
    if let Some(sql) = procedures_sql(dialect, schema) {
        for row in conn.query(&sql, "contract-check").await? {
            let name = row.text(0)?.to_ascii_lowercase();
            let granted = match dialect {
                Dialect::Oracle => execute.get(&name).copied().unwrap_or(false),
                _ => flag(&row, 2)?,
            };
            dictionary.procedures.insert(
                name,
                ProcedureEntry {
                    arguments: row.int_or_zero(1)?.max(0) as usize,
                    execute: granted,
                },
            );
        }
    }
    Ok(dictionary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_dictionary_queries() {
        let sql = relations_sql(Dialect::Oracle, Some("erp_contract"));
        assert!(sql.text().starts_with(
            "SELECT o.object_name, LOWER(o.object_type), c.column_name, c.data_type, c.data_scale"
        ));
        assert!(sql
            .text()
            .contains("FROM all_objects o JOIN all_tab_columns c"));
        assert!(sql
            .text()
            .contains("AND o.owner = :1 AND o.object_name IN (:2, :3, :4, :5, :6, :7)"));
        assert_eq!(sql.params()[0], Value::from("ERP_CONTRACT"));
        assert_eq!(sql.params()[3], Value::from("INVOICES"));
        let own = relations_sql(Dialect::Oracle, None);
        assert!(own
            .text()
            .contains("o.owner = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')"));
        let privileges = oracle_privileges_sql(Some("erp_contract"));
        assert_eq!(
            privileges.text(),
            "SELECT table_name, privilege FROM all_tab_privs WHERE table_schema = :1 AND grantee IN (USER, 'PUBLIC') \
             UNION SELECT table_name, privilege FROM role_tab_privs WHERE owner = :2 \
             UNION SELECT object_name, 'OWNER' FROM user_objects WHERE SYS_CONTEXT('USERENV', 'SESSION_USER') = :3"
        );
        let procedures = procedures_sql(Dialect::Oracle, Some("erp_contract")).unwrap();
        assert_eq!(
            procedures.text(),
            "SELECT object_name, COUNT(argument_name), 0 FROM all_arguments WHERE package_name IS NULL \
             AND owner = :1 AND object_name IN (:2, :3) GROUP BY object_name"
        );
        assert_eq!(
            procedures.params()[1],
            Value::from("TENANTQL_RECORD_PAYMENT")
        );
    }

    #[test]
    fn sequence_queries() {
        let oracle = sequences_sql(Dialect::Oracle, Some("erp")).unwrap();
        assert_eq!(
            oracle.text(),
            "SELECT sequence_name FROM all_sequences WHERE sequence_owner = :1 AND sequence_name IN (:2, :3, :4)"
        );
        assert_eq!(oracle.params()[1], Value::from("INVOICES_ID_SEQ"));
        let postgres = sequences_sql(Dialect::Postgres, None).unwrap();
        assert!(postgres
            .text()
            .ends_with("n.nspname = current_schema() AND c.relname IN ($1, $2, $3)"));
        assert!(sequences_sql(Dialect::Sqlite, None).is_none());
    }

    #[test]
    fn postgres_and_sqlite_dictionary_queries() {
        let pg = relations_sql(Dialect::Postgres, Some("ERP_Contract"));
        assert!(pg.text().contains("n.nspname = $1 AND c.relname IN ($2, "));
        assert_eq!(pg.params()[0], Value::from("erp_contract"));
        assert!(relations_sql(Dialect::Postgres, None)
            .text()
            .contains("n.nspname = current_schema()"));
        assert!(procedures_sql(Dialect::Sqlite, None).is_none());
        assert!(relations_sql(Dialect::Sqlite, None)
            .text()
            .contains("JOIN pragma_table_xinfo(m.name) p"));
    }

    #[test]
    fn declared_types_map_to_what_tenantql_reads() {
        assert_eq!(postgres_accepts("bigint"), INTEGER);
        assert_eq!(postgres_accepts("numeric(15,0)"), INTEGER);
        assert_eq!(postgres_accepts("numeric(15,2)"), &[] as &[Kind]);
        assert_eq!(postgres_accepts("character varying(40)"), TEXT);
        assert_eq!(postgres_accepts("bpchar"), TEXT, "COALESCE over CHAR(n)");
        assert_eq!(
            postgres_accepts("timestamp without time zone"),
            &[] as &[Kind]
        );
        assert_eq!(oracle_accepts("NUMBER", Some(0)), INTEGER);
        assert_eq!(oracle_accepts("NUMBER", Some(2)), &[] as &[Kind]);
        assert_eq!(oracle_accepts("TIMESTAMP(6)", None), DATE);
        assert_eq!(oracle_accepts("VARCHAR2", None), TEXT);
        assert_eq!(sqlite_accepts("INTEGER"), INTEGER);
        assert_eq!(sqlite_accepts("TEXT"), TEXT_OR_DATE);
        assert_eq!(sqlite_accepts(""), ANY);
        assert_eq!(sqlite_accepts("BLOB"), &[] as &[Kind]);
    }
}
