//! Plain-data objects resolved without a boxed future per field.
//!
//! async-graphql's derived `OutputType::resolve` boxes one future per selected
//! field, runs them in a `FuturesUnordered` and writes each value as it
//! completes. An invoice page is ~2,500 fields of rows already in memory, and
//! that machinery cost more than the fields (a profile of the page: async-graphql
//! execution ~25 % of the server's CPU). `InOrder<T>` keeps everything of `T`
//! — its type in the schema, its derived `resolve_field` with arguments, guards
//! and errors — and resolves the selection set itself: the field futures (all of
//! one type) are joined in place, so fields that wait still wait together, and
//! the values are written in selection order.
//!
//! It reproduces the derived resolver's results, errors included (the
//! differential test below runs hundreds of selections through both). It does
//! not run schema extensions or custom directives: tenantql registers neither
//! (`schema::build`), and async-graphql removes `@skip`/`@include` selections
//! before execution.
use std::borrow::Cow;

use async_graphql::{
    indexmap::IndexMap,
    parser::types::{Field, Selection, SelectionSet},
    registry::Registry,
    ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerError, ServerResult,
    Value,
};

/// `T` (an `#[Object]`), resolved field by field in selection order.
pub struct InOrder<T>(pub T);

impl<T: ContainerType> OutputType for InOrder<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        // One box per object (not per field): a type may reach itself
        // through its fields, and its future cannot contain itself.
        let resolving: futures_util::future::BoxFuture<'_, ServerResult<Value>> =
            Box::pin(resolve_in_order(ctx, &self.0));
        resolving.await
    }
}

async fn resolve_in_order<T: ContainerType>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> ServerResult<Value> {
    let mut fields = Vec::new();
    collect(ctx, &T::type_name(), &ctx.item.node, &mut fields)?;
    let contexts: Vec<_> = fields.iter().map(|field| ctx.with_field(field)).collect();
    let resolved = futures_util::future::join_all(contexts.iter().map(|field| async move {
        if field.item.node.name.node == "__typename" {
            Ok(Some(Value::String(
                root.introspection_type_name().into_owned(),
            )))
        } else {
            root.resolve_field(field).await
        }
    }))
    .await;
    let mut values = IndexMap::with_capacity(resolved.len());
    for (field, value) in contexts.iter().zip(resolved) {
        match value {
            Ok(value) => insert_value(
                &mut values,
                field.item.node.response_key().node.clone(),
                value.unwrap_or_default(),
            ),
            Err(error) => ctx.add_error(error),
        }
    }
    Ok(if values.is_empty() {
        Value::Null
    } else {
        Value::Object(values)
    })
}

/// The fields of `set` that apply to `type_name`, fragments spread in place.
fn collect<'a>(
    ctx: &ContextSelectionSet<'a>,
    type_name: &str,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Positioned<Field>>,
) -> ServerResult<()> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => out.push(field),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let fragment = ctx.query_env.fragments.get(name).ok_or_else(|| {
                    ServerError::new(format!(r#"Unknown fragment "{name}"."#), Some(spread.pos))
                })?;
                if fragment.node.type_condition.node.on.node == type_name {
                    collect(ctx, type_name, &fragment.node.selection_set.node, out)?;
                }
            }
            Selection::InlineFragment(fragment) => {
                let applies = fragment
                    .node
                    .type_condition
                    .as_ref()
                    .is_none_or(|condition| condition.node.on.node == type_name);
                if applies {
                    collect(ctx, type_name, &fragment.node.selection_set.node, out)?;
                }
            }
        }
    }
    Ok(())
}

