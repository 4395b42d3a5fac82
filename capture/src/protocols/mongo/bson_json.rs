//! BSON documents, read with the `bson` crate's borrowed `RawDocument`
//! views, turned into relaxed extended JSON (v2) within caps, plus the few
//! lookups the dissector needs (first key, a string field, …).
//!
//! `RawDocument::from_bytes` only accepts a slice whose length matches the
//! document's own, so embedded lengths are never trusted past the slice; the
//! walk below is recursive but stops at [`MAX_DEPTH`], so nesting cannot
//! exhaust the stack.

use base64::Engine;
use bson::raw::{RawBsonRef, RawDocument};
use serde_json::{Map, Value};

/// Approximate JSON bytes one document may turn into.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Elements kept per document or array.
pub const MAX_ITEMS: usize = 1024;
/// Bytes kept per string (and per binary value, before base64).
pub const MAX_STRING_BYTES: usize = 4096;
/// Nesting kept; deeper values become `null`.
pub const MAX_DEPTH: usize = 32;

/// What is left of the caps while converting one command.
pub struct Budget {
    remaining: usize,
    pub truncated: bool,
}

impl Budget {
    pub fn new() -> Budget {
        Budget {
            remaining: MAX_JSON_BYTES,
            truncated: false,
        }
    }

    /// Takes `n` bytes; false (and `truncated`) when they are not left.
    fn take(&mut self, n: usize) -> bool {
        match self.remaining.checked_sub(n) {
            Some(left) => {
                self.remaining = left;
                true
            }
            None => {
                self.remaining = 0;
                self.truncated = true;
                false
            }
        }
    }
}

/// The whole document as JSON, or `None` if its bytes are not a document.
pub fn to_json(bytes: &[u8], budget: &mut Budget) -> Option<Value> {
    let doc = RawDocument::from_bytes(bytes).ok()?;
    Some(document(doc, budget, 0))
}

fn document(doc: &RawDocument, budget: &mut Budget, depth: usize) -> Value {
    let mut map = Map::new();
    for (count, item) in doc.iter().enumerate() {
        let Ok((key, value)) = item else {
            budget.truncated = true;
            break;
        };
        if count >= MAX_ITEMS || !budget.take(key.len() + 4) {
            budget.truncated = true;
            break;
        }
        let value = self::value(value, budget, depth + 1);
        map.insert(key.as_str().to_string(), value);
    }
    Value::Object(map)
}

fn array(doc: &RawDocument, budget: &mut Budget, depth: usize) -> Value {
    let mut items = Vec::new();
    for (count, item) in doc.iter().enumerate() {
        let Ok((_, value)) = item else {
            budget.truncated = true;
            break;
        };
        if count >= MAX_ITEMS || !budget.take(2) {
            budget.truncated = true;
            break;
        }
        items.push(self::value(value, budget, depth + 1));
    }
    Value::Array(items)
}

fn string(s: &str, budget: &mut Budget) -> Value {
    let mut end = s.len().min(MAX_STRING_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        budget.truncated = true;
    }
    if !budget.take(end + 2) {
        return Value::Null;
    }
    Value::String(s.get(..end).unwrap_or_default().to_string())
}

fn tagged(tag: &str, inner: Value) -> Value {
    let mut map = Map::new();
    map.insert(tag.to_string(), inner);
    Value::Object(map)
}

fn pair(a: &str, va: Value, b: &str, vb: Value) -> Value {
    let mut map = Map::new();
    map.insert(a.to_string(), va);
    map.insert(b.to_string(), vb);
    Value::Object(map)
}

