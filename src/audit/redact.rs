//! Variables are audited, secrets are not: every value under a name that sounds
//! like a secret is replaced, at any depth, before the row is built.
use serde_json::Value;

/// Name fragments that mark a secret (compared case-insensitively).
const SECRET_NAMES: [&str; 4] = ["password", "token", "key", "secret"];
pub const REDACTED: &str = "[redacted]";

pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|secret| name.contains(secret))
}

/// The value with every secret-named entry replaced, recursively through objects
/// and lists.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, entry) in map.iter_mut() {
                if is_secret_name(name) {
                    *entry = Value::String(REDACTED.into());
                } else {
                    redact(entry);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_go_at_any_depth() {
        let mut v = json!({
            "email": "a@b.test",
            "password": "hunter2",
            "input": { "dbPassword": "p", "sshPrivateKey": "k", "name": "n",
                       "nested": [{ "apiToken": "t", "clientSecret": { "x": 1 } }] },
            "KEY": 5
        });
        redact(&mut v);
        assert_eq!(
            v,
            json!({
                "email": "a@b.test",
                "password": REDACTED,
                "input": { "dbPassword": REDACTED, "sshPrivateKey": REDACTED, "name": "n",
                           "nested": [{ "apiToken": REDACTED, "clientSecret": REDACTED }] },
                "KEY": REDACTED
            })
        );
    }
}
