//! A GraphQL lexer just good enough to look at a document without parsing it:
//! which operation it runs (metrics), how many tokens it has (refused before the
//! parser sees a huge one), and its normalized form (the audit log's hash).
//!
//! Whitespace, commas and comments are insignificant in GraphQL and are skipped;
//! strings and block strings are one token each, escapes included.
use crate::digest::HmacKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// `{ } ( ) [ ] : = @ $ ! | &` and `...`
    Punct(&'a str),
    /// Names and keywords.
    Name(&'a str),
    /// Numbers and strings, as written.
    Literal(&'a str),
}

impl<'a> Token<'a> {
    fn text(self) -> &'a str {
        match self {
            Token::Punct(s) | Token::Name(s) | Token::Literal(s) => s,
        }
    }

    /// Whether two tokens written next to each other would merge into one.
    fn needs_space_before(self, next: Token<'_>) -> bool {
        matches!(self, Token::Name(_) | Token::Literal(_))
            && matches!(next, Token::Name(_) | Token::Literal(_))
    }
}

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    /// Whether a comment stood before the token just returned.
    comment_before: bool,
    /// Whether anything insignificant (space, comma, comment) did.
    separated_before: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            comment_before: false,
            separated_before: false,
        }
    }

    fn skip_insignificant(&mut self) {
        let bytes = self.src.as_bytes();
        self.comment_before = false;
        let start = self.pos;
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.pos += 1,
                // A comment runs to the next line terminator: `\n`, `\r` or both.
                b'#' => {
                    self.comment_before = true;
                    while self.pos < bytes.len() && !matches!(bytes[self.pos], b'\n' | b'\r') {
                        self.pos += 1;
                    }
                }
                // The byte-order mark (U+FEFF, three bytes in UTF-8).
                0xEF if bytes[self.pos..].starts_with("\u{feff}".as_bytes()) => self.pos += 3,
                _ => break,
            }
        }
        self.separated_before = self.pos > start;
    }

    /// The end of the string starting at `start` (just past its closing quote, or
    /// the end of the input for an unterminated one).
    /// Compared as bytes: `i` steps through multi-byte characters one byte at
    /// a time, and slicing the `str` there would panic (found by `schema::fuzz`).
    fn string_end(&self, start: usize) -> usize {
        let bytes = self.src.as_bytes();
        if bytes[start..].starts_with(b"\"\"\"") {
            let mut i = start + 3;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"\\\"\"\"") {
                    i += 4;
                } else if bytes[i..].starts_with(b"\"\"\"") {
                    return i + 3;
                } else {
                    i += 1;
                }
            }
            return bytes.len();
        }
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => return i + 1,
                // A plain string cannot span lines (the parser then refuses it).
                b'\n' | b'\r' => return i,
                _ => i += 1,
            }
        }
        bytes.len()
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        self.skip_insignificant();
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let first = *bytes.get(start)?;
        let end = match first {
            b'"' => self.string_end(start),
            b'.' if bytes[start..].starts_with(b"...") => start + 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let mut i = start + 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                i
            }
            b'-' | b'0'..=b'9' => {
                let mut i = start + 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
                i
            }
            // Anything else is one character (punctuation, or something the parser
            // will reject); step over the whole UTF-8 sequence.
            _ => start + self.src[start..].chars().next().map_or(1, char::len_utf8),
        };
        self.pos = end.max(start + 1).min(bytes.len());
        let text = &self.src[start..self.pos];
        Some(match first {
            b'"' | b'-' | b'0'..=b'9' => Token::Literal(text),
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => Token::Name(text),
            _ => Token::Punct(text),
        })
    }
}

/// Which bound of the document's source text is exceeded, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceLimit {
    Tokens,
    Nesting,
    /// A comment between `on` and the type name of a fragment's type condition:
    /// the spec reads a type condition, async-graphql's parser reads a spread
    /// of a fragment named `on` (found by the `document` fuzz target). The
    /// normalized form (the audit hash, the answer-cache key) would then mean
    /// another document, so such a document is refused.
    CommentInTypeCondition,
}

