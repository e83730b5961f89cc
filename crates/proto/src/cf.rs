//! Checked conversions of the CF models a model file carries (`CfModels` in `model.proto`).
//!
//! Decoding checks everything a prediction relies on, so a corrupt or hand-edited file is
//! refused with the field's path instead of panicking or serving garbage: ids strictly
//! ascending, one value per id, `ids x rank` factors, monotone CSR pointers ending at their
//! arrays' lengths, indices in range, finite numbers, and parameters that pass the learner's
//! own `validate` (they are stored as the JSON of its one parameter declaration).

use reelforest_cf::{AlsModel, AlsParams, BaselineModel, BaselineParams, Factors, KnnModel, KnnParams};
use reelforest_features::CfModels;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::pb;

fn json<T: Serialize>(params: &T) -> String {
    serde_json::to_string(params).unwrap_or_default()
}

fn params<T: DeserializeOwned>(text: &str, path: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::field(format!("{path}.params_json"), e.to_string()))
}

fn ascending(ids: &[i64], path: &str) -> Result<()> {
    match ids.windows(2).position(|w| w[0] >= w[1]) {
        Some(k) => Err(Error::field(path, format!("ids are not strictly ascending at {}", k + 1))),
        None => Ok(()),
    }
}

fn finite<T: Copy + Into<f64>>(values: &[T], path: &str) -> Result<()> {
    match values.iter().position(|v| !(*v).into().is_finite()) {
        Some(k) => Err(Error::field(format!("{path}[{k}]"), "not a finite number")),
        None => Ok(()),
    }
}

fn length(actual: usize, expected: usize, path: &str) -> Result<()> {
    if actual == expected { Ok(()) } else { Err(Error::field(path, format!("{actual} values, expected {expected}"))) }
}

/// CSR pointers: `rows + 1` entries from 0, monotone, ending at `len`.
fn pointers(ptr: &[u64], rows: usize, len: usize, path: &str) -> Result<Vec<usize>> {
    length(ptr.len(), rows + 1, path)?;
    let out: Vec<usize> = ptr.iter().map(|&p| usize::try_from(p).unwrap_or(usize::MAX)).collect();
    if out[0] != 0 || out.windows(2).any(|w| w[0] > w[1]) || out[rows] != len {
        return Err(Error::field(path, format!("not monotone pointers from 0 to {len}")));
    }
    Ok(out)
}

fn indices(values: &[u32], bound: usize, path: &str) -> Result<()> {
    match values.iter().position(|&v| v as usize >= bound) {
        Some(k) => Err(Error::field(format!("{path}[{k}]"), format!("{} is not below {bound}", values[k]))),
        None => Ok(()),
    }
}

fn baseline_to_pb(m: &BaselineModel) -> pb::CfBaseline {
    pb::CfBaseline {
        params_json: json(&m.params),
        mean: m.mean,
        user_ids: m.user_ids.clone(),
        user_bias: m.user_bias.clone(),
        item_ids: m.item_ids.clone(),
        item_bias: m.item_bias.clone(),
    }
}

fn baseline_from_pb(b: pb::CfBaseline, path: &str) -> Result<BaselineModel> {
    let p: BaselineParams = params(&b.params_json, path)?;
    p.validate().map_err(|e| Error::field(format!("{path}.params_json"), e.to_string()))?;
    if !b.mean.is_finite() {
        return Err(Error::field(format!("{path}.mean"), "not a finite number"));
    }
    ascending(&b.user_ids, &format!("{path}.user_ids"))?;
    ascending(&b.item_ids, &format!("{path}.item_ids"))?;
    length(b.user_bias.len(), b.user_ids.len(), &format!("{path}.user_bias"))?;
    length(b.item_bias.len(), b.item_ids.len(), &format!("{path}.item_bias"))?;
    finite(&b.user_bias, &format!("{path}.user_bias"))?;
    finite(&b.item_bias, &format!("{path}.item_bias"))?;
    Ok(BaselineModel {
        params: p,
        mean: b.mean,
        user_ids: b.user_ids,
        user_bias: b.user_bias,
        item_ids: b.item_ids,
        item_bias: b.item_bias,
    })
}

fn factors_to_pb(f: &Factors) -> pb::CfFactors {
    pb::CfFactors { ids: f.ids.clone(), factors: f.factors.clone(), bias: f.bias.clone() }
}