fn value(value: RawBsonRef<'_>, budget: &mut Budget, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        budget.truncated = true;
        return Value::Null;
    }
    if !budget.take(8) {
        return Value::Null;
    }
    match value {
        RawBsonRef::Double(v) if v.is_finite() => serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        RawBsonRef::Double(v) => {
            let text = if v.is_nan() {
                "NaN"
            } else if v > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            tagged("$numberDouble", Value::String(text.to_string()))
        }
        RawBsonRef::String(s) => string(s, budget),
        RawBsonRef::Array(a) => match RawDocument::from_bytes(a.as_bytes()) {
            Ok(doc) => array(doc, budget, depth),
            Err(_) => Value::Null,
        },
        RawBsonRef::Document(d) => document(d, budget, depth),
        RawBsonRef::Boolean(b) => Value::Bool(b),
        RawBsonRef::Null => Value::Null,
        RawBsonRef::RegularExpression(re) => tagged(
            "$regularExpression",
            pair(
                "pattern",
                string(re.pattern.as_str(), budget),
                "options",
                string(re.options.as_str(), budget),
            ),
        ),
        RawBsonRef::JavaScriptCode(code) => tagged("$code", string(code, budget)),
        RawBsonRef::JavaScriptCodeWithScope(cws) => pair(
            "$code",
            string(cws.code, budget),
            "$scope",
            document(cws.scope, budget, depth + 1),
        ),
        RawBsonRef::Int32(v) => Value::from(v),
        RawBsonRef::Int64(v) => Value::from(v),
        RawBsonRef::Timestamp(ts) => tagged(
            "$timestamp",
            pair("t", Value::from(ts.time), "i", Value::from(ts.increment)),
        ),
        RawBsonRef::Binary(bin) => {
            let keep = bin.bytes.get(..MAX_STRING_BYTES).unwrap_or(bin.bytes);
            if keep.len() < bin.bytes.len() {
                budget.truncated = true;
            }
            if !budget.take(keep.len() / 3 * 4 + 4) {
                return Value::Null;
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(keep);
            let subtype = format!("{:02x}", u8::from(bin.subtype));
            tagged(
                "$binary",
                pair(
                    "base64",
                    Value::String(encoded),
                    "subType",
                    Value::String(subtype),
                ),
            )
        }
        RawBsonRef::ObjectId(oid) => tagged("$oid", Value::String(oid.to_hex())),
        RawBsonRef::DateTime(dt) => {
            let millis = dt.timestamp_millis();
            // Relaxed form: ISO-8601 for years 1970..=9999, else $numberLong.
            let iso = (0..=253_402_300_799_999)
                .contains(&millis)
                .then(|| dt.try_to_rfc3339_string().ok());
            match iso.flatten() {
                Some(text) => tagged("$date", Value::String(text)),
                None => tagged(
                    "$date",
                    tagged("$numberLong", Value::String(millis.to_string())),
                ),
            }
        }
        RawBsonRef::Symbol(s) => tagged("$symbol", string(s, budget)),
        RawBsonRef::Decimal128(d) => tagged("$numberDecimal", Value::String(d.to_string())),
        RawBsonRef::Undefined => tagged("$undefined", Value::Bool(true)),
        RawBsonRef::MaxKey => tagged("$maxKey", Value::from(1)),
        RawBsonRef::MinKey => tagged("$minKey", Value::from(1)),
        // The crate keeps a DBPointer's fields private; it is long deprecated.
        RawBsonRef::DbPointer(_) => tagged("$dbPointer", Value::Null),
    }
}

/// A parsed document, or `None` when the bytes are not one.
pub fn raw(bytes: &[u8]) -> Option<&RawDocument> {
    RawDocument::from_bytes(bytes).ok()
}

/// The first element's key and value.
pub fn first(doc: &RawDocument) -> Option<(&str, RawBsonRef<'_>)> {
    let (key, value) = doc.iter().next()?.ok()?;
    Some((key.as_str(), value))
}

/// The value of `key`, if present and readable.
pub fn get<'a>(doc: &'a RawDocument, key: &str) -> Option<RawBsonRef<'a>> {
    doc.get(key).ok().flatten()
}

pub fn get_str<'a>(doc: &'a RawDocument, key: &str) -> Option<&'a str> {
    get(doc, key)?.as_str()
}

