//! What the index and the session summaries read from an event, gathered
//! in one pass over its typed fields by a small `serde::Serializer`: the
//! top-level values they look up by key, and the full text. Building a
//! `serde_json::Value` per event for this (a map per event, a string per
//! key) was the largest share of the ingest pipeline's own work.

use std::fmt;

use serde::ser::{self, Serialize};

/// Full text kept per document.
pub const MAX_TEXT_BYTES: usize = 64 << 10;

/// Top-level keys whose values the index indexes as words in a field of
/// their own (`user`, `query`, …). They are looked up, and left out of the
/// full text: free text searches those fields as well (see
/// `Fields::free_text`), so a second copy only cost indexing time and
/// index size.
const WORD_KEYS: &[&str] = &[
    "user",
    "username",
    "password",
    "uri",
    "host",
    "method",
    "path",
    "database",
    "command",
    "arg",
    "statement",
];

/// Other top-level keys whose values the index or the summaries look up.
const KEYS: &[&str] = &[
    "protocol",
    "sha256",
    "infile_sha256",
    "request_body_sha256",
    "response_body_sha256",
    "name",
    "args",
    "success",
    "attempts",
    "size",
    "action",
    "module",
    "collection",
];

/// Other keys left out of the full text. Times, addresses and Community
/// IDs, document ids, hashes (most have fields of their own): their tokens
/// are mostly unique (`2026`, `11`, `25T10`, base64 pieces), so they made
/// up most of the text field's terms and positions while nobody searches
/// them as words. A session's users, passwords and commands: as
/// [`WORD_KEYS`]. HASSH inputs: each joins algorithm lists that the
/// flow's `ssh.kexinit` events have in their text; they were a fifth of
/// its tokens.
const NOT_TEXT: &[&str] = &[
    "control_flow",
    "data_flow",
    "data_channel",
    "hassh_algorithms",
    "hassh_server_algorithms",
    "users",
    "passwords",
    "commands",
    "ts",
    "end",
    "first_seen",
    "last_seen",
    "type",
    "kind",
    "flow",
    "session_id",
    "src_ip",
    "dst_ips",
    "dst_ports",
    "sha256",
    "infile_sha256",
    "request_body_sha256",
    "response_body_sha256",
];

