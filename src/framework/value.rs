//! Terraform's values: what travels in a `DynamicValue`.
//!
//! Terraform sends configuration, plans and state as msgpack (and, for state read back from disk
//! during upgrades, as JSON), always without type information: the receiver decodes *against the
//! schema's type*. So decoding here is type-directed, and a value that does not fit its type is an
//! error with the attribute path where it went wrong — never a panic, whatever the bytes.
//!
//! Three things make these values unlike plain JSON:
//! - any value may be *null* or *unknown* (known only after apply). Unknowns are msgpack extension
//!   values; Terraform may attach "refinements" (ext code 12) which we accept and drop, since the
//!   provider never needs them to plan.
//! - numbers are arbitrary-precision decimals. [`Number`] keeps the common cases (i64, f64) cheap
//!   and anything else as its exact decimal text.
//! - the `dynamic` pseudo-type carries its concrete type alongside the value.

use std::collections::BTreeMap;
use std::fmt;

/// A Terraform type (cty type), as used in schemas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
    String,
    /// `dynamic`: the concrete type travels with each value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

/// One Terraform value. Collections keep their kind so they encode back exactly as they came.
#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Null,
    /// Not known until apply. Refinements sent by Terraform are dropped.
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
}

/// A number without precision loss: integers and binary floats take the fast paths, anything else
/// (huge integers, long decimals) keeps its exact decimal text.
#[derive(Clone, Debug)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// Exact decimal text, already validated.
    Decimal(String),
}

/// Why bytes could not be read as a value of the expected type. `path` points at the attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

/// Types nest no deeper than this when they arrive inside dynamic values (a guard against
/// hostile input recursing the decoder off the stack).
const MAX_TYPE_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------------
// Number

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

// ---------------------------------------------------------------------------------------------
// Value helpers

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            // Sets compare without order.
            (Set(a), Set(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A string, or null when absent.
    pub fn opt_string(s: Option<impl Into<String>>) -> Value {
        s.map_or(Value::Null, |s| Value::String(s.into()))
    }

    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// Known all the way down (no unknown anywhere inside).
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// An object's attribute; null for a missing attribute or a value that is not an object.
    pub fn attr(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Sets an object's attribute (no effect on other values).
    pub fn set_attr(&mut self, name: &str, v: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_string(), v);
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Best-effort type of a value, used to encode values of `dynamic` attributes.
    pub fn infer_type(&self) -> Type {
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => {
                Type::List(Box::new(v.first().map_or(Type::Dynamic, Value::infer_type)))
            }
            Value::Set(v) => {
                Type::Set(Box::new(v.first().map_or(Type::Dynamic, Value::infer_type)))
            }
            Value::Map(m) => Type::Map(Box::new(
                m.values().next().map_or(Type::Dynamic, Value::infer_type),
            )),
            Value::Object(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), v.infer_type())).collect())
            }
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::infer_type).collect()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Type <-> JSON (the form schemas and dynamic values use: "string", ["list","string"], ...)

impl Type {
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(t) => J::Array(vec!["list".into(), t.to_json()]),
            Type::Set(t) => J::Array(vec!["set".into(), t.to_json()]),
            Type::Map(t) => J::Array(vec!["map".into(), t.to_json()]),
            Type::Object(attrs) => J::Array(vec![
                "object".into(),
                J::Object(
                    attrs
                        .iter()
                        .map(|(k, t)| (k.clone(), t.to_json()))
                        .collect(),
                ),
            ]),
            Type::Tuple(ts) => J::Array(vec![
                "tuple".into(),
                J::Array(ts.iter().map(Type::to_json).collect()),
            ]),
        }
    }

    /// The bytes a schema attribute's `type` field carries.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    pub fn from_json(j: &serde_json::Value) -> Result<Type, String> {
        Self::from_json_depth(j, 0)
    }

    fn from_json_depth(j: &serde_json::Value, depth: usize) -> Result<Type, String> {
        use serde_json::Value as J;
        if depth > MAX_TYPE_DEPTH {
            return Err("type nests too deeply".into());
        }
        match j {
            J::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("unknown primitive type {other:?}")),
            },
            J::Array(parts) if parts.len() >= 2 => {
                let elem = |d| Self::from_json_depth(&parts[1], d).map(Box::new);
                match parts[0].as_str() {
                    Some("list") => Ok(Type::List(elem(depth + 1)?)),
                    Some("set") => Ok(Type::Set(elem(depth + 1)?)),
                    Some("map") => Ok(Type::Map(elem(depth + 1)?)),
                    Some("object") => match &parts[1] {
                        J::Object(m) => m
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), Self::from_json_depth(v, depth + 1)?)))
                            .collect::<Result<_, String>>()
                            .map(Type::Object),
                        _ => Err("object type needs a map of attribute types".into()),
                    },
                    Some("tuple") => match &parts[1] {
                        J::Array(ts) => ts
                            .iter()
                            .map(|t| Self::from_json_depth(t, depth + 1))
                            .collect::<Result<_, String>>()
                            .map(Type::Tuple),
                        _ => Err("tuple type needs a list of element types".into()),
                    },
                    _ => Err(format!("unknown type constructor {}", parts[0])),
                }
            }
            other => Err(format!("not a type: {other}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// msgpack

/// Decodes msgpack bytes as a value of type `ty`. Extension values anywhere decode as unknown.
pub fn from_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        path: Vec::new(),
    };
    let v = r.value(ty, 0)?;
    if r.pos != bytes.len() {
        return Err(r.err(format!(
            "{} unexpected bytes after the value",
            bytes.len() - r.pos
        )));
    }
    Ok(v)
}

