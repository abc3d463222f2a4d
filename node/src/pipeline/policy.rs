//! Phase 5, policy: the API's resource policy on the caller's source address. A deny match
//! wins; with allow entries, only matching addresses pass.

use crate::error::GatewayError;
use edgeway_shared::ResponseType;
use edgeway_shared::cidr::Cidr;
use std::net::IpAddr;

/// A resource policy compiled for the request path.
#[derive(Debug, Default)]
pub struct Policy {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
}

impl Policy {
    /// `None` when the API has no policy. Entries were validated on the way in; one that still
    /// fails to parse is left out of `allow` (never widening access) and logged.
    pub fn compile(policy: Option<&edgeway_shared::ResourcePolicy>) -> Option<Policy> {
        let policy = policy?;
        let parse = |list: &[String]| -> Vec<Cidr> {
            list.iter()
                .filter_map(|c| {
                    c.parse()
                        .map_err(|e| tracing::warn!(cidr = %c, error = %e, "policy entry skipped"))
                        .ok()
                })
                .collect()
        };
        Some(Policy {
            allow: parse(&policy.allow_cidrs),
            deny: parse(&policy.deny_cidrs),
        })
    }

    pub fn check(&self, source: IpAddr) -> Result<(), GatewayError> {
        let denied = self.deny.iter().any(|c| c.contains(source));
        let allowed = self.allow.is_empty() || self.allow.iter().any(|c| c.contains(source));
        if denied || !allowed {
            return Err(GatewayError::client(
                ResponseType::AccessDenied,
                "User: anonymous is not authorized to perform: execute-api:Invoke on this resource",
            ));
        }
        Ok(())
    }
}

pub const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// The caller's address: the connection's peer, or, when that peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn source_ip(peer: IpAddr, headers: &http::HeaderMap, trusted_proxies: &[Cidr]) -> IpAddr {
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|c| c.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let hops = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted(ip) {
                    break;
                }
            }
            // A hop that is not an address cannot be trusted further.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::ResourcePolicy;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn deny_wins_and_allow_lists_restrict() {
        let policy = Policy::compile(Some(&ResourcePolicy {
            allow_cidrs: vec!["10.0.0.0/8".into(), "::1/128".into()],
            deny_cidrs: vec!["10.9.0.0/16".into()],
        }))
        .unwrap();
        assert!(policy.check(ip("10.1.2.3")).is_ok());
        assert!(policy.check(ip("::1")).is_ok());
        assert!(policy.check(ip("10.9.1.1")).is_err());
        assert!(policy.check(ip("192.168.1.1")).is_err());
        let deny_only = Policy::compile(Some(&ResourcePolicy {
            allow_cidrs: vec![],
            deny_cidrs: vec!["127.0.0.1".into()],
        }))
        .unwrap();
        assert!(
            deny_only.check(ip("127.0.0.2")).is_ok() && deny_only.check(ip("127.0.0.1")).is_err()
        );
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
        let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            source_ip(ip("10.0.0.1"), &headers, &proxies),
            ip("203.0.113.7")
        );
        assert_eq!(
            source_ip(ip("198.51.100.1"), &headers, &proxies),
            ip("198.51.100.1"),
            "untrusted peer"
        );
        assert_eq!(
            source_ip(ip("10.0.0.1"), &headers, &[]),
            ip("10.0.0.1"),
            "no trusted proxies"
        );
        headers.insert("x-forwarded-for", "garbage, 10.0.0.3".parse().unwrap());
        assert_eq!(
            source_ip(ip("10.0.0.1"), &headers, &proxies),
            ip("10.0.0.3")
        );
    }
}
