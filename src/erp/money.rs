//! Exact money: integer minor units, written as a decimal string with two places.
use std::fmt;

/// An amount in cents. Sums of `Cents` are exact; there is no float anywhere.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Cents(pub i64);

impl Cents {
    /// Parses `1234`, `1234.5`, `-0.07`; more than two decimals is an error, not a rounding.
    pub fn parse(text: &str) -> Option<Cents> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        if whole.is_empty()
            || fraction.len() > 2
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let fraction: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().ok()? * 10,
            _ => fraction.parse().ok()?,
        };
        let cents = whole.checked_mul(100)?.checked_add(fraction)?;
        Some(Cents(if negative { -cents } else { cents }))
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Cents {
    type Output = Cents;
    fn sub(self, rhs: Cents) -> Cents {
        Cents(self.0 - rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_exactly() {
        assert_eq!(Cents(123456).to_string(), "1234.56");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(-7).to_string(), "-0.07");
        assert_eq!(Cents(-12345).to_string(), "-123.45");
        assert_eq!(Cents(0).to_string(), "0.00");
        assert_eq!((Cents(10) + Cents(20)).to_string(), "0.30");
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(Cents::parse("1234.5"), Some(Cents(123450)));
        assert_eq!(Cents::parse("1234"), Some(Cents(123400)));
        assert_eq!(Cents::parse("-0.07"), Some(Cents(-7)));
        assert_eq!(Cents::parse("0.30"), Some(Cents(30)));
        for bad in [
            "",
            "1.234",
            "abc",
            "1,5",
            ".5",
            "1e3",
            "--1",
            "92233720368547758.08",
        ] {
            assert_eq!(Cents::parse(bad), None, "{bad}");
        }
    }
}
