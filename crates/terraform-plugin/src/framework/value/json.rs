//! JSON, the form of state stored on disk, which Terraform hands over for upgrades.

use std::collections::BTreeMap;

use super::{DecodeError, MAX_TYPE_DEPTH, Number, Type, Value};

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
    use crate::framework::value::obj_type;

    #[test]
    fn long_decimals_keep_their_precision() {
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
    fn dynamic_values_carry_their_type_in_json() {
        let inner = Value::object([("x", Value::string("y"))]);
        let j = to_json(&inner, &Type::Dynamic);
        assert_eq!(
            j,
            serde_json::json!({"value": {"x": "y"}, "type": ["object", {"x": "string"}]})
        );
        assert_eq!(from_json(&j, &Type::Dynamic).unwrap(), inner);
    }
}
