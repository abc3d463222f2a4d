//! Identity sources: where an authorizer finds the caller's credentials in a request.

use super::RequestView;
use crate::pipeline::integrate::mapping::query_value;
use std::collections::BTreeMap;

/// JWT and TOKEN authorizers read this header unless told otherwise.
pub const DEFAULT_SOURCE: &str = "$request.header.Authorization";

/// One compiled identity source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Header(http::HeaderName),
    Query(String),
    StageVariable(String),
    ClientIp,
}

impl Source {
    /// Parses `$request.header.N`, `$request.querystring.N`, `$stageVariables.N` or
    /// `$context.sourceIp` (validated on the way in; the error names the source anyway).
    pub fn parse(source: &str) -> Result<Source, String> {
        if let Some(name) = source.strip_prefix("$request.header.") {
            return http::HeaderName::try_from(name)
                .map(Source::Header)
                .map_err(|_| format!("identity source '{source}': invalid header name"));
        }
        if let Some(name) = source.strip_prefix("$request.querystring.") {
            return Ok(Source::Query(name.to_string()));
        }
        if let Some(name) = source.strip_prefix("$stageVariables.") {
            return Ok(Source::StageVariable(name.to_string()));
        }
        if source == "$context.sourceIp" {
            return Ok(Source::ClientIp);
        }
        Err(format!("identity source '{source}' is not supported"))
    }

    /// The value in this request; `None` when absent or empty (AWS treats both as missing).
    pub fn value(
        &self,
        request: &RequestView<'_>,
        variables: &BTreeMap<String, String>,
    ) -> Option<String> {
        let value = match self {
            Source::Header(name) => {
                let values: Vec<&str> = request
                    .headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                (!values.is_empty()).then(|| values.join(","))
            }
            Source::Query(name) => query_value(request.uri.query(), name),
            Source::StageVariable(name) => variables.get(name).cloned(),
            Source::ClientIp => Some(request.source_ip.to_string()),
        };
        value.filter(|v| !v.trim().is_empty())
    }
}

/// Compiles an authorizer's sources; an empty list means `default` (if any).
pub fn compile(sources: &[String], default: Option<&str>) -> Result<Vec<Source>, String> {
    if sources.is_empty() {
        return default.map(Source::parse).into_iter().collect();
    }
    sources.iter().map(|s| Source::parse(s)).collect()
}

/// Every source's value, or `None` if any is missing: then the authorizer is not called and the
/// caller gets 401, as in AWS.
pub fn values(
    sources: &[Source],
    request: &RequestView<'_>,
    variables: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    sources
        .iter()
        .map(|s| s.value(request, variables))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_each_source_kind_and_missing_ones_fail() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-token", "a".parse().unwrap());
        headers.append("x-token", "b".parse().unwrap());
        headers.insert("x-blank", " ".parse().unwrap());
        let uri: http::Uri = "/p?who=ann%20b&x=".parse().unwrap();
        let view = RequestView {
            method: &http::Method::GET,
            uri: &uri,
            path: "/p",
            params: &[],
            headers: &headers,
            source_ip: "192.0.2.1".parse().unwrap(),
            client_cert: None,
        };
        let vars = BTreeMap::from([("tenant".to_string(), "t1".to_string())]);
        let sources = compile(
            &[
                "$request.header.X-Token".into(),
                "$request.querystring.who".into(),
                "$stageVariables.tenant".into(),
                "$context.sourceIp".into(),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            values(&sources, &view, &vars).unwrap(),
            ["a,b", "ann b", "t1", "192.0.2.1"]
        );
        for missing in [
            "$request.header.x-blank",
            "$request.header.nope",
            "$request.querystring.x",
            "$stageVariables.nope",
        ] {
            let sources = compile(&[missing.into()], None).unwrap();
            assert_eq!(values(&sources, &view, &vars), None, "{missing}");
        }
        assert_eq!(
            compile(&[], Some(DEFAULT_SOURCE)).unwrap(),
            [Source::Header(http::HeaderName::from_static(
                "authorization"
            ))]
        );
        assert!(compile(&["$request.body.x".into()], None).is_err());
    }
}
