//! Response fields in the order the document selects them.
//!
//! The GraphQL spec (7.2.2, "Serialized Map Ordering") has a response write an
//! object's fields in the order its selection set asks for them. async-graphql 7
//! resolves an object's fields concurrently and writes each one as it
//! completes, so a field that waits (a DataLoader, a query of its own) lands
//! after fields that did not: `topCustomers { partner { name } total }` came
//! back as `{"total":…,"partner":…}`, and an Oracle tenant's dashboard fields in
//! whatever order its round trips finished. A client that parses positionally,
//! a snapshot test or a byte-level diff sees the same answer differently.
//!
//! The plan is built per request from the parsed document (fragments spread in
//! place, `@skip`/`@include` evaluated, fields merged by response key), then
//! each object of the answer is checked against it in one pass and re-sorted
//! only when out of order. Type conditions are not consulted: tenantql's schema
//! has no interfaces or unions, so in a valid document every fragment applies
//! to the object it is spread on.
use async_graphql::{
    parser::types::{Directive, DocumentOperations, ExecutableDocument, Selection, SelectionSet},
    Name, Positioned, Request, Value, Variables,
};

/// Fragments spread inside fragments deeper than this are left unordered
/// (validation rejects cycles; this only bounds the walk).
const MAX_FRAGMENT_DEPTH: usize = 32;

/// The response keys of one selection set, in order, each with the plan of
/// its own selection (empty for leaf fields).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    fields: Vec<(Name, Plan)>,
}

impl Plan {
    /// The plan of the operation `request` runs, or None when its document did
    /// not parse or names no such operation (there is then no data to order).
    pub fn of(request: &mut Request) -> Option<Plan> {
        // Borrowed out and put back, not cloned: variables may be large inputs.
        let variables = std::mem::take(&mut request.variables);
        let operation_name = request.operation_name.take();
        let plan = request.parsed_query().ok().and_then(|document| {
            let selection = operation_selection(document, operation_name.as_deref())?;
            let builder = Builder {
                document,
                variables: &variables,
            };
            Some(builder.plan(&[selection]))
        });
        request.variables = variables;
        request.operation_name = operation_name;
        plan
    }

    /// Puts every object in `data` in its selection's order.
    pub fn restore(&self, data: &mut Value) {
        match data {
            Value::List(items) => {
                for item in items {
                    self.restore(item);
                }
            }
            Value::Object(map) => {
                if !self.is_in_order(map.keys()) {
                    map.sort_by_cached_key(|key, _| self.position(key));
                }
                // Keys now follow the plan: walk both in step.
                let mut next = 0;
                for (key, value) in map.iter_mut() {
                    let Some(offset) = self.fields[next..].iter().position(|(k, _)| k == key)
                    else {
                        continue;
                    };
                    next += offset;
                    let child = &self.fields[next].1;
                    if !child.fields.is_empty() {
                        child.restore(value);
                    }
                    next += 1;
                }
            }
            _ => {}
        }
    }

    fn is_in_order<'k>(&self, keys: impl Iterator<Item = &'k Name>) -> bool {
        let mut next = 0;
        for key in keys {
            match self.fields[next..].iter().position(|(k, _)| k == key) {
                Some(offset) => next += offset + 1,
                None => return false,
            }
        }
        true
    }

    fn position(&self, key: &Name) -> usize {
        self.fields
            .iter()
            .position(|(k, _)| k == key)
            .unwrap_or(usize::MAX)
    }
}

fn operation_selection<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d SelectionSet> {
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => operation,
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()?
        }
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some(&operation.node.selection_set.node)
}

struct Builder<'d> {
    document: &'d ExecutableDocument,
    variables: &'d Variables,
}

