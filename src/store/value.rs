//! The values that cross the store boundary, and rows of them.
use chrono::NaiveDate;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Date(NaiveDate),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<NaiveDate> for Value {
    fn from(v: NaiveDate) -> Self {
        Value::Date(v)
    }
}

/// One result row; columns are read by position, in the order the SELECT names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

fn mismatch(index: usize, wanted: &str, got: &Value) -> StoreError {
    StoreError::Mapping(format!("column {index}: expected {wanted}, got {got:?}"))
}

impl Row {
    fn at(&self, index: usize) -> Result<&Value, StoreError> {
        self.0
            .get(index)
            .ok_or_else(|| StoreError::Mapping(format!("no column {index}")))
    }

    /// Whether the column is NULL: an outer join found nothing to join.
    pub fn is_null(&self, index: usize) -> Result<bool, StoreError> {
        Ok(matches!(self.at(index)?, Value::Null))
    }

    pub fn int(&self, index: usize) -> Result<i64, StoreError> {
        match self.at(index)? {
            Value::Int(v) => Ok(*v),
            Value::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| mismatch(index, "integer", &Value::Text(t.clone()))),
            other => Err(mismatch(index, "integer", other)),
        }
    }

    /// An integer that may be NULL (SUM over no rows); NULL reads as 0.
    pub fn int_or_zero(&self, index: usize) -> Result<i64, StoreError> {
        match self.at(index)? {
            Value::Null => Ok(0),
            _ => self.int(index),
        }
    }

    pub fn text(&self, index: usize) -> Result<String, StoreError> {
        match self.at(index)? {
            Value::Text(t) => Ok(t.clone()),
            Value::Int(v) => Ok(v.to_string()),
            other => Err(mismatch(index, "text", other)),
        }
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.at(index)? {
            Value::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    /// Dates are `DATE` in Oracle and `YYYY-MM-DD` text in SQLite.
    pub fn date(&self, index: usize) -> Result<NaiveDate, StoreError> {
        match self.at(index)? {
            Value::Date(d) => Ok(*d),
            // FromStr is the ISO 8601 parser: no format string to interpret per value.
            Value::Text(t) => t
                .get(..10)
                .unwrap_or(t)
                .parse::<NaiveDate>()
                .map_err(|_| mismatch(index, "date", &Value::Text(t.clone()))),
            other => Err(mismatch(index, "date", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_by_position() {
        let row = Row(vec![
            Value::Int(7),
            Value::Text("2026-03-01".into()),
            Value::Null,
            Value::Text("42".into()),
        ]);
        assert_eq!(row.int(0).unwrap(), 7);
        assert_eq!(
            row.date(1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert_eq!(row.int_or_zero(2).unwrap(), 0);
        assert_eq!(row.opt_text(2).unwrap(), None);
        assert!(row.is_null(2).unwrap() && !row.is_null(0).unwrap());
        assert_eq!(row.int(3).unwrap(), 42);
        assert!(row.int(1).is_err());
        assert!(row.int(9).is_err());
    }
}
