//! The drawing of a [`Progress`](super::Progress) bar, with indicatif (the cargo
//! feature `progress`): a live bar on a terminal (all runs' bars stacked in one
//! [`MultiProgress`]), one plain line a second on a log.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{
    MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike,
};

use super::lock;

/// The bar of one run, while it is drawn.
pub(super) struct Bar {
    /// `None` once let go.
    bar: Option<ProgressBar>,
    /// Its lines, when stderr is not a terminal.
    log: Option<LogLines>,
}

impl Bar {
    /// A bar at `done` of `total` tasks, for a run that started at `started`: live on
    /// the terminal when stderr is one, a line a second otherwise. Always `Some`
    /// (`None` only without the feature `progress`).
    pub(super) fn new(total: u64, done: u64, started: Instant, terminal: bool) -> Option<Bar> {
        let log = (!terminal).then(LogLines::default);
        // A terminal's bar is drawn by `multi()`.
        let target = match &log {
            Some(log) => ProgressDrawTarget::term_like(Box::new(log.clone())),
            None => ProgressDrawTarget::hidden(),
        };
        let template = if terminal {
            "{spinner:.green} [{elapsed_precise}] [{wide_bar:.cyan/blue}] {pos}/{len} tasks ({rate}, ETA {left}) {msg}"
        } else {
            "[{elapsed_precise}] [{bar:30}] {pos}/{len} tasks ({rate}, ETA {left}) {msg}"
        };
        let style = ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> ")
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} tasks/s", mean_rate(state));
                },
            )
            .with_key(
                "left",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let left = state.len().unwrap_or(0).saturating_sub(state.pos());
                    let _ = match mean_rate(state) {
                        rate if rate > 0.0 => write_duration(w, left as f64 / rate),
                        _ => write!(w, "?"),
                    };
                },
            );
        let bar = ProgressBar::with_draw_target(Some(total), target)
            .with_style(style)
            .with_position(done)
            .with_elapsed(started.elapsed());
        let bar = if log.is_none() {
            screen().add(multi(), bar)
        } else {
            bar
        };
        Some(Bar {
            bar: Some(bar),
            log,
        })
    }

    /// Moves the bar to `done` of `total` (a client's run grows while it runs).
    pub(super) fn update(&self, total: u64, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            bar.tick();
        }
    }

    /// Draws the last frame, at `done` of `total`, with `failure` when the run did not
    /// end well, and lets go of the bar: its last frame stays on the terminal, and is
    /// no longer redrawn (over lines printed since) by the bars of later runs.
    pub(super) fn finish(mut self, total: u64, done: u64, failure: Option<String>) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            match failure {
                None => bar.finish(),
                Some(message) => bar.abandon_with_message(message),
            }
        }
        self.release();
        if let Some(log) = self.log.take() {
            let _ = log.finish(&mut std::io::stderr().lock());
        }
    }

    /// Lets go of the bar; one on the terminal leaves [`screen`].
    fn release(&mut self) {
        if let Some(bar) = self.bar.take() {
            drop(bar);
            if self.log.is_none() {
                screen().ended(&mut std::io::stderr().lock());
            }
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // A run that never finished (its observer dropped mid-run, or a new run
        // started) still leaves the terminal's count of running bars.
        self.release();
    }
}

/// Tasks a second since the run started. (indicatif's own estimate would see the
/// tasks done before a delayed bar appeared as done in an instant.)
fn mean_rate(state: &ProgressState) -> f64 {
    let elapsed = state.elapsed().as_secs_f64();
    if elapsed > 0.0 {
        state.pos() as f64 / elapsed
    } else {
        0.0
    }
}

