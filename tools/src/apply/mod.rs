//! `apply -f FILE|DIR`: make the server hold what the files say. Each object is read first and
//! written only when it differs, so a second apply changes nothing. `--dry-run` prints the
//! differences and writes nothing; `--prune` deletes objects of the kinds the files contain that
//! the files no longer name.

mod compare;
pub mod docs;

use crate::client::Client;
use crate::output::yaml;
use docs::Desired;
use edgeway_shared::ObjectKind;
use http::Method;
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::PathBuf;

/// The order writes happen in: what others refer to first (plans name API stages, domains map
/// to APIs). Prunes go the other way round.
const ORDER: [ObjectKind; 4] = [
    ObjectKind::Api,
    ObjectKind::UsagePlan,
    ObjectKind::ApiKey,
    ObjectKind::Domain,
];

pub struct Options {
    pub files: Vec<PathBuf>,
    pub dry_run: bool,
    pub prune: bool,
}

/// What apply did (or, in a dry run, would do) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Deleted,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
        }
    }
}

/// Applies the files; returns the report (one line per object, diffs in a dry run) and the
/// actions taken.
pub async fn apply(
    client: &mut Client,
    options: &Options,
) -> anyhow::Result<(String, Vec<Action>)> {
    let mut desired = docs::load(&options.files)?;
    desired.sort_by_key(|d| ORDER.iter().position(|k| *k == d.kind()));
    let suffix = if options.dry_run { " (dry run)" } else { "" };
    let mut out = String::new();
    let mut actions = Vec::new();
    for object in &desired {
        let current = client.get_opt(&read_path(object)).await?;
        let action = match current {
            None => {
                if options.dry_run {
                    out.push_str(&diff("", &yaml(&body(object)?), object));
                } else {
                    create(client, object).await?;
                }
                Action::Created
            }
            Some(current) => {
                let want = compare::expected(object, &current)?;
                let have = compare::actual(object, &current)?;
                if want == have {
                    Action::Unchanged
                } else {
                    if options.dry_run {
                        out.push_str(&diff(&yaml(&have), &yaml(&want), object));
                    } else {
                        update(client, object).await?;
                    }
                    Action::Configured
                }
            }
        };
        let _ = writeln!(out, "{} {}{suffix}", object.label(), action.word());
        actions.push(action);
    }
    if options.prune {
        for kind in ORDER.iter().rev() {
            if !desired.iter().any(|d| d.kind() == *kind) {
                continue;
            }
            for id in existing_ids(client, *kind).await? {
                if desired.iter().any(|d| d.kind() == *kind && d.id() == id) {
                    continue;
                }
                if !options.dry_run {
                    client
                        .call(Method::DELETE, &format!("{}/{id}", collection(*kind)), None)
                        .await?;
                }
                let _ = writeln!(out, "{}/{id} deleted{suffix}", kind.as_str());
                actions.push(Action::Deleted);
            }
        }
    }
    Ok((out, actions))
}

fn collection(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Api => "/apis",
        ObjectKind::Domain => "/domains",
        ObjectKind::UsagePlan => "/usageplans",
        _ => "/apikeys",
    }
}

fn read_path(object: &Desired) -> String {
    match object {
        Desired::Api(doc) => format!("/apis/{}/document", doc.api.id),
        other => format!("{}/{}", collection(other.kind()), other.id()),
    }
}

async fn existing_ids(client: &mut Client, kind: ObjectKind) -> anyhow::Result<Vec<String>> {
    let field = if kind == ObjectKind::Domain {
        "name"
    } else {
        "id"
    };
    let list = client.get(collection(kind)).await?;
    Ok(list
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

async fn create(client: &mut Client, object: &Desired) -> anyhow::Result<()> {
    match object {
        Desired::Key(key, value) => {
            let mut body = json!({
                "id": key.id, "name": key.name, "description": key.description, "enabled": key.enabled,
            });
            if let Some(value) = value {
                body["value"] = json!(value);
            }
            client.call(Method::POST, "/apikeys", Some(&body)).await?;
            Ok(())
        }
        other => update(client, other).await,
    }
}

/// PUT creates or replaces; an API document replaces the whole API (and deploys to its
/// `deploy_to` stages).
async fn update(client: &mut Client, object: &Desired) -> anyhow::Result<()> {
    client
        .call(Method::PUT, &read_path(object), Some(&body(object)?))
        .await?;
    Ok(())
}

/// What a PUT sends (a key's value is never part of it).
fn body(object: &Desired) -> anyhow::Result<Value> {
    Ok(match object {
        Desired::Api(doc) => serde_json::to_value(doc)?,
        Desired::Domain(domain) => serde_json::to_value(domain)?,
        Desired::Plan(plan) => serde_json::to_value(plan)?,
        Desired::Key(key, _) => {
            json!({ "name": key.name, "description": key.description, "enabled": key.enabled })
        }
    })
}

fn diff(old: &str, new: &str, object: &Desired) -> String {
    let label = object.label();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{label} (server)"), &format!("{label} (files)"))
        .to_string()
}
