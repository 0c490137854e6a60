//! The tutorial's aiohttp server answers `GET /<name>` with what a small
//! table knows about that person, as JSON: `{"status": "success",
//! "result": {...}}`, or `{"status": "fail", "result": {}}`. The `hyper`
//! server answers the same documents (an unknown name with 404).

use serde_json::{json, Value};

/// Name, age and career of the people the server knows.
const PEOPLE: &[(&str, u32, &str)] = &[
    ("Han Meimei", 20, "student"),
    ("Brus Lee", 30, "engineer"),
    ("Jack Chen", 50, "actor"),
];

/// The document for the path segment `name` (still percent-encoded, as in
/// `/Brus%20Lee`): `Some` for a known person, `None` for anyone else.
pub fn lookup(name: &str) -> Option<Value> {
    let name = percent_decode(name)?;
    let (name, age, career) = PEOPLE.iter().find(|(n, ..)| *n == name)?;
    Some(json!({
        "status": "success",
        "result": { "name": name, "age": age, "career": career },
    }))
}

/// The document for a name nobody knows.
pub fn not_found() -> Value {
    json!({ "status": "fail", "result": {} })
}

/// `%20` to a space and so on; `None` for a broken escape or bytes that
/// are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_names() {
        let doc = lookup("Brus%20Lee").unwrap();
        assert_eq!(doc["status"], "success");
        assert_eq!(doc["result"]["name"], "Brus Lee");
        assert_eq!(doc["result"]["age"], 30);
        assert_eq!(doc["result"]["career"], "engineer");
        assert!(lookup("Nobody").is_none());
        assert!(lookup("Brus%2").is_none());
        assert!(lookup("%ff%fe").is_none());
        assert_eq!(not_found()["status"], "fail");
    }
}
