//! The small dense solves ALS needs: `(A + lambda I) x = b` for a symmetric positive-definite
//! `A` of side `rank` (Cholesky), and the same with `x >= 0` (projected coordinate descent).
//! Plain loops in a fixed order: the same inputs give the same bits everywhere.

/// A symmetric `n x n` system `A x = b`, accumulated from rank-one updates.
#[derive(Debug, Clone)]
pub(crate) struct NormalEquation {
    pub(crate) n: usize,
    /// Row-major `n x n`; only the lower triangle (`col <= row`) is accumulated.
    pub(crate) ata: Vec<f64>,
    pub(crate) atb: Vec<f64>,
}

impl NormalEquation {
    pub(crate) fn new(n: usize) -> Self {
        NormalEquation { n, ata: vec![0.0; n * n], atb: vec![0.0; n] }
    }

    pub(crate) fn reset(&mut self) {
        self.ata.fill(0.0);
        self.atb.fill(0.0);
    }

    /// `A += c a a^T`, `b += w a`.
    pub(crate) fn add(&mut self, a: &[f64], w: f64, c: f64) {
        let n = self.n;
        for r in 0..n {
            let ca = c * a[r];
            let row = &mut self.ata[r * n..r * n + r + 1];
            for (x, &ac) in row.iter_mut().zip(&a[..=r]) {
                *x += ca * ac;
            }
            self.atb[r] += w * a[r];
        }
    }

    /// `A += other.A` (lower triangles).
    pub(crate) fn add_ata(&mut self, other: &[f64]) {
        for (x, y) in self.ata.iter_mut().zip(other) {
            *x += y;
        }
    }

    /// `A += lambda I`.
    pub(crate) fn add_diagonal(&mut self, lambda: f64) {
        for r in 0..self.n {
            self.ata[r * self.n + r] += lambda;
        }
    }

    /// Solves `A x = b` by Cholesky into `x`; false when `A` is not positive definite.
    pub(crate) fn solve_cholesky(&mut self, x: &mut [f64]) -> bool {
        let n = self.n;
        let l = &mut self.ata;
        for j in 0..n {
            let mut d = l[j * n + j];
            for k in 0..j {
                d -= l[j * n + k] * l[j * n + k];
            }
            // Not positive (or NaN): not positive definite.
            if d.is_nan() || d <= 1e-12 * (1.0 + l[j * n + j].abs()) {
                return false;
            }
            let d = d.sqrt();
            l[j * n + j] = d;
            for i in j + 1..n {
                let mut s = l[i * n + j];
                for k in 0..j {
                    s -= l[i * n + k] * l[j * n + k];
                }
                l[i * n + j] = s / d;
            }
        }
        // L y = b, then L^T x = y.
        for i in 0..n {
            let mut s = self.atb[i];
            for k in 0..i {
                s -= l[i * n + k] * x[k];
            }
            x[i] = s / l[i * n + i];
        }
        for i in (0..n).rev() {
            let mut s = x[i];
            for k in i + 1..n {
                s -= l[k * n + i] * x[k];
            }
            x[i] = s / l[i * n + i];
        }
        true
    }

    /// Minimises `x^T A x / 2 - b^T x` subject to `x >= 0` by cyclic projected coordinate
    /// descent (exact per coordinate, in index order) until no coordinate moves by more than
    /// `1e-10` relative, or `200 n` sweeps. False when a diagonal entry is not positive.
    pub(crate) fn solve_nonnegative(&self, x: &mut [f64]) -> bool {
        let n = self.n;
        let a = |r: usize, c: usize| if c <= r { self.ata[r * n + c] } else { self.ata[c * n + r] };
        if (0..n).any(|r| a(r, r).is_nan() || a(r, r) <= 0.0) {
            return false;
        }
        x.fill(0.0);
        for _ in 0..200 * n {
            let mut moved = 0.0f64;
            let mut scale = 0.0f64;
            for r in 0..n {
                let mut g = -self.atb[r];
                for (c, xc) in x.iter().enumerate() {
                    g += a(r, c) * xc;
                }
                let next = (x[r] - g / a(r, r)).max(0.0);
                moved = moved.max((next - x[r]).abs());
                scale = scale.max(next.abs());
                x[r] = next;
            }
            if moved <= 1e-10 * (1.0 + scale) {
                break;
            }
        }
        true
    }
}

/// `a . b` in index order.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_hand_checked_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1]: x = A^-1 b = [1/2, 0] (det 8; A^-1 = [[3, -2], [-2, 4]] / 8).
        let mut ne = NormalEquation::new(2);
        ne.add(&[2.0, 1.0], 1.0, 1.0); // A += [[4, 2], [2, 1]], b += [2, 1]
        ne.add(&[0.0, 1.0], 0.0, 2.0); // A += [[0, 0], [0, 2]]
        let mut x = [0.0; 2];
        assert!(ne.solve_cholesky(&mut x));
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15, "{x:?}");
    }

    #[test]
    fn singular_systems_are_reported() {
        let mut ne = NormalEquation::new(2);
        ne.add(&[1.0, 1.0], 1.0, 1.0);
        let mut x = [0.0; 2];
        assert!(!ne.solve_cholesky(&mut x));
    }

    #[test]
    fn nonnegative_solve_clips_at_zero() {
        // Unconstrained: A = [[2, 0], [0, 2]], b = [2, -2] gives [1, -1]; constrained [1, 0].
        let mut ne = NormalEquation::new(2);
        ne.add(&[1.0, 0.0], 2.0, 2.0);
        ne.add(&[0.0, 1.0], -2.0, 2.0);
        let mut x = [0.0; 2];
        assert!(ne.solve_nonnegative(&mut x));
        assert!((x[0] - 1.0).abs() < 1e-9 && x[1] == 0.0, "{x:?}");
    }
}
