//! Compiled plans: an invoice page written as JSON straight from its rows.
//!
//! async-graphql resolves an invoice page (~2,500 fields) field by field: a
//! `Context` and a resolver dispatch per field, a `Value` tree of `IndexMap`s
//! hashed per key, then the tree serialized and dropped. That machinery cost
//! as much as the statements, the HTTP and the JSON together. A plan is that
//! operation's selection, compiled once from its validated document into the
//! fields to write, in order, with their response keys already in JSON; a run
//! reads the page through the very functions the resolvers call and writes the
//! bytes async-graphql would have written.
//!
//! It covers only what it reproduces exactly: queries whose root fields are
//! `invoices` (any selection of the connection, its edges, pages and nodes with
//! their partner, company and payments) and `__typename`, without directives.
//! Any other document gets no plan. A run that meets anything but the answer
//! (a refusal, a bad argument, a row its relation cannot find, a database
//! error) returns `None` before writing a byte, and the operation is executed
//! by async-graphql instead, which reports it as always.
mod json;
mod select;

use std::collections::HashMap;

use async_graphql::{
    connection::{Connection, Edge, EmptyFields, PageInfo},
    parser::types::{DocumentOperations, ExecutableDocument, OperationType, SelectionSet},
    EnumType, InputType, Name, OutputType, Value, Variables,
};
use async_graphql_value::Value as ArgumentValue;

use self::{
    json::{Json, Key},
    select::{collect, Selected},
};
use super::{
    invoices::{InvoiceKind, InvoiceNode, InvoiceStatus, PaymentNode},
    parties::{CompanyNode, PartnerKind, PartnerNode},
    ErpScope, InvoicePageArguments, Kind,
};
use crate::{
    erp::{
        companies::Company,
        invoice_page::{Page, Relations},
        invoices::Invoice,
        partners::Partner,
        payments::Payment,
    },
    resolvers::{guards::Member, InOrder, Query},
    tenancy::TenantContext,
};

/// Selections visited while compiling one document, at most: a document
/// whose fragments multiply past this is left to async-graphql.
const COMPILE_BUDGET: usize = 4096;

/// One operation, compiled.
#[derive(Debug)]
pub struct Plan {
    roots: Vec<(Key, Root)>,
    /// Each declared variable's value when the request leaves it out: its
    /// default, null for a nullable one, none for a required one.
    defaults: HashMap<Name, Option<Value>>,
}

#[derive(Debug)]
enum Root {
    Typename,
    Invoices {
        arguments: Vec<(Name, ArgumentValue)>,
        wanted: Relations,
        connection: Fields<ConnectionField>,
    },
}

type Fields<F> = Vec<(Key, F)>;

#[derive(Debug)]
enum ConnectionField {
    Typename,
    PageInfo(Fields<PageInfoField>),
    Edges(Fields<EdgeField>),
    Nodes(Fields<InvoiceField>),
}

#[derive(Debug)]
enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

#[derive(Debug)]
enum EdgeField {
    Typename,
    Cursor,
    Node(Fields<InvoiceField>),
}

#[derive(Debug)]
enum InvoiceField {
    Typename,
    Id,
    Number,
    Kind,
    IssueDate,
    DueDate,
    Net,
    Vat,
    Total,
    Paid,
    Balance,
    Status,
    Partner(Fields<PartnerField>),
    Company(Fields<CompanyField>),
    Payments(Fields<PaymentField>),
}

#[derive(Debug)]
enum PartnerField {
    Typename,
    Id,
    Name,
    TaxId,
    Kind,
    City,
}

#[derive(Debug)]
enum CompanyField {
    Typename,
    Id,
    Name,
    TaxId,
    Currency,
}

#[derive(Debug)]
enum PaymentField {
    Typename,
    Id,
    Date,
    Amount,
    Method,
}

