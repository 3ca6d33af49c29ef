//! Randomly generated DAGs (random sizes, edges and sharing) compute, as dynamic
//! graphs, exactly what direct sequential evaluation computes.

use proptest::prelude::*;
use taskweave::prelude::*;

#[path = "support/random.rs"]
mod random;

use random::mix;

/// Each node lists the earlier nodes it reads (repeats allowed: one value read twice).
fn dags() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>)> {
    (1usize..80).prop_flat_map(|n| {
        let parents = (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::vec(0..i, 0..5).boxed()
                }
            })
            .collect::<Vec<_>>();
        let outputs = proptest::collection::vec(0..n, 1..4);
        (parents, outputs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_dags_match_sequential_evaluation((parents, outputs) in dags(), sync in any::<bool>()) {
        let mut expected = Vec::new();
        let mut nodes: Vec<Delayed<u64>> = Vec::new();
        for (i, ps) in parents.iter().enumerate() {
            let values: Vec<u64> = ps.iter().map(|&p| expected[p]).collect();
            expected.push(mix(i as u64, values.iter().copied()));
            let inputs: Vec<Delayed<u64>> = ps.iter().map(|&p| nodes[p].clone()).collect();
            nodes.push(delayed(move |vs: Vec<u64>| mix(i as u64, vs)).call(inputs));
        }
        // Outputs as drawn, repeats included: a value requested twice is returned twice.
        let wanted = outputs.clone();
        let requested: Vec<Delayed<u64>> = wanted.iter().map(|&o| nodes[o].clone()).collect();
        let scheduler = if sync { Scheduler::Sync } else { Scheduler::Threads };
        let got = taskweave::compute_with(scheduler, requested.as_slice()).unwrap();
        let want: Vec<u64> = wanted.iter().map(|&o| expected[o]).collect();
        prop_assert_eq!(got, want);
    }
}
