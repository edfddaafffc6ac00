//! Keyset pages: opaque cursors that carry the sort key of the last row seen, and
//! page sizes. Pages continue from the key, so rows inserted meanwhile cause no
//! gaps or repeats. Used by every list: ERP data, tenants, the audit log.
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::error::AppError;

/// Most rows one page may ask for.
pub const MAX_PAGE_SIZE: usize = 100;
pub const DEFAULT_PAGE_SIZE: usize = 20;

pub fn encode(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("\u{1f}"))
}

/// The parts of a cursor, which must have `count` of them.
pub fn decode(cursor: &str, count: usize) -> Result<Vec<String>, AppError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let text = String::from_utf8(bytes).map_err(|_| bad_cursor())?;
    let parts: Vec<String> = text.split('\u{1f}').map(str::to_string).collect();
    if parts.len() == count {
        Ok(parts)
    } else {
        Err(bad_cursor())
    }
}

pub fn bad_cursor() -> AppError {
    AppError::bad_input("after", "not a cursor from this list")
}

/// Rows were fetched with one extra to learn whether another page follows.
pub fn split_page<T>(mut rows: Vec<T>, first: usize) -> (Vec<T>, bool) {
    let has_next = rows.len() > first;
    rows.truncate(first);
    (rows, has_next)
}

/// Checks `first`: 1 to `MAX_PAGE_SIZE`, default `DEFAULT_PAGE_SIZE`.
pub fn page_size(first: Option<i32>) -> Result<usize, AppError> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n >= 1 && n as usize <= MAX_PAGE_SIZE => Ok(n as usize),
        Some(_) => Err(AppError::bad_input(
            "first",
            format!("first must be between 1 and {MAX_PAGE_SIZE}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let c = encode(&["2026-01-31", "42"]);
        assert_eq!(decode(&c, 2).unwrap(), vec!["2026-01-31", "42"]);
        assert!(decode(&c, 3).is_err());
        assert!(decode("%%%", 2).is_err());
        assert_eq!(page_size(None).unwrap(), 20);
        assert_eq!(page_size(Some(100)).unwrap(), 100);
        assert!(page_size(Some(101)).is_err());
        assert!(page_size(Some(0)).is_err());
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
    }
}