impl Plan {
    /// The plan of the operation `operation_name` picks in `document`, if it
    /// is one a plan covers. The document must have passed validation.
    pub fn compile(document: &ExecutableDocument, operation_name: Option<&str>) -> Option<Plan> {
        let operation = match (&document.operations, operation_name) {
            (DocumentOperations::Single(operation), None) => operation,
            (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
            (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
                operations.values().next()?
            }
            _ => return None,
        };
        let operation = &operation.node;
        if operation.ty != OperationType::Query || !operation.directives.is_empty() {
            return None;
        }
        let mut defaults = HashMap::new();
        for definition in &operation.variable_definitions {
            let definition = &definition.node;
            if !definition.directives.is_empty() {
                return None;
            }
            defaults.insert(
                definition.name.node.clone(),
                definition.default_value().cloned(),
            );
        }
        let mut compiler = Compiler {
            document,
            budget: COMPILE_BUDGET,
        };
        let roots = compiler.fields(
            &Query::type_name(),
            &[&operation.selection_set.node],
            |compiler, selected| match selected.name() {
                "__typename" => Some(Root::Typename),
                "invoices" => compiler.invoices(selected),
                _ => None,
            },
        )?;
        Some(Plan { roots, defaults })
    }

    /// The operation's `data`, as JSON, for `caller` (whose tenant `scope`
    /// reads); `None` when anything but the answer came up: the operation
    /// is then async-graphql's to run and to report.
    pub async fn run(
        &self,
        caller: &TenantContext,
        scope: &ErpScope,
        variables: &Variables,
    ) -> Option<Vec<u8>> {
        let loads = self.roots.iter().map(|(_, root)| async move {
            match root {
                Root::Typename => Some(None),
                Root::Invoices {
                    arguments, wanted, ..
                } => {
                    Member::admits(caller).ok()?;
                    // A filter is left to async-graphql: validation checks an
                    // input object's value more strictly than its parsing does.
                    if !matches!(
                        self.value(arguments, "filter", variables)?,
                        None | Some(Value::Null)
                    ) {
                        return None;
                    }
                    let arguments = InvoicePageArguments {
                        company_id: self.argument(arguments, "companyId", variables)?,
                        first: self.argument(arguments, "first", variables)?,
                        after: self.argument(arguments, "after", variables)?,
                        filter: None,
                    };
                    super::invoice_page(scope, arguments, *wanted)
                        .await
                        .ok()
                        .map(Some)
                }
            }
        });
        let pages = futures_util::future::join_all(loads).await;
        let mut out = Json::with_capacity(16 * 1024);
        let mut pages = pages.into_iter();
        out.object(&self.roots, |out, root| {
            match (root, pages.next()??) {
                (Root::Typename, _) => out.str(&Query::type_name()),
                (Root::Invoices { connection, .. }, Some(page)) => {
                    write_connection(out, connection, &page, scope)?
                }
                (Root::Invoices { .. }, None) => return None,
            }
            Some(())
        })?;
        Some(out.into_bytes())
    }

    /// Argument `name` of a root field, coerced as async-graphql coerces it;
    /// `None` when it does not coerce. Only for scalars whose parsing is as
    /// strict as validation's check (`ID`, `Int`, `String`): a value that
    /// parses here would have passed validation.
    fn argument<T: InputType>(
        &self,
        arguments: &[(Name, ArgumentValue)],
        name: &str,
        variables: &Variables,
    ) -> Option<T> {
        T::parse(self.value(arguments, name, variables)?).ok()
    }

    /// Argument `name`'s value with the variables substituted (a variable
    /// the request leaves out takes its declared default): `Some(None)` when
    /// the argument is not given, `None` when a variable has no value.
    fn value(
        &self,
        arguments: &[(Name, ArgumentValue)],
        name: &str,
        variables: &Variables,
    ) -> Option<Option<Value>> {
        let Some((_, value)) = arguments.iter().find(|(n, _)| n.as_str() == name) else {
            return Some(None);
        };
        value
            .clone()
            .into_const_with(|variable| {
                variables
                    .get(&variable)
                    .cloned()
                    .or_else(|| self.defaults.get(&variable).cloned().flatten())
                    .ok_or(())
            })
            .ok()
            .map(Some)
    }
}

/// Walks a document into a plan, within its budget.
struct Compiler<'d> {
    document: &'d ExecutableDocument,
    budget: usize,
}

