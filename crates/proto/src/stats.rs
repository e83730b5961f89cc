//! Evaluation statistics on the wire: the mergeable [`RegressionStats`] and
//! [`ClassificationStats`] of `reelforest-tree`, which workers compute per block of held-out
//! rows and the coordinator merges. Incoming messages are checked (lengths, class counts,
//! finite sums); errors name the field.

use crate::error::{Error, Result};
use crate::pb;
use reelforest_tree::metrics::{ClassificationStats, RegressionStats};

/// One block's statistics, either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockStats {
    /// Regression sums.
    Regression(RegressionStats),
    /// Classification sums.
    Classification(ClassificationStats),
}

/// Statistics of block `block` as their wire message.
pub fn stats_to_wire(block: u32, stats: &BlockStats) -> pb::EvalStats {
    let stats = match stats {
        BlockStats::Regression(s) => pb::eval_stats::Stats::Regression(pb::RegressionStats {
            weight: s.weight,
            sum_y: s.sum_y,
            sum_y2: s.sum_y2,
            sum_pred: s.sum_pred,
            sum_pred2: s.sum_pred2,
            sum_err: s.sum_err,
            sum_sq_err: s.sum_sq_err,
            sum_abs_err: s.sum_abs_err,
            count: s.count,
        }),
        BlockStats::Classification(s) => {
            let (confusion, log_loss_sum, pos, neg) = s.parts();
            pb::eval_stats::Stats::Classification(pb::ClassificationStats {
                num_classes: s.num_classes() as u32,
                confusion: confusion.to_vec(),
                log_loss_sum,
                pos: pos.to_vec(),
                neg: neg.to_vec(),
            })
        }
    };
    pb::EvalStats { block, stats: Some(stats) }
}

/// Checks and converts one block's statistics; errors name the field under `prefix`
/// (`stats[2]`). Returns the block index with the statistics.
pub fn stats_from_wire(msg: pb::EvalStats, prefix: &str) -> Result<(u32, BlockStats)> {
    let field = |name: &str| format!("{prefix}.{name}");
    let finite = |name: &str, v: f64| {
        if v.is_finite() { Ok(v) } else { Err(Error::field(field(name), format!("{v} is not finite"))) }
    };
    let stats = match msg.stats {
        None => return Err(Error::missing(field("stats"))),
        Some(pb::eval_stats::Stats::Regression(r)) => BlockStats::Regression(RegressionStats {
            weight: finite("regression.weight", r.weight)?,
            sum_y: finite("regression.sum_y", r.sum_y)?,
            sum_y2: finite("regression.sum_y2", r.sum_y2)?,
            sum_pred: finite("regression.sum_pred", r.sum_pred)?,
            sum_pred2: finite("regression.sum_pred2", r.sum_pred2)?,
            sum_err: finite("regression.sum_err", r.sum_err)?,
            sum_sq_err: finite("regression.sum_sq_err", r.sum_sq_err)?,
            sum_abs_err: finite("regression.sum_abs_err", r.sum_abs_err)?,
            count: r.count,
        }),
        Some(pb::eval_stats::Stats::Classification(c)) => {
            for (name, values) in [("confusion", &c.confusion), ("pos", &c.pos), ("neg", &c.neg)] {
                if let Some(i) = values.iter().position(|v| !v.is_finite() || *v < 0.0) {
                    return Err(Error::field(
                        field(&format!("classification.{name}[{i}]")),
                        format!("{} is not a finite weight", values[i]),
                    ));
                }
            }
            let log_loss_sum = finite("classification.log_loss_sum", c.log_loss_sum)?;
            let s = ClassificationStats::from_parts(c.num_classes as usize, c.confusion, log_loss_sum, c.pos, c.neg)
                .map_err(|e| Error::field(field("classification"), e.to_string()))?;
            BlockStats::Classification(s)
        }
    };
    Ok((msg.block, stats))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_round_trip() {
        let r = BlockStats::Regression(RegressionStats::from_slices(&[1.0, 2.0], &[1.5, 2.5]));
        assert_eq!(stats_from_wire(stats_to_wire(3, &r), "stats[0]").unwrap(), (3, r));
        let mut c = ClassificationStats::new(2);
        c.add(1, 0, &[0.6, 0.4], 1.0).unwrap();
        let c = BlockStats::Classification(c);
        assert_eq!(stats_from_wire(stats_to_wire(0, &c), "stats[0]").unwrap(), (0, c));
    }

    #[test]
    fn bad_messages_name_the_field() {
        let err = stats_from_wire(pb::EvalStats { block: 0, stats: None }, "stats[1]").unwrap_err();
        assert!(err.to_string().contains("stats[1].stats"), "{err}");
        let mut m = stats_to_wire(0, &BlockStats::Regression(RegressionStats::from_slices(&[1.0], &[2.0])));
        if let Some(pb::eval_stats::Stats::Regression(r)) = m.stats.as_mut() {
            r.sum_sq_err = f64::NAN;
        }
        let err = stats_from_wire(m, "stats[0]").unwrap_err();
        assert!(err.to_string().contains("stats[0].regression.sum_sq_err"), "{err}");
        let mut c = ClassificationStats::new(2);
        c.add(1, 1, &[0.1, 0.9], 1.0).unwrap();
        let mut m = stats_to_wire(0, &BlockStats::Classification(c));
        if let Some(pb::eval_stats::Stats::Classification(c)) = m.stats.as_mut() {
            c.pos.pop();
        }
        let err = stats_from_wire(m.clone(), "stats[0]").unwrap_err();
        assert!(err.to_string().contains("stats[0].classification"), "{err}");
        if let Some(pb::eval_stats::Stats::Classification(c)) = m.stats.as_mut() {
            c.pos.push(-1.0);
        }
        let err = stats_from_wire(m, "stats[0]").unwrap_err();
        assert!(err.to_string().contains("classification.pos[9999]"), "{err}");
    }
}