pub fn get_doc<'a>(doc: &'a RawDocument, key: &str) -> Option<&'a RawDocument> {
    get(doc, key)?.as_document()
}

/// A number of any BSON numeric type, as i64 (doubles truncated).
pub fn as_i64(value: RawBsonRef<'_>) -> Option<i64> {
    match value {
        RawBsonRef::Int32(v) => Some(v.into()),
        RawBsonRef::Int64(v) => Some(v),
        RawBsonRef::Double(v) if v.is_finite() => Some(v as i64),
        RawBsonRef::Boolean(b) => Some(b.into()),
        _ => None,
    }
}

/// `ok`-style truth: a non-zero number or `true`.
pub fn as_truth(value: RawBsonRef<'_>) -> Option<bool> {
    match value {
        RawBsonRef::Double(v) => Some(v != 0.0),
        other => as_i64(other).map(|v| v != 0),
    }
}

/// Number of elements of an array value.
pub fn array_len(value: RawBsonRef<'_>) -> Option<i64> {
    let doc = RawDocument::from_bytes(value.as_array()?.as_bytes()).ok()?;
    let mut count = 0i64;
    for item in doc.iter_elements() {
        item.ok()?;
        count += 1;
    }
    Some(count)
}

/// Binary or string payload bytes (SASL payloads come as either).
pub fn payload_bytes(value: RawBsonRef<'_>) -> Option<&[u8]> {
    match value {
        RawBsonRef::Binary(bin) => Some(bin.bytes),
        RawBsonRef::String(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// The first key of a document whose bytes may be cut short: reads the
/// type byte and the key's C string straight from the prefix.
pub fn first_key_of_prefix(bytes: &[u8]) -> Option<&str> {
    let kind = *bytes.get(4)?;
    if kind == 0 {
        return None;
    }
    let rest = bytes.get(5..)?;
    let nul = memchr::memchr(0, rest)?;
    std::str::from_utf8(rest.get(..nul)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(doc: bson::Document) -> Vec<u8> {
        let mut out = Vec::new();
        doc.to_writer(&mut out).unwrap();
        out
    }

    #[test]
    fn converts_to_relaxed_extended_json() {
        let oid = bson::oid::ObjectId::parse_str("5f1d7f0a2b3c4d5e6f708192").unwrap();
        let doc = bson::doc! {
            "find": "users", "limit": 1i64, "ratio": 0.5, "id": oid,
            "bin": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b"hi".to_vec() },
            "nested": { "a": [1, "x", null] },
            "when": bson::DateTime::from_millis(0),
        };
        let json = to_json(&bytes(doc), &mut Budget::new()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "find": "users", "limit": 1, "ratio": 0.5, "id": {"$oid": "5f1d7f0a2b3c4d5e6f708192"},
                "bin": {"$binary": {"base64": "aGk=", "subType": "00"}},
                "nested": {"a": [1, "x", null]},
                "when": {"$date": "1970-01-01T00:00:00Z"},
            })
        );
    }

    #[test]
    fn caps_size_and_depth() {
        let mut doc = bson::doc! { "x": 1 };
        for _ in 0..100 {
            doc = bson::doc! { "x": doc };
        }
        let mut budget = Budget::new();
        to_json(&bytes(doc), &mut budget).unwrap();
        assert!(budget.truncated);

        let big = "a".repeat(10_000);
        let doc = bson::doc! { "s": big };
        let mut budget = Budget::new();
        let json = to_json(&bytes(doc), &mut budget).unwrap();
        assert!(budget.truncated);
        assert_eq!(json["s"].as_str().unwrap().len(), MAX_STRING_BYTES);
    }

    #[test]
    fn first_key_of_a_cut_document() {
        let full = bytes(bson::doc! { "insert": "things", "documents": [] });
        assert_eq!(first_key_of_prefix(&full[..12]), Some("insert"));
        assert_eq!(first_key_of_prefix(&full[..6]), None);
    }
}
