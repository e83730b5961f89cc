//! Unit tests of [`Control`]: the rules that involve workers, leases and assembly together
//! (cutting, ordering, holders, retries, expiry, dead workers, duplicates, cancellation).

#![allow(clippy::unwrap_used)]

use super::*;
use reelforest_core::error_chain;
use reelforest_pipeline::Stats;
use reelforest_pipeline::spec::TaskKind;
use reelforest_proto::BlockStats;
use reelforest_tree::codec::encode_trees;
use reelforest_tree::histogram::LocalReducer;
use reelforest_tree::{BinnedMatrix, ForestParams, MaxBins, Task, TrainingSet, Tree, grow_tree};

fn ft(g: &Granted) -> &wire::FitTask {
    match &g.task {
        Assignment::Fit(f) => f,
        Assignment::Eval(_) => panic!("expected a fit task"),
    }
}

fn params(n: u32) -> ForestParams {
    ForestParams { num_trees: n, max_depth: 3, ..ForestParams::default() }
}

fn data() -> (BinnedMatrix, Vec<f64>) {
    let x: Vec<f64> = (0..200).map(f64::from).collect();
    let y: Vec<f64> = x.iter().map(|v| (v / 20.0).floor()).collect();
    (BinnedMatrix::from_columns(&[x], MaxBins::DEFAULT, 0).unwrap(), y)
}

fn grown(first: u32, count: u32, p: &ForestParams) -> Vec<Tree> {
    let (b, y) = data();
    let d = TrainingSet::new(&b, &y, None, Task::Regression).unwrap();
    (first..first + count).map(|i| grow_tree(&d, p, i, &LocalReducer).unwrap()).collect()
}

/// Trees `first..first + count` as a worker returns them.
fn trees(first: u32, count: u32, p: &ForestParams) -> Vec<u8> {
    encode_trees(&grown(first, count, p))
}

struct Setup {
    s: Control,
    rx: std::sync::mpsc::Receiver<FitEvent>,
    t0: Instant,
}

impl Setup {
    /// Trees counted so far, and the outcome if the fit ended.
    fn drain(&self) -> (u64, Option<FitOutcome>) {
        let (mut n, mut done) = (0, None);
        while let Ok(e) = self.rx.try_recv() {
            match e {
                FitEvent::Trees(k) => n += k,
                FitEvent::Done(o) => done = Some(o),
            }
        }
        (n, done)
    }

    /// Trees counted so far, with the fit still running.
    fn pending(&self) -> u64 {
        let (n, done) = self.drain();
        assert!(done.is_none(), "the fit ended: {done:?}");
        n
    }
}

fn setup(n: u32, k: u32) -> Setup {
    let cfg = ControlConfig {
        trees_per_task: k,
        lease_timeout: Duration::from_secs(30),
        heartbeat_timeout: Duration::from_secs(5),
        heartbeat_interval: Duration::from_secs(1),
        max_attempts: 2,
    };
    let mut s = Control::new(cfg);
    let (tx, rx) = std::sync::mpsc::channel();
    s.add_fit(NewFit {
        job_id: "j1".into(),
        template: wire::FitTask { table: "t".into(), ..Default::default() },
        params: params(n),
        task: Task::Regression,
        num_features: 1,
        events: tx,
    });
    Setup { s, rx, t0: Instant::now() }
}

#[test]
fn fit_is_cut_into_tasks_and_assembled_in_index_order() {
    let mut st = setup(5, 2);
    let t0 = st.t0;
    let a = st.s.register("a", 1, t0);
    let b = st.s.register("b", 1, t0);
    let l1 = st.s.poll(&a, t0).unwrap();
    let l2 = st.s.poll(&b, t0).unwrap();
    let l3 = st.s.poll(&a, t0).unwrap();
    assert!(st.s.poll(&b, t0).is_none());
    assert_eq!((ft(&l1).first_tree, ft(&l1).num_trees), (0, 2));
    assert_eq!((ft(&l3).first_tree, ft(&l3).num_trees), (4, 1));
    assert_eq!(st.s.workers_busy("j1"), 2);
    let p = params(5);
    // Out of order completion.
    st.s.complete(&a, &l3.lease_id, &trees(4, 1, &p), vec![]).unwrap();
    st.s.complete(&b, &l2.lease_id, &trees(2, 2, &p), vec![]).unwrap();
    assert_eq!(st.pending(), 3, "not complete yet");
    st.s.complete(&a, &l1.lease_id, &trees(0, 2, &p), vec![]).unwrap();
    let (n, outcome) = st.drain();
    assert_eq!(n, 2);
    let forest = outcome.unwrap().unwrap();
    let (b_, y) = data();
    let d = TrainingSet::new(&b_, &y, None, Task::Regression).unwrap();
    let local = reelforest_tree::train(&d, &p).unwrap();
    assert_eq!(forest.to_bytes(), local.to_bytes(), "assembled forest equals a local one");
}

