//! Which web origins may call tenantql from a browser.
//!
//! An origin is `scheme://host[:port]`, exactly as a browser sends it in the
//! `Origin` header. A rule is an origin, a subdomain pattern
//! (`https://*.client.example`: any subdomain at any depth, never the apex), or
//! — for the deployment only, and never with credentials — `*`.
//!
//! Rules are kept in their canonical text, so checking an origin is a bounded
//! number of set lookups whatever the number of rules: the origin itself, then
//! the pattern of each of its parent domains (at most one per label).
pub mod registry;

use std::collections::HashSet;

/// Longest `Origin` header (or rule) looked at; longer ones match nothing.
pub const MAX_ORIGIN_BYTES: usize = 300;
/// Most origins one tenant may list.
pub const MAX_TENANT_ORIGINS: usize = 50;
/// Most dots looked through in an origin's host (DNS allows 127 labels).
const MAX_LABELS: usize = 127;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("`{0}` is not an origin: write scheme://host[:port] (http or https, no path), or https://*.domain for its subdomains")]
    Malformed(String),
    #[error("`{0}`: a subdomain pattern needs a domain of at least two labels after `*.`")]
    PatternTooBroad(String),
    #[error("`*` (every origin) may only be the deployment's, and never with credentials")]
    AnyNotAllowed,
    #[error("at most {MAX_TENANT_ORIGINS} origins")]
    TooMany,
}

/// A set of origin rules in canonical form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginList {
    exact: HashSet<String>,
    /// Patterns as written: `https://*.client.example[:port]`.
    subdomains: HashSet<String>,
    any: bool,
}

impl OriginList {
    /// The deployment's rules; `*` allowed when `allow_any` (no credentials).
    pub fn parse_deployment<'a>(
        rules: impl IntoIterator<Item = &'a str>,
        allow_any: bool,
    ) -> Result<Self, OriginError> {
        let mut list = OriginList::default();
        for rule in rules {
            let rule = rule.trim();
            if rule.is_empty() {
                continue;
            }
            if rule == "*" {
                if !allow_any {
                    return Err(OriginError::AnyNotAllowed);
                }
                list.any = true;
                continue;
            }
            list.insert(canonical_rule(rule)?);
        }
        Ok(list)
    }

    /// A tenant's rules, as an operator gives them: canonical, no `*`, bounded.
    /// Returns them in canonical text (what is stored), sorted and without repeats.
    pub fn canonical_tenant_rules(rules: &[String]) -> Result<Vec<String>, OriginError> {
        if rules.len() > MAX_TENANT_ORIGINS {
            return Err(OriginError::TooMany);
        }
        let mut canonical = rules
            .iter()
            .map(|rule| match rule.trim() {
                "*" => Err(OriginError::AnyNotAllowed),
                rule => canonical_rule(rule),
            })
            .collect::<Result<Vec<_>, _>>()?;
        canonical.sort();
        canonical.dedup();
        Ok(canonical)
    }

    /// A list from rules stored in canonical form (a rule that no longer parses
    /// is left out rather than trusted).
    pub fn from_stored(stored: Option<&str>) -> Self {
        let mut list = OriginList::default();
        let rules: Vec<String> = stored
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        for rule in rules.iter().take(MAX_TENANT_ORIGINS) {
            if let Ok(rule) = canonical_rule(rule) {
                list.insert(rule);
            }
        }
        list
    }

    /// Adds every rule of `other`.
    pub fn extend(&mut self, other: &OriginList) {
        self.exact.extend(other.exact.iter().cloned());
        self.subdomains.extend(other.subdomains.iter().cloned());
        self.any |= other.any;
    }

    fn insert(&mut self, rule: String) {
        if rule.contains("://*.") {
            self.subdomains.insert(rule);
        } else {
            self.exact.insert(rule);
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.any && self.exact.is_empty() && self.subdomains.is_empty()
    }

    /// Every rule, in canonical text, sorted.
    pub fn rules(&self) -> Vec<String> {
        let mut rules: Vec<String> = self
            .exact
            .iter()
            .chain(self.subdomains.iter())
            .cloned()
            .collect();
        if self.any {
            rules.push("*".into());
        }
        rules.sort();
        rules
    }

    /// Whether `origin` (an `Origin` header's value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        if self.any {
            return true;
        }
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        if self.exact.contains(origin.text.as_str()) {
            return true;
        }
        if self.subdomains.is_empty() {
            return false;
        }
        // Each parent domain of the host, as the pattern that would cover it.
        let host = origin.host();
        host.match_indices('.').take(MAX_LABELS).any(|(dot, _)| {
            let pattern = format!(
                "{}://*{}{}",
                origin.scheme(),
                &host[dot..],
                origin.port_suffix()
            );
            self.subdomains.contains(&pattern)
        })
    }
}