#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    Str(String),
    U64(u64),
    Bool(bool),
    /// The strings of a list.
    Strs(Vec<String>),
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Facts {
    top: Vec<(&'static str, Leaf)>,
    /// Every string of the event, in order, one per line, but those under
    /// the top-level keys of [`WORD_KEYS`] and [`NOT_TEXT`]; at most
    /// [`MAX_TEXT_BYTES`] (and a newline).
    pub text: String,
}

impl Facts {
    /// The facts of anything that serialises as a map or a struct (an
    /// event); other values give only their text.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Facts {
        let mut facts = Facts::default();
        let _ = value.serialize(Walker {
            facts: &mut facts,
            at: At::Root,
        });
        facts
    }

    fn leaf(&self, key: &str) -> Option<&Leaf> {
        // The last value wins, as in a JSON object built from the same keys.
        self.top.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.leaf(key)? {
            Leaf::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.leaf(key)? {
            Leaf::U64(n) => Some(*n),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.leaf(key)? {
            Leaf::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string elements of a list.
    pub fn strs(&self, key: &str) -> Option<&[String]> {
        match self.leaf(key)? {
            Leaf::Strs(v) => Some(v),
            _ => None,
        }
    }

    fn push_text(&mut self, s: &str) {
        if self.text.len() >= MAX_TEXT_BYTES {
            return;
        }
        let mut end = s.len().min(MAX_TEXT_BYTES - self.text.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.text.push('\n');
    }
}

/// Where the walk is.
#[derive(Clone, Copy)]
enum At {
    /// The event itself: its keys are the top-level keys.
    Root,
    /// A value. `key`: the wanted top-level key it is the value of (depth
    /// 0) or a list element of (depth 1); `text`: its strings go to the
    /// full text.
    Value {
        key: Option<&'static str>,
        text: bool,
        depth: u32,
    },
}

struct Walker<'a> {
    facts: &'a mut Facts,
    at: At,
}

impl<'a> Walker<'a> {
    fn string(self, s: &str) {
        if let At::Value { key, text, depth } = self.at {
            if text {
                self.facts.push_text(s);
            }
            match (key, depth) {
                (Some(k), 0) => self.facts.top.push((k, Leaf::Str(s.to_string()))),
                (Some(_), 1) => {
                    if let Some((_, Leaf::Strs(list))) = self.facts.top.last_mut() {
                        list.push(s.to_string());
                    }
                }
                _ => {}
            }
        }
    }

    fn scalar(self, leaf: Leaf) {
        if let At::Value {
            key: Some(k),
            depth: 0,
            ..
        } = self.at
        {
            self.facts.top.push((k, leaf));
        }
    }

    /// Children of a list: still the same key (its elements), one deeper.
    fn list(self) -> Compound<'a> {
        let at = match self.at {
            At::Root => At::Root,
            At::Value { key, text, depth } => {
                if let (Some(k), 0) = (key, depth) {
                    self.facts.top.push((k, Leaf::Strs(Vec::new())));
                }
                At::Value {
                    key,
                    text,
                    depth: depth.saturating_add(1),
                }
            }
        };
        Compound {
            facts: self.facts,
            at,
            key: None,
        }
    }

    /// Children of a map or struct: keys of their own (top-level ones only
    /// at the root).
    fn map(self) -> Compound<'a> {
        let at = match self.at {
            At::Root => At::Root,
            At::Value { text, depth, .. } => At::Value {
                key: None,
                text,
                depth: depth.saturating_add(2),
            },
        };
        Compound {
            facts: self.facts,
            at,
            key: None,
        }
    }
}

struct Compound<'a> {
    facts: &'a mut Facts,
    at: At,
    /// At the root: the key whose value comes next.
    key: Option<String>,
}

impl Compound<'_> {
    fn child(&mut self) -> Walker<'_> {
        Walker {
            facts: self.facts,
            at: self.at,
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Never> {
        let at = match self.at {
            At::Root => At::Value {
                key: KEYS.iter().chain(WORD_KEYS).find(|k| **k == key).copied(),
                text: !NOT_TEXT.contains(&key) && !WORD_KEYS.contains(&key),
                depth: 0,
            },
            nested => nested,
        };
        // Neither looked up nor text (the time, the flow with its
        // addresses): not walked, so never formatted.
        if let At::Value {
            key: None,
            text: false,
            ..
        } = at
        {
            return Ok(());
        }
        value.serialize(Walker {
            facts: self.facts,
            at,
        })
    }
}

/// The walk cannot fail.
#[derive(Debug)]
pub struct Never;

impl fmt::Display for Never {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unreachable")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: fmt::Display>(_: T) -> Never {
        Never
    }
}

