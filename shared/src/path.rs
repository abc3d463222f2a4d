//! Route path templates: `/pets/{id}`, `/files/{proxy+}`.

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Static(String),
    Param(String),
    /// `{name+}`: one or more remaining segments; only last.
    Greedy(String),
}

/// Parses a template; `/` is the root and has no segments.
pub fn parse_template(path: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("must start with '/'".into());
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    let mut names: Vec<&str> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let segment = parse_segment(part)?;
        if let Segment::Param(name) | Segment::Greedy(name) = &segment {
            if names.contains(&name.as_str()) {
                return Err(format!("parameter '{name}' appears twice"));
            }
            names.push(part.trim_matches(|c| c == '{' || c == '}' || c == '+'));
            if matches!(segment, Segment::Greedy(_)) && i + 1 != parts.len() {
                return Err(format!(
                    "greedy parameter '{part}' must be the last segment"
                ));
            }
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn parse_segment(part: &str) -> Result<Segment, String> {
    if part.is_empty() {
        return Err("has an empty segment ('//' or a trailing '/')".into());
    }
    if let Some(inner) = part.strip_prefix('{') {
        let inner = inner
            .strip_suffix('}')
            .ok_or_else(|| format!("segment '{part}' is missing '}}'"))?;
        let (name, greedy) = match inner.strip_suffix('+') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(format!(
                "parameter name in '{part}' must be letters, digits, '_', '-' or '.'"
            ));
        }
        return Ok(if greedy {
            Segment::Greedy(name.into())
        } else {
            Segment::Param(name.into())
        });
    }
    if let Some(bad) = part.chars().find(|c| !is_path_char(*c)) {
        return Err(format!(
            "segment '{part}' has the character '{bad}', which a path may not hold unescaped"
        ));
    }
    Ok(Segment::Static(part.into()))
}

/// RFC 3986 `pchar` minus `%` (templates hold decoded text).
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_param_and_greedy_segments() {
        assert_eq!(parse_template("/").unwrap(), vec![]);
        assert_eq!(
            parse_template("/pets/{id}/{proxy+}").unwrap(),
            vec![
                Segment::Static("pets".into()),
                Segment::Param("id".into()),
                Segment::Greedy("proxy".into())
            ]
        );
    }

    #[test]
    fn rejects_malformed_templates_with_a_reason() {
        for (bad, why) in [
            ("pets", "start with '/'"),
            ("/pets/", "empty segment"),
            ("/{proxy+}/x", "last segment"),
            ("/{a}/{a}", "twice"),
            ("/{}", "parameter name"),
            ("/{id", "missing"),
            ("/a b", "character ' '"),
        ] {
            let err = parse_template(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
