//! The connection to Redis: one server through a `ConnectionManager` (multiplexed, reconnects by
//! itself) or a Redis Cluster through `cluster_async`. Both multiplex: calls issued together
//! go out back to back on one connection (pipelined on the wire) and are answered in order.
//! Every call is bounded by a deadline; its latency is recorded.

use super::metrics;
use super::settings::RedisSettings;
use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{FromRedisValue, RedisError, ScriptInvocation};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
}

enum Target {
    Server(ConnectionManager),
    /// Connected at the first call that succeeds in connecting.
    Cluster(Box<(ClusterClient, OnceCell<ClusterConnection>)>),
}

#[derive(Clone)]
pub struct Client {
    target: Arc<Target>,
    /// The most one call may take, retries included.
    deadline: Duration,
    connect_timeout: Duration,
}

impl Client {
    /// Makes the client without connecting: a node starts (in fallback) even when Redis is
    /// down, and connects when it comes up.
    pub fn new(settings: &RedisSettings) -> Result<Client, RedisError> {
        let response = RedisSettings::ms(settings.response_timeout_ms);
        let connect = RedisSettings::ms(settings.connect_timeout_ms);
        let target = match &settings.url {
            Some(url) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_response_timeout(Some(response))
                    .set_connection_timeout(Some(connect))
                    .set_number_of_retries(settings.retries as usize)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(RedisSettings::ms(settings.probe_interval_ms));
                let client = redis::Client::open(url.as_str())?;
                Target::Server(ConnectionManager::new_lazy_with_config(client, config)?)
            }
            None => {
                let client = ClusterClient::builder(settings.cluster.clone())
                    .retries(settings.retries)
                    .response_timeout(response)
                    .connection_timeout(connect)
                    .build()?;
                Target::Cluster(Box::new((client, OnceCell::new())))
            }
        };
        Ok(Client {
            target: Arc::new(target),
            deadline: response * (settings.retries + 1) + connect,
            connect_timeout: connect,
        })
    }

    /// Runs a script (EVALSHA; on NOSCRIPT it is loaded and run again).
    pub async fn run<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, CallError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.deadline, self.run_unbounded(invocation)).await;
        metrics::latency(started.elapsed());
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(CallError::Timeout(self.deadline)),
        }
    }

    async fn run_unbounded<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, RedisError> {
        match &*self.target {
            Target::Server(manager) => invocation.invoke_async(&mut manager.clone()).await,
            Target::Cluster(cluster) => {
                let (client, connection) = &**cluster;
                let connect = || async {
                    match tokio::time::timeout(
                        self.connect_timeout * 4,
                        client.get_async_connection(),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => Err(RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connecting to the redis cluster timed out",
                        ))),
                    }
                };
                let mut connection = connection.get_or_try_init(connect).await?.clone();
                invocation.invoke_async(&mut connection).await
            }
        }
    }
}
