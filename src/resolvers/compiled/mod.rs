//! Compiled plans: an operation's answer written as JSON straight from its
//! rows (or, for `me`, from the verified caller).
//!
//! async-graphql resolves an invoice page (~2,500 fields) field by field: a
//! `Context` and a resolver dispatch per field, a `Value` tree of `IndexMap`s
//! hashed per key, then the tree serialized and dropped. That machinery cost
//! as much as the statements, the HTTP and the JSON together; for `{ me }`,
//! validating and executing the document each time cost more than answering
//! it. A plan is that operation's selection, compiled once from its validated
//! document into the fields to write, in order, with their response keys
//! already in JSON; a run reads the page through the very functions the
//! resolvers call and writes the bytes async-graphql would have written.
//!
//! It covers only what it reproduces exactly: queries whose root fields are
//! `invoices` (any selection of the connection, its edges, pages and nodes with
//! their partner, company and payments, `invoices.rs`), `me` (`me.rs`) and
//! `__typename`, without directives. Any other document gets no plan. A run
//! that meets anything but the answer (a refusal, a bad argument, a row its
//! relation cannot find, a database error) returns `None` before writing a
//! byte, and the operation is executed by async-graphql instead, which reports
//! it as always.
mod invoices;
mod json;
mod me;
mod select;

use std::collections::HashMap;

use async_graphql::{
    parser::types::{DocumentOperations, ExecutableDocument, OperationType, SelectionSet},
    EnumType, InputType, Name, OutputType, Value, Variables,
};
use async_graphql_value::Value as ArgumentValue;

use self::{
    invoices::ConnectionField,
    json::{Json, Key},
    me::MeField,
    select::{collect, Selected},
};
use crate::{
    erp::invoice_page::Relations,
    resolvers::{
        erp::{invoice_page, ErpScope, InvoicePageArguments},
        guards::Member,
        Query,
    },
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
    Me(Fields<MeField>),
    Invoices {
        arguments: Vec<(Name, ArgumentValue)>,
        wanted: Relations,
        connection: Fields<ConnectionField>,
    },
}

type Fields<F> = Vec<(Key, F)>;

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
                "me" => compiler.me(selected).map(Root::Me),
                "invoices" => compiler.invoices(selected),
                _ => None,
            },
        )?;
        Some(Plan { roots, defaults })
    }

    /// Whether a run reads the tenant's database (and needs its scope).
    pub fn reads_tenant_data(&self) -> bool {
        self.roots
            .iter()
            .any(|(_, root)| matches!(root, Root::Invoices { .. }))
    }

    /// The operation's `data`, as JSON, for `caller` (whose tenant `scope`
    /// reads, when the plan reads tenant data); `None` when anything but the
    /// answer came up: the operation is then async-graphql's to run and to
    /// report.
    pub async fn run(
        &self,
        caller: &TenantContext,
        scope: Option<&ErpScope>,
        variables: &Variables,
    ) -> Option<Vec<u8>> {
        let loads = self.roots.iter().map(|(_, root)| async move {
            match root {
                Root::Typename | Root::Me(_) => Some(None),
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
                    invoice_page(scope?, arguments, *wanted)
                        .await
                        .ok()
                        .map(Some)
                }
            }
        });
        let pages = futures_util::future::join_all(loads).await;
        let mut out = Json::with_capacity(if self.reads_tenant_data() {
            16 * 1024
        } else {
            256
        });
        let mut pages = pages.into_iter();
        out.object(&self.roots, |out, root| {
            match (root, pages.next()??) {
                (Root::Typename, _) => out.str(&Query::type_name()),
                (Root::Me(fields), _) => me::write_me(out, fields, caller),
                (Root::Invoices { connection, .. }, Some(page)) => {
                    invoices::write_connection(out, connection, &page, scope?)?
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
}

/// A field without arguments or a selection of its own.
fn is_leaf(selected: &Selected<'_>) -> bool {
    selected.field.arguments.is_empty() && selected.sets.iter().all(|set| set.items.is_empty())
}

/// The GraphQL name of an enum value.
fn enum_name<E: EnumType + PartialEq>(value: E) -> &'static str {
    E::items()
        .iter()
        .find(|item| item.value == value)
        .map_or("", |item| item.name)
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
        assert!(compiles(
            "{ me { __typename id email role tenant { id slug name status __typename } } }"
        ));
        assert!(compiles(
            "query($c: ID!) { me { email } invoices(companyId: $c) { nodes { id } } }"
        ));
        for document in [
            "mutation($c: ID!) { invoices(companyId: $c) { nodes { id } } }",
            "query($c: ID!) { invoices(companyId: $c) { nodes { id @include(if: true) } } }",
            "query($c: ID!) @cached { invoices(companyId: $c) { nodes { id } } }",
            "query($c: ID!) { invoices(companyId: $c) { nodes { id } } myTenants { role } }",
            "{ me { tenant { name(x: 1) } } }",
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