/// Encodes a value of type `ty` as msgpack, the form Terraform expects back.
pub fn to_msgpack(v: &Value, ty: &Type) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, v, ty);
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: Vec<String>,
}

impl<'a> Reader<'a> {
    fn err(&self, message: impl Into<String>) -> DecodeError {
        DecodeError {
            path: self.path.concat(),
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(self.err("msgpack data ends early")),
        }
    }

    fn uint(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn len(&mut self, n: usize) -> Result<usize, DecodeError> {
        let len = self.uint(n)? as usize;
        // Every element needs at least one byte: refuse lengths the input cannot hold, so a
        // hostile header cannot make us reserve gigabytes.
        if len > self.buf.len() - self.pos {
            return Err(self.err(format!("a length of {len} exceeds the data")));
        }
        Ok(len)
    }

    fn marker(&mut self) -> Result<rmp::Marker, DecodeError> {
        Ok(rmp::Marker::from_u8(self.take(1)?[0]))
    }

    /// Skips an extension value (an unknown). Refinements are not needed to plan, so they go.
    fn skip_ext(&mut self, m: rmp::Marker) -> Result<(), DecodeError> {
        use rmp::Marker::*;
        let len = match m {
            FixExt1 => 1,
            FixExt2 => 2,
            FixExt4 => 4,
            FixExt8 => 8,
            FixExt16 => 16,
            Ext8 => self.len(1)?,
            Ext16 => self.len(2)?,
            Ext32 => self.len(4)?,
            _ => return Err(self.err("not an extension value")),
        };
        self.take(1 + len)?; // type code + payload
        Ok(())
    }

    fn str_len(&mut self, m: rmp::Marker) -> Result<Option<usize>, DecodeError> {
        use rmp::Marker::*;
        Ok(Some(match m {
            FixStr(n) => n as usize,
            Str8 | Bin8 => self.len(1)?,
            Str16 | Bin16 => self.len(2)?,
            Str32 | Bin32 => self.len(4)?,
            _ => return Ok(None),
        }))
    }

    fn string(&mut self, m: rmp::Marker) -> Result<Option<String>, DecodeError> {
        let Some(n) = self.str_len(m)? else {
            return Ok(None);
        };
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => Err(self.err("string is not valid UTF-8")),
        }
    }

    fn array_len(&mut self, m: rmp::Marker) -> Result<Option<usize>, DecodeError> {
        use rmp::Marker::*;
        Ok(Some(match m {
            FixArray(n) => n as usize,
            Array16 => self.len(2)?,
            Array32 => self.len(4)?,
            _ => return Ok(None),
        }))
    }

    fn map_len(&mut self, m: rmp::Marker) -> Result<Option<usize>, DecodeError> {
        use rmp::Marker::*;
        Ok(Some(match m {
            FixMap(n) => n as usize,
            Map16 => self.len(2)?,
            Map32 => self.len(4)?,
            _ => return Ok(None),
        }))
    }