#[test]
fn only_the_holder_completes_and_bad_results_are_retried() {
    let mut st = setup(2, 2);
    let t0 = st.t0;
    let a = st.s.register("a", 1, t0);
    let b = st.s.register("b", 1, t0);
    let l = st.s.poll(&a, t0).unwrap();
    let p = params(2);
    let err = st.s.complete(&b, &l.lease_id, &trees(0, 2, &p), vec![]).unwrap_err();
    assert!(matches!(&err, Refusal::NotHolder { lease, worker } if *lease == l.lease_id && *worker == b), "{err}");
    let err = st.s.complete("nobody", &l.lease_id, &[], vec![]).unwrap_err();
    assert!(matches!(&err, Refusal::UnknownWorker(w) if w == "nobody"), "{err}");
    // Wrong indices: refused, task back in the queue.
    let err = st.s.complete(&a, &l.lease_id, &trees(1, 2, &p), vec![]).unwrap_err();
    assert_eq!(
        error_chain(&err),
        format!("rejected result for lease {}: trees[0].tree_index: 1 (expected 0)", l.lease_id)
    );
    assert_eq!(st.s.queued(), 1);
    // The old lease is gone.
    assert!(matches!(st.s.complete(&a, &l.lease_id, &trees(0, 2, &p), vec![]), Err(Refusal::NotHolder { .. })));
    // A corrupt tree (child index out of range) on the second (last) attempt fails the fit.
    let l2 = st.s.poll(&b, t0).unwrap();
    let two = grown(0, 2, &p);
    assert!(two[1].nodes()[0].split.is_some(), "the root splits");
    let mut bad = encode_trees(&two);
    // Tree 1 starts where a set of tree 0 alone ends; its root's `left` follows treeIndex,
    // numClasses, numNodes, the root's four statistics, isSplit, feature, threshold, bin,
    // missingLeft and gain.
    let left = encode_trees(&two[..1]).len() + 12 + 32 + 1 + 4 + 8 + 2 + 1 + 8;
    bad[left..left + 4].copy_from_slice(&999u32.to_le_bytes());
    let err = st.s.complete(&b, &l2.lease_id, &bad, vec![]).unwrap_err();
    assert!(matches!(&err, Refusal::BadResult { problem: ResultProblem::Trees(_), .. }), "{err}");
    assert_eq!(
        error_chain(&err),
        format!(
            "rejected result for lease {}: trees: cannot decode: tree 1 is inconsistent with the forest: node 0 has \
             child 999 out of order",
            l2.lease_id
        )
    );
    let outcome = error_chain(&st.drain().1.unwrap().unwrap_err());
    assert!(
        outcome
            .starts_with(&format!("trees 0..2 failed 2 times: worker {b} returned a bad result: trees: cannot decode")),
        "{outcome}"
    );
    assert_eq!(st.s.queued(), 0);
}

