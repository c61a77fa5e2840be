//! msgpack, the encoding of every `DynamicValue` Terraform sends and expects back.
//!
//! Decoding is type-directed and never panics, whatever the bytes: lengths are checked against
//! what is left, nesting is bounded, and an error names the attribute path where it went wrong.

use std::collections::BTreeMap;

use super::{DecodeError, MAX_TYPE_DEPTH, Number, Type, Value};

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

/// An object attribute that a value lacks while its type declares it: encoding refuses it
/// rather than inventing a null (a model missing a schema attribute is a provider bug).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingAttribute {
    /// Where, e.g. `items[1].count`.
    pub path: String,
}

impl MissingAttribute {
    /// The same attribute seen from one level up, through `step` (an attribute name or `[i]`).
    fn under(mut self, step: &str) -> Self {
        self.path = if self.path.starts_with('[') {
            format!("{step}{}", self.path)
        } else {
            format!("{step}.{}", self.path)
        };
        self
    }
}

/// Encodes a value of type `ty` as msgpack, the form Terraform expects back. Every attribute an
/// object type declares must be present in the value (null is a value).
pub fn to_msgpack(v: &Value, ty: &Type) -> Result<Vec<u8>, MissingAttribute> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, v, ty)?;
    Ok(out)
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

fn write_value(out: &mut Vec<u8>, v: &Value, ty: &Type) -> Result<(), MissingAttribute> {
    if let Type::Dynamic = ty {
        match v {
            Value::Null => out.push(0xc0),
            Value::Unknown => out.extend_from_slice(&[0xd4, 0, 0]),
            v => {
                let t = v.infer_type();
                write_len(out, 2, rmp::encode::write_array_len);
                let _ = rmp::encode::write_str(out, &t.to_json().to_string());
                write_value(out, v, &t)?;
            }
        }
        return Ok(());
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
                write_value(out, item, et).map_err(|m| m.under(&format!("[{i}]")))?;
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
                write_value(out, item, et).map_err(|m| m.under(&format!("[{k:?}]")))?;
            }
        }
        Value::Object(m) => match ty {
            // Objects are written with exactly the schema's attributes, nulls included.
            Type::Object(attrs) => {
                write_len(out, attrs.len(), rmp::encode::write_map_len);
                for (k, at) in attrs {
                    write_str(out, k);
                    let item = m
                        .get(k)
                        .ok_or_else(|| MissingAttribute { path: k.clone() })?;
                    write_value(out, item, at).map_err(|m| m.under(k))?;
                }
            }
            _ => {
                write_len(out, m.len(), rmp::encode::write_map_len);
                for (k, item) in m {
                    write_str(out, k);
                    write_value(out, item, &Type::Dynamic).map_err(|m| m.under(k))?;
                }
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::value::obj_type;
    use proptest::prelude::*;

    #[test]
    fn null_and_unknown_round_trip() {
        let ty = obj_type(&[("a", Type::String), ("b", Type::Number)]);
        let v = Value::object([("a", Value::Null), ("b", Value::Unknown)]);
        let bytes = to_msgpack(&v, &ty).unwrap();
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
    fn a_missing_attribute_is_refused_at_any_depth() {
        let inner = obj_type(&[("id", Type::String), ("count", Type::Number)]);
        let ty = obj_type(&[
            ("name", Type::String),
            ("items", Type::List(Box::new(inner))),
        ]);
        let item = |with_count: bool| {
            let mut fields = vec![("id", Value::string("a"))];
            if with_count {
                fields.push(("count", Value::Null));
            }
            Value::object(fields)
        };
        let whole = Value::object([
            ("name", Value::Null),
            ("items", Value::List(vec![item(true), item(true)])),
        ]);
        assert!(to_msgpack(&whole, &ty).is_ok(), "nulls are present");
        let missing = |v: &Value| to_msgpack(v, &ty).map_err(|m| m.path).err();
        let deep = Value::object([
            ("name", Value::Null),
            ("items", Value::List(vec![item(true), item(false)])),
        ]);
        assert_eq!(missing(&deep).as_deref(), Some("items[1].count"));
        let top = Value::object([("items", Value::Null)]);
        assert_eq!(missing(&top).as_deref(), Some("name"));
        assert_eq!(missing(&Value::Null), None);
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
        assert_eq!(to_msgpack(&v, &Type::Number).unwrap(), bytes);

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
    }
    #[test]
    fn dynamic_values_carry_their_type() {
        let inner = Value::object([("x", Value::string("y"))]);
        let bytes = to_msgpack(&inner, &Type::Dynamic).unwrap();
        assert_eq!(from_msgpack(&bytes, &Type::Dynamic).unwrap(), inner);
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Bytes that start like real values (valid prefixes, then noise) reach deeper code paths.
        #[test]
        fn mutated_valid_encodings_never_panic(flip in any::<usize>(), to in any::<u8>(), cut in any::<usize>()) {
            let ty = obj_type(&[("s", Type::String), ("n", Type::Number), ("l", Type::List(Box::new(Type::Dynamic)))]);
            let v = Value::object([
                ("s", Value::string("hello")),
                ("n", Value::Number(Number::Decimal("123456789012345678901234567890".into()))),
                ("l", Value::List(vec![Value::object([("k", Value::Bool(true))]), Value::Unknown])),
            ]);
            let mut bytes = to_msgpack(&v, &ty).unwrap();
            let i = flip % bytes.len();
            bytes[i] = to;
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = from_msgpack(&bytes, &ty);
        }
    }
}
