//! The invariants the document path keeps for any input, as functions a fuzzer
//! (and the corpus replay in the tests) calls: each panics when an invariant
//! breaks, and returns quietly otherwise.
//!
//! - The source bounds are checked before the parser sees the text.
//! - The lexer agrees with the parser: a document the parser accepts parses to
//!   the same tree from its normalized form (the form the audit hash and the
//!   answer-cache key are computed from), so no text can hide from them.
//! - Every walk that follows spreads runs only after the expansion is measured
//!   and within the limit, and the measure itself is linear in the document.
use async_graphql::{parser::parse_query, Request};

use super::{anonymous, expansion, lexer, limits, ordering, secrets, QueryLimits};

/// Runs `text` through everything the server does with a document before it
/// executes, checking the invariants above.
pub fn document(text: &str) {
    let limits = QueryLimits::default();
    if limits::check_source(text, &limits).is_err() {
        return;
    }
    let _ = lexer::normalized_hash(text, &crate::digest::HmacKey::new(&[0; 32]));
    let Ok(document) = parse_query(text) else {
        return;
    };
    let normalized = lexer::normalized(text);
    let again = parse_query(&normalized).unwrap_or_else(|e| {
        panic!(
            "the normalized form of a valid document does not parse: {e}\n{text:?}\n{normalized:?}"
        )
    });
    assert_eq!(
        tree(&document),
        tree(&again),
        "the lexer and the parser read {text:?} differently"
    );
    let Ok(steps) = expansion::measure(
        &document,
        limits.expanded_selections,
        limits::MAX_FRAGMENT_CHAIN,
    ) else {
        return;
    };
    assert!(steps <= limits.expanded_selections);
    let _ = anonymous::refuse_unless_public(&document, false);
    let _ = anonymous::refuse_introspection(&document);
    let _ = limits::check_document(&document, &limits);
    let _ = secrets::variables_bound_to_secrets(&document);
    let mut request = Request::new(text);
    let _ = ordering::Plan::of(&mut request);
}

/// A request body as POST sends it: the JSON is parsed, its inputs bounded,
/// and every document in it checked as above.
pub fn request_body(bytes: &[u8]) {
    let Ok(batch) = serde_json::from_slice::<async_graphql::BatchRequest>(bytes) else {
        return;
    };
    let requests = match batch {
        async_graphql::BatchRequest::Single(request) => vec![request],
        async_graphql::BatchRequest::Batch(requests) => requests,
    };
    for request in requests.iter().take(QueryLimits::default().batch) {
        if limits::check_inputs(request).is_ok() {
            document(&request.query);
        }
    }
}

/// `levels` fragments, each spreading the next `fan_out` times: eight levels
/// of eight spreads are 600 bytes and 16 million selections to a walk that
/// follows every spread. For the tests of every layer.
pub fn fragment_bomb(levels: usize, fan_out: usize) -> String {
    let mut query = String::from("query { ...F1 }");
    for level in 1..levels {
        query.push_str(&format!(" fragment F{level} on Query {{"));
        for _ in 0..fan_out {
            query.push_str(&format!(" ...F{}", level + 1));
        }
        query.push_str(" }");
    }
    query.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    query
}

/// The parse tree without positions (the same document written differently
/// has its nodes elsewhere).
fn tree(document: &async_graphql::parser::types::ExecutableDocument) -> serde_json::Value {
    let mut value = serde_json::to_value(document).expect("a parse tree serializes");
    strip_positions(&mut value);
    value
}

/// Removes every `pos` (nesting is bounded by the source check above).
fn strip_positions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("pos");
            map.values_mut().for_each(strip_positions);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_positions),
        _ => {}
    }
}

/// The inputs of fuzz target `target` kept in the repository (`fuzz/corpus/`:
/// a minimized corpus and every crash a run found), for the tests to replay.
#[cfg(test)]
pub(crate) fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} is missing: {e}", dir.display()));
    let inputs: Vec<Vec<u8>> = entries
        .map(|entry| std::fs::read(entry.expect("a corpus entry").path()).expect("readable"))
        .collect();
    assert!(inputs.len() >= 10, "the corpus of {target} is nearly empty");
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_corpora_replay() {
        for input in corpus("document") {
            document(&String::from_utf8_lossy(&input));
        }
        for input in corpus("request_body") {
            request_body(&input);
        }
    }

    /// A small deterministic generator (xorshift): the same documents every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    /// Pieces of GraphQL source, including every kind of insignificant text
    /// and the characters where lexers and parsers tend to disagree.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ":",
        "$",
        "!",
        "@",
        "=",
        "...",
        "|",
        "&",
        "me",
        "email",
        "query",
        "mutation",
        "fragment",
        "on",
        "Query",
        "F",
        "a",
        "x",
        "skip",
        "include",
        "if",
        "true",
        "false",
        "null",
        "1",
        "-2",
        "3.5e2",
        "0",
        "\"s\"",
        "\"a\\\"b\"",
        "\"\\u00e9\"",
        "\"\"\"block\"\"\"",
        "\"\"\"a\\\"\"\"b\"\"\"",
        "\"\"\"\r\n\"\"\"",
        " ",
        ",",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "#c\n",
        "#c\r",
        "#c\r\n",
        "# x \r y\n",
        "\u{feff}",
        "\"",
        "\"\"\"",
        "\\",
        "#",
        ".",
        "..",
        "é",
        "\u{0}",
        "\u{2028}",
    ];

    /// Documents built from a valid skeleton with pieces spliced in: most
    /// parse, and the ones that do must read the same to lexer and parser.
    #[test]
    fn the_lexer_agrees_with_the_parser_on_generated_documents() {
        let skeletons = [
            "query Q($a: Int = 1) { me @skip(if: false) { email } ...F } fragment F on Query { __typename }",
            "{ a: me { email } b: me { email } }",
            "mutation { login(email: \"e\", password: \"\"\"p\"\"\") { token } }",
            "{ x(y: [1, 2, {z: \"w\"}]) }",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut parsed = 0;
        for round in 0..20_000 {
            let skeleton = skeletons[round % skeletons.len()];
            let mut text = String::from(skeleton);
            for _ in 0..(rng.next() % 4) {
                let boundaries: Vec<usize> = (0..=text.len())
                    .filter(|i| text.is_char_boundary(*i))
                    .collect();
                let at = boundaries[(rng.next() % boundaries.len() as u64) as usize];
                text.insert_str(at, rng.pick(PIECES));
            }
            if parse_query(&text).is_ok() {
                parsed += 1;
            }
            document(&text);
        }
        assert!(
            parsed > 1000,
            "the generator makes valid documents too ({parsed})"
        );
    }

    #[test]
    fn the_review_s_documents_hold() {
        for text in [
            "{ #\r tenantMembers {email} x: \n me {email} }",
            "{ me @skip(if: [[[[true]]]]) { email } }",
            "query { ...F1 } fragment F1 on Query { ...F2 ...F2 } fragment F2 on Query { __typename }",
            "{ a(s: \"x\ry\") }",
        ] {
            document(text);
            request_body(serde_json::json!({ "query": text }).to_string().as_bytes());
        }
    }
}