/// `12s`, `3m05s`, `2h07m`.
fn write_duration(w: &mut dyn std::fmt::Write, seconds: f64) -> std::fmt::Result {
    let s = seconds.ceil() as u64;
    match s {
        0..60 => write!(w, "{s}s"),
        60..3600 => write!(w, "{}m{:02}s", s / 60, s % 60),
        _ => write!(w, "{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// All bars drawn on the terminal, so that concurrent runs stack instead of
/// overwriting each other.
fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// The bars on the terminal ([`multi`]): indicatif leaves the cursor at the end of a
/// bar's last line, so that output after a run would go on from there. The last bar
/// to end ends the line.
#[derive(Default)]
struct Screen {
    /// Bars of runs that have not ended.
    running: usize,
    /// Every bar since the terminal last had none running, top first (indicatif
    /// stacks a bar under those before it).
    bars: Vec<ProgressBar>,
}

/// The terminal's [`Screen`].
fn screen() -> MutexGuard<'static, Screen> {
    static SCREEN: Mutex<Screen> = Mutex::new(Screen {
        running: 0,
        bars: Vec::new(),
    });
    lock(&SCREEN)
}

impl Screen {
    /// Draws `bar` in `multi`, under the bars there.
    fn add(&mut self, multi: &MultiProgress, bar: ProgressBar) -> ProgressBar {
        let bar = multi.add(bar);
        self.running += 1;
        self.bars.push(bar.clone());
        bar
    }

    /// A bar's run ended (its last frame drawn, its run's handle dropped). With no
    /// bar left running, drops them all, top first, and ends the line on `out`.
    ///
    /// Kept until then: indicatif forgets the lines of a dropped bar (so that later
    /// frames do not overwrite it) at once only when it is the top bar; a lower one
    /// would be drawn once more by the next run's first frame, under the newline.
    fn ended(&mut self, out: &mut impl Write) {
        self.running = self.running.saturating_sub(1);
        if self.running == 0 {
            self.bars.clear();
            let _ = writeln!(out);
            let _ = out.flush();
        }
    }
}

/// For stderr that is not a terminal (a log, CI): every frame becomes one plain line,
/// at most one a second; the last frame of a run is always written.
#[derive(Debug, Clone, Default)]
struct LogLines(Arc<Mutex<LogState>>);

#[derive(Debug, Default)]
struct LogState {
    /// The frame being drawn.
    frame: String,
    /// A frame not written yet (it came less than a second after the last one).
    pending: Option<String>,
    last: Option<Instant>,
}

/// The least time between two lines of a bar on a log.
const LOG_EVERY: Duration = Duration::from_secs(1);

impl LogLines {
    /// Ends the frame: writes it to `out` unless a line was written less than a
    /// second ago (then it waits in `pending`).
    fn end_frame(state: &mut LogState, now: Instant, out: &mut impl Write) -> std::io::Result<()> {
        let text = state
            .frame
            .trim_matches(|c: char| c == '\r' || c.is_whitespace())
            .to_owned();
        state.frame.clear();
        if text.is_empty() {
            return Ok(());
        }
        if state
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            state.pending = Some(text);
            return Ok(());
        }
        state.last = Some(now);
        state.pending = None;
        writeln!(out, "{text}")
    }

    /// Writes the frame that waits, if any: the run's last.
    fn finish(&self, out: &mut impl Write) -> std::io::Result<()> {
        match lock(&self.0).pending.take() {
            Some(text) => writeln!(out, "{text}"),
            None => Ok(()),
        }
    }
}

impl TermLike for LogLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        let mut state = lock(&self.0);
        state.frame.push_str(s);
        LogLines::end_frame(&mut state, Instant::now(), &mut std::io::stderr().lock())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        lock(&self.0).frame.push_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        LogLines::end_frame(
            &mut lock(&self.0),
            Instant::now(),
            &mut std::io::stderr().lock(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal in memory: what indicatif writes to it, a cursor move up as `<up n>`.
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<String>>);

    impl Recorder {
        fn text(&self) -> String {
            lock(&self.0).clone()
        }
    }

    impl TermLike for Recorder {
        fn width(&self) -> u16 {
            24
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            if n > 0 {
                lock(&self.0).push_str(&format!("<up {n}>"));
            }
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            lock(&self.0).push_str(&format!("{s}\n"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            lock(&self.0).push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A bar of 3 tasks drawn as `name done/total`, added to `screen`.
    fn named_bar(screen: &mut Screen, multi: &MultiProgress, name: &str) -> ProgressBar {
        let style = ProgressStyle::with_template("{msg} {pos}/{len}").unwrap();
        let bar = ProgressBar::with_draw_target(Some(3), ProgressDrawTarget::hidden())
            .with_style(style)
            .with_message(name.to_owned());
        screen.add(multi, bar)
    }

    /// Finishes `bar`'s run as `Shared::finish` does.
    fn end_run(screen: &mut Screen, bar: ProgressBar, term: &Recorder) {
        bar.set_position(3);
        bar.finish();
        drop(bar);
        screen.ended(&mut term.clone());
    }

    #[test]
    fn the_last_frame_on_a_terminal_ends_with_a_newline() {
        let term = Recorder::default();
        let multi =
            MultiProgress::with_draw_target(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let mut screen = Screen::default();

        // Two runs at once: the lower one ends first, and the line stays open for the
        // other; the last to end ends the line under both.
        let a = named_bar(&mut screen, &multi, "a");
        let b = named_bar(&mut screen, &multi, "b");
        end_run(&mut screen, b, &term);
        assert!(!term.text().ends_with('\n'), "{:?}", term.text());
        end_run(&mut screen, a, &term);
        let text = term.text();
        assert!(text.ends_with('\n'), "{text:?}");
        assert!(text.trim_end().ends_with("b 3/3"), "{text:?}");

        // The next run starts on the new line, with no frame of the last runs drawn
        // again nor moved over.
        let c = named_bar(&mut screen, &multi, "c");
        end_run(&mut screen, c, &term);
        let after = term.text()[text.len()..].to_owned();
        assert!(after.trim_start().starts_with("c "), "{after:?}");
        assert!(!after.contains("<up") && !after.contains("a ") && !after.contains("b "));
        assert!(
            after.ends_with('\n') && after.trim_end().ends_with("c 3/3"),
            "{after:?}"
        );
        assert_eq!((screen.running, screen.bars.len()), (0, 0));
    }

    #[test]
    fn log_lines_trim_frames_and_write_one_a_second() {
        let log = LogLines::default();
        let mut out = Vec::new();
        let t0 = Instant::now();
        let frame = |text: &str, at: Duration, out: &mut Vec<u8>| {
            let mut state = lock(&log.0);
            state.frame.push_str(text);
            LogLines::end_frame(&mut state, t0 + at, out).unwrap();
        };
        frame("\r  [00:00:00] 1/4 tasks      ", Duration::ZERO, &mut out);
        frame("\r", Duration::from_millis(10), &mut out);
        frame(
            "\r  [00:00:00] 2/4 tasks   ",
            Duration::from_millis(100),
            &mut out,
        );
        frame(
            "\r  [00:00:00] 3/4 tasks   ",
            Duration::from_millis(200),
            &mut out,
        );
        frame(
            "\r  [00:00:01] 4/4 tasks   ",
            Duration::from_millis(1100),
            &mut out,
        );
        frame(
            "\r  [00:00:01] 4/4 tasks done",
            Duration::from_millis(1150),
            &mut out,
        );
        log.finish(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[00:00:00] 1/4 tasks\n[00:00:01] 4/4 tasks\n[00:00:01] 4/4 tasks done\n"
        );
    }
}