    fn number(&mut self, m: rmp::Marker) -> Result<Option<Number>, DecodeError> {
        use rmp::Marker::*;
        Ok(Some(match m {
            FixPos(n) => Number::Int(i64::from(n)),
            FixNeg(n) => Number::Int(i64::from(n)),
            U8 => Number::Int(self.uint(1)? as i64),
            U16 => Number::Int(self.uint(2)? as i64),
            U32 => Number::Int(self.uint(4)? as i64),
            U64 => {
                let u = self.uint(8)?;
                i64::try_from(u).map_or_else(|_| Number::Decimal(u.to_string()), Number::Int)
            }
            I8 => Number::Int(i64::from(self.uint(1)? as u8 as i8)),
            I16 => Number::Int(i64::from(self.uint(2)? as u16 as i16)),
            I32 => Number::Int(i64::from(self.uint(4)? as u32 as i32)),
            I64 => Number::Int(self.uint(8)? as i64),
            F32 => Number::from_f64(f64::from(f32::from_bits(self.uint(4)? as u32))),
            F64 => Number::from_f64(f64::from_bits(self.uint(8)?)),
            // Numbers too precise for int64/float64 arrive as their decimal text.
            m => match self.string(m)? {
                Some(s) => {
                    Number::parse(&s).ok_or_else(|| self.err(format!("{s:?} is not a number")))?
                }
                None => return Ok(None),
            },
        }))
    }

    fn value(&mut self, ty: &Type, depth: usize) -> Result<Value, DecodeError> {
        let m = self.marker()?;
        match m {
            rmp::Marker::Null => return Ok(Value::Null),
            rmp::Marker::FixExt1
            | rmp::Marker::FixExt2
            | rmp::Marker::FixExt4
            | rmp::Marker::FixExt8
            | rmp::Marker::FixExt16
            | rmp::Marker::Ext8
            | rmp::Marker::Ext16
            | rmp::Marker::Ext32 => {
                self.skip_ext(m)?;
                return Ok(Value::Unknown);
            }
            _ => {}
        }
        let wrong = |r: &Self, want: &str| Err(r.err(format!("expected {want}")));
        match ty {
            Type::Bool => match m {
                rmp::Marker::True => Ok(Value::Bool(true)),
                rmp::Marker::False => Ok(Value::Bool(false)),
                _ => wrong(self, "a bool"),
            },
            Type::Number => match self.number(m)? {
                Some(n) => Ok(Value::Number(n)),
                None => wrong(self, "a number"),
            },
            Type::String => match self.string(m)? {
                Some(s) => Ok(Value::String(s)),
                None => wrong(self, "a string"),
            },
            Type::List(elem) | Type::Set(elem) => {
                let Some(n) = self.array_len(m)? else {
                    return wrong(self, "a list");
                };
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    self.path.push(format!("[{i}]"));
                    items.push(self.value(elem, depth)?);
                    self.path.pop();
                }
                Ok(if matches!(ty, Type::Set(_)) {
                    Value::Set(items)
                } else {
                    Value::List(items)
                })
            }
            Type::Tuple(elems) => {
                let Some(n) = self.array_len(m)? else {
                    return wrong(self, "a tuple");
                };
                if n != elems.len() {
                    return Err(self.err(format!(
                        "expected a tuple of {} elements, got {n}",
                        elems.len()
                    )));
                }
                let mut items = Vec::with_capacity(n);
                for (i, t) in elems.iter().enumerate() {
                    self.path.push(format!("[{i}]"));
                    items.push(self.value(t, depth)?);
                    self.path.pop();
                }
                Ok(Value::Tuple(items))
            }
            Type::Map(elem) => {
                let Some(n) = self.map_len(m)? else {
                    return wrong(self, "a map");
                };
                let mut out = BTreeMap::new();
                for _ in 0..n {
                    let km = self.marker()?;
                    let Some(k) = self.string(km)? else {
                        return wrong(self, "a string map key");
                    };
                    self.path.push(format!("[{k:?}]"));
                    let v = self.value(elem, depth)?;
                    self.path.pop();
                    out.insert(k, v);
                }
                Ok(Value::Map(out))
            }
            Type::Object(attrs) => {
                let Some(n) = self.map_len(m)? else {
                    return wrong(self, "an object");
                };
                let mut out = BTreeMap::new();
                for _ in 0..n {
                    let km = self.marker()?;
                    let Some(k) = self.string(km)? else {
                        return wrong(self, "an attribute name");
                    };
                    let Some(t) = attrs.get(&k) else {
                        return Err(self.err(format!("unsupported attribute {k:?}")));
                    };
                    self.path.push(if self.path.is_empty() {
                        k.clone()
                    } else {
                        format!(".{k}")
                    });
                    let v = self.value(t, depth)?;
                    self.path.pop();
                    out.insert(k, v);
                }
                for k in attrs.keys() {
                    out.entry(k.clone()).or_insert(Value::Null);
                }
                Ok(Value::Object(out))
            }
            Type::Dynamic => {
                // A known dynamic value is [type as JSON, value of that type].
                if self.array_len(m)? != Some(2) {
                    return wrong(self, "a dynamic value ([type, value])");
                }
                let tm = self.marker()?;
                let Some(n) = self.str_len(tm)? else {
                    return wrong(self, "a dynamic value's type");
                };
                let raw = self.take(n)?;
                let ty: serde_json::Value = serde_json::from_slice(raw)
                    .map_err(|e| self.err(format!("bad dynamic type: {e}")))?;
                if depth >= MAX_TYPE_DEPTH {
                    return Err(self.err("dynamic values nest too deeply"));
                }
                let ty = Type::from_json(&ty).map_err(|e| self.err(e))?;
                self.value(&ty, depth + 1)
            }
        }
    }
}

