//! File digests computed the way OPA computes them for `.signatures.json`.
//!
//! Structured files (`data.json`, `data.yaml`, `.manifest`, `.signatures.json`, by base name) are
//! parsed and hashed in a canonical form, so whitespace and key order do not matter: objects as
//! `{` key `:` value (keys sorted, `,` between) `}`, arrays as `[` values `]`, strings and other
//! scalars as Go's JSON encoder writes them (numbers exactly as written in the file). Every other
//! file is hashed as raw bytes.

use md5::Md5;
use std::collections::BTreeMap;

use sha1::Sha1;
use sha2::digest::DynDigest;
use sha2::{Sha224, Sha256, Sha384, Sha512, Sha512_224, Sha512_256};

/// Why a digest could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// The algorithm is not one OPA supports.
    #[error("unsupported hashing algorithm {0:?}")]
    Algorithm(String),
    /// A structured file is not valid JSON/YAML.
    #[error("{path} cannot be parsed for hashing: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

/// Whether OPA hashes `path` in canonical (structured) form.
pub fn is_structured(path: &str) -> bool {
    matches!(
        base_name(path),
        "data.json" | "data.yaml" | ".manifest" | ".signatures.json"
    )
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether an algorithm name (as in `.signatures.json`) is considered weak.
pub fn is_weak(algorithm: &str) -> bool {
    matches!(algorithm, "MD5" | "SHA-1")
}

fn hasher(algorithm: &str) -> Result<Box<dyn DynDigest>, HashError> {
    Ok(match algorithm {
        "MD5" => Box::new(Md5::default()),
        "SHA-1" => Box::new(Sha1::default()),
        "SHA-224" => Box::new(Sha224::default()),
        "SHA-256" => Box::new(Sha256::default()),
        "SHA-384" => Box::new(Sha384::default()),
        "SHA-512" => Box::new(Sha512::default()),
        "SHA-512-224" => Box::new(Sha512_224::default()),
        "SHA-512-256" => Box::new(Sha512_256::default()),
        other => return Err(HashError::Algorithm(other.to_owned())),
    })
}

/// The digest of a bundle file, as OPA computes it for signature checks.
pub fn file_digest(algorithm: &str, path: &str, content: &[u8]) -> Result<Vec<u8>, HashError> {
    let mut h = hasher(algorithm)?;
    if is_structured(path) {
        let mut canon = Vec::with_capacity(content.len());
        if base_name(path) == "data.yaml" {
            let v: serde_json::Value = serde_norway::from_slice(content).map_err(|e| HashError::Parse {
                path: path.into(),
                message: e.to_string(),
            })?;
            canonical_value(&v, &mut canon);
        } else {
            canonical_json(content, &mut canon).map_err(|message| HashError::Parse {
                path: path.into(),
                message,
            })?;
        }
        h.update(&canon);
    } else {
        h.update(content);
    }
    Ok(h.finalize().to_vec())
}

/// Canonical form of JSON text, keeping numbers exactly as written (as OPA's `UseNumber` does).
/// The text is validated by serde_json first (which also bounds nesting depth), then walked once.
fn canonical_json(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())?;
    let mut p = JsonWalker { s: text, i: 0 };
    let v = p.value()?;
    v.write(out);
    Ok(())
}

/// A JSON value with numbers kept as their source text.
enum Canon {
    Object(BTreeMap<String, Canon>),
    Array(Vec<Canon>),
    String(String),
    Literal(String),
}

impl Canon {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Canon::Object(m) => {
                out.push(b'{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    go_string(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
            Canon::Array(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
            Canon::String(s) => go_string(s, out),
            Canon::Literal(l) => out.extend_from_slice(l.as_bytes()),
        }
    }
}

/// A single-pass walker over JSON text already validated by serde_json.
struct JsonWalker<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonWalker<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Result<u8, String> {
        self.ws();
        self.s
            .get(self.i)
            .copied()
            .ok_or_else(|| "unexpected end of JSON".to_owned())
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek()? == b {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", b as char, self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.ws();
        let start = self.i;
        self.expect(b'"')?;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return serde_json::from_slice(&self.s[start..self.i]).map_err(|e| e.to_string());
                }
                _ => self.i += 1,
            }
        }
        Err("unterminated string".into())
    }

    fn value(&mut self) -> Result<Canon, String> {
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Ok(Canon::Object(m));
                }
                loop {
                    let k = self.string()?;
                    self.expect(b':')?;
                    // Later duplicates win, as in Go's decoder.
                    m.insert(k, self.value()?);
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Ok(Canon::Object(m));
                        }
                        c => return Err(format!("unexpected {:?} in object", c as char)),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(Canon::Array(a));
                }
                loop {
                    a.push(self.value()?);
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Ok(Canon::Array(a));
                        }
                        c => return Err(format!("unexpected {:?} in array", c as char)),
                    }
                }
            }
            b'"' => Ok(Canon::String(self.string()?)),
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && !matches!(self.s[self.i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    self.i += 1;
                }
                Ok(Canon::Literal(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
        }
    }
}

/// Canonical form of a parsed value (YAML converted to JSON, as OPA does).
pub fn canonical_value(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                go_string(k, out);
                out.push(b':');
                canonical_value(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_value(e, out);
            }
            out.push(b']');
        }
        Value::String(s) => go_string(s, out),
        Value::Number(n) => match n.as_f64() {
            // Go writes integral floats without a fraction.
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                out.extend_from_slice(format!("{f:.0}").as_bytes())
            }
            _ => out.extend_from_slice(n.to_string().as_bytes()),
        },
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// A string as Go's `encoding/json` encoder writes it with HTML escaping off.
fn go_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        let mut out = Vec::new();
        canonical_json(text.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_and_keeps_numbers() {
        assert_eq!(
            canon(r#" { "b" : [1, 2.50, {"y":null,"x":true}], "a": "q\"<>\u0001" } "#),
            r#"{"a":"q\"<>\u0001","b":[1,2.50,{"x":true,"y":null}]}"#
        );
    }

    #[test]
    fn whitespace_and_order_do_not_change_the_digest() {
        let a = file_digest("SHA-256", "x/data.json", br#"{"a":1,"b":2}"#).unwrap();
        let b = file_digest("SHA-256", "x/data.json", b"{\n  \"b\": 2,\n  \"a\": 1\n}\n").unwrap();
        assert_eq!(a, b);
        let c = file_digest("SHA-256", "x/data.json", br#"{"a":1,"b":3}"#).unwrap();
        assert_ne!(a, c);
        // YAML is hashed as its JSON equivalent.
        let y = file_digest("SHA-256", "x/data.yaml", b"b: 2\na: 1\n").unwrap();
        assert_eq!(a, y);
    }

    #[test]
    fn raw_files_hash_bytes() {
        let d = file_digest("SHA-256", "p.rego", b"abc").unwrap();
        assert_eq!(
            hex::encode(d),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = file_digest("MD5", "p.rego", b"abc").unwrap();
        assert_eq!(hex::encode(d), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            file_digest("SHA-3", "p.rego", b"abc"),
            Err(HashError::Algorithm("SHA-3".into()))
        );
        assert!(file_digest("SHA-256", "data.json", b"{").is_err());
        assert!(file_digest("SHA-256", "data.json", br#"{"a":1} x"#).is_err());
    }
}