fn factors_from_pb(f: Option<pb::CfFactors>, rank: usize, biased: bool, path: &str) -> Result<Factors> {
    let f = f.ok_or_else(|| Error::missing(path.to_string()))?;
    ascending(&f.ids, &format!("{path}.ids"))?;
    length(f.factors.len(), f.ids.len() * rank, &format!("{path}.factors"))?;
    length(f.bias.len(), if biased { f.ids.len() } else { 0 }, &format!("{path}.bias"))?;
    finite(&f.factors, &format!("{path}.factors"))?;
    finite(&f.bias, &format!("{path}.bias"))?;
    Ok(Factors { ids: f.ids, factors: f.factors, bias: f.bias })
}

fn als_to_pb(m: &AlsModel) -> pb::CfFactorModel {
    pb::CfFactorModel {
        params_json: json(&m.params),
        mean: m.mean,
        users: Some(factors_to_pb(&m.users)),
        items: Some(factors_to_pb(&m.items)),
    }
}

fn als_from_pb(m: pb::CfFactorModel, path: &str) -> Result<AlsModel> {
    let p: AlsParams = params(&m.params_json, path)?;
    p.validate().map_err(|e| Error::field(format!("{path}.params_json"), e.to_string()))?;
    if !m.mean.is_finite() {
        return Err(Error::field(format!("{path}.mean"), "not a finite number"));
    }
    let rank = p.rank as usize;
    let users = factors_from_pb(m.users, rank, p.biased, &format!("{path}.users"))?;
    let items = factors_from_pb(m.items, rank, p.biased, &format!("{path}.items"))?;
    Ok(AlsModel { params: p, mean: m.mean, users, items })
}

fn knn_to_pb(m: &KnnModel) -> pb::CfKnn {
    let ptr = |p: &[usize]| p.iter().map(|&v| v as u64).collect();
    pb::CfKnn {
        params_json: json(&m.params),
        baseline: Some(baseline_to_pb(&m.baseline)),
        neighbor_ptr: ptr(&m.neighbor_ptr),
        neighbor_items: m.neighbor_items.clone(),
        neighbor_sims: m.neighbor_sims.clone(),
        user_ptr: ptr(&m.user_ptr),
        user_items: m.user_items.clone(),
        user_residuals: m.user_residuals.clone(),
    }
}

fn knn_from_pb(m: pb::CfKnn, path: &str) -> Result<KnnModel> {
    let p: KnnParams = params(&m.params_json, path)?;
    p.validate().map_err(|e| Error::field(format!("{path}.params_json"), e.to_string()))?;
    let b = m.baseline.ok_or_else(|| Error::missing(format!("{path}.baseline")))?;
    let baseline = baseline_from_pb(b, &format!("{path}.baseline"))?;
    let (users, items) = (baseline.user_ids.len(), baseline.item_ids.len());
    let neighbor_ptr = pointers(&m.neighbor_ptr, items, m.neighbor_items.len(), &format!("{path}.neighbor_ptr"))?;
    indices(&m.neighbor_items, items, &format!("{path}.neighbor_items"))?;
    length(m.neighbor_sims.len(), m.neighbor_items.len(), &format!("{path}.neighbor_sims"))?;
    if let Some(k) = m.neighbor_sims.iter().position(|s| !(*s > 0.0 && *s <= 1.0)) {
        return Err(Error::field(format!("{path}.neighbor_sims[{k}]"), "not in (0, 1]"));
    }
    let user_ptr = pointers(&m.user_ptr, users, m.user_items.len(), &format!("{path}.user_ptr"))?;
    indices(&m.user_items, items, &format!("{path}.user_items"))?;
    for u in 0..users {
        if m.user_items[user_ptr[u]..user_ptr[u + 1]].windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::field(format!("{path}.user_items"), format!("user {u}'s items are not ascending")));
        }
    }
    length(m.user_residuals.len(), m.user_items.len(), &format!("{path}.user_residuals"))?;
    finite(&m.user_residuals, &format!("{path}.user_residuals"))?;
    Ok(KnnModel {
        params: p,
        baseline,
        neighbor_ptr,
        neighbor_items: m.neighbor_items,
        neighbor_sims: m.neighbor_sims,
        user_ptr,
        user_items: m.user_items,
        user_residuals: m.user_residuals,
    })
}