impl<'a> ser::Serializer for Walker<'a> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Never> {
        self.scalar(Leaf::Bool(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Never> {
        // Only what JSON's `as_u64` would read.
        if let Ok(n) = u64::try_from(v) {
            self.scalar(Leaf::U64(n));
        }
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Never> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Never> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Never> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Never> {
        self.scalar(Leaf::U64(v));
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Never> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Never> {
        self.string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        // JSON: `{"Variant": value}`, an object.
        let mut m = self.map();
        m.child_value(value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Never> {
        Ok(self.list())
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Never> {
        Ok(self.list())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Never> {
        Ok(self.list())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Never> {
        // JSON: `{"Variant": [...]}`: a list inside an object.
        let mut c = self.map();
        if let At::Value { key, text, depth } = c.at {
            c.at = At::Value {
                key,
                text,
                depth: depth.saturating_add(1),
            };
        }
        Ok(c)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Never> {
        Ok(self.map())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Never> {
        Ok(self.map())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Never> {
        Ok(self.map())
    }
}

impl Compound<'_> {
    /// A value inside an object below the root, or a list element.
    fn child_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(self.child())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.child_value(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.child_value(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.child_value(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.child_value(value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        if let At::Root = self.at {
            let mut name = self.key.take().unwrap_or_default();
            name.clear();
            key.serialize(KeyName(&mut name))?;
            self.key = Some(name);
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        match self.at {
            At::Root => {
                let key = self.key.take().unwrap_or_default();
                let result = self.field(&key, value);
                self.key = Some(key);
                result
            }
            _ => self.child_value(value),
        }
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Never> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Never> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Never> {
        Ok(())
    }
}

/// A map key as text (string keys, and numbers and variants as JSON
/// spells them as keys).
struct KeyName<'a>(&'a mut String);

impl ser::Serializer for KeyName<'_> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = ser::Impossible<(), Never>;
    type SerializeTuple = ser::Impossible<(), Never>;
    type SerializeTupleStruct = ser::Impossible<(), Never>;
    type SerializeTupleVariant = ser::Impossible<(), Never>;
    type SerializeMap = ser::Impossible<(), Never>;
    type SerializeStruct = ser::Impossible<(), Never>;
    type SerializeStructVariant = ser::Impossible<(), Never>;

    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Never> {
        self.serialize_str(v)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Never> {
        v.serialize(self)
    }
    fn serialize_char(self, v: char) -> Result<(), Never> {
        self.0.push(v);
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<(), Never> {
        self.serialize_str(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Never> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Never> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Never> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Never> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Never> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Never> {
        self.serialize_str(&v.to_string())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_f64(self, _: f64) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_none(self) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Never> {
        Err(Never)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Never> {
        Err(Never)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Never> {
        Err(Never)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Never> {
        Err(Never)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Never> {
        Err(Never)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Never> {
        Err(Never)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Never> {
        Err(Never)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Never> {
        Err(Never)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The reading this module replaced: from the event's JSON tree.
    fn text_of_json(v: &Value) -> String {
        fn collect(v: &Value, out: &mut String) {
            if out.len() >= MAX_TEXT_BYTES {
                return;
            }
            match v {
                Value::String(s) => {
                    let mut end = s.len().min(MAX_TEXT_BYTES - out.len());
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    out.push_str(&s[..end]);
                    out.push('\n');
                }
                Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
                Value::Object(o) => o.values().for_each(|x| collect(x, out)),
                _ => {}
            }
        }
        let mut out = String::new();
        if let Value::Object(o) = v {
            o.iter()
                .filter(|(k, _)| !NOT_TEXT.contains(&k.as_str()) && !WORD_KEYS.contains(&k.as_str()))
                .for_each(|(_, x)| collect(x, &mut out));
        }
        out
    }

    fn assert_same_as_json<T: Serialize>(x: &T) {
        let v = serde_json::to_value(x).unwrap();
        let facts = Facts::of(x);
        assert_eq!(facts.text, text_of_json(&v), "{v}");
        for key in KEYS.iter().chain(WORD_KEYS) {
            let j = v.get(key);
            assert_eq!(facts.str(key), j.and_then(Value::as_str), "{key} in {v}");
            assert_eq!(facts.u64(key), j.and_then(Value::as_u64), "{key} in {v}");
            assert_eq!(facts.bool(key), j.and_then(Value::as_bool), "{key} in {v}");
            let strs = j
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect::<Vec<_>>());
            assert_eq!(facts.strs(key).map(<[String]>::to_vec), strs, "{key} in {v}");
        }
    }

    #[test]
    fn reads_what_the_json_says_for_every_event_of_the_recorded_captures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut pcaps = Vec::new();
        for dir in [root.join("captures"), root.join("../shared/fixtures")] {
            for entry in walk(&dir) {
                if entry.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                    pcaps.push(entry);
                }
            }
        }
        assert!(pcaps.len() >= 7, "recorded captures missing: {pcaps:?}");
        let mut events = 0;
        for pcap in &pcaps {
            let store = crate::artifact::ArtifactStore::hash_only();
            for e in crate::engine::dissect_file(pcap, &store).unwrap() {
                assert_same_as_json(&e);
                events += 1;
            }
        }
        assert!(events > 1000, "{events} events");
    }

    #[test]
    fn caps_the_text_and_reads_nested_values_as_text_only() {
        let long = "é".repeat(MAX_TEXT_BYTES);
        let v = serde_json::json!({
            "type": "x.y", "user": "root", "args": ["a", 1, ["b"], {"c": "d"}],
            "nested": {"user": "inner", "list": ["e"]}, "arg": long, "after": "f",
        });
        assert_same_as_json(&v);
        let facts = Facts::of(&v);
        assert_eq!(facts.str("user"), Some("root"));
        assert_eq!(facts.strs("args").unwrap(), ["a"]);
        assert!(facts.text.len() <= MAX_TEXT_BYTES + 1);
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    out.extend(walk(&p));
                } else {
                    out.push(p);
                }
            }
        }
        out
    }
}
