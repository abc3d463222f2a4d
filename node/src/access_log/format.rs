//! One access log line: `$context` variables as Amazon API Gateway names them, rendered from a
//! stage's format string, or as a JSON object of every field when the stage gives no format.
//! Missing values render as `-`, as AWS does.

use crate::pipeline::authorize::Principal;
use crate::pipeline::throttle::calendar::civil_from_days;
use crate::tls::ClientCert;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// What is known about a request once its answer is ready.
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub api_id: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub route_key: Option<&'a str>,
    pub source_ip: IpAddr,
    pub http_method: &'a str,
    pub path: &'a str,
    pub protocol: &'a str,
    pub status: u16,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub request_time_ms: u64,
    pub response_latency_ms: u64,
    pub response_length: Option<u64>,
    pub integration_latency_ms: Option<u64>,
    pub integration_status: Option<u16>,
    pub error_message: Option<&'a str>,
    pub error_type: Option<&'a str>,
    pub principal: Option<&'a Principal>,
    pub client_cert: Option<&'a ClientCert>,
}

const MISSING: &str = "-";

impl Entry<'_> {
    /// The value of one variable (without the `$context.` prefix), or `None` when unknown.
    pub fn variable(&self, name: &str) -> Option<String> {
        let text = |v: Option<&str>| v.map(str::to_string);
        let number = |v: Option<u64>| v.map(|n| n.to_string());
        match name {
            "requestId" | "extendedRequestId" => Some(self.request_id.to_string()),
            "apiId" => text(self.api_id),
            "stage" => text(self.stage),
            "routeKey" | "resourcePath" => text(self.route_key),
            "identity.sourceIp" => Some(self.source_ip.to_string()),
            "httpMethod" => Some(self.http_method.to_string()),
            "path" => Some(self.path.to_string()),
            "protocol" => Some(self.protocol.to_string()),
            "status" => Some(self.status.to_string()),
            "requestTime" => Some(clf_time(self.request_time_ms)),
            "requestTimeEpoch" => Some(self.request_time_ms.to_string()),
            "responseLatency" => Some(self.response_latency_ms.to_string()),
            "responseLength" => number(self.response_length),
            "integrationLatency" | "integration.latency" => number(self.integration_latency_ms),
            "integrationStatus" | "integration.status" => {
                number(self.integration_status.map(u64::from))
            }
            "error.message" => text(self.error_message),
            "error.responseType" => text(self.error_type),
            _ => self.nested(name),
        }
    }

    fn nested(&self, name: &str) -> Option<String> {
        if let Some(field) = name.strip_prefix("identity.clientCert.") {
            let cert = self.client_cert?;
            let field = crate::tls::client_cert::ClientCertField::parse(field)?;
            return Some(cert.field(field).to_string());
        }
        let principal = self.principal?;
        let rest = name.strip_prefix("authorizer.")?;
        if rest == "principalId" {
            return principal.principal_id.clone();
        }
        let value = match rest.strip_prefix("claims.") {
            Some(claim) => principal.claims.as_ref()?.get(claim)?,
            None => principal.context.get(rest)?,
        };
        Some(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// Renders a stage's format string: every `$context.name` replaced by its value.
    pub fn render(&self, format: &str) -> String {
        let json = format.trim_start().starts_with('{');
        let mut out = String::with_capacity(format.len() + 64);
        let mut rest = format;
        while let Some(at) = rest.find("$context.") {
            out.push_str(&rest[..at]);
            let after = &rest[at + "$context.".len()..];
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(after.len());
            let name = after[..len].trim_end_matches('.');
            let value = self.variable(name);
            let value = value.as_deref().unwrap_or(MISSING);
            if json {
                // Inside a JSON format the value sits in quotes: keep the line valid JSON.
                let quoted = Value::String(value.to_string()).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            } else {
                out.push_str(value);
            }
            rest = &after[name.len()..];
        }
        out.push_str(rest);
        out
    }

    /// Every standard field as one JSON object (the default when a stage names no format).
    pub fn json(&self) -> String {
        const FIELDS: [&str; 17] = [
            "requestId",
            "apiId",
            "stage",
            "routeKey",
            "identity.sourceIp",
            "httpMethod",
            "path",
            "protocol",
            "status",
            "requestTime",
            "requestTimeEpoch",
            "responseLatency",
            "responseLength",
            "integrationLatency",
            "integrationStatus",
            "error.message",
            "error.responseType",
        ];
        let mut line = Map::new();
        for field in FIELDS {
            let value = self.variable(field).map_or(Value::Null, Value::String);
            line.insert(field.to_string(), value);
        }
        if let Some(p) = self.principal.and_then(|p| p.principal_id.as_ref()) {
            line.insert("authorizer.principalId".into(), Value::String(p.clone()));
        }
        if let Some(cert) = self.client_cert {
            line.insert(
                "identity.clientCert.subjectDN".into(),
                Value::String(cert.subject_dn.clone()),
            );
        }
        Value::Object(line).to_string()
    }
}

/// Common Log Format time, as AWS's `$context.requestTime`: `21/Nov/2026:23:19:24 +0000`.
fn clf_time(ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (ms / 1000) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month as usize).clamp(1, 12) - 1],
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            request_id: "abc",
            api_id: Some("pets"),
            stage: Some("prod"),
            route_key: Some("GET /pets/{id}"),
            source_ip: "203.0.113.9".parse().unwrap(),
            http_method: "GET",
            path: "/prod/pets/7",
            protocol: "HTTP/1.1",
            status: 200,
            request_time_ms: 1_795_303_164_000,
            response_latency_ms: 12,
            response_length: None,
            integration_latency_ms: Some(9),
            integration_status: Some(200),
            error_message: None,
            error_type: None,
            principal: None,
            client_cert: None,
        }
    }

    #[test]
    fn format_strings_fill_variables_and_mark_missing_ones() {
        let line = entry().render("$context.requestId $context.httpMethod $context.routeKey $context.status $context.responseLength $context.nosuch.");
        assert_eq!(line, "abc GET GET /pets/{id} 200 - -.");
    }

    #[test]
    fn json_formats_stay_valid_json() {
        let mut e = entry();
        e.error_message = Some("say \"hi\"");
        let line = e.render(r#"{"id":"$context.requestId","err":"$context.error.message"}"#);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["err"], "say \"hi\"");
        let all: Value = serde_json::from_str(&e.json()).unwrap();
        assert_eq!(all["identity.sourceIp"], "203.0.113.9");
        assert_eq!(all["responseLength"], Value::Null);
    }

    #[test]
    fn request_time_is_in_common_log_format() {
        assert_eq!(clf_time(1_795_303_164_000), "21/Nov/2026:23:19:24 +0000");
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
    }
}
