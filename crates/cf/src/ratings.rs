//! [`Ratings`]: a rating matrix indexed both ways, the input of every learner.
//!
//! Users and items keep their external ids (`i64`, as in the warehouse); inside, they are dense
//! indices in ascending id order, and the ratings are stored twice in compressed sparse rows:
//! by user (items ascending) and by item (users ascending). The layout depends only on the
//! multiset of `(user, item, rating)` triples, never on their input order, so every learner
//! that walks it sums in the same order on any machine and any thread count.

use crate::error::{Error, Result};

/// One side of the matrix in compressed sparse rows: row `r`'s entries are
/// `cols[ptr[r]..ptr[r + 1]]` with values `vals[...]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Csr {
    pub(crate) ptr: Vec<usize>,
    pub(crate) cols: Vec<u32>,
    pub(crate) vals: Vec<f32>,
}

impl Csr {
    /// Row `r`: (column indices, values).
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.ptr[r], self.ptr[r + 1]);
        (&self.cols[a..b], &self.vals[a..b])
    }

    pub(crate) fn rows(&self) -> usize {
        self.ptr.len() - 1
    }

    fn build(n_rows: usize, entries: &[(u32, u32, f32)]) -> Csr {
        // `entries` is sorted by (row, col, value bits).
        let mut ptr = vec![0usize; n_rows + 1];
        for &(r, _, _) in entries {
            ptr[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            ptr[r + 1] += ptr[r];
        }
        Csr { ptr, cols: entries.iter().map(|e| e.1).collect(), vals: entries.iter().map(|e| e.2).collect() }
    }
}

/// A rating matrix: ids, both CSR layouts and the mean rating.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratings {
    users: Vec<i64>,
    items: Vec<i64>,
    pub(crate) by_user: Csr,
    pub(crate) by_item: Csr,
    mean: f64,
}

impl Ratings {
    /// Builds the matrix from parallel columns. Every rating must be finite; there must be at
    /// least one; a (user, item) pair may appear more than once (each rating counts, as in
    /// Spark's ALS).
    pub fn new(users: &[i64], items: &[i64], ratings: &[f64]) -> Result<Self> {
        if users.len() != items.len() || users.len() != ratings.len() {
            return Err(Error::InvalidRatings(format!(
                "columns differ in length: {} users, {} items, {} ratings",
                users.len(),
                items.len(),
                ratings.len()
            )));
        }
        if users.is_empty() {
            return Err(Error::InvalidRatings("no ratings".into()));
        }
        if let Some(row) = ratings.iter().position(|r| !r.is_finite() || r.abs() > f64::from(f32::MAX)) {
            return Err(Error::InvalidRatings(format!(
                "rating {} at row {row} (user {}, item {}) is not a finite number",
                ratings[row], users[row], items[row]
            )));
        }
        let ids = |col: &[i64]| {
            let mut v = col.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (user_ids, item_ids) = (ids(users), ids(items));
        let index = |ids: &[i64], id: i64| ids.binary_search(&id).unwrap_or_default() as u32;
        let mut entries: Vec<(u32, u32, f32)> = (0..users.len())
            .map(|k| (index(&user_ids, users[k]), index(&item_ids, items[k]), ratings[k] as f32))
            .collect();
        let key = |e: &(u32, u32, f32)| (e.0, e.1, e.2.to_bits());
        entries.sort_unstable_by_key(key);
        let by_user = Csr::build(user_ids.len(), &entries);
        let mut transposed: Vec<(u32, u32, f32)> = entries.iter().map(|&(u, i, r)| (i, u, r)).collect();
        transposed.sort_unstable_by_key(key);
        let by_item = Csr::build(item_ids.len(), &transposed);
        let mean = by_user.vals.iter().map(|&r| f64::from(r)).sum::<f64>() / entries.len() as f64;
        Ok(Ratings { users: user_ids, items: item_ids, by_user, by_item, mean })
    }

    /// Number of ratings.
    pub fn len(&self) -> usize {
        self.by_user.vals.len()
    }

    /// Always false: a matrix has at least one rating.
    pub fn is_empty(&self) -> bool {
        self.by_user.vals.is_empty()
    }

    /// The mean rating.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// User ids, ascending (a user's index is its position).
    pub fn user_ids(&self) -> &[i64] {
        &self.users
    }

    /// Item ids, ascending.
    pub fn item_ids(&self) -> &[i64] {
        &self.items
    }

    /// Index of user `id`, if it has ratings.
    pub fn user_index(&self, id: i64) -> Option<usize> {
        self.users.binary_search(&id).ok()
    }

    /// Index of item `id`, if it has ratings.
    pub fn item_index(&self, id: i64) -> Option<usize> {
        self.items.binary_search(&id).ok()
    }

    /// User `u`'s ratings (by index): item indices ascending, and the ratings.
    pub fn user_row(&self, u: usize) -> (&[u32], &[f32]) {
        self.by_user.row(u)
    }

    /// Item `i`'s ratings (by index): user indices ascending, and the ratings.
    pub fn item_row(&self, i: usize) -> (&[u32], &[f32]) {
        self.by_item.row(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_independent_of_input_order() {
        let a = Ratings::new(&[7, 3, 7, 5], &[10, 10, 20, 30], &[4.0, 3.0, 5.0, 1.0]).expect("ratings");
        let b = Ratings::new(&[5, 7, 3, 7], &[30, 20, 10, 10], &[1.0, 5.0, 3.0, 4.0]).expect("ratings");
        assert_eq!(a, b);
        assert_eq!(a.user_ids(), &[3, 5, 7]);
        assert_eq!(a.item_ids(), &[10, 20, 30]);
        assert_eq!(a.user_row(2), (&[0u32, 1][..], &[4.0f32, 5.0][..]));
        assert_eq!(a.item_row(0), (&[0u32, 2][..], &[3.0f32, 4.0][..]));
        assert_eq!(a.mean(), 13.0 / 4.0);
    }

    #[test]
    fn bad_input_is_named() {
        let err = |u: &[i64], i: &[i64], r: &[f64]| Ratings::new(u, i, r).expect_err("bad").to_string();
        assert_eq!(err(&[], &[], &[]), "invalid ratings: no ratings");
        assert_eq!(
            err(&[1, 2], &[1], &[1.0, 2.0]),
            "invalid ratings: columns differ in length: 2 users, 1 items, 2 ratings"
        );
        assert_eq!(
            err(&[1, 2], &[1, 2], &[1.0, f64::NAN]),
            "invalid ratings: rating NaN at row 1 (user 2, item 2) is not a finite number"
        );
    }
}
