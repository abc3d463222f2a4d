//! Reading the documents `apply` is given: YAML (several per file, `---` between) or JSON (one
//! document or an array of them), from files or every `.yaml`/`.yml`/`.json` in a directory.
//!
//! Each document names its `kind` (`api`, `domain`, `usage_plan`, `api_key`); the rest is the
//! object as the admin API takes it. A document without `kind` that has an `api` field is an API
//! document (so `GET /apis/{id}/document` output applies as is).

use anyhow::{Context, bail};
use edgeway_shared::admin::ApiDocument;
use edgeway_shared::{ApiKey, Domain, ObjectKind, UsagePlan};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One object the files want to exist.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
    Api(Box<ApiDocument>),
    Domain(Domain),
    Plan(UsagePlan),
    /// A key and, for its creation only, a value of the caller's.
    Key(ApiKey, Option<String>),
}

impl Desired {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Desired::Api(_) => ObjectKind::Api,
            Desired::Domain(_) => ObjectKind::Domain,
            Desired::Plan(_) => ObjectKind::UsagePlan,
            Desired::Key(..) => ObjectKind::ApiKey,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Desired::Api(doc) => &doc.api.id,
            Desired::Domain(domain) => &domain.name,
            Desired::Plan(plan) => &plan.id,
            Desired::Key(key, _) => &key.id,
        }
    }

    /// `api/pets`, as apply reports it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind().as_str(), self.id())
    }
}

/// Every document under `paths`, in file order; duplicates and documents without an id are
/// errors naming the file.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<Desired>> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    let mut all: Vec<Desired> = Vec::new();
    for file in files {
        for (n, value) in read_values(&file)?.into_iter().enumerate() {
            let place = format!("{} (document {})", file.display(), n + 1);
            let desired = parse(value).with_context(|| place.clone())?;
            if desired.id().is_empty() {
                bail!(
                    "{place}: {} has no id (apply needs ids to compare)",
                    desired.kind().as_str()
                );
            }
            if all
                .iter()
                .any(|d| d.kind() == desired.kind() && d.id() == desired.id())
            {
                bail!("{place}: {} is named twice", desired.label());
            }
            all.push(desired);
        }
    }
    if all.is_empty() {
        bail!("no documents found in {}", list(paths));
    }
    Ok(all)
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if !meta.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("{}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let known = matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if entry.is_dir() || known {
            collect(&entry, files)?;
        }
    }
    Ok(())
}

/// The documents of one file (`-` is standard input).
pub fn read_values(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = match path.to_str() {
        Some("-") => std::io::read_to_string(std::io::stdin()).context("standard input")?,
        _ => std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?,
    };
    let json = path.extension().and_then(|e| e.to_str()) == Some("json")
        || text.trim_start().starts_with(['{', '[']);
    if json {
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        return Ok(match value {
            Value::Array(docs) => docs,
            one => vec![one],
        });
    }
    let mut docs = Vec::new();
    for (n, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
        let value = Value::deserialize(doc)
            .with_context(|| format!("{} (document {}): not valid YAML", path.display(), n + 1))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn parse(mut value: Value) -> anyhow::Result<Desired> {
    let Some(map) = value.as_object_mut() else {
        bail!("a document must be a mapping with a kind");
    };
    let kind = match map.remove("kind") {
        Some(kind) => serde_json::from_value::<ObjectKind>(kind.clone())
            .with_context(|| format!("kind {kind}: expected api, domain, usage_plan or api_key"))?,
        None if map.contains_key("api") => ObjectKind::Api,
        None => bail!("the document has no kind (api, domain, usage_plan or api_key)"),
    };
    Ok(match kind {
        ObjectKind::Api => Desired::Api(Box::new(typed(value)?)),
        ObjectKind::Domain => Desired::Domain(typed(value)?),
        ObjectKind::UsagePlan => Desired::Plan(typed(value)?),
        ObjectKind::ApiKey => {
            let secret = map.remove("value").map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(anyhow::anyhow!("api_key value must be a string")),
            });
            Desired::Key(typed(value)?, secret.transpose()?)
        }
        other => bail!(
            "kind {}: apply takes api, domain, usage_plan or api_key (objects inside an API go in its api document)",
            other.as_str()
        ),
    })
}

/// Deserializes with the field path in the error (`api.kind: unknown variant ...`).
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> anyhow::Result<T> {
    serde_json::from_value(value).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_json_and_directories_load_with_errors_naming_the_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "kind: usage_plan\nid: gold\nname: Gold\n---\nkind: api_key\nid: k1\nname: partner\nvalue: abcdefghijklmnopqrstuvwxyz\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"api": {"id": "pets", "name": "Pets", "kind": "rest"}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a document").unwrap();
        let docs = load(&[dir.path().to_path_buf()]).unwrap();
        let labels: Vec<String> = docs.iter().map(Desired::label).collect();
        assert_eq!(labels, ["usage_plan/gold", "api_key/k1", "api/pets"]);
        assert!(matches!(&docs[1], Desired::Key(_, Some(v)) if v == "abcdefghijklmnopqrstuvwxyz"));

        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "kind: api\napi: {id: x, name: X, kind: soap}\n").unwrap();
        let err = format!("{:#}", load(std::slice::from_ref(&bad)).unwrap_err());
        assert!(
            err.contains("bad.yaml (document 1)") && err.contains("soap"),
            "{err}"
        );
        std::fs::write(&bad, "kind: route\nid: r\n").unwrap();
        let err = format!("{:#}", load(std::slice::from_ref(&bad)).unwrap_err());
        assert!(err.contains("inside an API"), "{err}");
        std::fs::write(
            &bad,
            "kind: usage_plan\nid: g\nname: G\n---\nkind: usage_plan\nid: g\nname: H\n",
        )
        .unwrap();
        let err = format!("{:#}", load(&[bad]).unwrap_err());
        assert!(err.contains("usage_plan/g is named twice"), "{err}");
    }
}
