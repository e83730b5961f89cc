//! The forest's byte encoding: versioned, little-endian, deterministic. It is the one byte
//! format of trees: model files store a forest as [`Forest::to_bytes`], the cluster ships
//! forests to score in it, and workers return the trees they grew as a tree set
//! ([`encode_trees`] / [`decode_trees`]) whose trees have the forest's per-tree layout.
//!
//! ```text
//! magic      8 bytes  "RFFOREST"
//! version    u32      1
//! task       u8       0 = regression, 1 = classification
//! numClasses u32      (0 for regression)
//! numFeatures u32
//! seed       u64
//! subsamplingRate f64, bootstrap u8
//! thresholds u8 present, then u32 len + len × f64
//! numTrees   u32, then per tree (ascending index):
//!   treeIndex u32, numNodes u32, then per node:
//!     impurity f64, count f64, weight f64, prediction f64, numClasses × f64 class weights,
//!     isSplit u8, then if split: feature u32, threshold f64, bin u16, missingLeft u8,
//!                               gain f64, left u32, right u32
//! ```
//!
//! A tree set (trees of one forest, e.g. the ones a cluster worker grew):
//!
//! ```text
//! magic      8 bytes  "RFTREES1"
//! version    u32      1
//! numTrees   u32, then per tree (in the order given):
//!   treeIndex u32, numClasses u32 (0 for regression), then numNodes u32 and the nodes as
//!   in a forest
//! ```
//!
//! Floats are written as their IEEE-754 bits, so encoding the same forest always gives the same
//! bytes. Decoding checks lengths, tags, values (node statistics and gains finite, class weights
//! finite and >= 0) and tree structure, and never panics.

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::model::{Node, Split, Tree};
use crate::params::Task;
use crate::sampler::BagSpec;

const MAGIC: &[u8; 8] = b"RFFOREST";
const TREES_MAGIC: &[u8; 8] = b"RFTREES1";
/// Current format version.
pub const VERSION: u32 = 1;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    /// A tree's nodes: numNodes, then each node.
    fn nodes(&mut self, t: &Tree) {
        self.u32(t.num_nodes() as u32);
        for n in t.nodes() {
            self.f64(n.impurity);
            self.f64(n.count);
            self.f64(n.weight);
            self.f64(n.prediction);
            n.class_weights.iter().for_each(|v| self.f64(*v));
            match &n.split {
                None => self.u8(0),
                Some(s) => {
                    self.u8(1);
                    self.u32(s.feature);
                    self.f64(s.threshold);
                    self.u16(s.bin);
                    self.u8(u8::from(s.missing_left));
                    self.f64(s.gain);
                    self.u32(s.left);
                    self.u32(s.right);
                }
            }
        }
    }
}

pub(crate) fn encode(forest: &Forest) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64 + forest.total_num_nodes() * 64));
    w.0.extend_from_slice(MAGIC);
    w.u32(VERSION);
    match forest.task() {
        Task::Regression => {
            w.u8(0);
            w.u32(0);
        }
        Task::Classification { num_classes } => {
            w.u8(1);
            w.u32(num_classes);
        }
    }
    w.u32(forest.num_features() as u32);
    w.u64(forest.seed());
    let bag = forest.bag_spec();
    w.f64(bag.subsampling_rate);
    w.u8(u8::from(bag.bootstrap));
    match forest.thresholds() {
        None => w.u8(0),
        Some(t) => {
            w.u8(1);
            w.u32(t.len() as u32);
            t.iter().for_each(|v| w.f64(*v));
        }
    }
    w.u32(forest.num_trees() as u32);
    for t in forest.trees() {
        w.u32(t.tree_index());
        w.nodes(t);
    }
    w.0
}

