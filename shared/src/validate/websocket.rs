//! WebSocket APIs: the route selection expression and routes named by key.

use super::{Result, err};
use crate::model::{Api, ApiKind, CONNECT_ROUTE, DEFAULT_ROUTE, DISCONNECT_ROUTE, Route};

/// The prefix every supported route selection expression starts with.
pub const BODY_PREFIX: &str = "$request.body.";

/// Route keys take at most this many characters (AWS's limit).
const MAX_ROUTE_KEY: usize = 128;

pub(super) fn check_api(api: &Api, me: &str) -> Result {
    let Some(expression) = &api.route_selection_expression else {
        return Ok(());
    };
    let field = "route_selection_expression";
    if api.kind != ApiKind::Websocket {
        return Err(err(me, field, "is set only on websocket APIs"));
    }
    let Some(path) = expression.strip_prefix(BODY_PREFIX) else {
        return Err(err(me, field, format!("must start with {BODY_PREFIX}")));
    };
    let names_ok = path.split('.').all(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if !names_ok {
        return Err(err(
            me,
            field,
            "names a JSON member path like $request.body.action or $request.body.message.type",
        ));
    }
    Ok(())
}

pub(super) fn check_route(route: &Route, kind: ApiKind, me: &str) -> Result {
    if kind != ApiKind::Websocket {
        return Err(err(me, "route_key", "is set only on websocket API routes"));
    }
    let Some(key) = &route.route_key else {
        return Err(err(me, "route_key", "is required in websocket APIs"));
    };
    if !route.method.is_empty() || !route.path.is_empty() {
        let field = if route.method.is_empty() {
            "path"
        } else {
            "method"
        };
        return Err(err(
            me,
            field,
            "websocket routes are named by route_key alone",
        ));
    }
    let printable = key.chars().all(|c| c.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_ROUTE_KEY || !printable {
        return Err(err(
            me,
            "route_key",
            format!("must be 1-{MAX_ROUTE_KEY} visible ASCII characters"),
        ));
    }
    if key.starts_with('$') && ![CONNECT_ROUTE, DISCONNECT_ROUTE, DEFAULT_ROUTE].contains(&&**key) {
        return Err(err(
            me,
            "route_key",
            "keys starting with $ are $connect, $disconnect or $default",
        ));
    }
    // As in AWS, only the handshake can be authorized: later messages ride on it.
    let authorized = route.api_key_required || route.authorizer_id.is_some();
    if authorized && key != CONNECT_ROUTE {
        let field = if route.api_key_required {
            "api_key_required"
        } else {
            "authorizer_id"
        };
        return Err(err(
            me,
            field,
            "only the $connect route of a websocket API is authorized",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_route(key: &str) -> Route {
        Route {
            id: "r".into(),
            api_id: "chat".into(),
            method: String::new(),
            path: String::new(),
            route_key: Some(key.into()),
            integration_id: "i".into(),
            api_key_required: false,
            authorizer_id: None,
            authorization_scopes: vec![],
        }
    }

    fn message(result: Result) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn route_selection_expressions_read_the_json_body() {
        let mut api = Api::new("chat", "chat", ApiKind::Websocket);
        assert!(api.validate().is_ok());
        assert_eq!(api.route_selection(), "$request.body.action");
        api.route_selection_expression = Some("$request.body.message.type".into());
        assert!(api.validate().is_ok());
        api.route_selection_expression = Some("$request.header.x".into());
        assert_eq!(
            message(api.validate()),
            "api chat: route_selection_expression: must start with $request.body."
        );
        api.route_selection_expression = Some("$request.body.a..b".into());
        assert!(api.validate().is_err());
        let mut http = Api::new("h", "h", ApiKind::Http);
        http.route_selection_expression = Some("$request.body.action".into());
        assert!(message(http.validate()).contains("only on websocket APIs"));
    }

    #[test]
    fn websocket_routes_are_named_by_key() {
        for key in ["$connect", "$disconnect", "$default", "sendmessage"] {
            assert!(ws_route(key).validate(ApiKind::Websocket).is_ok(), "{key}");
        }
        assert!(message(ws_route("$other").validate(ApiKind::Websocket)).contains("route_key"));
        assert!(message(ws_route("a b").validate(ApiKind::Websocket)).contains("route_key"));
        assert!(message(ws_route("x").validate(ApiKind::Http)).contains("route_key"));
        let mut keyless = ws_route("x");
        keyless.route_key = None;
        assert!(message(keyless.validate(ApiKind::Websocket)).contains("is required"));
        let mut with_method = ws_route("x");
        with_method.method = "GET".into();
        assert!(message(with_method.validate(ApiKind::Websocket)).contains("method"));
    }

    #[test]
    fn only_connect_is_authorized() {
        let mut connect = ws_route("$connect");
        connect.api_key_required = true;
        assert!(connect.validate(ApiKind::Websocket).is_ok());
        let mut message_route = ws_route("sendmessage");
        message_route.authorizer_id = Some("auth".into());
        assert_eq!(
            message(message_route.validate(ApiKind::Websocket)),
            "route chat/r: authorizer_id: only the $connect route of a websocket API is authorized"
        );
    }
}
