//! `reelforest features`: build a feature run's tables from the raw tables.

use super::WarehouseArgs;
use super::ballista::ClusterArgs;
use clap::{Args, ValueEnum};
use reelforest_features::{FeatureSpec, Protocol, SplitSpec};
use reelforest_telemetry::{Bars, LogArgs};

/// Split kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitKind {
    /// Seeded random by hash of (user, movie, seed).
    Random,
    /// Each user's latest ratings are test rows.
    Temporal,
    /// A split shipped with the dataset (ml-100k u1..u5, ua, ub): give --split-name.
    Predefined,
}

/// Arguments of `reelforest features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Run name: the tables' namespace (`SELECT ... FROM <run>.train`).
    #[arg(long, default_value = "honest")]
    pub out: String,
    /// How to split ratings into train and test.
    #[arg(long, value_enum, default_value = "random")]
    pub split: SplitKind,
    /// Test fraction for random and temporal splits.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Name of a predefined split (u1..u5, ua, ub).
    #[arg(long, required_if_eq("split", "predefined"))]
    pub split_name: Option<String>,
    /// Leaky protocol (aggregates over all ratings): only for the leakage audit.
    #[arg(long)]
    pub leaky: bool,
    /// Out-of-fold folds for training rows.
    #[arg(long, default_value_t = 5)]
    pub folds: u32,
    /// Seed of split and folds.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A rating at or above this is "good".
    #[arg(long, default_value_t = 4.0)]
    pub good_threshold: f64,
    /// Prior strength m of the shrunk means.
    #[arg(long, default_value_t = 10.0)]
    pub prior_strength: f64,
    /// DataFusion target partitions (default: the number of cores).
    #[arg(long)]
    pub partitions: Option<usize>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `reelforest features`.
pub async fn run(args: FeaturesArgs, log: &LogArgs) -> anyhow::Result<()> {
    let split = match args.split {
        SplitKind::Random => SplitSpec::Random { test_fraction: args.test_fraction },
        SplitKind::Temporal => SplitSpec::Temporal { test_fraction: args.test_fraction },
        SplitKind::Predefined => SplitSpec::Predefined { name: args.split_name.clone().unwrap_or_default() },
    };
    let spec = FeatureSpec {
        split,
        protocol: if args.leaky { Protocol::Leaky } else { Protocol::Honest },
        folds: args.folds,
        seed: args.seed,
        good_threshold: args.good_threshold,
        prior_strength: args.prior_strength,
        target_partitions: args.partitions,
        ..FeatureSpec::default()
    };
    let warehouse = args.warehouse.open()?;
    // S3: a missing bucket, refused credentials or an unreachable endpoint fail here, first.
    warehouse.ready().await?;
    let ctx = args.cluster.context().await?;
    warehouse.register_all(&ctx).await?;
    let bars = Bars::new(log.quiet);
    let run = reelforest_features::build_features(&ctx, &warehouse, &args.out, &spec, &bars).await?;
    println!(
        "feature run {}: {} train / {} test rows, {} features, global mean {:.4}",
        run.run,
        run.train_rows,
        run.test_rows,
        run.feature_columns.len(),
        run.global_mean
    );
    println!("tables: {0}.train, {0}.test, {0}.online_users, {0}.online_movies (query with `reelforest sql`)", run.run);
    Ok(())
}
