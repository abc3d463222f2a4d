//! `POST /apikeys/import`: API keys from CSV in AWS's import format, all or nothing.
//!
//! The header names the columns, in any order and case: `key` (required), `name`,
//! `description`, `enabled` (`true`/`false`, default true) and `usageplanIds` (plans to attach
//! the key to, separated by `;`). Every bad line is reported, by line number, and then nothing
//! is stored.

use super::now_ms;
use crate::admin::{Failure, Reply, bad_request};
use crate::body::json_response;
use crate::control::{Control, new_id};
use crate::snapshot::hash_key_value;
use edgeway_shared::validate::access::check_key_value;
use edgeway_shared::{ApiKey, Object, ObjectKind, UsagePlanKey};
use std::collections::{HashMap, HashSet};

/// More lines than this in one import is refused (split the file).
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Default)]
struct Columns {
    key: Option<usize>,
    name: Option<usize>,
    description: Option<usize>,
    enabled: Option<usize>,
    plans: Option<usize>,
}

pub async fn import(control: &Control, body: &[u8]) -> Reply {
    let text = std::str::from_utf8(body).map_err(|_| bad_request("the CSV is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = parse(text).map_err(bad_request)?.into_iter();
    let (_, header) = rows.next().ok_or_else(|| {
        bad_request("the CSV is empty; expected a header such as name,key,description,enabled")
    })?;
    let columns = columns(&header).map_err(|e| bad_request(format!("line 1: {e}")))?;
    let rows: Vec<_> = rows.collect();
    if rows.len() > MAX_KEYS {
        return Err(bad_request(format!("at most {MAX_KEYS} keys per import")));
    }
    let existing: HashSet<String> = control
        .store()
        .list(ObjectKind::ApiKey, "")
        .into_iter()
        .filter_map(|o| match o {
            Object::ApiKey(k) => Some(k.value_sha256),
            _ => None,
        })
        .collect();
    let plans: HashSet<String> = control
        .store()
        .list(ObjectKind::UsagePlan, "")
        .into_iter()
        .map(|o| o.key().id)
        .collect();

    let mut objects = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, fields) in rows {
        match row(&columns, &fields, line, &existing, &plans, &mut seen) {
            Ok(mut made) => objects.append(&mut made),
            Err(e) => errors.push(format!("line {line}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(bad_request(format!(
            "nothing imported: {}",
            errors.join("; ")
        )));
    }
    let ids: Vec<String> = objects
        .iter()
        .filter_map(|o| match o {
            Object::ApiKey(k) => Some(k.id.clone()),
            _ => None,
        })
        .collect();
    control.create_all(objects).await.map_err(Failure::from)?;
    Ok(json_response(
        200,
        &serde_json::json!({ "ids": ids, "warnings": [] }),
    ))
}

fn columns(header: &[String]) -> Result<Columns, String> {
    let mut columns = Columns::default();
    for (i, name) in header.iter().enumerate() {
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "key" => &mut columns.key,
            "name" => &mut columns.name,
            "description" => &mut columns.description,
            "enabled" => &mut columns.enabled,
            "usageplanids" => &mut columns.plans,
            other => {
                return Err(format!(
                    "unknown column '{other}' (expected name, key, description, enabled, usageplanIds)"
                ));
            }
        };
        if slot.replace(i).is_some() {
            return Err(format!("column '{}' appears twice", name.trim()));
        }
    }
    if columns.key.is_none() {
        return Err("a 'key' column is required".into());
    }
    Ok(columns)
}

/// One line: the key, and its usage plan keys.
fn row(
    columns: &Columns,
    fields: &[String],
    line: usize,
    existing: &HashSet<String>,
    plans: &HashSet<String>,
    seen: &mut HashMap<String, usize>,
) -> Result<Vec<Object>, String> {
    let field = |c: Option<usize>| {
        c.and_then(|i| fields.get(i))
            .map(|s| s.trim())
            .unwrap_or("")
    };
    let value = field(columns.key);
    check_key_value("", value).map_err(|e| format!("key: {}", e.message))?;
    let hash = hash_key_value(value);
    if let Some(first) = seen.insert(hash.clone(), line) {
        return Err(format!("key: the same value as line {first}"));
    }
    if existing.contains(&hash) {
        return Err("key: an API key with this value exists already".into());
    }
    let enabled = match field(columns.enabled).to_ascii_lowercase().as_str() {
        "" | "true" => true,
        "false" => false,
        other => return Err(format!("enabled: '{other}' is not true or false")),
    };
    let key = ApiKey {
        id: new_id(),
        name: field(columns.name).to_string(),
        description: field(columns.description).to_string(),
        enabled,
        value_sha256: hash,
        created_at: now_ms(),
    };
    let mut made = Vec::new();
    for plan in field(columns.plans)
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !plans.contains(plan) {
            return Err(format!("usageplanIds: no usage plan '{plan}'"));
        }
        made.push(Object::UsagePlanKey(UsagePlanKey {
            plan_id: plan.to_string(),
            key_id: key.id.clone(),
        }));
    }
    made.insert(0, Object::ApiKey(key));
    Ok(made)
}

/// RFC 4180 records with the line each starts on: fields separated by commas, quoted fields may
/// hold commas, doubled quotes and line breaks. Blank lines are skipped.
fn parse(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut line, mut start) = (1, 1);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].trim().is_empty()) {
                    records.push((start, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {start}: a quoted field is not closed"));
    }
    record.push(field);
    if !(record.len() == 1 && record[0].trim().is_empty()) {
        records.push((start, record));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_keep_quotes_commas_and_line_numbers() {
        let text = "Name,Key\r\n\"a, b\",\"x\"\"y\"\n\nc,\"multi\nline\"\nlast,z";
        let records = parse(text).unwrap();
        let lines: Vec<usize> = records.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 2, 4, 6]);
        assert_eq!(records[1].1, ["a, b", "x\"y"]);
        assert_eq!(records[2].1, ["c", "multi\nline"]);
        assert!(parse("a,\"open").is_err());
    }

    #[test]
    fn columns_are_case_blind_and_key_is_required() {
        let header = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        let c = columns(&header("Name,KEY,description,Enabled,usagePlanIds")).unwrap();
        assert_eq!((c.name, c.key, c.plans), (Some(0), Some(1), Some(4)));
        assert!(columns(&header("name,description")).is_err());
        assert!(columns(&header("key,key")).is_err());
        assert!(
            columns(&header("key,colour"))
                .unwrap_err()
                .contains("colour")
        );
    }
}