/// An `Origin` header's value, lower-cased, when it is one.
struct Origin {
    text: String,
    scheme_end: usize,
    host_end: usize,
}

impl Origin {
    fn parse(value: &str) -> Option<Origin> {
        if value.len() > MAX_ORIGIN_BYTES || !value.is_ascii() {
            return None;
        }
        let text = value.to_ascii_lowercase();
        let (scheme, rest) = text.split_once("://")?;
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let scheme_end = scheme.len();
        let (host, port) = split_port(rest)?;
        if !valid_host(host) || port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
            return None;
        }
        let host_end = scheme_end + 3 + host.len();
        Some(Origin {
            text,
            scheme_end,
            host_end,
        })
    }

    fn scheme(&self) -> &str {
        &self.text[..self.scheme_end]
    }

    fn host(&self) -> &str {
        &self.text[self.scheme_end + 3..self.host_end]
    }

    /// `:port`, or nothing.
    fn port_suffix(&self) -> &str {
        &self.text[self.host_end..]
    }
}

/// `host[:port]` → (host, port); an IPv6 literal keeps its brackets.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            rest => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// A DNS name or IPv4 address (letters, digits, `-`, dots between labels), or
/// a bracketed IPv6 literal.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A rule in canonical text: lower case, no default port elision (an origin
/// with its port is another origin), patterns of at least two labels.
fn canonical_rule(rule: &str) -> Result<String, OriginError> {
    let malformed = || OriginError::Malformed(rule.chars().take(80).collect());
    let lower = rule.to_ascii_lowercase();
    if let Some(at) = lower.find("://*.") {
        let (scheme, rest) = (&lower[..at], &lower[at + 5..]);
        let (domain, port) = split_port(rest).ok_or_else(malformed)?;
        // The pattern is checked as the origin of its shallowest subdomain.
        let probe = match port {
            Some(port) => format!("{scheme}://x.{domain}:{port}"),
            None => format!("{scheme}://x.{domain}"),
        };
        if domain.starts_with('[') || Origin::parse(&probe).is_none() {
            return Err(malformed());
        }
        if !domain.contains('.') {
            return Err(OriginError::PatternTooBroad(
                rule.chars().take(80).collect(),
            ));
        }
        return Ok(lower);
    }
    match Origin::parse(&lower) {
        Some(origin) => Ok(origin.text),
        None => Err(malformed()),
    }
}

