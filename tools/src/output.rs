//! `-o table|json|yaml`: how answers are printed.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    #[default]
    Table,
    /// Pretty JSON, as the admin API answered.
    Json,
    /// YAML, as `apply` reads it.
    Yaml,
}

/// Renders `value`; in table form with `columns` (header, JSON pointer) when given.
pub fn render(value: &Value, format: Format, columns: Option<&[(&str, &str)]>) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(value).unwrap_or_default() + "\n",
        Format::Yaml => yaml(value),
        Format::Table => match (value, columns) {
            (Value::Array(rows), Some(columns)) => table(rows, columns),
            (Value::Object(_), Some(columns)) => table(std::slice::from_ref(value), columns),
            (Value::Array(rows), None) => {
                let guessed = guess_columns(rows);
                let columns: Vec<(&str, &str)> = guessed
                    .iter()
                    .map(|(h, p)| (h.as_str(), p.as_str()))
                    .collect();
                table(rows, &columns)
            }
            (Value::Object(map), None) => {
                let rows: Vec<Vec<String>> = map
                    .iter()
                    .map(|(k, v)| vec![k.clone(), cell(Some(v))])
                    .collect();
                grid(&["FIELD".into(), "VALUE".into()], &rows)
            }
            (other, _) => format!("{}\n", cell(Some(other))),
        },
    }
}

pub fn yaml(value: &Value) -> String {
    serde_norway::to_string(value).unwrap_or_default()
}

/// The scalar fields of the first row, in order (at most 6), or the rows themselves.
fn guess_columns(rows: &[Value]) -> Vec<(String, String)> {
    let Some(Value::Object(first)) = rows.first() else {
        return vec![("VALUE".into(), String::new())];
    };
    first
        .iter()
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .take(6)
        .map(|(k, _)| (k.clone(), format!("/{k}")))
        .collect()
}

fn table(rows: &[Value], columns: &[(&str, &str)]) -> String {
    let headers: Vec<String> = columns.iter().map(|(h, _)| h.to_uppercase()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|(_, pointer)| cell(row.pointer(pointer)))
                .collect()
        })
        .collect();
    grid(&headers, &cells)
}

fn grid(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(headers);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// A table cell: strings bare, absent and null as `-`, anything else as compact JSON.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.replace('\n', " "),
        Some(Value::Array(a)) if a.is_empty() => "-".into(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_and_show_absent_values_as_dashes() {
        let rows = json!([
            { "id": "pets", "name": "Pets", "kind": "rest" },
            { "id": "h", "name": "Hello API", "kind": "http", "description": "x" },
        ]);
        let out = render(
            &rows,
            Format::Table,
            Some(&[("ID", "/id"), ("NAME", "/name"), ("DESC", "/description")]),
        );
        assert_eq!(
            out,
            "ID    NAME       DESC\npets  Pets       -\nh     Hello API  x\n"
        );
    }

    #[test]
    fn json_and_yaml_keep_the_whole_value() {
        let value = json!({ "id": "pets", "stages": ["prod"] });
        assert_eq!(
            render(&value, Format::Yaml, None),
            "id: pets\nstages:\n- prod\n"
        );
        let back: Value = serde_json::from_str(&render(&value, Format::Json, None)).unwrap();
        assert_eq!(back, value);
        assert_eq!(
            render(&value, Format::Table, None),
            "FIELD   VALUE\nid      pets\nstages  [\"prod\"]\n"
        );
    }
}
