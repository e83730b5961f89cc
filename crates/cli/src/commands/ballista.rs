//! The `--cluster df://HOST:PORT` flag of the commands that run SQL (`features`, `sql`): where
//! the query runs, an in-process DataFusion context or a Ballista cluster.

use clap::Args;
use datafusion::prelude::SessionContext;
use reelforest_ballista::ObjectStores;

/// Where SQL runs.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Run the SQL on the Ballista cluster whose scheduler is at df://HOST:PORT (see
    /// `reelforest scheduler` / `reelforest executor`); default: in this process.
    #[arg(long, env = "REELFOREST_CLUSTER", value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

impl ClusterArgs {
    /// A local context, or a Ballista remote one with reelforest's functions registered and
    /// S3 configured from this process's `AWS_*` environment (for planning against
    /// `s3://` tables; the scheduler and executors use their own environment).
    pub async fn context(&self) -> anyhow::Result<SessionContext> {
        match &self.cluster {
            None => Ok(SessionContext::new()),
            Some(url) => Ok(reelforest_ballista::client::connect(url, &ObjectStores::from_env()?).await?),
        }
    }
}