impl<'d> Builder<'d> {
    /// The plan of the union of `sets` (fields of one response key merged).
    fn plan(&self, sets: &[&'d SelectionSet]) -> Plan {
        let mut keys: Vec<(&'d Name, Vec<&'d SelectionSet>)> = Vec::new();
        for set in sets {
            self.collect(set, &mut keys, 0);
        }
        Plan {
            fields: keys
                .into_iter()
                .map(|(key, children)| (key.clone(), self.plan(&children)))
                .collect(),
        }
    }

    /// CollectFields: the set's fields in order, fragments spread in place.
    fn collect(
        &self,
        set: &'d SelectionSet,
        keys: &mut Vec<(&'d Name, Vec<&'d SelectionSet>)>,
        depth: usize,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if !self.included(&field.directives) {
                        continue;
                    }
                    let key = &field.response_key().node;
                    let children = &field.selection_set.node;
                    match keys.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, sets)) => sets.push(children),
                        None => keys.push((key, vec![children])),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    if depth >= MAX_FRAGMENT_DEPTH || !self.included(&spread.directives) {
                        continue;
                    }
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name.node)
                    {
                        self.collect(&fragment.node.selection_set.node, keys, depth + 1);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    if self.included(&fragment.directives) {
                        self.collect(&fragment.selection_set.node, keys, depth);
                    }
                }
            }
        }
    }

    /// Whether `@skip` / `@include` keep a selection.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|directive| {
            let directive = &directive.node;
            let condition = || {
                let value = directive.get_argument("if")?.node.clone();
                let value = value
                    .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
                    .ok()?;
                match value {
                    Value::Boolean(b) => Some(b),
                    _ => None,
                }
            };
            match directive.name.node.as_str() {
                "skip" => condition() != Some(true),
                "include" => condition() != Some(false),
                _ => true,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str, variables: serde_json::Value) -> Plan {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        Plan::of(&mut request).expect("a plan")
    }

    /// `answer` (JSON text, its key order kept) ordered by `query`'s plan.
    fn ordered(query: &str, answer: &str) -> String {
        let mut data: Value = serde_json::from_str(answer).unwrap();
        plan(query, serde_json::json!({})).restore(&mut data);
        serde_json::to_string(&data).unwrap()
    }

    #[test]
    fn objects_follow_their_selection_at_every_depth() {
        let query = "{ dashboard { topCustomers { partner { id name } total } revenue } }";
        let answer = r#"{"dashboard": {
            "revenue": "1.00",
            "topCustomers": [
                {"total": "2.00", "partner": {"name": "B", "id": "b"}},
                {"partner": {"id": "c", "name": "C"}, "total": "3.00"}
            ]}}"#;
        assert_eq!(
            ordered(query, answer),
            r#"{"dashboard":{"topCustomers":[{"partner":{"id":"b","name":"B"},"total":"2.00"},{"partner":{"id":"c","name":"C"},"total":"3.00"}],"revenue":"1.00"}}"#
        );
    }

    #[test]
    fn aliases_fragments_and_typename_are_keys_in_place() {
        let query = "query Q { a: me { ...F email } }
            fragment F on User { __typename ... on User { id } }";
        let answer = r#"{"a": {"email": "e", "id": "1", "__typename": "User"}}"#;
        assert_eq!(
            ordered(query, answer),
            r#"{"a":{"__typename":"User","id":"1","email":"e"}}"#
        );
    }

    #[test]
    fn skipped_fields_do_not_take_a_place() {
        // CollectFields: the first `a` is skipped, so `b` comes first.
        let query = "query Q($no: Boolean!) { a @skip(if: $no) b a @include(if: true) }";
        let p = plan(query, serde_json::json!({"no": true}));
        let keys: Vec<&str> = p.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        let p = plan(query, serde_json::json!({"no": false}));
        let keys: Vec<&str> = p.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn merged_fields_order_their_union() {
        let query = "{ me { id } me { email id } }";
        let p = plan(query, serde_json::json!({}));
        let me = &p.fields[0].1;
        let keys: Vec<&str> = me.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["id", "email"]);
    }

    #[test]
    fn the_named_operation_is_planned() {
        let query = "query A { a } query B { b c }";
        let mut request = Request::new(query)
            .operation_name("B")
            .variables(Variables::from_json(serde_json::json!({"x": 1})));
        let p = Plan::of(&mut request).unwrap();
        assert_eq!(p.fields.len(), 2);
        // The request runs afterwards exactly as it came.
        assert_eq!(request.operation_name.as_deref(), Some("B"));
        assert_eq!(
            request.variables.into_value().into_json().unwrap(),
            serde_json::json!({"x": 1})
        );
        let mut unnamed = Request::new(query);
        assert!(Plan::of(&mut unnamed).is_none());
        assert!(Plan::of(&mut Request::new("{ broken")).is_none());
    }

    #[test]
    fn nulls_and_lists_of_leaves_pass() {
        let query = "{ a { b c } d }";
        let answer = r#"{"d": [1, 2], "a": null}"#;
        assert_eq!(ordered(query, answer), r#"{"a":null,"d":[1,2]}"#);
    }
}
