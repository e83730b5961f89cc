//! Checked conversions between prost messages and the tree engine's types. Incoming messages
//! are checked field by field before the engine sees them, and every error names the field
//! by its path from the message being decoded. Forests are not messages: they are the bytes of
//! reelforest-tree's codec, decoded and checked against their parameters here.

use crate::error::{Error, Result};
use crate::pb;
use reelforest_tree::{BinEdges, BinMapper, Forest, ForestParams, MaxBins, Task};

/// `prefix.rest`, or `rest` at the top level.
pub(crate) fn path(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() { rest.to_string() } else { format!("{prefix}.{rest}") }
}

/// The `kind` of a random forest's [`pb::EstimatorParams`].
pub(crate) const RANDOM_FOREST: &str = "random_forest";

pub(crate) fn params_to_pb(p: &ForestParams) -> pb::EstimatorParams {
    // The declared type serializes to plain JSON values: this cannot fail.
    let json = serde_json::to_string(p).unwrap_or_default();
    pb::EstimatorParams { kind: RANDOM_FOREST.to_string(), json }
}

/// Decodes forest parameters with their own type (its checks apply); `prefix` is their path
/// (`tasks[0].params`) and errors name the key under it (`tasks[0].params.maxBins`).
pub(crate) fn params_from_pb(msg: pb::EstimatorParams, prefix: &str) -> Result<ForestParams> {
    if msg.kind != RANDOM_FOREST {
        return Err(Error::field(path(prefix, "kind"), format!("{:?}, expected {RANDOM_FOREST:?}", msg.kind)));
    }
    let de = &mut serde_json::Deserializer::from_str(&msg.json);
    let p: ForestParams = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        // `.`: the error is about the whole object; `?`: the JSON broke off before a key.
        let at = if key == "." || key.ends_with('?') { path(prefix, "json") } else { path(prefix, &key) };
        let e = e.into_inner();
        let text = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        Error::field(at, text.strip_suffix(&position).unwrap_or(&text))
    })?;
    p.validate().map_err(|e| Error::tree(prefix, e))?;
    Ok(p)
}

pub(crate) fn bins_to_pb(b: &BinMapper) -> pb::BinEdgesSet {
    pb::BinEdgesSet {
        max_bins: u32::from(u16::from(b.max_bins())),
        features: b
            .edges()
            .iter()
            .map(|e| pb::BinEdges { thresholds: e.thresholds.clone(), has_missing: e.has_missing })
            .collect(),
    }
}

/// Checks and converts bin edges; `prefix` is their path (`tasks[0].bins`).
pub(crate) fn bins_from_pb(msg: pb::BinEdgesSet, prefix: &str) -> Result<BinMapper> {
    let max_bins = MaxBins::new(i64::from(msg.max_bins)).map_err(|e| Error::tree(path(prefix, "max_bins"), e))?;
    for (f, e) in msg.features.iter().enumerate() {
        let at = path(prefix, &format!("features[{f}].thresholds"));
        if let Some(i) = e.thresholds.iter().position(|t| t.is_nan()) {
            return Err(Error::field(at, format!("value {i} is NaN")));
        }
        if let Some(i) = e.thresholds.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::field(at, format!("not strictly increasing at value {}", i + 1)));
        }
        let bins = e.thresholds.len() + 1 + usize::from(e.has_missing);
        if bins > max_bins.get() {
            return Err(Error::field(at, format!("{bins} bins exceed max_bins {max_bins}")));
        }
    }
    let edges =
        msg.features.into_iter().map(|e| BinEdges { thresholds: e.thresholds, has_missing: e.has_missing }).collect();
    BinMapper::from_edges(edges, max_bins).map_err(|e| Error::tree(prefix, e))
}

/// Decodes a forest from reelforest-tree's codec ([`Forest::from_bytes`], its checks included)
/// and checks it against what it was trained with: `task`, `params`, `num_features` features.
/// `field` is its path (`tasks[0].forest`).
pub(crate) fn forest_from_codec(
    bytes: &[u8],
    task: Task,
    params: &ForestParams,
    num_features: usize,
    field: &str,
) -> Result<Forest> {
    if bytes.is_empty() {
        return Err(Error::missing(field));
    }
    let f = Forest::from_bytes(bytes).map_err(|e| Error::tree(field, e))?;
    let bag = f.bag_spec();
    let nt = f.num_trees();
    let disagreements = [
        (f.num_features() != num_features, format!("{} features, the schema has {num_features}", f.num_features())),
        (f.task() != task, format!("{} classes, the task has {}", f.task().num_classes(), task.num_classes())),
        (
            u32::try_from(nt).ok() != Some(params.num_trees),
            format!("{nt} trees, the parameters say numTrees = {}", params.num_trees),
        ),
        (f.seed() != params.seed, format!("seed {}, the parameters say seed = {}", f.seed(), params.seed)),
        (
            bag.subsampling_rate.to_bits() != params.subsampling_rate.to_bits(),
            format!(
                "subsamplingRate {}, the parameters say subsamplingRate = {}",
                bag.subsampling_rate, params.subsampling_rate
            ),
        ),
        (
            bag.bootstrap != params.bootstrap,
            format!("bootstrap {}, the parameters say bootstrap = {}", bag.bootstrap, params.bootstrap),
        ),
        (
            f.thresholds() != params.thresholds.as_deref(),
            format!("thresholds {:?}, the parameters say thresholds = {:?}", f.thresholds(), params.thresholds),
        ),
    ];
    match disagreements.into_iter().find(|(bad, _)| *bad) {
        Some((_, reason)) => Err(Error::field(field, reason)),
        None => Ok(f),
    }
}