/// Encodes trees of one forest (any of them, in the order given; e.g. the trees a cluster
/// worker grew) as a tree set (layout in the [module docs](self)).
pub fn encode_trees(trees: &[Tree]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(16 + trees.iter().map(Tree::num_nodes).sum::<usize>() * 64));
    w.0.extend_from_slice(TREES_MAGIC);
    w.u32(VERSION);
    w.u32(trees.len() as u32);
    for t in trees {
        w.u32(t.tree_index());
        w.u32(t.num_classes());
        w.nodes(t);
    }
    w.0
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len());
        let end = end.ok_or_else(|| Error::Decode(format!("truncated while reading {what} at byte {}", self.pos)))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.arr::<1>(what)?[0])
    }
    fn bool(&mut self, what: &str) -> Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::Decode(format!("bad {what} flag {v}"))),
        }
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }
    /// A count of items of at least `min_item_bytes` each, checked against the bytes left.
    fn count(&mut self, what: &str, min_item_bytes: usize) -> Result<usize> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item_bytes) > self.b.len() - self.pos {
            return Err(Error::Decode(format!("{what} {n} exceeds the remaining bytes")));
        }
        Ok(n)
    }
    /// The format version, which must be [`VERSION`].
    fn version(&mut self) -> Result<()> {
        let version = self.u32("version")?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion { found: version, supported: VERSION });
        }
        Ok(())
    }
    /// Succeeds at the end of the bytes.
    fn end(&self) -> Result<()> {
        match self.b.len() - self.pos {
            0 => Ok(()),
            n => Err(Error::Decode(format!("{n} trailing bytes"))),
        }
    }
    /// Tree `tree_index` of `num_classes` classes: numNodes, then the nodes, checked.
    fn tree(&mut self, tree_index: u32, num_classes: u32) -> Result<Tree> {
        let k = num_classes as usize;
        let num_nodes = self.count("numNodes", 33 + 8 * k)?;
        let mut nodes = Vec::with_capacity(num_nodes);
        for i in 0..num_nodes {
            let bad = |what: &str, v: f64, rule: &str| {
                Error::Decode(format!("tree {tree_index} node {i}: {what} {v} is not {rule}"))
            };
            let mut finite = |what: &str| {
                let v = self.f64(what)?;
                if v.is_finite() { Ok(v) } else { Err(bad(what, v, "finite")) }
            };
            let impurity = finite("impurity")?;
            let count = finite("count")?;
            let weight = finite("weight")?;
            let prediction = finite("prediction")?;
            let class_weights = (0..k).map(|_| finite("class weight")).collect::<Result<Vec<_>>>()?;
            if let Some(c) = class_weights.iter().find(|c| **c < 0.0) {
                return Err(bad("class weight", *c, ">= 0"));
            }
            let split = if self.bool("isSplit")? {
                Some(Split {
                    feature: self.u32("feature")?,
                    threshold: self.f64("threshold")?,
                    bin: self.u16("bin")?,
                    missing_left: self.bool("missingLeft")?,
                    gain: self.f64("gain")?,
                    left: self.u32("left")?,
                    right: self.u32("right")?,
                })
            } else {
                None
            };
            if let Some(s) = &split
                && !s.gain.is_finite()
            {
                return Err(bad("gain", s.gain, "finite"));
            }
            nodes.push(Node { split, impurity, count, weight, prediction, class_weights });
        }
        Tree::new(tree_index, num_classes, nodes)
    }
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Forest> {
    let mut r = Reader { b: bytes, pos: 0 };
    if r.take(8, "magic")? != MAGIC {
        return Err(Error::Decode("not a reelforest forest (bad magic)".into()));
    }
    r.version()?;
    let tag = r.u8("task")?;
    let num_classes = r.u32("numClasses")?;
    let task = match (tag, num_classes) {
        (0, 0) => Task::Regression,
        (1, k) if k >= 2 => Task::Classification { num_classes: k },
        _ => {
            return Err(Error::Decode(format!("bad task tag {tag} with {num_classes} classes")));
        }
    };
    let num_features = r.u32("numFeatures")? as usize;
    let seed = r.u64("seed")?;
    let subsampling_rate = r.f64("subsamplingRate")?;
    let bootstrap = r.bool("bootstrap")?;
    let thresholds = if r.bool("thresholds")? {
        let n = r.count("thresholds length", 8)?;
        Some((0..n).map(|_| r.f64("threshold")).collect::<Result<Vec<_>>>()?)
    } else {
        None
    };
    if !(subsampling_rate > 0.0 && subsampling_rate <= 1.0) {
        return Err(Error::Decode(format!("bad subsamplingRate {subsampling_rate}")));
    }
    if let Some(t) = &thresholds
        && t.len() != num_classes as usize
    {
        return Err(Error::Decode(format!("{} thresholds for {num_classes} classes", t.len())));
    }
    let num_trees = r.count("numTrees", 8)?;
    let mut trees = Vec::with_capacity(num_trees);
    for _ in 0..num_trees {
        let tree_index = r.u32("treeIndex")?;
        trees.push(r.tree(tree_index, num_classes)?);
    }
    r.end()?;
    let bag = BagSpec { subsampling_rate, bootstrap };
    Forest::assemble(task, num_features, seed, bag, thresholds, trees)
}