fn write_len(
    out: &mut Vec<u8>,
    n: usize,
    f: fn(&mut Vec<u8>, u32) -> Result<rmp::Marker, rmp::encode::ValueWriteError>,
) {
    // Writing into a Vec cannot fail; lengths beyond u32 cannot arise from Terraform's own input.
    let _ = f(out, u32::try_from(n).unwrap_or(u32::MAX));
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = rmp::encode::write_str(out, s);
}

fn write_value(out: &mut Vec<u8>, v: &Value, ty: &Type) {
    if let Type::Dynamic = ty {
        match v {
            Value::Null => out.push(0xc0),
            Value::Unknown => out.extend_from_slice(&[0xd4, 0, 0]),
            v => {
                let t = v.infer_type();
                write_len(out, 2, rmp::encode::write_array_len);
                let _ = rmp::encode::write_str(out, &t.to_json().to_string());
                write_value(out, v, &t);
            }
        }
        return;
    }
    match v {
        Value::Null => out.push(0xc0),
        // An unknown without refinements: fixext1, code 0, one zero byte.
        Value::Unknown => out.extend_from_slice(&[0xd4, 0, 0]),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => match n {
            Number::Int(i) => {
                let _ = rmp::encode::write_sint(out, *i);
            }
            Number::Float(f) => {
                let _ = rmp::encode::write_f64(out, *f);
            }
            Number::Decimal(s) => write_str(out, s),
        },
        Value::String(s) => write_str(out, s),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            write_len(out, items.len(), rmp::encode::write_array_len);
            for (i, item) in items.iter().enumerate() {
                let et = match ty {
                    Type::List(e) | Type::Set(e) => e.as_ref(),
                    Type::Tuple(ts) => ts.get(i).unwrap_or(&Type::Dynamic),
                    _ => &Type::Dynamic,
                };
                write_value(out, item, et);
            }
        }
        Value::Map(m) => {
            write_len(out, m.len(), rmp::encode::write_map_len);
            let et = match ty {
                Type::Map(e) => e.as_ref(),
                _ => &Type::Dynamic,
            };
            for (k, item) in m {
                write_str(out, k);
                write_value(out, item, et);
            }
        }
        Value::Object(m) => match ty {
            // Objects are written with exactly the schema's attributes, nulls included.
            Type::Object(attrs) => {
                write_len(out, attrs.len(), rmp::encode::write_map_len);
                for (k, at) in attrs {
                    write_str(out, k);
                    write_value(out, m.get(k).unwrap_or(&Value::Null), at);
                }
            }
            _ => {
                write_len(out, m.len(), rmp::encode::write_map_len);
                for (k, item) in m {
                    write_str(out, k);
                    write_value(out, item, &Type::Dynamic);
                }
            }
        },
    }
}

// ---------------------------------------------------------------------------------------------
// JSON (state as stored on disk; Terraform hands it over for upgrades)

/// Decodes JSON state as a value of type `ty`. Attributes the type does not know are dropped:
/// state written by an older provider version may carry attributes since removed.
pub fn from_json(j: &serde_json::Value, ty: &Type) -> Result<Value, DecodeError> {
    json_value(j, ty, &mut Vec::new(), 0)
}

