//! `edgewayctl connections`: AWS's `@connections` API for WebSocket connections, on the admin
//! listener of any node (the node holding the connection is reached over the peer channel).

use crate::cli::ConnectionsCommand;
use crate::client::Client;
use crate::kinds::segment;
use crate::output::{Format, render};
use anyhow::Context;
use bytes::Bytes;
use edgeway_shared::admin::ConnectionInfo;
use http::Method;
use std::io::Read;

/// `connections get|send|delete`.
pub async fn run(
    client: &mut Client,
    command: ConnectionsCommand,
    format: Format,
) -> anyhow::Result<String> {
    let path = |id: &str| anyhow::Ok(format!("/@connections/{}", segment(id)?));
    Ok(match command {
        ConnectionsCommand::Get { id } => {
            let info: ConnectionInfo = serde_json::from_value(client.get(&path(&id)?).await?)
                .context("@connections: unexpected answer")?;
            let columns: &[(&str, &str)] = &[
                ("CONNECTION", "/connectionId"),
                ("API", "/apiId"),
                ("STAGE", "/stage"),
                ("SOURCE IP", "/identity/sourceIp"),
                ("CONNECTED AT", "/connectedAt"),
                ("LAST ACTIVE AT", "/lastActiveAt"),
            ];
            render(&serde_json::to_value(info)?, format, Some(columns))
        }
        ConnectionsCommand::Send { id, data, file } => {
            let message = match (data, file) {
                (Some(text), _) => Bytes::from(text),
                (None, Some(file)) if file.as_os_str() == "-" => {
                    let mut bytes = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut bytes)
                        .context("standard input")?;
                    Bytes::from(bytes)
                }
                (None, Some(file)) => Bytes::from(
                    std::fs::read(&file).with_context(|| format!("{}", file.display()))?,
                ),
                (None, None) => anyhow::bail!("give the message with --data or -f"),
            };
            let body = Some(("application/octet-stream", message));
            client.call_body(Method::POST, &path(&id)?, body).await?;
            format!("sent to {id}\n")
        }
        ConnectionsCommand::Delete { id } => {
            client.call(Method::DELETE, &path(&id)?, None).await?;
            format!("closed {id}\n")
        }
    })
}
