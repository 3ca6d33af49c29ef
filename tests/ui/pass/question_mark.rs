// `?` on nodes of `Result` and `Option`: an `Err`/`None` stops the graph and `compute`
// returns it; errors convert with `From` like in a function.
use taskweave::prelude::*;

#[delayed]
fn parse(s: &str) -> Result<i64, String> {
    s.trim().parse().map_err(|e| format!("{s:?}: {e}"))
}

#[delayed]
fn half(x: i64) -> Option<i64> {
    (x % 2 == 0).then_some(x / 2)
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[derive(Debug, PartialEq)]
struct AppError(String);

impl From<String> for AppError {
    fn from(s: String) -> Self {
        AppError(s)
    }
}

fn main() {
    let sum = graph!(|a: String, b: String| -> Result<i64, AppError> {
        let x = parse(&a)?;
        let y = parse(&b)?;
        Ok(add(x, y))
    });
    let direct = |a: &str, b: &str| -> Result<i64, AppError> { Ok(add(parse(a)?, parse(b)?)) };
    assert_eq!(sum.compute("2".into(), "40".into()), direct("2", "40"));
    assert_eq!(sum.compute("2".into(), "x".into()), direct("2", "x"));

    let quarter = graph!(|x: i64| -> Option<i64> {
        let h = half(x)?;
        Some(half(h)?)
    });
    let direct = |x: i64| half(half(x)?);
    for x in [8, 6, 5] {
        assert_eq!(quarter.compute(x), direct(x));
        assert_eq!(quarter.compute_with(Scheduler::Sync, x), direct(x));
    }
}