/// The models as their message.
pub(crate) fn cf_to_pb(m: &CfModels) -> pb::CfModels {
    pb::CfModels {
        baseline: m.baseline.as_ref().map(baseline_to_pb),
        als: m.als.as_ref().map(als_to_pb),
        mf: m.mf.as_ref().map(als_to_pb),
        knn: m.knn.as_ref().map(knn_to_pb),
        implicit: m.implicit.as_ref().map(als_to_pb),
    }
}

/// Checks and converts the models; errors name the field under `path` (`serving.cf`).
pub(crate) fn cf_from_pb(m: pb::CfModels, path: &str) -> Result<CfModels> {
    Ok(CfModels {
        baseline: m.baseline.map(|b| baseline_from_pb(b, &format!("{path}.baseline"))).transpose()?,
        als: m.als.map(|a| als_from_pb(a, &format!("{path}.als"))).transpose()?,
        mf: m.mf.map(|a| als_from_pb(a, &format!("{path}.mf"))).transpose()?,
        knn: m.knn.map(|k| knn_from_pb(k, &format!("{path}.knn"))).transpose()?,
        implicit: m.implicit.map(|a| als_from_pb(a, &format!("{path}.implicit"))).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforest_cf::Ratings;
    use reelforest_features::CfSpec;

    fn models() -> CfModels {
        let (mut u, mut i, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for user in 1..=12i64 {
            for item in 1..=9i64 {
                if (user * 7 + item * 3) % 4 != 0 {
                    u.push(user);
                    i.push(item * 10);
                    r.push(((user + item) % 5 + 1) as f64);
                }
            }
        }
        let ratings = Ratings::new(&u, &i, &r).expect("ratings");
        CfModels::fit(&ratings, &CfSpec::default()).expect("fit")
    }

    #[test]
    fn models_round_trip_and_corruption_is_named() {
        let m = models();
        assert!(m.knn.as_ref().is_some_and(|k| k.num_neighbor_entries() > 0));
        let back = cf_from_pb(cf_to_pb(&m), "serving.cf").expect("decode");
        assert_eq!(back, m);
        let err = |f: fn(&mut pb::CfModels)| {
            let mut msg = cf_to_pb(&m);
            f(&mut msg);
            cf_from_pb(msg, "serving.cf").expect_err("corrupt").to_string()
        };
        fn knn(m: &mut pb::CfModels) -> &mut pb::CfKnn {
            m.knn.as_mut().expect("knn")
        }
        fn als(m: &mut pb::CfModels) -> &mut pb::CfFactorModel {
            m.als.as_mut().expect("als")
        }
        assert_eq!(err(|m| knn(m).neighbor_items[0] = 99), "serving.cf.knn.neighbor_items[0]: 99 is not below 9");
        assert_eq!(err(|m| knn(m).neighbor_sims[1] = 1.5), "serving.cf.knn.neighbor_sims[1]: not in (0, 1]");
        assert_eq!(
            err(|m| {
                knn(m).user_ptr.pop();
            }),
            "serving.cf.knn.user_ptr: 12 values, expected 13"
        );
        assert_eq!(
            err(|m| {
                als(m).users.as_mut().expect("users").factors.pop();
            }),
            "serving.cf.als.users.factors: 119 values, expected 120"
        );
        assert_eq!(
            err(|m| als(m).items.as_mut().expect("items").ids.swap(0, 1)),
            "serving.cf.als.items.ids: ids are not strictly ascending at 1"
        );
        assert_eq!(
            err(|m| als(m).params_json = r#"{"rank":0}"#.into()),
            "serving.cf.als.params_json: invalid parameter rank: 0 is not in 1..=1000"
        );
        let unknown = err(|m| als(m).params_json = r#"{"rnak":3}"#.into());
        assert!(
            unknown.starts_with("serving.cf.als.params_json: ") && unknown.contains("unknown field `rnak`"),
            "{unknown}"
        );
        assert_eq!(
            err(|m| m.mf.as_mut().expect("mf").users.as_mut().expect("users").bias.clear()),
            "serving.cf.mf.users.bias: 0 values, expected 12"
        );
        assert_eq!(
            err(|m| m.baseline.as_mut().expect("baseline").item_bias[2] = f64::NAN),
            "serving.cf.baseline.item_bias[2]: not a finite number"
        );
    }
}
