//! A tenant database held against the contract: per relation and column,
//! present, of a type tenantql can read, nullable only where allowed; per
//! procedure (in `procedures` write mode), present with its arguments and
//! executable; and the privileges tenantql's account holds, with a warning
//! where it holds more than its write mode needs.
use super::{
    calls_procedures,
    dictionary::{self, Dictionary},
    migrations, writes_relation, Kind, PROCEDURES, RELATIONS,
};
use crate::{
    control::entities::tenant::WriteMode,
    store::{Connection, StoreError},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing wrong (or worth knowing) about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The column or privilege concerned, if not the object as a whole.
    pub subject: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    /// The contract's name for it.
    pub name: &'static str,
    /// `relation` or `procedure`.
    pub kind: &'static str,
    /// What the database has under that name (table, view, function), if anything.
    pub found_as: Option<String>,
    pub findings: Vec<Finding>,
}

impl ObjectReport {
    pub fn ok(&self) -> bool {
        self.findings.iter().all(|f| f.severity < Severity::Error)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub contract_version: &'static str,
    /// The schema looked in; None: the account's own.
    pub schema: Option<String>,
    pub write_mode: WriteMode,
    pub objects: Vec<ObjectReport>,
    /// tenantql's own objects in the database: the version they are at, and the target.
    pub own_version: u32,
    pub target_version: u32,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.objects
            .iter()
            .flat_map(|o| &o.findings)
            .filter(|f| f.severity == severity)
            .count()
    }

    pub fn ok(&self) -> bool {
        self.errors() == 0
    }

    /// The first broken object and what is wrong with it, in one line.
    pub fn first_error(&self) -> Option<String> {
        self.objects.iter().find_map(|o| {
            let f = o.findings.iter().find(|f| f.severity == Severity::Error)?;
            Some(match &f.subject {
                Some(subject) => format!("{}.{subject}: {}", o.name, f.message),
                None => format!("{}: {}", o.name, f.message),
            })
        })
    }
}

fn error(subject: Option<&str>, message: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Error,
        subject: subject.map(str::to_string),
        message: message.into(),
    }
}

fn warning(subject: Option<&str>, message: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Warning,
        subject: subject.map(str::to_string),
        message: message.into(),
    }
}

