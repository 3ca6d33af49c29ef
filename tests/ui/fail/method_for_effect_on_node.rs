use taskweave::prelude::*;

#[derive(Clone, Default)]
struct Stats {
    count: u64,
}

impl Stats {
    fn record(&mut self, _sample: i64) {
        self.count += 1;
    }
}

#[delayed]
fn empty() -> Stats {
    Stats::default()
}

#[delayed]
fn count(s: &Stats) -> u64 {
    s.count
}

fn main() {
    let g = graph!(|x: i64| -> u64 {
        let stats = empty();
        stats.record(x);
        count(&stats)
    });
    let _ = g.compute(1);
}