/// A response key selected twice has its sub-selections merged, as
/// async-graphql does.
fn insert_value(target: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    let Some(previous) = target.get_mut(&name) else {
        target.insert(name, value);
        return;
    };
    match (previous, value) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                insert_value(into, key, value);
            }
        }
        (Value::List(into), Value::List(from)) => {
            for (item, value) in into.iter_mut().zip(from) {
                if let (Value::Object(into), Value::Object(from)) = (item, value) {
                    for (key, value) in from {
                        insert_value(into, key, value);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    //! Differential test: the same selections against the derived resolver
    //! (`derived`) and `InOrder` (`ordered`) over one type, compared as data and
    //! errors; the ordered answer must also follow the selection.
    use std::time::Duration;

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema, Variables};

    use super::*;

    #[derive(Clone, Copy)]
    struct Row(i64);

    #[Object]
    impl Row {
        async fn id(&self) -> i64 {
            self.0
        }

        async fn name(&self) -> String {
            format!("row {}", self.0)
        }

        /// Waits, as a DataLoader or a query does.
        async fn slow(&self) -> i64 {
            tokio::time::sleep(Duration::from_millis(1 + (self.0 % 3) as u64)).await;
            self.0 * 10
        }

        async fn scaled(&self, by: i64) -> i64 {
            self.0 * by
        }

        async fn child(&self) -> InOrder<Row> {
            InOrder(Row(self.0 + 1))
        }

        async fn derived_child(&self) -> Row {
            Row(self.0 + 100)
        }

        async fn children(&self, count: i32) -> Vec<InOrder<Row>> {
            (0..count as i64)
                .map(|i| InOrder(Row(self.0 * 10 + i)))
                .collect()
        }

        async fn fails(&self) -> async_graphql::Result<i64> {
            Err("this field fails".into())
        }

        async fn maybe_fails(&self) -> async_graphql::Result<Option<i64>> {
            if self.0 % 2 == 0 {
                Err("even rows fail".into())
            } else {
                Ok(Some(self.0))
            }
        }

        async fn nothing(&self) -> Option<i64> {
            None
        }
    }

    struct Query;

    #[Object]
    impl Query {
        async fn derived(&self) -> Row {
            Row(7)
        }

        async fn ordered(&self) -> InOrder<Row> {
            InOrder(Row(7))
        }

        async fn derived_list(&self) -> Vec<Row> {
            (1..=4).map(Row).collect()
        }

        async fn ordered_list(&self) -> Vec<InOrder<Row>> {
            (1..=4).map(|i| InOrder(Row(i))).collect()
        }
    }

    /// Pieces of a selection on `Row`; documents are made of a few of them.
    const PIECES: &[&str] = &[
        "id",
        "name",
        "slow",
        "__typename",
        "alias: name",
        "other: slow",
        "scaled(by: 3)",
        "big: scaled(by: 1000)",
        "child { id slow name }",
        "child { slow child { __typename id } }",
        "derivedChild { name slow }",
        "children(count: 3) { id slow }",
        "children(count: 2) { name ...RowName }",
        "fails",
        "maybeFails",
        "nothing",
        "...RowName",
        "... on Row { slow id }",
        "... { name }",
        "child { ... on Row { slow } id }",
        "id @include(if: $yes)",
        "slow @skip(if: $yes)",
        "child { name @skip(if: $no) id }",
        "child { id } child { name }",
        "children(count: 2) { id } children(count: 2) { slow }",
    ];

    /// A deterministic stream of numbers (no RNG crate for a test).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, below: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) % below as u64) as usize
        }
    }

    fn selections() -> Vec<String> {
        let mut out: Vec<String> = PIECES.iter().map(|p| p.to_string()).collect();
        let mut rng = Lcg(42);
        for _ in 0..300 {
            let count = 1 + rng.next(6);
            let picked: Vec<&str> = (0..count).map(|_| PIECES[rng.next(PIECES.len())]).collect();
            out.push(picked.join(" "));
        }
        out
    }

    async fn run(
        schema: &Schema<Query, EmptyMutation, EmptySubscription>,
        root: &str,
        selection: &str,
    ) -> serde_json::Value {
        let document = format!(
            "query($yes: Boolean!, $no: Boolean!) {{ {root} {{ {selection} }} }}
             fragment RowName on Row {{ name id }}"
        );
        let request = Request::new(document).variables(Variables::from_json(
            serde_json::json!({"yes": true, "no": false}),
        ));
        let response = schema.execute(request).await;
        serde_json::to_value(&response).unwrap()
    }

    /// The answer with the root field renamed, so both roots compare.
    fn under(mut answer: serde_json::Value, from: &str, to: &str) -> serde_json::Value {
        if let Some(data) = answer.get_mut("data").and_then(|d| d.as_object_mut()) {
            if let Some(value) = data.remove(from) {
                data.insert(to.to_string(), value);
            }
        }
        if let Some(errors) = answer.get_mut("errors").and_then(|e| e.as_array_mut()) {
            for error in errors.iter_mut() {
                if let Some(path) = error.get_mut("path").and_then(|p| p.as_array_mut()) {
                    if path.first().and_then(|p| p.as_str()) == Some(from) {
                        path[0] = to.into();
                    }
                }
            }
            // Concurrent fields report their errors in completion order.
            errors.sort_by_key(|e| e.to_string());
        }
        answer
    }

    #[tokio::test]
    async fn in_order_resolution_matches_the_derived_one() {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let sdl = schema.sdl();
        assert_eq!(sdl.matches("type Row {").count(), 1, "one Row type:\n{sdl}");
        for selection in selections() {
            for (derived, ordered) in [("derived", "ordered"), ("derivedList", "orderedList")] {
                let expected = under(run(&schema, derived, &selection).await, derived, "root");
                let actual = under(run(&schema, ordered, &selection).await, ordered, "root");
                assert_eq!(actual, expected, "selection `{selection}` under {ordered}");
            }
        }
    }

    #[tokio::test]
    async fn fields_are_written_in_selection_order() {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let document = "{ ordered { slow id child { slow name } __typename } }";
        let response = schema.execute(document).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(
            serde_json::to_string(&response.data).unwrap(),
            r#"{"ordered":{"slow":70,"id":7,"child":{"slow":80,"name":"row 8"},"__typename":"Row"}}"#
        );
    }
}