#[test]
fn dead_workers_and_expired_leases_give_tasks_back() {
    let mut st = setup(4, 2);
    let t0 = st.t0;
    let a = st.s.register("a", 1, t0);
    let b = st.s.register("b", 1, t0);
    let la = st.s.poll(&a, t0).unwrap();
    let lb = st.s.poll(&b, t0).unwrap();
    // b keeps beating, a goes silent.
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert!(st.s.heartbeat(&b, at(4)));
    let r = st.s.reap(at(6));
    assert_eq!(r.dead_workers, vec![a.clone()]);
    assert_eq!(r.requeued_leases, vec![la.lease_id.clone()]);
    assert!(!st.s.heartbeat(&a, at(6)), "a dead worker must register again");
    let c = st.s.register("c", 1, at(6));
    let again = st.s.poll(&c, at(6)).unwrap();
    assert_eq!(ft(&again).first_tree, ft(&la).first_tree, "the dead worker's task is first in line");
    let p = params(4);
    st.s.complete(&c, &again.lease_id, &trees(0, 2, &p), vec![]).unwrap();
    // b beats but never finishes: its lease (granted at t0, 30 s) expires; b stays registered.
    for s in [10, 15, 20, 25, 29] {
        assert!(st.s.heartbeat(&b, at(s)) && st.s.heartbeat(&c, at(s)));
    }
    assert_eq!(st.s.reap(at(29)), Reaped::default());
    let r = st.s.reap(at(31));
    assert_eq!(r, Reaped { dead_workers: vec![], requeued_leases: vec![lb.lease_id.clone()] });
    assert!(matches!(st.s.complete(&b, &lb.lease_id, &trees(2, 2, &p), vec![]), Err(Refusal::NotHolder { .. })));
    let lb2 = st.s.poll(&b, at(31)).unwrap();
    assert_eq!(ft(&lb2).first_tree, 2);
    st.s.complete(&b, &lb2.lease_id, &trees(2, 2, &p), vec![]).unwrap();
    assert_eq!(st.drain().1.unwrap().unwrap().num_trees(), 4);
}

#[test]
fn duplicates_are_dropped_by_tree_index() {
    let mut st = setup(2, 1);
    let t0 = st.t0;
    let a = st.s.register("a", 1, t0);
    let l0 = st.s.poll(&a, t0).unwrap();
    let p = params(2);
    st.s.complete(&a, &l0.lease_id, &trees(0, 1, &p), vec![]).unwrap();
    assert_eq!(st.pending(), 1);
    // A second copy of tree 0 reaching the fit (a late duplicate) is not counted twice.
    let tid = st.s.add_task_for_test(0, 1);
    let dup = st.s.poll(&a, t0).unwrap();
    assert_eq!(ft(&dup).first_tree, 0, "{tid}");
    st.s.complete(&a, &dup.lease_id, &trees(0, 1, &p), vec![]).unwrap();
    assert_eq!(st.pending(), 0);
    let l1 = st.s.poll(&a, t0).unwrap();
    st.s.complete(&a, &l1.lease_id, &trees(1, 1, &p), vec![]).unwrap();
    let (n, outcome) = st.drain();
    assert_eq!(n, 1);
    assert_eq!(outcome.unwrap().unwrap().num_trees(), 2);
}

#[test]
fn cancel_fails_the_jobs_fits() {
    let mut st = setup(4, 2);
    let a = st.s.register("a", 1, st.t0);
    let l = st.s.poll(&a, st.t0).unwrap();
    st.s.cancel_job("j1", CancelReason::Client);
    assert_eq!(st.drain().1.unwrap().unwrap_err().to_string(), "job cancelled by a client");
    assert_eq!(st.s.queued(), 0);
    assert!(matches!(st.s.complete(&a, &l.lease_id, &[], vec![]), Err(Refusal::NotHolder { .. })));
    assert_eq!(st.s.workers_busy("j1"), 0);
}

#[test]
fn fatal_failure_fails_the_fit_and_retryable_requeues() {
    let mut st = setup(2, 2);
    let a = st.s.register("a", 1, st.t0);
    let l = st.s.poll(&a, st.t0).unwrap();
    st.s.fail(&a, &l.lease_id, false, "disk full").unwrap();
    assert_eq!(st.s.queued(), 1);
    let l = st.s.poll(&a, st.t0).unwrap();
    st.s.fail(&a, &l.lease_id, true, "table cv0.train: no such table").unwrap();
    let e = st.drain().1.unwrap().unwrap_err();
    assert_eq!(e.to_string(), format!("worker {a}: table cv0.train: no such table"));
}

fn block_stats(block: u32, ys: &[f64], ps: &[f64]) -> wire::EvalStats {
    let s = reelforest_tree::RegressionStats::from_slices(ys, ps);
    reelforest_proto::stats_to_wire(block, &BlockStats::Regression(s))
}