/// Holds the dictionary against the contract for a tenant in `mode`.
pub fn evaluate(dictionary: &Dictionary, mode: WriteMode) -> Vec<ObjectReport> {
    let mut objects = Vec::new();
    for relation in RELATIONS {
        let mut findings = Vec::new();
        let entry = dictionary.relations.get(relation.name);
        let Some(entry) = entry else {
            objects.push(ObjectReport {
                name: relation.name,
                kind: "relation",
                found_as: None,
                findings: vec![error(None, "missing: no table or view of this name")],
            });
            continue;
        };
        let is_view = entry.object_type != "table";
        for column in relation.columns {
            if column.tables_only && mode != WriteMode::Tables {
                continue;
            }
            let Some(found) = entry.columns.get(column.name) else {
                findings.push(error(Some(column.name), "missing"));
                continue;
            };
            if !found.accepts.contains(&column.kind) {
                findings.push(error(
                    Some(column.name),
                    format!(
                        "declared {}, which tenantql cannot read as {}{}",
                        found.declared,
                        column.kind.as_str(),
                        hint(column.kind)
                    ),
                ));
            } else if found.untyped {
                findings.push(warning(
                    Some(column.name),
                    "no declared type: its values are checked as they are read",
                ));
            }
            // A view's columns never promise NOT NULL in the dictionary.
            if !column.nullable && found.nullable && !is_view {
                findings.push(warning(
                    Some(column.name),
                    "allows NULL; a NULL here fails the request that reads it",
                ));
            }
        }
        if let Some(privileges) = entry.privileges {
            let writes = writes_relation(mode, relation);
            if !privileges.select {
                findings.push(error(Some("SELECT"), "tenantql's account may not read it"));
            }
            let held: Vec<&str> = [
                ("INSERT", privileges.insert),
                ("UPDATE", privileges.update),
                ("DELETE", privileges.delete),
            ]
            .into_iter()
            .filter_map(|(name, held)| held.then_some(name))
            .collect();
            if writes {
                for needed in ["INSERT", "UPDATE"] {
                    if !held.contains(&needed) {
                        findings.push(error(
                            Some(needed),
                            "needed by the tables write mode and not granted",
                        ));
                    }
                }
            } else if !held.is_empty() {
                findings.push(warning(
                    Some(&held.join(", ")),
                    format!(
                        "granted, but the {} write mode only reads this {}",
                        mode.as_str(),
                        entry.object_type
                    ),
                ));
            }
        }
        if let (true, Some(sequences)) = (writes_relation(mode, relation), &dictionary.sequences) {
            let sequence = super::sequence_of(relation.name);
            if !sequences.contains(&sequence) {
                findings.push(error(
                    Some(&sequence),
                    "the sequence the tables write mode takes ids from is missing (`tenantql tenant migrate` creates it for tenantql's own tables)",
                ));
            }
        }
        objects.push(ObjectReport {
            name: relation.name,
            kind: "relation",
            found_as: Some(entry.object_type.clone()),
            findings,
        });
    }
    if calls_procedures(mode) {
        for procedure in PROCEDURES {
            let entry = dictionary.procedures.get(procedure.name);
            let mut findings = Vec::new();
            match entry {
                None => findings.push(error(None, "missing: no function of this name")),
                Some(entry) => {
                    if entry.arguments != procedure.arguments.len() {
                        findings.push(error(
                            None,
                            format!(
                                "takes {} arguments; the contract passes {} ({})",
                                entry.arguments,
                                procedure.arguments.len(),
                                procedure
                                    .arguments
                                    .iter()
                                    .map(|(name, kind)| format!("{name} {}", kind.as_str()))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    if !entry.execute {
                        findings.push(error(Some("EXECUTE"), "tenantql's account may not call it"));
                    }
                }
            }
            objects.push(ObjectReport {
                name: procedure.name,
                kind: "procedure",
                found_as: entry.map(|_| "function".to_string()),
                findings,
            });
        }
    }
    objects
}

fn hint(kind: Kind) -> &'static str {
    match kind {
        Kind::Integer => " (amounts are whole minor units: CAST(amount * 100 AS BIGINT))",
        Kind::Date => " (CAST(… AS DATE))",
        Kind::Text => "",
    }
}

/// Reads the dictionary over `conn` and reports, with the version of
/// tenantql's own objects in the database.
pub async fn check(
    conn: &mut Connection,
    schema: Option<&str>,
    mode: WriteMode,
) -> Result<CheckReport, StoreError> {
    let dictionary = dictionary::read(conn, schema).await?;
    let own_version = migrations::current_version(conn).await?;
    Ok(CheckReport {
        contract_version: super::VERSION,
        schema: schema.map(str::to_string),
        write_mode: mode,
        objects: evaluate(&dictionary, mode),
        own_version,
        target_version: migrations::target_version(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::dictionary::{
        postgres_accepts, ColumnEntry, Privileges, ProcedureEntry, RelationEntry,
    };

    /// A dictionary that implements the contract exactly, as views granted SELECT only.
    fn complete(object_type: &str) -> Dictionary {
        let mut dictionary = Dictionary::default();
        for relation in RELATIONS {
            let columns = relation
                .columns
                .iter()
                .map(|c| {
                    let declared = match c.kind {
                        Kind::Integer => "bigint",
                        Kind::Text => "text",
                        Kind::Date => "date",
                    };
                    (
                        c.name.to_string(),
                        ColumnEntry {
                            declared: declared.into(),
                            accepts: postgres_accepts(declared),
                            untyped: false,
                            nullable: c.nullable,
                        },
                    )
                })
                .collect();
            dictionary.relations.insert(
                relation.name.into(),
                RelationEntry {
                    object_type: object_type.into(),
                    columns,
                    privileges: Some(Privileges {
                        select: true,
                        ..Privileges::default()
                    }),
                },
            );
        }
        dictionary.sequences = Some(
            RELATIONS
                .iter()
                .map(|r| crate::contract::sequence_of(r.name))
                .collect(),
        );
        for procedure in PROCEDURES {
            dictionary.procedures.insert(
                procedure.name.into(),
                ProcedureEntry {
                    arguments: procedure.arguments.len(),
                    execute: true,
                },
            );
        }
        dictionary
    }

    fn findings(objects: &[ObjectReport]) -> Vec<String> {
        objects
            .iter()
            .flat_map(|o| {
                o.findings.iter().map(move |f| {
                    format!(
                        "{:?} {}.{}: {}",
                        f.severity,
                        o.name,
                        f.subject.as_deref().unwrap_or("-"),
                        f.message
                    )
                })
            })
            .collect()
    }

    #[test]
    fn a_complete_read_only_contract_has_nothing_to_say() {
        let objects = evaluate(&complete("view"), WriteMode::ReadOnly);
        assert_eq!(findings(&objects), Vec::<String>::new());
        assert_eq!(objects.len(), RELATIONS.len(), "no procedures in read-only");
        let with_procedures = evaluate(&complete("view"), WriteMode::Procedures);
        assert_eq!(with_procedures.len(), RELATIONS.len() + PROCEDURES.len());
        assert!(with_procedures.iter().all(ObjectReport::ok));
    }

    #[test]
    fn what_is_missing_or_mistyped_is_named() {
        let mut dictionary = complete("view");
        let invoices = dictionary.relations.get_mut("invoices").unwrap();
        invoices.columns.remove("vat_cents");
        invoices.columns.insert(
            "total_cents".into(),
            ColumnEntry {
                declared: "numeric(15,2)".into(),
                accepts: postgres_accepts("numeric(15,2)"),
                untyped: false,
                nullable: true,
            },
        );
        dictionary.relations.remove("payments");
        dictionary
            .procedures
            .get_mut("tenantql_record_payment")
            .unwrap()
            .arguments = 3;
        dictionary
            .procedures
            .get_mut("tenantql_create_invoice")
            .unwrap()
            .execute = false;
        let objects = evaluate(&dictionary, WriteMode::Procedures);
        let found = findings(&objects);
        assert!(
            found.contains(&"Error invoices.vat_cents: missing".to_string()),
            "{found:#?}"
        );
        assert!(found.iter().any(|f| f.starts_with(
            "Error invoices.total_cents: declared numeric(15,2), which tenantql cannot read as integer"
        )));
        assert!(
            found.contains(&"Error payments.-: missing: no table or view of this name".to_string())
        );
        assert!(found.iter().any(|f| f.starts_with(
            "Error tenantql_record_payment.-: takes 3 arguments; the contract passes 4"
        )));
        assert!(found.contains(
            &"Error tenantql_create_invoice.EXECUTE: tenantql's account may not call it"
                .to_string()
        ));
        let report = CheckReport {
            contract_version: "1.0",
            schema: None,
            write_mode: WriteMode::Procedures,
            objects,
            own_version: 0,
            target_version: 2,
        };
        assert_eq!(report.errors(), 5);
        assert_eq!(report.first_error().unwrap(), "invoices.vat_cents: missing");
    }

    #[test]
    fn privileges_beyond_the_write_mode_are_warned_about() {
        let mut dictionary = complete("table");
        for relation in dictionary.relations.values_mut() {
            relation.privileges = Some(Privileges {
                select: true,
                insert: true,
                update: true,
                delete: true,
            });
        }
        let read_only = findings(&evaluate(&dictionary, WriteMode::ReadOnly));
        assert_eq!(read_only.len(), RELATIONS.len(), "{read_only:#?}");
        assert!(read_only[0].starts_with(
            "Warning companies.INSERT, UPDATE, DELETE: granted, but the read-only write mode only reads this table"
        ));
        // Tables mode needs to write invoices, payments and treasury transactions.
        let tables = findings(&evaluate(&dictionary, WriteMode::Tables));
        assert_eq!(tables.len(), 3, "{tables:#?}");
        let mut no_writes = complete("table");
        let tables = findings(&evaluate(&no_writes, WriteMode::Tables));
        assert!(tables.contains(
            &"Error invoices.INSERT: needed by the tables write mode and not granted".to_string()
        ));
        no_writes.relations.get_mut("companies").unwrap().privileges = Some(Privileges::default());
        let tables = findings(&evaluate(&no_writes, WriteMode::ReadOnly));
        assert_eq!(
            tables,
            vec!["Error companies.SELECT: tenantql's account may not read it".to_string()]
        );
    }

    #[test]
    fn nullability_is_judged_on_tables_only() {
        let mut dictionary = complete("table");
        let partners = dictionary.relations.get_mut("partners").unwrap();
        partners.columns.get_mut("city").unwrap().nullable = true;
        let found = findings(&evaluate(&dictionary, WriteMode::ReadOnly));
        assert_eq!(
            found,
            vec![
                "Warning partners.city: allows NULL; a NULL here fails the request that reads it"
                    .to_string()
            ]
        );
        let mut views = complete("view");
        views
            .relations
            .get_mut("partners")
            .unwrap()
            .columns
            .get_mut("city")
            .unwrap()
            .nullable = true;
        assert!(findings(&evaluate(&views, WriteMode::ReadOnly)).is_empty());
    }
}
