//! What each command does: admin API calls, printed in the chosen format.

use crate::cli::{
    CacheCommand, CertsCommand, Cli, ClusterCommand, Command, DnsFormat, KeysCommand, PlansCommand,
};
use crate::client::Client;
use crate::kinds::{Kind, segment};
use crate::output::{Format, render};
use crate::settings::{Flags, Settings};
use crate::{apply, connections};
use anyhow::Context;
use edgeway_shared::admin::{
    CacheFlush, ClusterMembers, ClusterStatus, DeployRequest, Health, PlanKeyRequest, UsageUpdate,
};
use http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use std::path::Path;

/// Runs a parsed command line; returns what to print on stdout.
pub async fn run(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let format = cli.global.output;
    if let Command::Certs(certs) = &cli.command {
        return run_certs(certs, cli.global.ca.as_deref());
    }
    let flags = Flags {
        addr: cli.global.addr.clone(),
        token: cli.global.token.clone(),
        ca: cli.global.ca.clone(),
        config: cli.global.config.clone(),
    };
    let mut client = Client::new(Settings::resolve(&flags, env)?)?;
    let client = &mut client;
    let shown = |value: &Value, kind: Option<&Kind>| render(value, format, kind.map(|k| k.columns));
    Ok(match cli.command {
        Command::Get { kind, id, api } => {
            let kind = Kind::find(&kind)?;
            let path = match &id {
                Some(id) => kind.item(api.api.as_deref(), id)?,
                None => kind.collection(api.api.as_deref())?,
            };
            shown(&client.get(&path).await?, Some(kind))
        }
        Command::Create { kind, file, api } => {
            let kind = Kind::find(&kind)?;
            let body = one_document(&file)?;
            let path = kind.collection(api.api.as_deref())?;
            shown(
                &client.call(Method::POST, &path, Some(&body)).await?,
                Some(kind),
            )
        }
        Command::Update {
            kind,
            id,
            file,
            api,
        } => {
            let kind = Kind::find(&kind)?;
            let body = one_document(&file)?;
            let path = kind.item(api.api.as_deref(), &id)?;
            shown(
                &client.call(Method::PUT, &path, Some(&body)).await?,
                Some(kind),
            )
        }
        Command::Delete { kind, id, api } => {
            let kind = Kind::find(&kind)?;
            let path = kind.item(api.api.as_deref(), &id)?;
            let answer = client.call(Method::DELETE, &path, None).await?;
            format!("deleted {}\n", answer["deleted"].as_str().unwrap_or(&id))
        }
        Command::Deploy {
            api,
            stage,
            description,
        } => {
            let request = DeployRequest { description, stage };
            let path = format!("/apis/{}/deployments", segment(&api)?);
            let body = serde_json::to_value(request)?;
            let deployment = client.call(Method::POST, &path, Some(&body)).await?;
            shown(&deployment, Some(Kind::find("deployments")?))
        }
        Command::Document { api } => {
            let doc = client
                .get(&format!("/apis/{}/document", segment(&api)?))
                .await?;
            match format {
                Format::Table => render(&doc, Format::Yaml, None),
                other => render(&doc, other, None),
            }
        }
        Command::Apply {
            files,
            dry_run,
            prune,
        } => {
            let options = apply::Options {
                files,
                dry_run,
                prune,
            };
            apply::apply(client, &options).await?.0
        }
        Command::Keys(keys) => run_keys(client, keys, format).await?,
        Command::Plans(plans) => run_plans(client, plans, format).await?,
        Command::Objects => {
            let list = client.get("/objects").await?;
            match format {
                Format::Table => objects_table(&list),
                other => render(&list, other, None),
            }
        }
        Command::Health => probe(client, "/health", format).await?,
        Command::Ready => probe(client, "/ready", format).await?,
        Command::Drain => {
            let health: Health =
                serde_json::from_value(client.call(Method::POST, "/drain", None).await?)
                    .context("/drain: unexpected answer")?;
            render(&serde_json::to_value(health)?, format, Some(HEALTH_COLUMNS))
        }
        Command::Metrics => {
            let (status, body) = client.raw(Method::GET, "/metrics", None).await?;
            // An error answer is JSON: let `get` turn it into the usual error.
            if !status.is_success() {
                client.get("/metrics").await?;
            }
            String::from_utf8_lossy(&body).into_owned()
        }
        Command::Cache(CacheCommand::Flush {
            api,
            stage,
            cluster,
        }) => {
            let scope = if cluster { "cluster" } else { "node" };
            let path = format!(
                "/apis/{}/stages/{}/cache?scope={scope}",
                segment(&api)?,
                segment(&stage)?
            );
            let flushed: CacheFlush =
                serde_json::from_value(client.call(Method::DELETE, &path, None).await?)
                    .context("cache flush: unexpected answer")?;
            match format {
                Format::Table => format!(
                    "flushed {api}/{stage} on {}\n",
                    flushed.flushed_nodes.join(", ")
                ),
                other => render(&serde_json::to_value(flushed)?, other, None),
            }
        }
        Command::Connections(command) => connections::run(client, command, format).await?,
        Command::Cluster(ClusterCommand::Members) => {
            let members: ClusterMembers =
                serde_json::from_value(client.get("/cluster/members").await?)
                    .context("/cluster/members: unexpected answer")?;
            let columns: &[(&str, &str)] = &[
                ("ID", "/id"),
                ("REGION", "/region"),
                ("ALIVE", "/alive"),
                ("HEALTH", "/health"),
                ("CAUGHT UP", "/caught_up"),
                ("PUBLIC", "/addresses/public"),
                ("PEER", "/addresses/peer"),
                ("HEARTBEAT MS AGO", "/last_heartbeat_ms_ago"),
            ];
            match format {
                Format::Table => render(
                    &serde_json::to_value(&members.members)?,
                    format,
                    Some(columns),
                ),
                other => render(&serde_json::to_value(&members)?, other, None),
            }
        }
        Command::Cluster(ClusterCommand::Status) => {
            let status: ClusterStatus =
                serde_json::from_value(client.get("/cluster/status").await?)
                    .context("/cluster/status: unexpected answer")?;
            render(&serde_json::to_value(status)?, format, None)
        }
        Command::Dns {
            zone,
            ttl,
            format: dns_format,
            allow_empty,
        } => {
            let members: ClusterMembers =
                serde_json::from_value(client.get("/cluster/members").await?)
                    .context("/cluster/members: unexpected answer")?;
            let export = crate::dns::export(&members, zone.as_deref(), ttl)?;
            if export.regions.is_empty() && !allow_empty {
                anyhow::bail!(
                    "no healthy node in cluster {}: refusing to print an empty record set (--allow-empty prints it)",
                    members.cluster_id
                );
            }
            match dns_format {
                DnsFormat::Bind => crate::dns::bind(&export),
                DnsFormat::Json => serde_json::to_string_pretty(&export)? + "\n",
            }
        }
        Command::Certs(_) => unreachable!("handled above"),
    })
}