fn json_err(path: &[String], message: impl Into<String>) -> DecodeError {
    DecodeError {
        path: path.concat(),
        message: message.into(),
    }
}

fn json_value(
    j: &serde_json::Value,
    ty: &Type,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<Value, DecodeError> {
    use serde_json::Value as J;
    if j.is_null() {
        return Ok(Value::Null);
    }
    match (ty, j) {
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Number, J::Number(n)) => Number::parse(&n.to_string())
            .map(Value::Number)
            .ok_or_else(|| json_err(path, "not a number")),
        (Type::Number, J::String(s)) => Number::parse(s)
            .map(Value::Number)
            .ok_or_else(|| json_err(path, format!("{s:?} is not a number"))),
        (Type::String, J::String(s)) => Ok(Value::String(s.clone())),
        // cty's JSON accepts primitive conversions to string.
        (Type::String, J::Number(n)) => Ok(Value::String(n.to_string())),
        (Type::String, J::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::List(e) | Type::Set(e), J::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                out.push(json_value(item, e, path, depth)?);
                path.pop();
            }
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(out)
            } else {
                Value::List(out)
            })
        }
        (Type::Tuple(ts), J::Array(items)) if ts.len() == items.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, t)) in items.iter().zip(ts).enumerate() {
                path.push(format!("[{i}]"));
                out.push(json_value(item, t, path, depth)?);
                path.pop();
            }
            Ok(Value::Tuple(out))
        }
        (Type::Map(e), J::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, item) in m {
                path.push(format!("[{k:?}]"));
                out.insert(k.clone(), json_value(item, e, path, depth)?);
                path.pop();
            }
            Ok(Value::Map(out))
        }
        (Type::Object(attrs), J::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, t) in attrs {
                let v = match m.get(k) {
                    Some(item) => {
                        path.push(if path.is_empty() {
                            k.clone()
                        } else {
                            format!(".{k}")
                        });
                        let v = json_value(item, t, path, depth)?;
                        path.pop();
                        v
                    }
                    None => Value::Null,
                };
                out.insert(k.clone(), v);
            }
            Ok(Value::Object(out))
        }
        (Type::Dynamic, J::Object(m)) if m.contains_key("type") => {
            if depth >= MAX_TYPE_DEPTH {
                return Err(json_err(path, "dynamic values nest too deeply"));
            }
            let t = Type::from_json(&m["type"]).map_err(|e| json_err(path, e))?;
            json_value(m.get("value").unwrap_or(&J::Null), &t, path, depth + 1)
        }
        (t, _) => Err(json_err(path, format!("expected {}", t.to_json()))),
    }
}