/// Decodes [`encode_trees`]: every tree is checked as a forest's trees are (values and
/// structure; a class count of 1 is refused), in the order given; whether they belong together
/// (indices, class counts, features) is the caller's to check, or [`Forest::from_trees`]'s.
/// Corrupt or truncated input is an error, never a panic.
pub fn decode_trees(bytes: &[u8]) -> Result<Vec<Tree>> {
    let mut r = Reader { b: bytes, pos: 0 };
    if r.take(8, "magic")? != TREES_MAGIC {
        return Err(Error::Decode("not a reelforest tree set (bad magic)".into()));
    }
    r.version()?;
    let num_trees = r.count("numTrees", 12)?;
    let mut trees = Vec::with_capacity(num_trees);
    for _ in 0..num_trees {
        let tree_index = r.u32("treeIndex")?;
        let num_classes = r.u32("numClasses")?;
        if num_classes == 1 {
            return Err(Error::Decode(format!("tree {tree_index} has 1 class (0 for regression, >= 2 otherwise)")));
        }
        trees.push(r.tree(tree_index, num_classes)?);
    }
    r.end()?;
    Ok(trees)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(p: f64) -> Node {
        Node { split: None, impurity: 0.0, count: 1.0, weight: 1.0, prediction: p, class_weights: vec![] }
    }

    /// A regression stump: a split on feature 1 and two leaves.
    fn stump(index: u32) -> Tree {
        let split = Split { feature: 1, threshold: 0.5, bin: 3, missing_left: true, gain: 0.25, left: 1, right: 2 };
        let root = Node { split: Some(split), ..leaf(1.5) };
        Tree::new(index, 0, vec![root, leaf(1.0), leaf(2.0)]).expect("valid tree")
    }

    /// Byte offsets in `encode_trees(&[stump(_)])`: 16 bytes of header, then treeIndex,
    /// numClasses, numNodes and the root node.
    const ROOT_PREDICTION: usize = 16 + 12 + 24;
    const ROOT_GAIN: usize = ROOT_PREDICTION + 8 + 1 + 4 + 8 + 2 + 1;
    const ROOT_LEFT: usize = ROOT_GAIN + 8;

    fn err(bytes: &[u8]) -> String {
        decode_trees(bytes).expect_err("corrupt tree set accepted").to_string()
    }

    #[test]
    fn tree_sets_round_trip_in_order() {
        let trees = vec![stump(7), stump(3)];
        assert_eq!(decode_trees(&encode_trees(&trees)).expect("decodes"), trees);
        assert_eq!(decode_trees(&encode_trees(&[])).expect("decodes"), vec![]);
    }

    #[test]
    fn corrupt_tree_sets_are_errors() {
        let bytes = encode_trees(&[stump(7)]);
        for cut in 0..bytes.len() {
            assert!(decode_trees(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let patch = |at: usize, v: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + v.len()].copy_from_slice(v);
            err(&b)
        };
        assert_eq!(
            patch(ROOT_LEFT, &999u32.to_le_bytes()),
            "tree 7 is inconsistent with the forest: node 0 has child 999 out of order"
        );
        assert_eq!(
            patch(ROOT_PREDICTION, &f64::INFINITY.to_le_bytes()),
            "corrupt forest encoding: tree 7 node 0: prediction inf is not finite"
        );
        assert_eq!(
            patch(ROOT_GAIN, &f64::NAN.to_le_bytes()),
            "corrupt forest encoding: tree 7 node 0: gain NaN is not finite"
        );
        assert_eq!(
            patch(20, &1u32.to_le_bytes()),
            "corrupt forest encoding: tree 7 has 1 class (0 for regression, >= 2 otherwise)"
        );
        assert_eq!(patch(8, &2u32.to_le_bytes()), "unsupported forest format version 2 (this build reads version 1)");
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(err(&long), "corrupt forest encoding: 1 trailing bytes");
        assert_eq!(err(b"RFFOREST"), "corrupt forest encoding: not a reelforest tree set (bad magic)");
        // Flipping any single byte never panics.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xA5;
            let _ = decode_trees(&b);
        }
    }
}
