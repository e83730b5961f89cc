//! The forest's byte encoding: versioned, little-endian, deterministic.
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
//! Floats are written as their IEEE-754 bits, so encoding the same forest always gives the same
//! bytes. Decoding checks lengths, tags and tree structure and never panics.

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::model::{Node, Split, Tree};
use crate::params::Task;
use crate::sampler::BagSpec;

const MAGIC: &[u8; 8] = b"RFFOREST";
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
        w.u32(t.num_nodes() as u32);
        for n in t.nodes() {
            w.f64(n.impurity);
            w.f64(n.count);
            w.f64(n.weight);
            w.f64(n.prediction);
            n.class_weights.iter().for_each(|v| w.f64(*v));
            match &n.split {
                None => w.u8(0),
                Some(s) => {
                    w.u8(1);
                    w.u32(s.feature);
                    w.f64(s.threshold);
                    w.u16(s.bin);
                    w.u8(u8::from(s.missing_left));
                    w.f64(s.gain);
                    w.u32(s.left);
                    w.u32(s.right);
                }
            }
        }
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
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Forest> {
    let mut r = Reader { b: bytes, pos: 0 };
    if r.take(8, "magic")? != MAGIC {
        return Err(Error::Decode("not a reelforest forest (bad magic)".into()));
    }
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(Error::UnsupportedVersion { found: version, supported: VERSION });
    }
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
    let k = num_classes as usize;
    let num_trees = r.count("numTrees", 8)?;
    let mut trees = Vec::with_capacity(num_trees);
    for _ in 0..num_trees {
        let tree_index = r.u32("treeIndex")?;
        let num_nodes = r.count("numNodes", 33 + 8 * k)?;
        let mut nodes = Vec::with_capacity(num_nodes);
        for _ in 0..num_nodes {
            let impurity = r.f64("impurity")?;
            let count = r.f64("count")?;
            let weight = r.f64("weight")?;
            let prediction = r.f64("prediction")?;
            let class_weights = (0..k).map(|_| r.f64("class weight")).collect::<Result<Vec<_>>>()?;
            let split = if r.bool("isSplit")? {
                Some(Split {
                    feature: r.u32("feature")?,
                    threshold: r.f64("threshold")?,
                    bin: r.u16("bin")?,
                    missing_left: r.bool("missingLeft")?,
                    gain: r.f64("gain")?,
                    left: r.u32("left")?,
                    right: r.u32("right")?,
                })
            } else {
                None
            };
            nodes.push(Node { split, impurity, count, weight, prediction, class_weights });
        }
        trees.push(Tree::new(tree_index, num_classes, nodes)?);
    }
    if r.pos != bytes.len() {
        return Err(Error::Decode(format!("{} trailing bytes", bytes.len() - r.pos)));
    }
    let bag = BagSpec { subsampling_rate, bootstrap };
    Forest::assemble(task, num_features, seed, bag, thresholds, trees)
}
