//! JSON written as async-graphql's response serializer writes it (serde_json,
//! compact), with each response key encoded once when the plan is compiled.
use std::{fmt::Display, io::Write};

/// A response key, encoded as JSON with its colon: `"alias":`.
#[derive(Debug)]
pub struct Key(Box<[u8]>);

impl Key {
    pub fn new(key: &str) -> Key {
        let mut bytes = serde_json::to_vec(key).unwrap_or_default();
        bytes.push(b':');
        Key(bytes.into_boxed_slice())
    }
}

pub struct Json(Vec<u8>);

impl Json {
    pub fn with_capacity(bytes: usize) -> Json {
        Json(Vec::with_capacity(bytes))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// An object of `fields` (each a key and what it selects), each value
    /// written by `value`; stops at the first `None`.
    pub fn object<T>(
        &mut self,
        fields: &[(Key, T)],
        mut value: impl FnMut(&mut Json, &T) -> Option<()>,
    ) -> Option<()> {
        self.0.push(b'{');
        for (at, (key, field)) in fields.iter().enumerate() {
            if at > 0 {
                self.0.push(b',');
            }
            self.0.extend_from_slice(&key.0);
            value(self, field)?;
        }
        self.0.push(b'}');
        Some(())
    }

    /// A list of `items`, each written by `item`; stops at the first `None`.
    pub fn list<T>(
        &mut self,
        items: &[T],
        mut item: impl FnMut(&mut Json, &T) -> Option<()>,
    ) -> Option<()> {
        self.0.push(b'[');
        for (at, value) in items.iter().enumerate() {
            if at > 0 {
                self.0.push(b',');
            }
            item(self, value)?;
        }
        self.0.push(b']');
        Some(())
    }

    pub fn str(&mut self, text: &str) {
        // serde_json's escaping, byte for byte; writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, text);
    }

    pub fn str_or_null(&mut self, text: Option<String>) {
        match text {
            Some(text) => self.str(&text),
            None => self.null(),
        }
    }

    pub fn null(&mut self) {
        self.0.extend_from_slice(b"null");
    }

    pub fn bool(&mut self, value: bool) {
        self.0
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A value whose text form is the string a scalar answers with (a date,
    /// an amount): written as that string, escaped as any other.
    pub fn display(&mut self, value: impl Display) {
        let start = self.0.len();
        let _ = write!(self.0, "{value}");
        if self.0[start..]
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            self.0.insert(start, b'"');
            self.0.push(b'"');
        } else {
            let text = String::from_utf8_lossy(&self.0[start..]).into_owned();
            self.0.truncate(start);
            self.str(&text);
        }
    }
}
