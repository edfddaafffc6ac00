//! `Money` (exact decimal as a string) and `Date` (ISO `YYYY-MM-DD`).
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use crate::erp::Cents;

/// An exact amount with two decimals, as a string: `"1234.50"`. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money(pub Cents);

#[Scalar(name = "Money")]
impl ScalarType for Money {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Cents::parse(text).map(Money).ok_or_else(|| {
                InputValueError::custom(
                    "Money is a decimal string with at most two decimals, e.g. \"1234.50\"",
                )
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("Date is YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        // NaiveDate's Display is ISO 8601 (YYYY-MM-DD), without strftime parsing.
        Value::String(self.0.to_string())
    }
}
