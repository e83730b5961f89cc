//! The worker registry: who is registered, when each worker last sent a heartbeat, which
//! leases it holds, and what it has had accepted (for the status page). A worker silent for
//! the heartbeat timeout is dropped by [`Registry::silent`] + [`Registry::remove`]; it must
//! register again (its id is never reused).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A worker as the status page shows it.
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// Worker id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its CPU count.
    pub cpus: u32,
    /// Time since its last heartbeat.
    pub since_heartbeat: Duration,
    /// Leases it holds.
    pub leases: Vec<String>,
    /// Trees it returned and had accepted.
    pub trees_built: u64,
    /// Evaluation blocks it scored and had accepted.
    pub blocks_evaluated: u64,
}

#[derive(Debug)]
struct WorkerEntry {
    name: String,
    cpus: u32,
    last_seen: Instant,
    leases: BTreeSet<String>,
    trees_built: u64,
    blocks_evaluated: u64,
}

/// The registered workers, by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    workers: HashMap<String, WorkerEntry>,
}

impl Registry {
    /// Registers a worker under `serial` (unique per coordinator); returns its id.
    pub(crate) fn register(&mut self, serial: u64, name: &str, cpus: u32, now: Instant) -> String {
        let id = format!("w{serial}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        self.workers.insert(
            id.clone(),
            WorkerEntry {
                name: name.to_string(),
                cpus,
                last_seen: now,
                leases: BTreeSet::new(),
                trees_built: 0,
                blocks_evaluated: 0,
            },
        );
        id
    }

    /// Whether `worker` is registered (and not declared dead).
    pub(crate) fn contains(&self, worker: &str) -> bool {
        self.workers.contains_key(worker)
    }

    /// Records a heartbeat; `false` if the worker is unknown.
    pub(crate) fn heartbeat(&mut self, worker: &str, now: Instant) -> bool {
        let Some(w) = self.workers.get_mut(worker) else { return false };
        w.last_seen = now;
        true
    }

    /// Notes that `worker` holds `lease`.
    pub(crate) fn hold(&mut self, worker: &str, lease: &str) {
        if let Some(w) = self.workers.get_mut(worker) {
            w.leases.insert(lease.to_string());
        }
    }

    /// Notes that `worker` no longer holds `lease`.
    pub(crate) fn drop_lease(&mut self, worker: &str, lease: &str) {
        if let Some(w) = self.workers.get_mut(worker) {
            w.leases.remove(lease);
        }
    }

    /// Credits `worker` with accepted trees and evaluation blocks.
    pub(crate) fn credit(&mut self, worker: &str, trees: u64, blocks: u64) {
        if let Some(w) = self.workers.get_mut(worker) {
            w.trees_built += trees;
            w.blocks_evaluated += blocks;
        }
    }

    /// Workers without a heartbeat for longer than `timeout`.
    pub(crate) fn silent(&self, now: Instant, timeout: Duration) -> Vec<String> {
        self.workers
            .iter()
            .filter(|(_, w)| now.duration_since(w.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Drops a worker; returns the leases it held.
    pub(crate) fn remove(&mut self, worker: &str) -> Vec<String> {
        self.workers.remove(worker).map(|w| w.leases.into_iter().collect()).unwrap_or_default()
    }

    /// Workers, by id.
    pub(crate) fn views(&self, now: Instant) -> Vec<WorkerView> {
        let mut v: Vec<WorkerView> = self
            .workers
            .iter()
            .map(|(id, w)| WorkerView {
                id: id.clone(),
                name: w.name.clone(),
                cpus: w.cpus,
                since_heartbeat: now.duration_since(w.last_seen),
                leases: w.leases.iter().cloned().collect(),
                trees_built: w.trees_built,
                blocks_evaluated: w.blocks_evaluated,
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn silent_workers_are_found_and_removed_with_their_leases() {
        let mut r = Registry::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let (a, b) = (r.register(1, "a", 2, t0), r.register(2, "b", 1, t0));
        assert!(a.starts_with("w1-") && b.starts_with("w2-"), "{a} {b}");
        r.hold(&a, "l7");
        r.hold(&a, "l9");
        r.drop_lease(&a, "l9");
        assert!(r.heartbeat(&b, at(4)));
        assert_eq!(r.silent(at(6), Duration::from_secs(5)), vec![a.clone()]);
        assert_eq!(r.remove(&a), vec!["l7".to_string()]);
        assert!(!r.contains(&a) && !r.heartbeat(&a, at(6)), "a removed worker must register again");
        r.credit(&b, 3, 1);
        let v = r.views(at(6));
        assert_eq!((v.len(), v[0].trees_built, v[0].blocks_evaluated), (1, 3, 1));
        assert_eq!(v[0].since_heartbeat, Duration::from_secs(2));
    }
}