/// Whether the document has more than `max_tokens` tokens, or brackets (`{`,
/// `[`, `(`) nested more than `max_nesting` deep — read in one pass that stops
/// at the first excess. The parser recurses once per bracket (selection sets,
/// list and object values, list types) and bounds only selection sets, so this
/// runs before it: a document refused here is never parsed.
pub fn exceeded_limit(query: &str, max_tokens: usize, max_nesting: usize) -> Option<SourceLimit> {
    let mut depth = 0usize;
    let mut lexer = Lexer::new(query);
    // The three tokens before this one, newest first.
    let mut before: [Option<Token<'_>>; 3] = [None; 3];
    let mut count = 0usize;
    while let Some(token) = lexer.next() {
        if count >= max_tokens {
            return Some(SourceLimit::Tokens);
        }
        count += 1;
        let after_on = before[0] == Some(Token::Name("on"))
            && (before[1] == Some(Token::Punct("..."))
                || before[2] == Some(Token::Name("fragment")));
        if after_on && lexer.comment_before && matches!(token, Token::Name(_)) {
            return Some(SourceLimit::CommentInTypeCondition);
        }
        before = [Some(token), before[0], before[1]];
        match token {
            Token::Punct("{" | "[" | "(") => {
                depth += 1;
                if depth > max_nesting {
                    return Some(SourceLimit::Nesting);
                }
            }
            Token::Punct("}" | "]" | ")") => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Writes the document with comments and insignificant whitespace removed to
/// `out`: tokens joined, one space where two tokens were apart and would merge
/// without it. Tokens written together stay together: async-graphql's parser
/// does not split text into tokens as the spec does (`false1E-0` is values to
/// it, one name and a number to a spec lexer), so a space this lexer would add
/// between them could change what the parser reads (the `ws_message` fuzz
/// target found it). A document the parser accepts means the same written this
/// way (`schema::fuzz` checks it).
fn write_normalized<'q>(query: &'q str, mut out: impl FnMut(&'q str)) {
    let mut previous: Option<Token<'_>> = None;
    let mut lexer = Lexer::new(query);
    while let Some(token) = lexer.next() {
        if lexer.separated_before && previous.is_some_and(|p| p.needs_space_before(token)) {
            out(" ");
        }
        out(token.text());
        previous = Some(token);
    }
}

/// The normalized document as text.
pub fn normalized(query: &str) -> String {
    let mut text = String::with_capacity(query.len());
    write_normalized(query, |piece| text.push_str(piece));
    text
}

/// HMAC-SHA-256 (hex) of the normalized document under `key`, hashed as it is
/// written: the same operation formatted differently hashes the same, and
/// without the key a hash cannot be checked against guesses of a low-entropy
/// literal written in the document.
pub fn normalized_hash(query: &str, key: &HmacKey) -> String {
    use hmac::Mac;
    let mut mac = key.mac();
    write_normalized(query, |piece| mac.update(piece.as_bytes()));
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized_hash_test(query: &str) -> String {
        normalized_hash(query, &HmacKey::new(&[7; 32]))
    }

    #[test]
    fn the_hash_is_keyed() {
        let query = "{ me { email } }";
        assert_ne!(
            normalized_hash(query, &HmacKey::new(&[1; 32])),
            normalized_hash(query, &HmacKey::new(&[2; 32]))
        );
        let unkeyed = crate::digest::sha256_hex(&normalized(query));
        assert_ne!(normalized_hash(query, &HmacKey::new(&[1; 32])), unkeyed);
        // HMAC-SHA-256 of `{me{email}}` under that key, in lower-case hex
        // (Python's `hmac`): stored hashes stay comparable across versions.
        assert_eq!(
            normalized_hash(query, &HmacKey::new(&[7; 32])),
            "d2455338402814892d2bf86c234867a65aec80d73e6562a635f67e710a5c9cf0"
        );
    }

    fn texts(query: &str) -> Vec<&str> {
        Lexer::new(query).map(Token::text).collect()
    }

    #[test]
    fn splits_tokens_and_skips_noise() {
        assert_eq!(
            texts("query Q($a: [Int!] = [1, -2.5e3]) { a(x: \"s, t # u\") ...F } # c"),
            [
                "query",
                "Q",
                "(",
                "$",
                "a",
                ":",
                "[",
                "Int",
                "!",
                "]",
                "=",
                "[",
                "1",
                "-2.5e3",
                "]",
                ")",
                "{",
                "a",
                "(",
                "x",
                ":",
                "\"s, t # u\"",
                ")",
                "...",
                "F",
                "}"
            ]
        );
        assert_eq!(
            texts("{ a(d: \"\"\"x \\\"\"\" y\"\"\") }"),
            [
                "{",
                "a",
                "(",
                "d",
                ":",
                "\"\"\"x \\\"\"\" y\"\"\"",
                ")",
                "}"
            ]
        );
        assert_eq!(texts("\u{feff}{ é }"), ["{", "é", "}"]);
    }

    #[test]
    fn counts_without_reading_everything() {
        assert_eq!(exceeded_limit("{ a b }", 4, 8), None);
        assert_eq!(exceeded_limit("{ a b }", 3, 8), Some(SourceLimit::Tokens));
        assert_eq!(exceeded_limit("", 0, 8), None);
    }

    #[test]
    fn nesting_counts_every_kind_of_bracket_outside_strings() {
        let deep = format!(
            "{{ me @skip(if: {}true{}) {{ email }} }}",
            "[".repeat(30),
            "]".repeat(30)
        );
        // `{`, `(` and 30 `[`.
        assert_eq!(exceeded_limit(&deep, 5000, 31), Some(SourceLimit::Nesting));
        assert_eq!(exceeded_limit(&deep, 5000, 32), None);
        let objects = format!("{{ a(x: {}) }}", "{y: ".repeat(40) + &"}".repeat(40));
        assert_eq!(
            exceeded_limit(&objects, 5000, 32),
            Some(SourceLimit::Nesting)
        );
        let in_string = format!("{{ a(x: \"{}\") }}", "[".repeat(100));
        assert_eq!(exceeded_limit(&in_string, 5000, 8), None);
        // Closed brackets free their level again.
        assert_eq!(exceeded_limit("{ a(x: [[1]]) b(y: [[2]]) }", 5000, 4), None);
    }

    #[test]
    fn tokens_written_together_stay_together() {
        // The fuzzer's find: `…1E-0…` is one float to the parser; a space between
        // the lexer's `…1E` and `-0…` made it another document.
        let found = "{ me ,@skip(if: [[[[true]falsefalse01E-00,03e0]]]) }";
        assert_eq!(
            normalized(found),
            "{me@skip(if:[[[[true]falsefalse01E-00 03e0]]])}"
        );
        assert_eq!(normalized("{ a  b }"), "{a b}");
    }

    #[test]
    fn a_comment_inside_a_type_condition_is_refused() {
        // The fuzzer's find: the parser reads `...on` + comment + `m` as a
        // spread of `on` and a field, the normalized `...on m` as a type condition.
        let found = "{...on...on    \r#\u{17}ail-\n m {e} }";
        assert_eq!(
            exceeded_limit(found, 5000, 64),
            Some(SourceLimit::CommentInTypeCondition)
        );
        assert_eq!(
            exceeded_limit("fragment F on # c\n Query { a }", 5000, 64),
            Some(SourceLimit::CommentInTypeCondition)
        );
        // Comments anywhere else, and `on` as a plain field, are fine.
        assert_eq!(
            exceeded_limit("{ ... on Query # c\n { a } on # c\n b }", 5000, 64),
            None
        );
    }

    #[test]
    fn multi_byte_characters_in_block_strings_do_not_panic() {
        // Found by the generated documents of `schema::fuzz`: the block-string
        // scan sliced the text inside U+2028.
        assert_eq!(texts("{ a(d: \"\"\"\u{2028}é\"\"\") }").len(), 8);
        assert_eq!(texts("\"\"\"\u{2028}").len(), 1);
    }

    #[test]
    fn comments_and_strings_end_at_every_line_terminator() {
        // `#\r` ends the comment: what follows is a field, as the parser sees it.
        assert_eq!(
            texts("{ #\r tenantMembers { email } }"),
            ["{", "tenantMembers", "{", "email", "}", "}"]
        );
        assert_ne!(
            normalized_hash_test("{ #\r tenantMembers {email} x: \n me {email} }"),
            normalized_hash_test("{ me { email } }")
        );
        assert_eq!(texts("{ a(s: \"x\ry\") }")[5], "\"x");
    }

    #[test]
    fn formatting_does_not_change_the_hash() {
        let a = normalized_hash_test("query Q { me { email } }");
        let b = normalized_hash_test("query   Q {\n  # who am I\n  me {\n    email,\n  }\n}\n");
        assert_eq!(a, b);
        assert_ne!(a, normalized_hash_test("query Q { me { id } }"));
        assert_ne!(
            normalized_hash_test("{ a(s: \"x y\") }"),
            normalized_hash_test("{ a(s: \"x  y\") }")
        );
        assert_eq!(a.len(), 64);
    }
}
