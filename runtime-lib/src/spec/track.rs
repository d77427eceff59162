//! A `serde_json::Value` deserializer that knows where it is, so that a type error names
//! the field: `process.user.uid: invalid value: integer `-1`, expected u32`.
//!
//! serde_json's own `Value` deserializer reports no position at all. This one walks the same
//! value and hands the visitors the same calls (the messages are serde's, unchanged), but
//! maps and arrays are visited through accessors that carry the path of the current key or
//! index; the first (innermost) place an error passes through records its path. The path
//! is a chain of borrowed segments on the stack and only becomes a string on error, so the
//! success path costs no allocation. It replaces serde_json's `Value` deserializer for the
//! spec types rather than duplicating it: the binary's size (and so its RSS) stays the same.

use serde::de::{
    self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde_json::{Error, Value};
use std::cell::RefCell;
use std::fmt;

/// Where a value sits in the document; the root holds the slot an error's path goes to.
enum Path<'a> {
    Root(&'a Slot),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(_) => Ok(()),
            Path::Key(Path::Root(_), k) => write!(f, "{}", crate::escape_controls(k)),
            Path::Key(p, k) => write!(f, "{p}.{}", crate::escape_controls(k)),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// The path of the innermost value an error came through; `None` until then.
type Slot = RefCell<Option<String>>;

/// Notes `path` as the error's location unless a deeper one was noted already.
#[cold]
#[inline(never)]
fn record(path: &Path, e: Error) -> Error {
    let mut root = path;
    let slot = loop {
        match root {
            Path::Root(slot) => break slot,
            Path::Key(p, _) | Path::Index(p, _) => root = p,
        }
    };
    let mut s = slot.borrow_mut();
    if s.is_none() {
        *s = Some(path.to_string());
    }
    e
}

/// Deserializes `T` from `v`; an error is prefixed with the path of the offending field
/// (when it is not the document itself), and control characters from the document (a NUL
/// in an unknown enum variant, say) are escaped in its text.
pub fn from_value<T: de::DeserializeOwned>(v: Value) -> Result<T, Error> {
    let slot = Slot::default();
    T::deserialize(Track {
        v,
        path: &Path::Root(&slot),
    })
    .map_err(|e| {
        let msg = crate::escape_controls(&e.to_string()).into_owned();
        match slot.into_inner().filter(|p| !p.is_empty()) {
            Some(path) => de::Error::custom(format_args!("{path}: {msg}")),
            None => de::Error::custom(msg),
        }
    })
}

/// Kept small (a value and a pointer): it is moved through every level of every type.
struct Track<'a> {
    v: Value,
    path: &'a Path<'a>,
}

/// How serde_json names a value in "invalid type" messages.
fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

fn visit_array<'de, V: Visitor<'de>>(
    a: Vec<Value>,
    path: &Path,
    visitor: V,
) -> Result<V::Value, Error> {
    let len = a.len();
    let mut seq = Seq {
        it: a.into_iter(),
        i: 0,
        path,
    };
    let r = visitor.visit_seq(&mut seq)?;
    // As serde_json: a visitor that stops early (a tuple) is an error.
    if seq.it.len() == 0 {
        Ok(r)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

fn visit_object<'de, V: Visitor<'de>>(
    o: serde_json::Map<String, Value>,
    path: &Path,
    visitor: V,
) -> Result<V::Value, Error> {
    let len = o.len();
    let mut map = Map {
        it: o.into_iter(),
        cur: None,
        path,
    };
    let r = visitor.visit_map(&mut map)?;
    if map.it.len() == 0 {
        Ok(r)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

impl Track<'_> {
    /// Arrays and/or objects through our accessors (as serde_json visits them for this
    /// kind of request), anything else refused with serde_json's message.
    fn container<'de, V: Visitor<'de>>(
        self,
        seq: bool,
        map: bool,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Track { v, path } = self;
        let r = match v {
            Value::Array(a) if seq => visit_array(a, path, visitor),
            Value::Object(o) if map => visit_object(o, path, visitor),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        };
        r.map_err(|e| record(path, e))
    }
}

/// Scalars go to serde_json's own `Value` deserializer (same code as before, same
/// messages); only the error is located.
macro_rules! scalar {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let path = self.path;
            self.v.$method(visitor).map_err(|e| record(path, e))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Track<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.v {
            Value::Array(_) | Value::Object(_) => self.container(true, true, visitor),
            v => v.deserialize_any(visitor).map_err(|e| record(self.path, e)),
        }
    }

    scalar! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.container(true, false, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.container(true, false, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.container(true, false, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.container(false, true, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.container(true, true, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let path = self.path;
        let r = match self.v {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        r.map_err(|e| record(path, e))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let path = self.path;
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| record(path, e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // The spec's enums are plain strings: serde_json's own handling, with this path.
        let path = self.path;
        self.v
            .deserialize_enum(name, variants, visitor)
            .map_err(|e| record(path, e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct Seq<'a> {
    it: std::vec::IntoIter<Value>,
    i: usize,
    path: &'a Path<'a>,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(v) = self.it.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.i);
        self.i += 1;
        seed.deserialize(Track { v, path: &path }).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.it.len())
    }
}

struct Map<'a> {
    it: serde_json::map::IntoIter,
    /// The entry whose key was just handed out.
    cur: Option<(String, Value)>,
    path: &'a Path<'a>,
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((k, v)) = self.it.next() else {
            return Ok(None);
        };
        let key: de::value::StrDeserializer<'_, Error> = k.as_str().into_deserializer();
        let r = seed
            .deserialize(key)
            .map_err(|e| record(&Path::Key(self.path, &k), e));
        self.cur = Some((k, v));
        r.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((k, v)) = self.cur.take() else {
            return Err(de::Error::custom("value is missing"));
        };
        let path = Path::Key(self.path, &k);
        seed.deserialize(Track { v, path: &path })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.it.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field() {
        let spec = |v: Value| {
            crate::spec::de::spec_from_value(v)
                .expect_err("accepted")
                .to_string()
        };
        let e = spec(json!({"process": {"user": {"uid": -1, "gid": 0}, "cwd": "/"}}));
        assert_eq!(
            e,
            "process.user.uid: invalid value: integer `-1`, expected u32"
        );
        let e = spec(json!({"mounts": [{"destination": "/a"}, {"destination": 1}]}));
        assert!(e.starts_with("mounts[1].destination: invalid type"), "{e}");
        let e = spec(json!({"linux": {"resources": {"memory": {"limit": "x"}}}}));
        assert!(e.starts_with("linux.resources.memory.limit: "), "{e}");
        // Missing fields are named by the object that lacks them.
        let e = spec(json!({"process": {"cwd": "/"}}));
        assert_eq!(e, "process: missing field `user`");
        // Errors of the document itself have no path; control characters are escaped.
        assert_eq!(
            spec(json!(1)),
            "invalid type: integer `1`, expected struct SpecDe"
        );
        let e = spec(json!({"linux": {"namespaces": [{"type": "pid\u{0}"}]}}));
        assert!(
            e.starts_with("linux.namespaces[0].type: unknown variant `pid\\0`"),
            "{e}"
        );
    }
}
