//! A [`kube::Client`] from `--kubeconfig` / `KUBECONFIG` and `--context`,
//! optionally counting its requests.

use std::time::Duration;

use engine_ops_k8s::cluster::RequestCounter;
use kube::Client;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::cli::ClusterArgs;
use super::exit::{CliError, CliResult};

/// How long the API server may take to answer the first request.
const REACH: Duration = Duration::from_secs(10);

/// A connected client and what the command needs to know about it.
#[derive(Clone)]
pub struct Connection {
    /// The client (with the counter's layer when counting).
    pub client: Client,
    /// `--namespace`, else the context's namespace, else `default`.
    pub namespace: String,
    /// The request counter, when `--count-requests` was given.
    pub counter: Option<RequestCounter>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("namespace", &self.namespace)
            .field("counting", &self.counter.is_some())
            .finish_non_exhaustive()
    }
}

/// Reads the kubeconfig, builds the client and checks that the API server
/// answers (one request: its version).
///
/// # Errors
///
/// Exit 2 when the kubeconfig cannot be read or the API server cannot be
/// reached in 10 s.
pub async fn connect(args: &ClusterArgs) -> CliResult<Connection> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                CliError::usage(anyhow::anyhow!(
                    "cannot read the kubeconfig {}: {e}",
                    path.display()
                ))
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .map_err(|e| {
        CliError::usage(anyhow::anyhow!(
            "no usable kubeconfig ({e}); give --kubeconfig PATH or set KUBECONFIG"
        ))
    })?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let cluster_url = config.cluster_url.to_string();
    let counter = args.count_requests.then(RequestCounter::new);
    let builder = ClientBuilder::try_from(config).map_err(|e| {
        CliError::usage(anyhow::anyhow!(
            "cannot build a client for {cluster_url}: {e}"
        ))
    })?;
    let client = match &counter {
        Some(c) => builder.with_layer(&c.layer()).build(),
        None => builder.build(),
    };
    match tokio::time::timeout(REACH, client.apiserver_version()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "the API server at {cluster_url} is not reachable: {e}; check the kubeconfig and the network"
            )));
        }
        Err(_) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "the API server at {cluster_url} did not answer within {} s; check the kubeconfig and the network",
                REACH.as_secs()
            )));
        }
    }
    if let Some(c) = &counter {
        // The version probe is not part of what is measured.
        c.reset();
    }
    Ok(Connection {
        client,
        namespace,
        counter,
    })
}
