//! Terraform's numbers: arbitrary-precision decimals, kept cheap for the common cases.

use std::fmt;

/// A number without precision loss: integers and binary floats take the fast paths, anything else
/// (huge integers, long decimals) keeps its exact decimal text.
#[derive(Clone, Debug)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// Exact decimal text, already validated.
    Decimal(String),
}

impl Number {
    /// Parses decimal text as Terraform writes numbers (`-12`, `1.5`, `1e400`, ...).
    pub fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        if !is_decimal_literal(t) {
            return None;
        }
        if let Ok(i) = t.parse::<i64>() {
            return Some(Number::Int(i));
        }
        if let Ok(f) = t.parse::<f64>() {
            // Keep the float only if it says exactly what the text says.
            if f.is_finite() && float_text_round_trips(f, t) {
                return Some(Number::from_f64(f));
            }
        }
        Some(Number::Decimal(t.to_string()))
    }

    pub fn from_f64(f: f64) -> Number {
        if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
            Number::Int(f as i64)
        } else {
            Number::Float(f)
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(_) | Number::Decimal(_) => None,
        }
    }

    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Float(f) => *f,
            Number::Decimal(s) => s.parse().unwrap_or(f64::NAN),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Decimal(s) => f.write_str(s),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Decimal(a), Number::Decimal(b)) => a == b,
            // Constructors normalise, so mixed kinds only meet for values that differ; compare the
            // text to stay exact either way.
            (a, b) => a.to_string() == b.to_string(),
        }
    }
}

fn is_decimal_literal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp {
            return false;
        }
    }
    i == b.len()
}

/// True when `f` printed shortest-form reads back as the same decimal as `text` (so nothing was
/// rounded away when the text was parsed).
fn float_text_round_trips(f: f64, text: &str) -> bool {
    fn canonical(s: &str) -> Option<(bool, String, i64)> {
        // sign, significant digits without leading/trailing zeros, decimal exponent
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (mant, exp) = match s.find(['e', 'E']) {
            Some(p) => (&s[..p], s[p + 1..].parse::<i64>().ok()?),
            None => (s, 0),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let digits = format!("{int}{frac}");
        let lead = digits.len() - digits.trim_start_matches('0').len();
        let trimmed = digits
            .trim_start_matches('0')
            .trim_end_matches('0')
            .to_string();
        if trimmed.is_empty() {
            return Some((false, String::new(), 0));
        }
        let point = int.len() as i64 - lead as i64 + exp;
        Some((neg, trimmed, point))
    }
    let printed = format!("{f:e}");
    matches!((canonical(&printed), canonical(text)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::value::{Type, Value, from_msgpack};

    #[test]
    fn ordinary_numbers_take_the_fast_paths() {
        assert_eq!(Number::parse("42"), Some(Number::Int(42)));
        assert_eq!(Number::parse("-7"), Some(Number::Int(-7)));
        assert!(matches!(Number::parse("1.5"), Some(Number::Float(f)) if f == 1.5));
        assert_eq!(Number::parse("3.0"), Some(Number::Int(3)));
        assert!(matches!(Number::parse("0.1"), Some(Number::Float(_))));
        assert!(matches!(Number::parse("1e400"), Some(Number::Decimal(_))));
        assert_eq!(Number::parse("abc"), None);
        assert_eq!(Number::parse("1e"), None);
        assert_eq!(Number::parse("."), None);
        // A float on the wire that is integral decodes as an int.
        let mut f = vec![0xcb];
        f.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        assert_eq!(from_msgpack(&f, &Type::Number).unwrap(), Value::int(2));
    }
}
