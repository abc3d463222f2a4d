//! The admin API client: JSON over HTTP/1.1 with the bearer token, plus helpers that build the
//! API documents tests apply.

use crate::client::{Conn, Proto, Reply, empty, full};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone)]
pub struct AdminClient {
    pub addr: SocketAddr,
    pub token: String,
}

impl AdminClient {
    /// One call with any token (or none); a fresh connection each time.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://admin{path}"))
            .header("host", "admin");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(json) => request
                .header("content-type", "application/json")
                .body(full(json.to_string())),
            None => request.body(empty()),
        }
        .expect("valid admin request");
        let mut conn = Conn::open(self.addr, Proto::Http1)
            .await
            .expect("connect to admin");
        conn.fetch(request).await
    }

    /// `GET path` with the right token, as text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let reply = self
            .call_with(Method::GET, path, None, Some(&self.token))
            .await;
        String::from_utf8_lossy(&reply.body).into_owned()
    }

    /// One call with the right token: status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let reply = self.call_with(method, path, body, Some(&self.token)).await;
        let json = if reply.body.is_empty() {
            Value::Null
        } else {
            reply.json()
        };
        (reply.status, json)
    }

    /// GET that must succeed.
    pub async fn get(&self, path: &str) -> Value {
        expect(
            StatusCode::OK,
            self.call(Method::GET, path, None).await,
            path,
        )
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// `PUT /apis/{id}/document`, which must succeed; returns the stored document.
    pub async fn apply(&self, doc: &Value) -> Value {
        let id = doc["api"]["id"]
            .as_str()
            .expect("document names its api id");
        let path = format!("/apis/{id}/document");
        expect(StatusCode::OK, self.put(&path, doc).await, &path)
    }

    /// `POST /apis/{id}/deployments` to `stage`, which must succeed; returns the deployment.
    pub async fn deploy(&self, api: &str, stage: &str) -> Value {
        let path = format!("/apis/{api}/deployments");
        let body = json!({ "stage": stage, "description": "test deploy" });
        expect(StatusCode::CREATED, self.post(&path, &body).await, &path)
    }

    /// Polls `/ready` until it answers 200 (at most 10 s).
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = Conn::open(self.addr, Proto::Http1).await {
                let request = Request::get("/ready")
                    .header("host", "admin")
                    .body(empty())
                    .expect("valid request");
                if let Ok(response) = conn.send(request).await
                    && response.status() == StatusCode::OK
                {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[track_caller]
fn expect(status: StatusCode, (got, body): (StatusCode, Value), what: &str) -> Value {
    assert_eq!(got, status, "{what}: {body}");
    body
}

/// Document building blocks (plain JSON, as an operator would write them).
pub mod doc {
    use serde_json::{Value, json};

    /// `http_proxy` to `uri`.
    pub fn proxy(id: &str, uri: &str) -> Value {
        json!({ "id": id, "type": "http_proxy", "uri": uri })
    }

    /// `mock` answering `status` with `body` (stage variables allowed).
    pub fn mock(id: &str, status: u16, body: &str) -> Value {
        json!({ "id": id, "type": "mock", "mock": { "status_code": status, "body": body } })
    }

    pub fn route(method: &str, path: &str, integration: &str) -> Value {
        json!({ "method": method, "path": path, "integration_id": integration })
    }

    /// A WebSocket API's route, by its route key (`$connect`, `$default`, `join`...).
    pub fn ws_route(key: &str, integration: &str) -> Value {
        json!({ "route_key": key, "integration_id": integration })
    }

    /// A WebSocket API deployed to stage `prod`.
    pub fn websocket(id: &str, integrations: Vec<Value>, routes: Vec<Value>) -> Value {
        json!({
            "api": { "id": id, "name": id, "kind": "websocket" },
            "integrations": integrations,
            "routes": routes,
            "stages": [{ "name": "prod" }],
            "deploy_to": ["prod"],
        })
    }

    /// A REST API deployed to `stage` with these integrations and routes.
    pub fn rest(id: &str, stage: &str, integrations: Vec<Value>, routes: Vec<Value>) -> Value {
        json!({
            "api": { "id": id, "name": id, "kind": "rest" },
            "integrations": integrations,
            "routes": routes,
            "stages": [{ "name": stage }],
            "deploy_to": [stage],
        })
    }

    /// An HTTP API with an auto-deploying `$default` stage.
    pub fn http(id: &str, integrations: Vec<Value>, routes: Vec<Value>) -> Value {
        json!({
            "api": { "id": id, "name": id, "kind": "http" },
            "integrations": integrations,
            "routes": routes,
            "stages": [{ "name": "$default", "auto_deploy": true }],
        })
    }
}