/// `/objects` as KIND ID VERSION rows.
fn objects_table(list: &Value) -> String {
    let rows: Vec<Value> = list["objects"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .filter_map(|o| {
                    let (kind, inner) = o["object"].as_object()?.iter().next()?;
                    let id = inner
                        .get("id")
                        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                        .or_else(|| inner.get("name"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let api = inner.get("api_id").cloned().unwrap_or(Value::Null);
                    Some(json!({ "kind": kind, "api": api, "id": id, "version": o["version"] }))
                })
                .collect()
        })
        .unwrap_or_default();
    let columns = [
        ("KIND", "/kind"),
        ("API", "/api"),
        ("ID", "/id"),
        ("VERSION", "/version"),
    ];
    render(&Value::Array(rows), Format::Table, Some(&columns))
}

const HEALTH_COLUMNS: &[(&str, &str)] = &[
    ("STATUS", "/status"),
    ("NODE", "/node"),
    ("OBJECTS", "/objects"),
];

async fn probe(client: &mut Client, path: &str, format: Format) -> anyhow::Result<String> {
    let health: Health = serde_json::from_value(client.get(path).await?)
        .with_context(|| format!("{path}: unexpected answer"))?;
    Ok(render(
        &serde_json::to_value(health)?,
        format,
        Some(HEALTH_COLUMNS),
    ))
}

async fn run_keys(
    client: &mut Client,
    command: KeysCommand,
    format: Format,
) -> anyhow::Result<String> {
    let keys = Kind::find("keys")?;
    let answer = match command {
        KeysCommand::Create {
            id,
            name,
            description,
            value,
            disabled,
        } => {
            let body = json!({ "id": id, "name": name, "description": description,
                               "enabled": !disabled, "value": value });
            let created = client.call(Method::POST, "/apikeys", Some(&body)).await?;
            if format == Format::Table {
                // The value is shown this once: print it where a person sees it.
                let table = render(&created, format, Some(keys.columns));
                let value = created["value"].as_str().unwrap_or("");
                return Ok(format!(
                    "{table}value: {value}\n(shown once: the gateway keeps only its hash)\n"
                ));
            }
            created
        }
        KeysCommand::Enable { id } => set_enabled(client, &id, true).await?,
        KeysCommand::Disable { id } => set_enabled(client, &id, false).await?,
        KeysCommand::Import { file } => {
            let csv =
                std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?;
            let body = Some(("text/csv", bytes::Bytes::from(csv)));
            let imported = client
                .call_body(Method::POST, "/apikeys/import", body)
                .await?;
            return Ok(render(&imported, format, None));
        }
    };
    Ok(render(&answer, format, Some(keys.columns)))
}

async fn set_enabled(client: &mut Client, id: &str, enabled: bool) -> anyhow::Result<Value> {
    let path = format!("/apikeys/{}", segment(id)?);
    client
        .call(Method::PUT, &path, Some(&json!({ "enabled": enabled })))
        .await
}

async fn run_plans(
    client: &mut Client,
    command: PlansCommand,
    format: Format,
) -> anyhow::Result<String> {
    let key_columns: &[(&str, &str)] = &[
        ("KEY", "/key_id"),
        ("NAME", "/name"),
        ("ENABLED", "/enabled"),
        ("QUOTA REMAINING", "/quota/remaining"),
        ("PERIOD END", "/quota/period_end"),
    ];
    Ok(match command {
        PlansCommand::Keys { plan, key } => {
            let mut path = format!("/usageplans/{}/keys", segment(&plan)?);
            if let Some(key) = key {
                path = format!("{path}/{}", segment(&key)?);
            }
            render(&client.get(&path).await?, format, Some(key_columns))
        }
        PlansCommand::AddKey { plan, key } => {
            let path = format!("/usageplans/{}/keys", segment(&plan)?);
            let body = serde_json::to_value(PlanKeyRequest { key_id: key })?;
            render(
                &client.call(Method::POST, &path, Some(&body)).await?,
                format,
                Some(key_columns),
            )
        }
        PlansCommand::RemoveKey { plan, key } => {
            let path = format!("/usageplans/{}/keys/{}", segment(&plan)?, segment(&key)?);
            client.call(Method::DELETE, &path, None).await?;
            format!("removed key {key} from plan {plan}\n")
        }
        PlansCommand::Usage {
            plan,
            start,
            end,
            key,
        } => {
            // Dates go into the query as given (escaped); the server checks their form.
            let escape = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
            let mut path = format!(
                "/usageplans/{}/usage?start_date={}&end_date={}",
                segment(&plan)?,
                escape(&start),
                escape(&end)
            );
            if let Some(key) = key {
                path.push_str(&format!("&key_id={}", segment(&key)?));
            }
            let report = client.get(&path).await?;
            match format {
                Format::Table => usage_table(&report),
                other => render(&report, other, None),
            }
        }
        PlansCommand::SetUsage {
            plan,
            key,
            remaining,
            reset,
        } => {
            let path = format!(
                "/usageplans/{}/keys/{}/usage",
                segment(&plan)?,
                segment(&key)?
            );
            let body = serde_json::to_value(UsageUpdate { remaining, reset })?;
            render(
                &client.call(Method::PATCH, &path, Some(&body)).await?,
                format,
                Some(key_columns),
            )
        }
    })
}

/// One row per key and day.
fn usage_table(report: &Value) -> String {
    let start = report["start_date"].as_str().unwrap_or("");
    let mut rows = Vec::new();
    if let Some(items) = report["items"].as_object() {
        for (key, days) in items {
            for (n, day) in days.as_array().into_iter().flatten().enumerate() {
                rows.push(json!({ "key": key, "day": n, "used": day[0], "remaining": day[1] }));
            }
        }
    }
    let columns = [
        ("KEY", "/key"),
        ("DAY", "/day"),
        ("USED", "/used"),
        ("REMAINING", "/remaining"),
    ];
    format!(
        "from {start} (day 0)\n{}",
        render(&Value::Array(rows), Format::Table, Some(&columns))
    )
}

fn run_certs(command: &CertsCommand, ca_dir: Option<&Path>) -> anyhow::Result<String> {
    let (cert, key) = match command {
        CertsCommand::Init { out, name, days } => crate::certs::init(out, name, *days)?,
        CertsCommand::Issue {
            node_id,
            out,
            sans,
            days,
        } => {
            let ca_dir = ca_dir
                .context("certs issue needs --ca DIR (the directory of ca.pem and ca.key)")?;
            crate::certs::issue(ca_dir, node_id, out, sans, *days)?
        }
    };
    Ok(format!(
        "wrote {}\nwrote {} (mode 0600)\n",
        cert.display(),
        key.display()
    ))
}

/// The one document of a `create`/`update` file.
fn one_document(path: &Path) -> anyhow::Result<Value> {
    let mut docs = apply::docs::read_values(path)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        n => anyhow::bail!("{}: expected one document, found {n}", path.display()),
    }
}
