//! Parsed GraphQL documents, by their text. SPAs send the same few documents
//! all day, and parsing one (async-graphql's pest grammar) was about 15% of
//! the server's CPU for `{ me }` (perf, `cargo bench --bench load -- --phases
//! me`). Parsing is a pure function of the text, so one cache serves every
//! tenant: it holds no answer and nothing about who sent the document.
use async_graphql::{parser::types::ExecutableDocument, Request, ServerError};
use moka::sync::Cache;

use crate::digest::HmacKey;

/// Documents longer than this are parsed every time (they are rare, and the
/// cache is for the SPA's everyday documents).
const MAX_CACHED_DOCUMENT_BYTES: usize = 16 * 1024;
/// Bound on the cached documents' text, in bytes; the parsed form takes a
/// few times that.
const CACHE_TEXT_BYTES: u64 = 2 * 1024 * 1024;

pub struct DocumentCache {
    parsed: Cache<String, ExecutableDocument>,
    /// The key of document hashes (audit rows, answer-cache keys), derived from
    /// the master key: the same on every instance, unknown outside them.
    pub hash_key: HmacKey,
}

impl DocumentCache {
    pub fn new(hash_key: HmacKey) -> Self {
        DocumentCache {
            parsed: Cache::builder()
                .max_capacity(CACHE_TEXT_BYTES)
                .weigher(|text: &String, _| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .build(),
            hash_key,
        }
    }

    /// The request's parsed document: from the cache when its text was seen
    /// before, else parsed now (and kept if it parsed). A syntax error is
    /// never kept; the request reports it as before.
    pub fn parse<'r>(
        &self,
        request: &'r mut Request,
    ) -> Result<&'r ExecutableDocument, ServerError> {
        if let Some(document) = self.parsed.get(request.query.as_str()) {
            request.set_parsed_query(document);
        } else if request.query.len() <= MAX_CACHED_DOCUMENT_BYTES {
            if let Ok(document) = request.parsed_query() {
                let document = document.clone();
                self.parsed.insert(request.query.clone(), document);
            }
        }
        request.parsed_query()
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.parsed.run_pending_tasks();
        self.parsed.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_parsed_once_and_errors_are_not_kept() {
        let cache = DocumentCache::new(HmacKey::new(&[0; 32]));
        let mut first = Request::new("query Me { me { email } }");
        let operations = cache.parse(&mut first).unwrap().operations.iter().count();
        assert_eq!(operations, 1);
        assert_eq!(cache.len(), 1);
        let mut again = Request::new("query Me { me { email } }");
        let document = cache.parse(&mut again).unwrap();
        assert!(format!("{document:?}").contains("Me"));
        assert_eq!(cache.len(), 1);
        let mut broken = Request::new("query { me { ");
        assert!(cache.parse(&mut broken).is_err());
        assert_eq!(cache.len(), 1, "syntax errors are not kept");
        let mut other = Request::new("{ me { email tenant { slug } } }");
        cache.parse(&mut other).unwrap();
        assert_eq!(cache.len(), 2);
    }
}
