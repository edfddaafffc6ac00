//! The `invoices` root in a plan: its connection, edges, pages and nodes with
//! their partner, company and payments, loaded through the resolver's own
//! function and written from the rows.
use async_graphql::{
    connection::{Connection, Edge, EmptyFields, PageInfo},
    OutputType,
};

use super::{enum_name, is_leaf, json::Json, select::Selected, Compiler, Fields, Root};
use crate::{
    erp::{
        companies::Company,
        invoice_page::{Page, Relations},
        invoices::Invoice,
        partners::Partner,
        payments::Payment,
    },
    resolvers::{
        erp::{
            CompanyNode, ErpScope, InvoiceKind, InvoiceNode, InvoiceStatus, Kind, PartnerKind,
            PartnerNode, PaymentNode,
        },
        InOrder,
    },
};

#[derive(Debug)]
pub(super) enum ConnectionField {
    Typename,
    PageInfo(Fields<PageInfoField>),
    Edges(Fields<EdgeField>),
    Nodes(Fields<InvoiceField>),
}

#[derive(Debug)]
pub(super) enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

#[derive(Debug)]
pub(super) enum EdgeField {
    Typename,
    Cursor,
    Node(Fields<InvoiceField>),
}

#[derive(Debug)]
pub(super) enum InvoiceField {
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
pub(super) enum PartnerField {
    Typename,
    Id,
    Name,
    TaxId,
    Kind,
    City,
}

#[derive(Debug)]
pub(super) enum CompanyField {
    Typename,
    Id,
    Name,
    TaxId,
    Currency,
}

#[derive(Debug)]
pub(super) enum PaymentField {
    Typename,
    Id,
    Date,
    Amount,
    Method,
}

impl<'d> Compiler<'d> {
    pub(super) fn invoices(&mut self, selected: &Selected<'d>) -> Option<Root> {
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

pub(super) fn write_connection(
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