fn eval_setup(blocks: u32) -> (Control, std::sync::mpsc::Receiver<EvalOutcome>, Instant) {
    let mut s = Control::new(ControlConfig { max_attempts: 2, ..ControlConfig::default() });
    let (tx, rx) = std::sync::mpsc::channel();
    s.add_eval(NewEval {
        job_id: "j1".into(),
        template: wire::EvalTask { table: "honest.test".into(), ..Default::default() },
        task: TaskKind::Regression,
        blocks,
        events: tx,
    });
    (s, rx, Instant::now())
}

#[test]
fn evaluation_blocks_merge_in_block_order_whoever_scores_them() {
    let (mut s, rx, t0) = eval_setup(3);
    let (a, b) = (s.register("a", 1, t0), s.register("b", 1, t0));
    let l0 = s.poll(&a, t0).unwrap();
    let l1 = s.poll(&b, t0).unwrap();
    let Assignment::Eval(e1) = &l1.task else { panic!("expected an evaluation task") };
    assert_eq!((e1.first_block, e1.num_blocks, e1.table.as_str()), (1, 1, "honest.test"));
    let l2 = s.poll(&b, t0).unwrap();
    let parts = [(0, [1.0, 2.0], [1.5, 2.5]), (1, [3.0, 4.0], [2.0, 4.5]), (2, [5.0, 1.0], [4.0, 1.0])];
    // Completed 2, 0, 1; a duplicate of block 0 is dropped.
    s.complete(&b, &l2.lease_id, &[], vec![block_stats(2, &parts[2].1, &parts[2].2)]).unwrap();
    s.complete(&a, &l0.lease_id, &[], vec![block_stats(0, &parts[0].1, &parts[0].2)]).unwrap();
    assert!(rx.try_recv().is_err(), "not done with a block missing");
    s.complete(&b, &l1.lease_id, &[], vec![block_stats(1, &parts[1].1, &parts[1].2)]).unwrap();
    let got = rx.try_recv().unwrap().unwrap();
    let mut want = reelforest_tree::RegressionStats::new();
    for (_, y, p) in &parts {
        want.merge(&reelforest_tree::RegressionStats::from_slices(y, p));
    }
    assert_eq!(got, Stats::Regression(want), "bit for bit the in-order merge");
    assert_eq!(s.workers(t0).iter().map(|w| w.blocks_evaluated).sum::<u64>(), 3);
    assert_eq!(s.queued(), 0);
}

#[test]
fn bad_evaluation_results_are_refused_and_requeued() {
    let (mut s, rx, t0) = eval_setup(1);
    let a = s.register("a", 1, t0);
    let l = s.poll(&a, t0).unwrap();
    let err = s.complete(&a, &l.lease_id, &[], vec![block_stats(5, &[1.0], &[1.0])]).unwrap_err();
    assert!(error_chain(&err).contains("stats[0].block: 5 (expected 0)"), "{err}");
    let l = s.poll(&a, t0).expect("requeued after a bad result");
    let mut c = reelforest_tree::ClassificationStats::new(2);
    c.add(1, 1, &[0.3, 0.7], 1.0).unwrap();
    let wrong_kind = reelforest_proto::stats_to_wire(0, &BlockStats::Classification(c));
    let err = s.complete(&a, &l.lease_id, &[], vec![wrong_kind]).unwrap_err();
    assert!(error_chain(&err).contains("stats[0].stats: wrong kind for a regression evaluation"), "{err}");
    // Two attempts used: the evaluation fails with the last reason.
    let outcome = error_chain(&rx.try_recv().unwrap().unwrap_err());
    assert!(outcome.starts_with("blocks 0..1 failed 2 times: worker"), "{outcome}");
}

#[test]
fn a_fit_task_with_statistics_is_refused() {
    let mut st = setup(2, 2);
    let a = st.s.register("a", 1, st.t0);
    let l = st.s.poll(&a, st.t0).unwrap();
    let p = params(2);
    let err = st.s.complete(&a, &l.lease_id, &trees(0, 2, &p), vec![block_stats(0, &[1.0], &[1.0])]).unwrap_err();
    assert!(error_chain(&err).contains("stats: 1 statistics for a fit task"), "{err}");
}

#[test]
fn cancelling_a_job_fails_its_evaluations() {
    let (mut s, rx, _) = eval_setup(2);
    s.cancel_job("j1", CancelReason::JobEnded);
    assert_eq!(rx.try_recv().unwrap().unwrap_err().to_string(), "the job ended");
    assert_eq!(s.queued(), 0);
}
