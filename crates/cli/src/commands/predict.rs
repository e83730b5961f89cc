//! `reelforest predict --model NAME [--version V] --user U --movie M`: one prediction from a
//! saved model (the newest version by default), built from its feature run's online tables by
//! [`reelforest_pipeline::predict::Predictor`].

use super::WarehouseArgs;
use anyhow::Context;
use clap::Args;
use reelforest_pipeline::predict::Predictor;

/// Arguments of `reelforest predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model name (the job name, e.g. reelforest-demo).
    #[arg(long, env = "REELFOREST_MODEL")]
    pub model: String,
    /// Model version (default: the newest).
    #[arg(long)]
    pub version: Option<u64>,
    /// User id.
    #[arg(long)]
    pub user: i64,
    /// Movie id.
    #[arg(long)]
    pub movie: i64,
    /// Moment of the rating, seconds since the epoch, for time-dependent features such as
    /// movie_age (default: now).
    #[arg(long)]
    pub at: Option<i64>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

/// Loads the model and prints the prediction.
pub async fn run(args: PredictArgs) -> anyhow::Result<()> {
    let warehouse = args.warehouse.open()?;
    // S3: a missing bucket, refused credentials or an unreachable endpoint fail here, first.
    warehouse.ready().await?;
    let predictor = Predictor::load(&warehouse, &args.model, args.version)
        .await
        .with_context(|| format!("cannot load model {:?} from {}", args.model, warehouse.root()))?;
    let p = predictor.predict(args.user, args.movie, args.at).context("prediction failed")?;
    let m = predictor.model();
    let flag = |cold: bool, known: bool| match (cold, known) {
        (false, _) => "no".to_string(),
        (true, true) => "yes (no training ratings: priors)".to_string(),
        (true, false) => "yes (unknown id: priors)".to_string(),
    };
    println!("model       {} version {} ({})", m.name(), m.version(), m.path);
    println!("user        {}", p.user_id);
    println!("movie       {}", p.movie_id);
    match p.rating {
        Some(r) => println!("rating      {r:.3}"),
        None => println!("rating      n/a (the model has no regression forest)"),
    }
    match p.p_good {
        Some(g) => println!("P(good)     {g:.3}  (good = rating >= {})", m.artifact.serving.good_threshold),
        None => println!("P(good)     n/a (the model has no classification forest)"),
    }
    println!("cold_user   {}", flag(p.features.cold_user, p.features.known_user));
    println!("cold_movie  {}", flag(p.features.cold_movie, p.features.known_movie));
    Ok(())
}
