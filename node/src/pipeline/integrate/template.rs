//! Text templates in integration settings: `${stageVariables.x}` (filled when a stage is
//! compiled) and `{param}` placeholders in backend URIs (filled per request).

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Replaces every `${stageVariables.NAME}`; an unknown variable becomes empty, as in AWS.
pub fn with_stage_variables(text: &str, variables: &BTreeMap<String, String>) -> String {
    const OPEN: &str = "${stageVariables.";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        match after.find('}') {
            Some(end) => {
                out.push_str(
                    variables
                        .get(&after[..end])
                        .map(String::as_str)
                        .unwrap_or(""),
                );
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Param(String),
}

/// A backend URI with `{name}` / `{name+}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    pub fn parse(uri: &str) -> UriTemplate {
        let mut parts = Vec::new();
        let mut rest = uri;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = rest[open + 1..open + close].trim_end_matches('+');
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            parts.push(Part::Param(name.to_string()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        UriTemplate { parts }
    }

    pub fn has_params(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Param(_)))
    }

    /// Fills the placeholders; a value the lookup lacks becomes empty.
    pub fn render<'a>(&self, lookup: impl Fn(&str) -> Option<Cow<'a, str>>) -> String {
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Param(name) => out.push_str(&lookup(name).unwrap_or_default()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_variables_are_filled_and_unknown_ones_are_empty() {
        let vars = BTreeMap::from([("host".to_string(), "b.local:81".to_string())]);
        assert_eq!(
            with_stage_variables(
                "http://${stageVariables.host}/x${stageVariables.nope}y",
                &vars
            ),
            "http://b.local:81/xy"
        );
        assert_eq!(
            with_stage_variables("open ${stageVariables.host", &vars),
            "open ${stageVariables.host"
        );
    }

    #[test]
    fn uri_placeholders_render_in_place() {
        let t = UriTemplate::parse("http://b/{proxy+}/items/{id}?q=1");
        assert!(t.has_params());
        let out = t.render(|n| Some(Cow::Owned(format!("<{n}>"))));
        assert_eq!(out, "http://b/<proxy>/items/<id>?q=1");
        assert!(!UriTemplate::parse("http://b/x").has_params());
    }
}
