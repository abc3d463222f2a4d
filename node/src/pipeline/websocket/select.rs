//! Route selection: a message's route key is read from its JSON body by the API's route
//! selection expression (`$request.body.action`); anything else goes to `$default`.

use edgeway_shared::validate::websocket::BODY_PREFIX;

/// The route key `message` selects, or `None` (not JSON, no such member, not a string or
/// number): the caller falls back to `$default`.
pub fn route_key(expression: &str, message: &[u8]) -> Option<String> {
    let path = expression.strip_prefix(BODY_PREFIX)?;
    let body: serde_json::Value = serde_json::from_slice(message).ok()?;
    let mut at = &body;
    for name in path.split('.') {
        at = at.as_object()?.get(name)?;
    }
    match at {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_member_the_expression_names() {
        let e = "$request.body.action";
        assert_eq!(
            route_key(e, br#"{"action":"join"}"#).as_deref(),
            Some("join")
        );
        assert_eq!(route_key(e, br#"{"action":7}"#).as_deref(), Some("7"));
        let nested = "$request.body.message.type";
        let body = br#"{"message":{"type":"ping"}}"#;
        assert_eq!(route_key(nested, body).as_deref(), Some("ping"));
    }

    #[test]
    fn anything_else_falls_back() {
        let e = "$request.body.action";
        assert_eq!(route_key(e, b"plain text"), None);
        assert_eq!(route_key(e, br#"{"other":"x"}"#), None);
        assert_eq!(route_key(e, br#"{"action":{"a":1}}"#), None);
        assert_eq!(route_key(e, br#"["action"]"#), None);
    }
}
