//! Tuning's `parallelism` (grid points fitted at once) changes how fast a search runs, never
//! what it finds: the same job with parallelism 1 and 3 reports the same grid, bit for bit.

use reelforest_core::NoProgress;
use reelforest_pipeline::{JobSpec, RunOptions, run_job};

fn job(parallelism: u32) -> JobSpec {
    let toml = format!(
        r#"
name = "par{parallelism}"
tasks = ["regression"]
[data]
source = "synth"
synth = {{ ratings = 6000, seed = 5 }}
[model]
numTrees = 6
maxDepth = 4
[tuning]
method = "cross_validation"
numFolds = 2
parallelism = {parallelism}
[tuning.grid]
maxDepth = [3, 5]
minInstancesPerNode = [1, 20]
"#
    );
    JobSpec::from_toml(&toml, "job.toml").expect("spec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_grid_points_give_the_same_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut grids = Vec::new();
    for par in [1, 3] {
        let out = dir.path().join(format!("p{par}"));
        let opts = RunOptions { out, data: None, warehouse: None };
        let report = run_job(&job(par), &opts, &NoProgress).await.expect("job runs");
        assert_eq!(report.grid.len(), 4, "2 × 2 grid points");
        let grid: Vec<(String, Vec<u64>)> =
            report.grid.iter().map(|g| (g.label.clone(), g.folds.iter().map(|v| v.to_bits()).collect())).collect();
        assert!(grid.iter().all(|(_, folds)| folds.len() == 2), "{grid:?}");
        grids.push(grid);
    }
    assert_eq!(grids[0], grids[1]);
}
