//! What a run aims at: targets (`[WEIGHT*]URL`) and API keys (`NAME:RATE:VALUE`), parsed from
//! the command line with errors that say which argument was wrong and why.

use anyhow::{Context, bail};
use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};
use std::str::FromStr;

/// One server to send requests to, with its share of the requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// As given (without the weight), for the report.
    pub url: String,
    pub scheme: Scheme,
    /// Host and port the connection goes to (the URL's).
    pub authority: Authority,
    pub path: PathAndQuery,
    pub weight: u32,
}

impl Target {
    pub fn tls(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// `host:port` with the scheme's default port filled in, for connecting.
    pub fn host_port(&self) -> String {
        let default = if self.tls() { 443 } else { 80 };
        let port = self.authority.port_u16().unwrap_or(default);
        format!("{}:{port}", self.authority.host())
    }
}

impl FromStr for Target {
    type Err = anyhow::Error;

    /// `http://127.0.0.1:8080/pets/7` or `3*https://node-2:8443/pets/7` (weight 3).
    fn from_str(spec: &str) -> anyhow::Result<Target> {
        let (weight, url) = match spec.split_once('*') {
            Some((w, url)) if !w.contains('/') => {
                let weight: u32 = w
                    .parse()
                    .with_context(|| format!("target {spec}: weight '{w}' is not a number"))?;
                (weight, url)
            }
            _ => (1, spec),
        };
        if weight == 0 {
            bail!("target {spec}: weight must be at least 1");
        }
        let uri: Uri = url
            .parse()
            .with_context(|| format!("target {spec}: not a URL"))?;
        let scheme = uri.scheme().cloned();
        let Some(scheme) = scheme.filter(|s| *s == Scheme::HTTP || *s == Scheme::HTTPS) else {
            bail!("target {spec}: the URL must start with http:// or https://");
        };
        let Some(authority) = uri.authority().cloned() else {
            bail!("target {spec}: the URL has no host");
        };
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Target {
            url: url.to_string(),
            scheme,
            authority,
            path,
            weight,
        })
    }
}

/// An API key sent as `x-api-key`, with its own arrival rate.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    /// How the report names the key (the value itself is a secret).
    pub name: String,
    /// Requests per second offered with this key (open loop); its share of the requests in
    /// closed loop.
    pub rate: f64,
    pub value: String,
}

impl FromStr for KeySpec {
    type Err = anyhow::Error;

    /// `NAME:RATE:VALUE`; the value is everything after the second colon.
    fn from_str(spec: &str) -> anyhow::Result<KeySpec> {
        let mut parts = spec.splitn(3, ':');
        let (Some(name), Some(rate), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("key '{}': expected NAME:RATE:VALUE", redact(spec));
        };
        let rate: f64 = rate
            .parse()
            .with_context(|| format!("key {name}: rate '{rate}' is not a number"))?;
        if !(rate.is_finite() && rate > 0.0) {
            bail!("key {name}: rate must be a positive number of requests per second");
        }
        if name.is_empty() || value.is_empty() {
            bail!("key '{}': name and value must not be empty", redact(spec));
        }
        http::HeaderValue::from_str(value)
            .with_context(|| format!("key {name}: the value is not a valid header value"))?;
        Ok(KeySpec {
            name: name.to_string(),
            rate,
            value: value.to_string(),
        })
    }
}

/// Error messages must not print a key's value.
fn redact(spec: &str) -> String {
    match spec.split_once(':') {
        Some((name, _)) => format!("{name}:…"),
        None => "…".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_an_optional_weight() {
        let plain: Target = "http://127.0.0.1:8080/pets/7?x=1".parse().unwrap();
        assert_eq!(plain.weight, 1);
        assert_eq!(plain.path.as_str(), "/pets/7?x=1");
        assert_eq!(plain.host_port(), "127.0.0.1:8080");
        let weighted: Target = "3*https://node-2/x".parse().unwrap();
        assert_eq!((weighted.weight, weighted.tls()), (3, true));
        assert_eq!(weighted.host_port(), "node-2:443");
        assert_eq!(weighted.url, "https://node-2/x");
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        let err = |s: &str| s.parse::<Target>().unwrap_err().to_string();
        assert!(err("x*http://a/").contains("weight 'x' is not a number"));
        assert!(err("0*http://a/").contains("weight must be at least 1"));
        assert!(err("ftp://a/").contains("http:// or https://"));
        assert!(err("/just/a/path").contains("http:// or https://"));
    }

    #[test]
    fn keys_are_name_rate_value_and_the_value_may_hold_colons() {
        let key: KeySpec = "gold:50.5:ab:cd".parse().unwrap();
        assert_eq!(
            key,
            KeySpec {
                name: "gold".into(),
                rate: 50.5,
                value: "ab:cd".into()
            }
        );
        let err = |s: &str| s.parse::<KeySpec>().unwrap_err().to_string();
        assert!(err("gold:fast:v").contains("rate 'fast' is not a number"));
        assert!(err("gold:0:v").contains("positive"));
        let missing = err("gold:secretvalue");
        assert!(missing.contains("NAME:RATE:VALUE") && !missing.contains("secretvalue"));
    }
}
