//! The JSON events custom authorizers receive, modelled on AWS's Lambda authorizer events: the
//! REST `TOKEN` and `REQUEST` shapes, with the HTTP API (payload 2.0) fields added to `REQUEST`
//! so authorizers written for either kind of API find what they read.

use super::RequestView;
use super::custom::Target;
use serde_json::{Map, Value, json};

pub fn token(token: &str, arn: &str) -> Value {
    json!({
        "type": "TOKEN",
        "authorizationToken": token,
        "methodArn": arn,
    })
}

pub fn request(
    request: &RequestView<'_>,
    target: &Target<'_>,
    arn: &str,
    identity: &[String],
) -> Value {
    let source_ip = request.source_ip.to_string();
    let method = request.method.as_str();
    // AWS puts the mTLS certificate in identity (REST) and in authentication (HTTP APIs).
    let client_cert = request.client_cert.map(client_cert);
    json!({
        "type": "REQUEST",
        "version": "2.0",
        "methodArn": arn,
        "routeArn": arn,
        "identitySource": identity,
        "routeKey": target.route_key,
        "resource": resource(target.route_key),
        "path": request.path,
        "rawPath": request.path,
        "httpMethod": method,
        "rawQueryString": request.uri.query().unwrap_or(""),
        "headers": headers(request.headers),
        "queryStringParameters": query(request.uri.query()),
        "pathParameters": request
            .params
            .iter()
            .map(|p| (p.name.to_string(), Value::String(p.value.clone())))
            .collect::<Map<_, _>>(),
        "stageVariables": target.variables,
        "requestContext": {
            "accountId": "edgeway",
            "apiId": target.api_id,
            "stage": target.stage,
            "httpMethod": method,
            "path": request.path,
            "resourcePath": resource(target.route_key),
            "routeKey": target.route_key,
            "identity": { "sourceIp": source_ip, "clientCert": client_cert },
            "authentication": client_cert.as_ref().map(|c| json!({ "clientCert": c })),
            "http": { "method": method, "path": request.path, "sourceIp": source_ip },
        },
    })
}

fn client_cert(cert: &crate::tls::ClientCert) -> Value {
    json!({
        "subjectDN": cert.subject_dn,
        "issuerDN": cert.issuer_dn,
        "serialNumber": cert.serial_number,
        "validity": { "notBefore": cert.not_before, "notAfter": cert.not_after },
    })
}

/// `GET /pets/{id}` → `/pets/{id}`; `$default` stays.
fn resource(route_key: &str) -> &str {
    route_key
        .split_once(' ')
        .map(|(_, path)| path)
        .unwrap_or(route_key)
}

/// Header names in lower case (as HTTP/2 sends them); repeated headers joined by commas.
fn headers(headers: &http::HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        out.insert(name.as_str().to_string(), Value::String(values.join(",")));
    }
    out
}

/// Decoded query parameters; a repeated name keeps its values comma-joined, as payload 2.0 does.
fn query(query: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        let (name, value) = (decode(name), decode(value));
        match out.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                out.insert(name, Value::String(value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::router::Param;
    use std::collections::BTreeMap;

    #[test]
    fn request_events_carry_rest_and_http_api_fields() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-tenant", "t1".parse().unwrap());
        let uri: http::Uri = "/pets/7?a=1&a=2&b=x+y".parse().unwrap();
        let params = [Param {
            name: "id".into(),
            value: "7".into(),
            raw: "7",
        }];
        let view = RequestView {
            method: &http::Method::GET,
            uri: &uri,
            path: "/pets/7",
            params: &params,
            headers: &headers,
            source_ip: "192.0.2.9".parse().unwrap(),
            client_cert: None,
        };
        let variables = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let target = Target {
            api_id: "shop",
            stage: "prod",
            route_key: "GET /pets/{id}",
            variables: &variables,
        };
        let event = request(&view, &target, "arn:x", &["t1".to_string()]);
        assert_eq!(event["type"], "REQUEST");
        assert_eq!(event["headers"]["x-tenant"], "t1");
        assert_eq!(
            event["queryStringParameters"],
            json!({"a": "1,2", "b": "x y"})
        );
        assert_eq!(event["pathParameters"]["id"], "7");
        assert_eq!(event["stageVariables"]["env"], "prod");
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "192.0.2.9");
        assert_eq!(event["identitySource"], json!(["t1"]));
        assert_eq!(event["routeKey"], "GET /pets/{id}");
        assert_eq!(event["resource"], "/pets/{id}");
        assert_eq!(token("Bearer x", "arn:x")["authorizationToken"], "Bearer x");
        assert!(event["requestContext"]["identity"]["clientCert"].is_null());

        let cert = crate::tls::ClientCert {
            subject_dn: "CN=alice, O=Example".into(),
            issuer_dn: "CN=Example CA".into(),
            serial_number: "1f:03".into(),
            not_before: "May 28 12:30:02 2019 GMT".into(),
            not_after: "May 28 12:30:02 2029 GMT".into(),
            domain: "m.test".into(),
            truststore: [0; 32],
        };
        let with_cert = RequestView {
            client_cert: Some(&cert),
            ..view
        };
        let event = request(&with_cert, &target, "arn:x", &[]);
        let identity = &event["requestContext"]["identity"]["clientCert"];
        assert_eq!(identity["subjectDN"], "CN=alice, O=Example");
        assert_eq!(identity["validity"]["notAfter"], "May 28 12:30:02 2029 GMT");
        assert_eq!(
            event["requestContext"]["authentication"]["clientCert"],
            *identity
        );
    }
}
