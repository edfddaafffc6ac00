//! The tenant-database contract: exactly what tenantql reads from, and calls
//! in, a tenant's database (`docs/TENANT_DATABASE.md` is its prose). tenantql's
//! own ERP tables (`sql/*/erp_schema.sql`) are the reference implementation; a
//! client's DBA implements it as views over the ERP vendor's tables and, for
//! writes, as procedures over the vendor's own rules.
//!
//! - `dictionary`: what a database's data dictionary says about those names;
//! - `report`: the dictionary held against the contract, object by object;
//! - `migrations`: tenantql's own objects inside a tenant database (the change
//!   log), as versioned steps per backend.
pub mod dictionary;
pub mod migrations;
pub mod report;

pub use report::{check, CheckReport, Finding, ObjectReport, Severity};

use crate::control::entities::tenant::WriteMode;

/// The contract's version. A change that removes or retypes anything is a new
/// major version; adding an optional relation or column is not.
pub const VERSION: &str = "1.0";

/// The shape of a value as tenantql reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number (ids, amounts in minor units).
    Integer,
    Text,
    /// A calendar date (Oracle DATE or TIMESTAMP, PostgreSQL `date`, SQLite
    /// `YYYY-MM-DD` text).
    Date,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::Text => "text",
            Kind::Date => "date",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// NULL allowed (and mapped to an absent value).
    pub nullable: bool,
    /// Read only by `tables` write mode (it writes the column).
    pub tables_only: bool,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: false,
        tables_only: false,
    }
}

/// A relation (table or view) of the contract.
#[derive(Debug, Clone, Copy)]
pub struct Relation {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// `tables` write mode inserts into it or updates it.
    pub written: bool,
    /// The index the queries need to stay fast, on the relation or (for a
    /// view) on the expressions it maps (documented, not checked: a view hides
    /// them).
    pub index: &'static str,
}

pub const RELATIONS: &[Relation] = &[
    Relation {
        name: "companies",
        columns: &[
            col("id", Kind::Integer),
            col("name", Kind::Text),
            col("tax_id", Kind::Text),
            col("currency", Kind::Text),
        ],
        written: false,
        index: "primary key (id)",
    },
    Relation {
        name: "partners",
        columns: &[
            col("id", Kind::Integer),
            col("name", Kind::Text),
            col("tax_id", Kind::Text),
            col("kind", Kind::Text),
            col("city", Kind::Text),
        ],
        written: false,
        index: "primary key (id); (name, id) for the partner list",
    },
    Relation {
        name: "invoices",
        columns: &[
            col("id", Kind::Integer),
            col("company_id", Kind::Integer),
            col("partner_id", Kind::Integer),
            col("doc_number", Kind::Text),
            col("kind", Kind::Text),
            col("issue_date", Kind::Date),
            col("due_date", Kind::Date),
            col("net_cents", Kind::Integer),
            col("vat_cents", Kind::Integer),
            col("total_cents", Kind::Integer),
            col("paid_cents", Kind::Integer),
        ],
        written: true,
        index: "primary key (id); (company_id, issue_date DESC, id DESC) for pages; (partner_id)",
    },
    Relation {
        name: "payments",
        columns: &[
            col("id", Kind::Integer),
            col("invoice_id", Kind::Integer),
            col("payment_date", Kind::Date),
            col("amount_cents", Kind::Integer),
            col("method", Kind::Text),
        ],
        written: true,
        index: "primary key (id); (invoice_id)",
    },
    Relation {
        name: "treasury_accounts",
        columns: &[
            col("id", Kind::Integer),
            col("company_id", Kind::Integer),
            col("name", Kind::Text),
            col("kind", Kind::Text),
            Column {
                nullable: true,
                ..col("iban", Kind::Text)
            },
            col("opening_balance_cents", Kind::Integer),
        ],
        written: false,
        index: "primary key (id); (company_id)",
    },
    Relation {
        name: "treasury_transactions",
        columns: &[
            col("id", Kind::Integer),
            col("account_id", Kind::Integer),
            col("tx_date", Kind::Date),
            col("amount_cents", Kind::Integer),
            col("description", Kind::Text),
            Column {
                nullable: true,
                tables_only: true,
                ..col("payment_id", Kind::Integer)
            },
        ],
        written: true,
        index: "primary key (id); (account_id, tx_date DESC, id DESC)",
    },
];

/// A procedure (PostgreSQL function, Oracle PL/SQL function) tenantql calls in
/// `procedures` write mode. Each returns the id of the row it wrote.
#[derive(Debug, Clone, Copy)]
pub struct Procedure {
    pub name: &'static str,
    pub arguments: &'static [(&'static str, Kind)],
}

pub const PROCEDURES: &[Procedure] = &[
    Procedure {
        name: "tenantql_record_payment",
        arguments: &[
            ("p_invoice_id", Kind::Integer),
            ("p_amount_cents", Kind::Integer),
            ("p_payment_date", Kind::Date),
            ("p_method", Kind::Text),
        ],
    },
    Procedure {
        name: "tenantql_create_invoice",
        arguments: &[
            ("p_company_id", Kind::Integer),
            ("p_partner_id", Kind::Integer),
            ("p_kind", Kind::Text),
            ("p_issue_date", Kind::Date),
            ("p_due_date", Kind::Date),
            ("p_net_cents", Kind::Integer),
            ("p_vat_cents", Kind::Integer),
        ],
    },
];

/// The sequence `tables` write mode takes a written relation's ids from.
pub fn sequence_of(relation: &str) -> String {
    format!("{relation}_id_seq")
}

/// What a write mode needs of a relation, beyond reading it.
pub fn writes_relation(mode: WriteMode, relation: &Relation) -> bool {
    mode == WriteMode::Tables && relation.written
}

/// Whether a write mode calls the contract's procedures.
pub fn calls_procedures(mode: WriteMode) -> bool {
    mode == WriteMode::Procedures
}