impl<'d> Compiler<'d> {
    /// The fields of `sets` on `type_name`, each compiled by `field`; `None`
    /// when one is not covered or a leaf has a selection.
    fn fields<F>(
        &mut self,
        type_name: &str,
        sets: &[&'d SelectionSet],
        mut field: impl FnMut(&mut Self, &Selected<'d>) -> Option<F>,
    ) -> Option<Fields<F>> {
        let selected = collect(self.document, type_name, sets, &mut self.budget)?;
        selected
            .iter()
            .map(|selected| Some((Key::new(selected.key), field(self, selected)?)))
            .collect()
    }

    /// The fields of a leaf-only object type, named by `field`.
    fn leaves<F>(
        &mut self,
        type_name: &str,
        selected: &Selected<'d>,
        field: impl Fn(&str) -> Option<F>,
    ) -> Option<Fields<F>> {
        self.fields(type_name, &selected.sets, |_, leaf| {
            is_leaf(leaf).then_some(())?;
            field(leaf.name())
        })
    }

    fn invoices(&mut self, selected: &Selected<'d>) -> Option<Root> {
        let connection = self.fields(
            &Connection::<String, InOrder<InvoiceNode>>::type_name(),
            &selected.sets,
            |compiler, field| match field.name() {
                "__typename" if is_leaf(field) => Some(ConnectionField::Typename),
                "pageInfo" => compiler
                    .leaves(&PageInfo::type_name(), field, |name| {
                        Some(match name {
                            "__typename" => PageInfoField::Typename,
                            "hasPreviousPage" => PageInfoField::HasPreviousPage,
                            "hasNextPage" => PageInfoField::HasNextPage,
                            "startCursor" => PageInfoField::StartCursor,
                            "endCursor" => PageInfoField::EndCursor,
                            _ => return None,
                        })
                    })
                    .map(ConnectionField::PageInfo),
                "edges" => compiler
                    .fields(
                        &edge_type_name(),
                        &field.sets,
                        |compiler, edge| match edge.name() {
                            "__typename" if is_leaf(edge) => Some(EdgeField::Typename),
                            "cursor" if is_leaf(edge) => Some(EdgeField::Cursor),
                            "node" => compiler.invoice(edge).map(EdgeField::Node),
                            _ => None,
                        },
                    )
                    .map(ConnectionField::Edges),
                "nodes" => compiler.invoice(field).map(ConnectionField::Nodes),
                _ => None,
            },
        )?;
        let mut wanted = Relations::default();
        for (_, field) in &connection {
            match field {
                ConnectionField::Edges(edge) => {
                    for (_, field) in edge {
                        if let EdgeField::Node(node) = field {
                            relations_of(node, &mut wanted);
                        }
                    }
                }
                ConnectionField::Nodes(node) => relations_of(node, &mut wanted),
                ConnectionField::Typename | ConnectionField::PageInfo(_) => {}
            }
        }
        Some(Root::Invoices {
            arguments: selected
                .field
                .arguments
                .iter()
                .map(|(name, value)| (name.node.clone(), value.node.clone()))
                .collect(),
            wanted,
            connection,
        })
    }

    fn invoice(&mut self, selected: &Selected<'d>) -> Option<Fields<InvoiceField>> {
        self.fields(
            &InvoiceNode::type_name(),
            &selected.sets,
            |compiler, field| {
                let leaf = match field.name() {
                    "partner" => {
                        return compiler
                            .leaves(&PartnerNode::type_name(), field, |name| {
                                Some(match name {
                                    "__typename" => PartnerField::Typename,
                                    "id" => PartnerField::Id,
                                    "name" => PartnerField::Name,
                                    "taxId" => PartnerField::TaxId,
                                    "kind" => PartnerField::Kind,
                                    "city" => PartnerField::City,
                                    _ => return None,
                                })
                            })
                            .map(InvoiceField::Partner)
                    }
                    "company" => {
                        return compiler
                            .leaves(&CompanyNode::type_name(), field, |name| {
                                Some(match name {
                                    "__typename" => CompanyField::Typename,
                                    "id" => CompanyField::Id,
                                    "name" => CompanyField::Name,
                                    "taxId" => CompanyField::TaxId,
                                    "currency" => CompanyField::Currency,
                                    _ => return None,
                                })
                            })
                            .map(InvoiceField::Company)
                    }
                    "payments" => {
                        return compiler
                            .leaves(&PaymentNode::type_name(), field, |name| {
                                Some(match name {
                                    "__typename" => PaymentField::Typename,
                                    "id" => PaymentField::Id,
                                    "date" => PaymentField::Date,
                                    "amount" => PaymentField::Amount,
                                    "method" => PaymentField::Method,
                                    _ => return None,
                                })
                            })
                            .map(InvoiceField::Payments)
                    }
                    "__typename" => InvoiceField::Typename,
                    "id" => InvoiceField::Id,
                    "number" => InvoiceField::Number,
                    "kind" => InvoiceField::Kind,
                    "issueDate" => InvoiceField::IssueDate,
                    "dueDate" => InvoiceField::DueDate,
                    "net" => InvoiceField::Net,
                    "vat" => InvoiceField::Vat,
                    "total" => InvoiceField::Total,
                    "paid" => InvoiceField::Paid,
                    "balance" => InvoiceField::Balance,
                    "status" => InvoiceField::Status,
                    _ => return None,
                };
                is_leaf(field).then_some(leaf)
            },
        )
    }
}

/// A field without arguments or a selection of its own.
fn is_leaf(selected: &Selected<'_>) -> bool {
    selected.field.arguments.is_empty() && selected.sets.iter().all(|set| set.items.is_empty())
}

fn edge_type_name() -> String {
    Edge::<String, InOrder<InvoiceNode>, EmptyFields>::type_name().into_owned()
}

/// Adds the relations an invoice's fields read to `wanted`.
fn relations_of(node: &Fields<InvoiceField>, wanted: &mut Relations) {
    for (_, field) in node {
        match field {
            InvoiceField::Partner(_) => wanted.partner = true,
            InvoiceField::Company(_) => wanted.company = true,
            InvoiceField::Payments(_) => wanted.payments = true,
            _ => {}
        }
    }
}

/// The GraphQL name of an enum value.
fn enum_name<E: EnumType + PartialEq>(value: E) -> &'static str {
    E::items()
        .iter()
        .find(|item| item.value == value)
        .map_or("", |item| item.name)
}

fn write_connection(
    out: &mut Json,
    fields: &Fields<ConnectionField>,
    page: &Page,
    scope: &ErpScope,
) -> Option<()> {
    let cursor = |invoice: &Invoice| scope.ids.cursor(Kind::Invoice, &invoice.cursor());
    out.object(fields, |out, field| {
        match field {
            ConnectionField::Typename => {
                out.str(&Connection::<String, InOrder<InvoiceNode>>::type_name())
            }
            ConnectionField::PageInfo(fields) => out.object(fields, |out, field| {
                match field {
                    PageInfoField::Typename => out.str(&PageInfo::type_name()),
                    PageInfoField::HasPreviousPage => out.bool(false),
                    PageInfoField::HasNextPage => out.bool(page.has_next),
                    PageInfoField::StartCursor => {
                        out.str_or_null(page.invoices.first().map(cursor))
                    }
                    PageInfoField::EndCursor => out.str_or_null(page.invoices.last().map(cursor)),
                }
                Some(())
            })?,
            ConnectionField::Edges(fields) => out.list(&page.invoices, |out, invoice| {
                out.object(fields, |out, field| {
                    match field {
                        EdgeField::Typename => out.str(&edge_type_name()),
                        EdgeField::Cursor => out.str(&cursor(invoice)),
                        EdgeField::Node(fields) => {
                            write_invoice(out, fields, invoice, page, scope)?
                        }
                    }
                    Some(())
                })
            })?,
            ConnectionField::Nodes(fields) => out.list(&page.invoices, |out, invoice| {
                write_invoice(out, fields, invoice, page, scope)
            })?,
        }
        Some(())
    })
}

fn write_invoice(
    out: &mut Json,
    fields: &Fields<InvoiceField>,
    invoice: &Invoice,
    page: &Page,
    scope: &ErpScope,
) -> Option<()> {
    out.object(fields, |out, field| {
        match field {
            InvoiceField::Typename => out.str(&InvoiceNode::type_name()),
            InvoiceField::Id => out.str(&scope.ids.encode(Kind::Invoice, invoice.id)),
            InvoiceField::Number => out.str(&invoice.number),
            InvoiceField::Kind => out.str(enum_name(InvoiceKind::from(invoice.kind))),
            InvoiceField::IssueDate => out.display(invoice.issue_date),
            InvoiceField::DueDate => out.display(invoice.due_date),
            InvoiceField::Net => out.display(invoice.net),
            InvoiceField::Vat => out.display(invoice.vat),
            InvoiceField::Total => out.display(invoice.total),
            InvoiceField::Paid => out.display(invoice.paid),
            InvoiceField::Balance => out.display(invoice.balance()),
            InvoiceField::Status => {
                out.str(enum_name(InvoiceStatus::from(invoice.status(scope.today))))
            }
            InvoiceField::Partner(fields) => {
                write_partner(out, fields, page.partners.get(&invoice.partner_id)?, scope)
            }
            InvoiceField::Company(fields) => {
                write_company(out, fields, page.companies.get(&invoice.company_id)?, scope)
            }
            InvoiceField::Payments(fields) => {
                let payments = page.payments.get(&invoice.id)?;
                out.list(payments, |out, payment| {
                    write_payment(out, fields, payment, scope);
                    Some(())
                })?
            }
        }
        Some(())
    })
}

fn write_partner(
    out: &mut Json,
    fields: &Fields<PartnerField>,
    partner: &Partner,
    scope: &ErpScope,
) {
    let _ = out.object(fields, |out, field| {
        match field {
            PartnerField::Typename => out.str(&PartnerNode::type_name()),
            PartnerField::Id => out.str(&scope.ids.encode(Kind::Partner, partner.id)),
            PartnerField::Name => out.str(&partner.name),
            PartnerField::TaxId => out.str(&partner.tax_id),
            PartnerField::Kind => out.str(enum_name(PartnerKind::from(partner.kind))),
            PartnerField::City => out.str(&partner.city),
        }
        Some(())
    });
}

fn write_company(
    out: &mut Json,
    fields: &Fields<CompanyField>,
    company: &Company,
    scope: &ErpScope,
) {
    let _ = out.object(fields, |out, field| {
        match field {
            CompanyField::Typename => out.str(&CompanyNode::type_name()),
            CompanyField::Id => out.str(&scope.ids.encode(Kind::Company, company.id)),
            CompanyField::Name => out.str(&company.name),
            CompanyField::TaxId => out.str(&company.tax_id),
            CompanyField::Currency => out.str(&company.currency),
        }
        Some(())
    });
}

fn write_payment(
    out: &mut Json,
    fields: &Fields<PaymentField>,
    payment: &Payment,
    scope: &ErpScope,
) {
    let _ = out.object(fields, |out, field| {
        match field {
            PaymentField::Typename => out.str(&PaymentNode::type_name()),
            PaymentField::Id => out.str(&scope.ids.encode(Kind::Payment, payment.id)),
            PaymentField::Date => out.display(payment.date),
            PaymentField::Amount => out.display(payment.amount),
            PaymentField::Method => out.str(&payment.method),
        }
        Some(())
    });
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn compiles(document: &str) -> bool {
        Plan::compile(&parse_query(document).expect("parses"), None).is_some()
    }

    #[test]
    fn only_what_a_plan_reproduces_is_compiled() {
        assert!(compiles(
            "query($c: ID!) { __typename invoices(companyId: $c) { edges { cursor node { id partner { name } } } } }"
        ));
        assert!(compiles(
            "query($c: ID!) { a: invoices(companyId: $c) { ...P } } fragment P on InvoiceConnection { nodes { number } }"
        ));
        for document in [
            "mutation($c: ID!) { invoices(companyId: $c) { nodes { id } } }",
            "query($c: ID!) { invoices(companyId: $c) { nodes { id @include(if: true) } } }",
            "query($c: ID!) @cached { invoices(companyId: $c) { nodes { id } } }",
            "query($c: ID!) { invoices(companyId: $c) { nodes { id } } me { email } }",
            "query($c: ID!) { invoices(companyId: $c) { nodes { company { treasuryAccounts { id } } } } }",
            "query($c: ID!) { invoices(companyId: $c) { nodes { ... on Partner { name } } } }",
            "{ __schema { types { name } } }",
        ] {
            assert!(!compiles(document), "{document}");
        }
    }

    #[test]
    fn fragments_that_multiply_past_the_budget_are_not_compiled() {
        // Each level spreads the next four times: 4^7 selections written out.
        let mut document =
            String::from("query($c: ID!) { invoices(companyId: $c) { nodes { ...F0 } } }\n");
        for level in 0..7 {
            let next = level + 1;
            document.push_str(&format!(
                "fragment F{level} on Invoice {{ ...F{next} ...F{next} ...F{next} ...F{next} }}\n"
            ));
        }
        document.push_str("fragment F7 on Invoice { id }\n");
        assert!(!compiles(&document));
        // Within the budget the same shape compiles, merged to one field.
        let shallow = "query($c: ID!) { invoices(companyId: $c) { nodes { ...A ...A } } }
            fragment A on Invoice { ...B ...B } fragment B on Invoice { id id }";
        let plan = Plan::compile(&parse_query(shallow).unwrap(), None).unwrap();
        let Root::Invoices { connection, .. } = &plan.roots[0].1 else {
            panic!("an invoices root");
        };
        let ConnectionField::Nodes(fields) = &connection[0].1 else {
            panic!("nodes");
        };
        assert_eq!(fields.len(), 1, "{fields:?}");
    }

    #[test]
    fn response_keys_are_written_as_json() {
        let mut out = Json::with_capacity(64);
        let fields = vec![(Key::new("a\"b"), 1), (Key::new("c"), 2)];
        out.object(&fields, |out, n| {
            out.display(n);
            Some(())
        });
        assert_eq!(out.into_bytes(), br#"{"a\"b":"1","c":"2"}"#);
    }
}