/// Encodes a value as JSON in the form Terraform stores state. Unknowns cannot be stored and
/// become null.
pub fn to_json(v: &Value, ty: &Type) -> serde_json::Value {
    use serde_json::Value as J;
    match (v, ty) {
        (Value::Null | Value::Unknown, _) => J::Null,
        (v, Type::Dynamic) => {
            let t = v.infer_type();
            serde_json::json!({"value": to_json(v, &t), "type": t.to_json()})
        }
        (Value::Bool(b), _) => J::Bool(*b),
        (Value::Number(n), _) => serde_json::from_str::<serde_json::Number>(&n.to_string())
            .map_or(J::String(n.to_string()), J::Number),
        (Value::String(s), _) => J::String(s.clone()),
        (Value::List(items) | Value::Set(items), t) => {
            let et = match t {
                Type::List(e) | Type::Set(e) => e.as_ref(),
                _ => &Type::Dynamic,
            };
            J::Array(items.iter().map(|i| to_json(i, et)).collect())
        }
        (Value::Tuple(items), t) => J::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let et = match t {
                        Type::Tuple(ts) => ts.get(i).unwrap_or(&Type::Dynamic),
                        _ => &Type::Dynamic,
                    };
                    to_json(item, et)
                })
                .collect(),
        ),
        (Value::Map(m), t) => {
            let et = match t {
                Type::Map(e) => e.as_ref(),
                _ => &Type::Dynamic,
            };
            J::Object(m.iter().map(|(k, i)| (k.clone(), to_json(i, et))).collect())
        }
        (Value::Object(m), t) => J::Object(
            m.iter()
                .map(|(k, i)| {
                    let at = match t {
                        Type::Object(attrs) => attrs.get(k).unwrap_or(&Type::Dynamic),
                        _ => &Type::Dynamic,
                    };
                    (k.clone(), to_json(i, at))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obj_type(pairs: &[(&str, Type)]) -> Type {
        Type::Object(
            pairs
                .iter()
                .map(|(k, t)| (k.to_string(), t.clone()))
                .collect(),
        )
    }

    #[test]
    fn null_and_unknown_round_trip() {
        let ty = obj_type(&[("a", Type::String), ("b", Type::Number)]);
        let v = Value::object([("a", Value::Null), ("b", Value::Unknown)]);
        let bytes = to_msgpack(&v, &ty);
        // map of 2: "a" nil, "b" fixext1 code 0
        assert_eq!(
            bytes,
            [0x82, 0xa1, b'a', 0xc0, 0xa1, b'b', 0xd4, 0x00, 0x00]
        );
        assert_eq!(from_msgpack(&bytes, &ty).unwrap(), v);
    }

    #[test]
    fn refined_unknown_is_accepted_as_unknown() {
        // ext8 with code 12 carrying a refinement payload (a msgpack map {1: true}: "not null").
        let bytes = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3];
        assert_eq!(from_msgpack(&bytes, &Type::String).unwrap(), Value::Unknown);
        // Nested inside an object too.
        let ty = obj_type(&[("id", Type::String)]);
        let mut nested = vec![0x81, 0xa2, b'i', b'd'];
        nested.extend_from_slice(&bytes);
        assert_eq!(
            from_msgpack(&nested, &ty).unwrap(),
            Value::object([("id", Value::Unknown)])
        );
    }

    #[test]
    fn nested_objects_lists_sets_and_maps() {
        let wf = obj_type(&[
            ("id", Type::String),
            ("active", Type::Bool),
            ("version", Type::Number),
        ]);
        let ty = obj_type(&[
            ("workflows", Type::List(Box::new(wf))),
            ("tags", Type::Set(Box::new(Type::String))),
            ("labels", Type::Map(Box::new(Type::String))),
            ("pair", Type::Tuple(vec![Type::String, Type::Bool])),
        ]);
        let v = Value::object([
            (
                "workflows",
                Value::List(vec![Value::object([
                    ("id", Value::string("w1")),
                    ("active", Value::Bool(true)),
                    ("version", Value::int(3)),
                ])]),
            ),
            (
                "tags",
                Value::Set(vec![Value::string("x"), Value::string("y")]),
            ),
            (
                "labels",
                Value::Map([("k".to_string(), Value::string("v"))].into()),
            ),
            (
                "pair",
                Value::Tuple(vec![Value::string("a"), Value::Bool(false)]),
            ),
        ]);
        let back = from_msgpack(&to_msgpack(&v, &ty), &ty).unwrap();
        assert_eq!(back, v);
        assert_eq!(from_json(&to_json(&v, &ty), &ty).unwrap(), v);
    }

    #[test]
    fn missing_object_attributes_decode_as_null_and_extra_ones_are_refused() {
        let ty = obj_type(&[("a", Type::String), ("b", Type::String)]);
        let bytes = [0x81, 0xa1, b'a', 0xa1, b'x'];
        assert_eq!(
            from_msgpack(&bytes, &ty).unwrap(),
            Value::object([("a", Value::string("x")), ("b", Value::Null)])
        );
        let extra = [0x81, 0xa1, b'z', 0xa1, b'x'];
        let err = from_msgpack(&extra, &ty).unwrap_err();
        assert!(err.message.contains("unsupported attribute \"z\""), "{err}");
    }

    #[test]
    fn errors_name_the_attribute_path() {
        let ty = obj_type(&[("outer", obj_type(&[("inner", Type::Bool)]))]);
        let bytes = [
            0x81, 0xa5, b'o', b'u', b't', b'e', b'r', 0x81, 0xa5, b'i', b'n', b'n', b'e', b'r',
            0xa1, b'x',
        ];
        let err = from_msgpack(&bytes, &ty).unwrap_err();
        assert_eq!(err.path, "outer.inner");
        assert_eq!(err.message, "expected a bool");
    }

    #[test]
    fn big_numbers_keep_their_precision() {
        // 2^64 + 1 does not fit u64: Terraform sends it as decimal text.
        let text = "18446744073709551617";
        let mut bytes = vec![0xb4];
        bytes.extend_from_slice(text.as_bytes());
        let v = from_msgpack(&bytes, &Type::Number).unwrap();
        assert_eq!(v, Value::Number(Number::Decimal(text.into())));
        assert_eq!(to_msgpack(&v, &Type::Number), bytes);

        // u64 above i64::MAX arrives as msgpack uint64 and must not wrap.
        let mut u = vec![0xcf];
        u.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            from_msgpack(&u, &Type::Number)
                .unwrap()
                .as_number()
                .unwrap()
                .to_string(),
            "18446744073709551615"
        );

        // JSON keeps long decimals exactly (serde_json's arbitrary precision).
        let j: serde_json::Value =
            serde_json::from_str("{\"n\": 0.1000000000000000000000001}").unwrap();
        let ty = obj_type(&[("n", Type::Number)]);
        let v = from_json(&j, &ty).unwrap();
        assert_eq!(
            v.attr("n").as_number().unwrap().to_string(),
            "0.1000000000000000000000001"
        );
        assert_eq!(to_json(&v, &ty), j);
    }

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

    #[test]
    fn dynamic_values_carry_their_type() {
        let inner = Value::object([("x", Value::string("y"))]);
        let bytes = to_msgpack(&inner, &Type::Dynamic);
        assert_eq!(from_msgpack(&bytes, &Type::Dynamic).unwrap(), inner);
        let j = to_json(&inner, &Type::Dynamic);
        assert_eq!(
            j,
            serde_json::json!({"value": {"x": "y"}, "type": ["object", {"x": "string"}]})
        );
        assert_eq!(from_json(&j, &Type::Dynamic).unwrap(), inner);
    }

    #[test]
    fn type_json_round_trips() {
        let t = obj_type(&[
            ("a", Type::List(Box::new(Type::Map(Box::new(Type::Number))))),
            ("b", Type::Tuple(vec![Type::Bool, Type::Dynamic])),
        ]);
        assert_eq!(Type::from_json(&t.to_json()).unwrap(), t);
        assert_eq!(
            String::from_utf8(Type::String.to_json_bytes()).unwrap(),
            "\"string\""
        );
    }

    #[test]
    fn hostile_lengths_and_truncation_are_errors() {
        // array32 claiming 4 billion elements in a 5-byte message
        assert!(
            from_msgpack(
                &[0xdd, 0xff, 0xff, 0xff, 0xff],
                &Type::List(Box::new(Type::String))
            )
            .is_err()
        );
        assert!(from_msgpack(&[0xa5, b'a'], &Type::String).is_err());
        assert!(from_msgpack(&[], &Type::String).is_err());
        assert!(from_msgpack(&[0xc0, 0xc0], &Type::String).is_err());
        assert!(from_msgpack(&[0xa2, 0xff, 0xfe], &Type::String).is_err());
    }

    fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::Bool),
            Just(Type::Number),
            Just(Type::String),
            Just(Type::Dynamic)
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Type::List(Box::new(t))),
                inner.clone().prop_map(|t| Type::Set(Box::new(t))),
                inner.clone().prop_map(|t| Type::Map(Box::new(t))),
                prop::collection::btree_map("[a-z]{1,4}", inner.clone(), 0..4)
                    .prop_map(Type::Object),
                prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever Terraform (or anything else) sends, decoding returns — it never panics.
        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256), ty in arb_type()) {
            let _ = from_msgpack(&bytes, &ty);
            if let Ok(j) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                let _ = from_json(&j, &ty);
            }
        }

        /// Bytes that start like real values (valid prefixes, then noise) reach deeper code paths.
        #[test]
        fn mutated_valid_encodings_never_panic(flip in any::<usize>(), to in any::<u8>(), cut in any::<usize>()) {
            let ty = obj_type(&[("s", Type::String), ("n", Type::Number), ("l", Type::List(Box::new(Type::Dynamic)))]);
            let v = Value::object([
                ("s", Value::string("hello")),
                ("n", Value::Number(Number::Decimal("123456789012345678901234567890".into()))),
                ("l", Value::List(vec![Value::object([("k", Value::Bool(true))]), Value::Unknown])),
            ]);
            let mut bytes = to_msgpack(&v, &ty);
            let i = flip % bytes.len();
            bytes[i] = to;
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = from_msgpack(&bytes, &ty);
        }
    }
}
