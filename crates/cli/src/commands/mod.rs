//! One module per subcommand: its clap arguments and its `run`.

pub mod ballista;
pub mod coordinator;
pub mod data;
pub mod executor;
pub mod features;
pub mod health;
pub mod predict;
pub mod run;
pub mod scheduler;
pub mod serve;
pub mod sql;
pub mod submit;
pub mod worker;

use clap::Args;

/// The warehouse flag every command that reads or writes tables takes.
#[derive(Debug, Clone, Args)]
pub struct WarehouseArgs {
    /// Warehouse location: a local directory, a file:// URL, or s3://BUCKET/PREFIX (configured
    /// from the standard AWS_* environment; see docs/s3.md).
    #[arg(long, env = "REELFOREST_WAREHOUSE", default_value = "./warehouse")]
    pub warehouse: String,
}

impl WarehouseArgs {
    /// Opens the warehouse, with the location in the error.
    pub fn open(&self) -> anyhow::Result<reelforest_warehouse::Warehouse> {
        Ok(reelforest_warehouse::Warehouse::open(&self.warehouse)?)
    }
}
