//! The admin API's object collections, as `get`, `create`, `update` and `delete` name them.

use anyhow::bail;

/// One collection of the admin API.
#[derive(Debug, PartialEq)]
pub struct Kind {
    /// The name commands use (`apis`); singular and short forms are accepted too.
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Lives inside an API (`/apis/{api}/...`): needs `--api`.
    pub in_api: bool,
    /// The collection's path segment.
    pub segment: &'static str,
    /// Table columns: header and JSON pointer into each object.
    pub columns: &'static [(&'static str, &'static str)],
}

pub const KINDS: &[Kind] = &[
    Kind {
        name: "apis",
        aliases: &["api"],
        in_api: false,
        segment: "apis",
        columns: &[
            ("ID", "/id"),
            ("NAME", "/name"),
            ("KIND", "/kind"),
            ("ENDPOINT", "/endpoint_type"),
            ("DESCRIPTION", "/description"),
        ],
    },
    Kind {
        name: "routes",
        aliases: &["route"],
        in_api: true,
        segment: "routes",
        columns: &[
            ("ID", "/id"),
            ("METHOD", "/method"),
            ("PATH", "/path"),
            ("ROUTE KEY", "/route_key"),
            ("INTEGRATION", "/integration_id"),
            ("API KEY", "/api_key_required"),
            ("AUTHORIZER", "/authorizer_id"),
        ],
    },
    Kind {
        name: "integrations",
        aliases: &["integration"],
        in_api: true,
        segment: "integrations",
        columns: &[
            ("ID", "/id"),
            ("TYPE", "/type"),
            ("URI", "/uri"),
            ("TIMEOUT MS", "/timeout_ms"),
        ],
    },
    Kind {
        name: "stages",
        aliases: &["stage"],
        in_api: true,
        segment: "stages",
        columns: &[
            ("NAME", "/name"),
            ("DEPLOYMENT", "/deployment_id"),
            ("AUTO DEPLOY", "/auto_deploy"),
            ("THROTTLE", "/throttle"),
        ],
    },
    Kind {
        name: "deployments",
        aliases: &["deployment"],
        in_api: true,
        segment: "deployments",
        columns: &[
            ("ID", "/id"),
            ("DESCRIPTION", "/description"),
            ("CREATED AT (ms)", "/created_at"),
        ],
    },
    Kind {
        name: "authorizers",
        aliases: &["authorizer"],
        in_api: true,
        segment: "authorizers",
        columns: &[("ID", "/id"), ("TYPE", "/type"), ("URI", "/uri")],
    },
    Kind {
        name: "domains",
        aliases: &["domain"],
        in_api: false,
        segment: "domains",
        columns: &[("NAME", "/name"), ("MAPPINGS", "/mappings")],
    },
    Kind {
        name: "keys",
        aliases: &["key", "apikeys", "apikey", "api-keys", "api-key"],
        in_api: false,
        segment: "apikeys",
        columns: &[
            ("ID", "/id"),
            ("NAME", "/name"),
            ("ENABLED", "/enabled"),
            ("DESCRIPTION", "/description"),
        ],
    },
    Kind {
        name: "plans",
        aliases: &[
            "plan",
            "usageplans",
            "usageplan",
            "usage-plans",
            "usage-plan",
        ],
        in_api: false,
        segment: "usageplans",
        columns: &[
            ("ID", "/id"),
            ("NAME", "/name"),
            ("STAGES", "/api_stages"),
            ("THROTTLE", "/throttle"),
            ("QUOTA", "/quota"),
        ],
    },
];

impl Kind {
    pub fn find(name: &str) -> anyhow::Result<&'static Kind> {
        let lower = name.to_ascii_lowercase();
        match KINDS
            .iter()
            .find(|k| k.name == lower || k.aliases.contains(&lower.as_str()))
        {
            Some(kind) => Ok(kind),
            None => {
                let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
                bail!(
                    "unknown kind '{name}': expected one of {}",
                    names.join(", ")
                )
            }
        }
    }

    /// The collection's path (`/apis/pets/routes`, `/apikeys`).
    pub fn collection(&self, api: Option<&str>) -> anyhow::Result<String> {
        match (self.in_api, api) {
            (true, Some(api)) => Ok(format!("/apis/{}/{}", segment(api)?, self.segment)),
            (true, None) => bail!("{} live inside an API: give --api API_ID", self.name),
            (false, _) => Ok(format!("/{}", self.segment)),
        }
    }

    /// One object's path.
    pub fn item(&self, api: Option<&str>, id: &str) -> anyhow::Result<String> {
        Ok(format!("{}/{}", self.collection(api)?, segment(id)?))
    }
}

/// An id as one path segment. Ids are plain (`[A-Za-z0-9._$-]`, domain names); a slash or a
/// space would address something else, so it is refused rather than sent.
pub fn segment(id: &str) -> anyhow::Result<&str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.$~".contains(c);
    if id.is_empty() || !id.chars().all(plain) {
        bail!("'{id}' is not a valid id (letters, digits and - _ . $ ~ only)");
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_by_any_of_their_names_and_build_paths() {
        assert_eq!(Kind::find("usage-plan").unwrap().segment, "usageplans");
        assert_eq!(Kind::find("Routes").unwrap().name, "routes");
        let route = Kind::find("route").unwrap();
        assert_eq!(
            route.item(Some("pets"), "get-pets").unwrap(),
            "/apis/pets/routes/get-pets"
        );
        assert!(
            route
                .collection(None)
                .unwrap_err()
                .to_string()
                .contains("--api")
        );
        assert_eq!(
            Kind::find("stage")
                .unwrap()
                .item(Some("h"), "$default")
                .unwrap(),
            "/apis/h/stages/$default"
        );
        assert!(
            Kind::find("pods")
                .unwrap_err()
                .to_string()
                .contains("expected one of apis")
        );
        assert!(segment("a/b").is_err() && segment("").is_err());
    }
}