/// Whether `origin` is the origin of the request itself (`Host`), as a page
/// served by tenantql (GraphiQL) calls it. The scheme is not compared: behind
/// a TLS-terminating proxy tenantql cannot know it, and a browser's page on
/// another host never sends this host as its origin.
pub fn is_same_origin(origin: &str, host: Option<&str>) -> bool {
    let (Some(host), Some(origin)) = (host, Origin::parse(origin)) else {
        return false;
    };
    origin.text[origin.scheme_end + 3..].eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(rules: &[&str]) -> OriginList {
        OriginList::parse_deployment(rules.iter().copied(), false).unwrap()
    }

    #[test]
    fn exact_origins_match_scheme_host_and_port() {
        let list = deployment(&["https://App.Example.com", "http://127.0.0.1:5173"]);
        assert!(list.allows("https://app.example.com"));
        assert!(list.allows("HTTPS://APP.EXAMPLE.COM"));
        assert!(list.allows("http://127.0.0.1:5173"));
        assert!(!list.allows("http://app.example.com"), "another scheme");
        assert!(!list.allows("https://app.example.com:8443"), "another port");
        assert!(!list.allows("http://127.0.0.1:5174"));
        assert!(!list.allows("https://app.example.com.evil.test"));
        assert!(!list.allows("null"));
        assert!(!list.allows(""));
    }

    #[test]
    fn patterns_cover_subdomains_at_any_depth_but_never_the_apex() {
        let list = deployment(&["https://*.client.example", "http://*.dev.test:3000"]);
        assert!(list.allows("https://erp.client.example"));
        assert!(list.allows("https://a.b.c.client.example"));
        assert!(!list.allows("https://client.example"), "the apex");
        assert!(!list.allows("https://evilclient.example"));
        assert!(!list.allows("https://erp.client.example.evil.test"));
        assert!(!list.allows("http://erp.client.example"), "another scheme");
        assert!(list.allows("http://web.dev.test:3000"));
        assert!(!list.allows("http://web.dev.test"), "another port");
        assert!(!list.allows("http://web.dev.test:3001"));
    }

    #[test]
    fn rules_that_are_not_origins_are_refused_with_the_reason() {
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://app.example.com",
            "https://user@app.example.com",
            "https://app.example.com:0",
            "https://app.example.com:99999",
            "https://-bad.example.com",
            "https://*.example.com/x",
            "https://a.*.example.com",
        ] {
            assert!(
                matches!(canonical_rule(bad), Err(OriginError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            canonical_rule("https://*.com"),
            Err(OriginError::PatternTooBroad("https://*.com".into()))
        );
        assert_eq!(
            OriginList::parse_deployment(["*"], false),
            Err(OriginError::AnyNotAllowed)
        );
        assert!(OriginList::parse_deployment(["*"], true)
            .unwrap()
            .allows("https://x.test"));
        assert_eq!(
            OriginList::canonical_tenant_rules(&["*".into()]),
            Err(OriginError::AnyNotAllowed)
        );
        let many: Vec<String> = (0..=MAX_TENANT_ORIGINS)
            .map(|i| format!("https://a{i}.test"))
            .collect();
        assert_eq!(
            OriginList::canonical_tenant_rules(&many),
            Err(OriginError::TooMany)
        );
    }

    #[test]
    fn tenant_rules_are_stored_canonical_and_read_back() {
        let rules = OriginList::canonical_tenant_rules(&[
            " https://ERP.client.example ".into(),
            "https://*.client.example".into(),
            "https://erp.client.example".into(),
        ])
        .unwrap();
        assert_eq!(
            rules,
            ["https://*.client.example", "https://erp.client.example"]
        );
        let stored = serde_json::to_string(&rules).unwrap();
        let list = OriginList::from_stored(Some(&stored));
        assert_eq!(list.rules(), rules);
        assert!(list.allows("https://x.client.example"));
        assert!(OriginList::from_stored(None).is_empty());
        assert!(OriginList::from_stored(Some("not json")).is_empty());
    }

    #[test]
    fn a_long_or_odd_origin_matches_nothing_and_costs_a_bounded_walk() {
        let list = deployment(&["https://*.example.com"]);
        let deep = format!("https://{}example.com", "a.".repeat(140));
        assert!(!list.allows(&deep), "longer than MAX_ORIGIN_BYTES");
        let near = format!("https://{}example.com", "a.".repeat(100));
        assert!(list.allows(&near));
        assert!(!list.allows("https://exämple.com"));
        assert!(!list.allows("https://[::1]"));
        assert!(deployment(&["http://[::1]:8080"]).allows("http://[::1]:8080"));
    }

    #[test]
    fn the_same_origin_is_the_requests_host() {
        assert!(is_same_origin(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080")
        ));
        assert!(is_same_origin(
            "https://api.example.com",
            Some("API.example.com")
        ));
        assert!(!is_same_origin(
            "http://127.0.0.1:8081",
            Some("127.0.0.1:8080")
        ));
        assert!(!is_same_origin("http://127.0.0.1:8080", None));
        assert!(!is_same_origin("null", Some("null")));
    }
}
