//! The live dashboard (`Dashboard`, `ClientBuilder::dashboard`; feature `dashboard`):
//! HTTP-level tests with a plain `TcpStream` client (unknown paths, bad requests,
//! concurrent clients, the server's end when its guard or client drops, the JSON's
//! counts against the workload's, tasks of a run still going), and, where Chromium is
//! installed, a headless browser loading the live page while tasks run: its script
//! polls, and the counts it shows grow from one load to the next.
//!
//! A dashboard watches the whole process, so the tests that compute or count take
//! turns (`SERIAL`); every test runs under a watchdog.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/watchdog.rs"]
mod watchdog;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use browser::{cell, dump_dom, table_rows, text_of};
use serde_json::Value;
use taskweave::prelude::*;
use taskweave::{
    Client, ClientError, Dashboard, NodeInfo, Observer, RunOptions, Scheduler, TaskError,
};

const LIMIT: Duration = Duration::from_secs(300);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A response: status code, head, body.
struct Response {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` as it is and reads the whole answer (the server closes each
/// connection after one response).
fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |at| at + 4);
    let head = String::from_utf8(answer[..split].to_vec()).expect("a UTF-8 head");
    let mut body = answer[split..].to_vec();
    if head.contains("Transfer-Encoding: chunked") {
        body = dechunk(&body);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    Ok(Response {
        status,
        head: head.trim_end().to_owned(),
        body: String::from_utf8(body).expect("a UTF-8 body"),
    })
}

/// The body of a chunked response (a large page comes so): hex size, CRLF, the
/// bytes, CRLF, …, size 0.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&raw[..line]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|e| panic!("chunk size {size:?}: {e}"));
        raw = &raw[line + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn get(addr: SocketAddr, path: &str) -> Response {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    exchange(addr, request.as_bytes()).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn status(addr: SocketAddr) -> Value {
    status_since(addr, 0).0
}

/// The live data with the stream's task runs from number `cursor` on (what the live
/// page asks each second, passing the `cursor` of the answer before), and the
/// answer's length in bytes.
fn status_since(addr: SocketAddr, cursor: u64) -> (Value, usize) {
    let path = match cursor {
        0 => "/api/status".to_owned(),
        _ => format!("/api/status?since={cursor}"),
    };
    let response = get(addr, &path);
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response.head.contains("application/json"),
        "{}",
        response.head
    );
    let json = serde_json::from_str(&response.body).expect("valid JSON");
    (json, response.body.len())
}

/// The names of the functions of a status's stream bars of task runs that ended.
fn ended_bars(status: &Value) -> Vec<String> {
    let stream = &status["stream"];
    stream["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .filter(|bar| bar[4] != "running")
        .map(|bar| {
            let function = bar[1].as_u64().unwrap() as usize;
            stream["functions"][function]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Whether connecting to `addr` is refused, waiting up to 20 s for it (the port is
/// released once the server's accepting thread has seen its end).
fn refused_soon(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Err(_) => return true,
            Ok(_) if Instant::now() > deadline => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn boom(xs: Vec<u64>) -> u64 {
    panic!("boom after {} values", xs.len())
}

#[delayed]
fn twice(x: i64) -> i64 {
    x * 2
}

#[delayed]
fn negate(x: i64) -> i64 {
    -x
}

#[delayed]
fn plus(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

fn square(x: u64) -> u64 {
    x * x
}

fn gate(rx: Arc<Mutex<mpsc::Receiver<()>>>) -> u64 {
    rx.lock().unwrap().recv().unwrap();
    1
}

fn after(x: u64) -> u64 {
    x + 1
}

/// done, failed, cancelled, total.
type Counts = (u64, u64, u64, u64);

/// The progress of a status, by function name.
fn progress(status: &Value) -> HashMap<String, Counts> {
    status["progress"]
        .as_array()
        .expect("progress")
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_u64().unwrap();
            (
                p["name"].as_str().unwrap().to_owned(),
                (n("done"), n("failed"), n("cancelled"), n("total")),
            )
        })
        .collect()
}

#[test]
fn unknown_paths_are_404_and_bad_requests_do_not_stop_the_server() {
    watchdog::within(LIMIT, "bad requests", || {
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0, "port 0 picks a free port");
        assert_eq!(dashboard.url(), format!("http://{addr}/"));

        for path in [
            "/nope",
            "/api",
            "/api/status/x",
            "/../etc/passwd",
            "/favicon.ico",
        ] {
            let response = get(addr, path);
            assert_eq!(response.status, 404, "{path}");
        }
        // Read-only.
        let post = exchange(
            addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
        .unwrap();
        assert_eq!(post.status, 405);
        assert!(post.head.contains("Allow: GET, HEAD"), "{}", post.head);
        // Malformed: garbage, a request line with no version, a bad header, a
        // connection closed halfway through a request, bytes that are not text.
        for bad in [
            &b"this is not HTTP\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Le",
            b"\x00\xff\xfe\x01\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
        ] {
            // Whatever the answer (400, 505 or a closed connection), the server goes on.
            if let Ok(mut stream) = TcpStream::connect(addr) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let _ = stream.write_all(bad);
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink);
            }
            assert_eq!(get(addr, "/api/status").status, 200, "after {bad:?}");
        }
        // Clients that connect and send nothing, then go: the server goes on (while
        // they stay, too: `stalled_clients_do_not_starve_the_server`).
        let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
        drop(idle);
        let page = get(addr, "/");
        assert_eq!(page.status, 200);
        assert!(page.head.contains("text/html"), "{}", page.head);
        assert!(page.body.contains("<h1>taskweave dashboard</h1>"));
        assert!(page.body.contains("<table id=\"workers\""));
        let report = get(addr, "/report.html");
        assert_eq!(report.status, 200);
        assert!(report
            .body
            .contains("<h1>taskweave performance report</h1>"));
        assert!(
            !report.body.contains("api/status"),
            "a report does not poll"
        );
        // HEAD: the head alone; a query string is ignored.
        let head = exchange(
            addr,
            b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        assert_eq!(get(addr, "/api/status?now=1").status, 200);
        drop(dashboard);
        assert!(refused_soon(addr), "the port is still open");
    });
}

/// Clients that stall do not starve the others: with many connections open that sent
/// nothing, or half a request, or a whole request whose answer they never read, and
/// stay open, fresh requests are still answered (the watchdog's bound is far below
/// what waiting for the stalled connections' timeouts one after the other would
/// take). And the stalled ones are closed by the server in the end.
#[test]
fn stalled_clients_do_not_starve_the_server() {
    watchdog::within(Duration::from_secs(60), "stalled clients", || {
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        let stall = |i: usize| {
            let mut stream = TcpStream::connect(addr).unwrap();
            match i % 3 {
                // Nothing at all.
                0 => {}
                // Half a request line / half a head.
                1 => stream.write_all(b"GET /api/sta").unwrap(),
                _ => stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: slo")
                    .unwrap(),
            }
            stream
        };
        // Requests that come in the middle of a burst of stalled connections.
        let mut stalled: Vec<TcpStream> = (0..12).map(stall).collect();
        let mut middle: Vec<TcpStream> =
            (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        stalled.extend((12..24).map(stall));
        for stream in &mut middle {
            stream
                .write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
        }
        for mut stream in middle {
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        }
        // Requests after the burst, and in a burst of their own, are answered while
        // the stalled connections stay open.
        for _ in 0..3 {
            assert_eq!(get(addr, "/api/status").status, 200);
        }
        let askers: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(move || get(addr, "/").status))
            .collect();
        for asker in askers {
            assert_eq!(asker.join().unwrap(), 200);
        }
        // A stalled connection is not kept forever: the server ends it (with an
        // answer or without), within the watchdog's bound.
        let mut first = stalled.swap_remove(0);
        first
            .set_read_timeout(Some(Duration::from_secs(50)))
            .unwrap();
        let mut sink = Vec::new();
        first
            .read_to_end(&mut sink)
            .expect("the server closes a stalled connection");
        assert_eq!(get(addr, "/api/status").status, 200);
        drop(stalled);
        drop(dashboard);
        assert!(refused_soon(addr), "the port is still open");
    });
}

#[test]
fn several_clients_at_once() {
    watchdog::within(LIMIT, "concurrent clients", || {
        let dashboard = Dashboard::serve("localhost:0").unwrap();
        let addr = dashboard.addr();
        let clients: Vec<_> = (0..12)
            .map(|i| {
                std::thread::spawn(move || {
                    for k in 0..10 {
                        let path = ["/", "/api/status", "/nope"][(i + k) % 3];
                        let response = get(addr, path);
                        let expected = if path == "/nope" { 404 } else { 200 };
                        assert_eq!(response.status, expected, "{path}");
                        if path == "/api/status" {
                            let _: Value = serde_json::from_str(&response.body).unwrap();
                        }
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
    });
}

#[test]
fn the_server_ends_when_its_client_or_guard_drops() {
    watchdog::within(LIMIT, "drops", || {
        // A client's dashboard.
        let client = Client::builder()
            .threads(2)
            .dashboard("127.0.0.1:0")
            .build()
            .unwrap();
        let addr = client.dashboard().expect("a dashboard").addr();
        assert_eq!(get(addr, "/").status, 200);
        let other = client.clone();
        drop(client);
        assert_eq!(get(addr, "/").status, 200, "a clone keeps it");
        drop(other);
        assert!(refused_soon(addr), "the client's dashboard still answers");

        // A guard's, while a connection is open and idle.
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        let _idle = TcpStream::connect(addr).unwrap();
        drop(dashboard);
        assert!(refused_soon(addr), "the dashboard still answers");

        // The port is free again: a new dashboard can bind it.
        let again = Dashboard::serve(addr).expect("the port is free again");
        assert_eq!(again.addr(), addr);

        // A taken port and an address beyond loopback are clear errors.
        let taken = Client::builder().dashboard(addr).build().unwrap_err();
        assert!(matches!(taken, ClientError::Dashboard(_)), "{taken}");
        assert!(taken.to_string().contains("dashboard"), "{taken}");
        // Naming the address taken, with the socket's kind of error.
        assert!(taken.to_string().contains(&addr.to_string()), "{taken}");
        let second = Dashboard::serve(addr).unwrap_err();
        assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse, "{second}");
        assert!(second.to_string().contains(&addr.to_string()), "{second}");
        // An address that does not parse is named too.
        let unparsed = Client::builder()
            .dashboard("localhost:port")
            .build()
            .unwrap_err();
        assert!(
            unparsed.to_string().contains("\"localhost:port\""),
            "{unparsed}"
        );
        let unparsed = Dashboard::serve("not an address").unwrap_err();
        assert_eq!(
            unparsed.kind(),
            std::io::ErrorKind::InvalidInput,
            "{unparsed}"
        );
        assert!(
            unparsed.to_string().contains("\"not an address\""),
            "{unparsed}"
        );
        drop(again);
        let public = Client::builder()
            .dashboard("0.0.0.0:0")
            .build()
            .unwrap_err();
        let ClientError::Dashboard(why) = &public else {
            panic!("{public}")
        };
        assert_eq!(why.kind(), std::io::ErrorKind::InvalidInput);
        assert!(public.to_string().contains("dashboard_public"), "{public}");
        // Beyond loopback only when asked for by name; reached here on loopback.
        let client = Client::builder()
            .threads(1)
            .dashboard_public("0.0.0.0:0")
            .build()
            .unwrap();
        let dashboard = client.dashboard().unwrap();
        assert!(dashboard.addr().ip().is_unspecified());
        assert!(dashboard.url().starts_with("http://127.0.0.1:"));
        let local = SocketAddr::from(([127, 0, 0, 1], dashboard.addr().port()));
        assert_eq!(get(local, "/api/status").status, 200);
        drop(client);

        // A client's dashboard made by a builder: its bound, and loopback by default.
        let client = Client::builder()
            .threads(1)
            .dashboard_with(Dashboard::builder().keep(123), "127.0.0.1:0")
            .build()
            .unwrap();
        let addr = client.dashboard().unwrap().addr();
        assert_eq!(status(addr)["keep"].as_u64(), Some(123));
        let beyond = Client::builder()
            .dashboard_with(Dashboard::builder().keep(5), "0.0.0.0:0")
            .build()
            .unwrap_err();
        assert!(matches!(beyond, ClientError::Dashboard(_)), "{beyond}");
    });
}

/// A dynamic compute whose last task fails, a static graph computed three times, and
/// a client's squares plus a task cancelled behind a gate (before it ran). Returns
/// the expected progress and the number of task runs.
fn mixed_workload() -> (HashMap<String, Counts>, u64) {
    let parts: Vec<Delayed<u64>> = (0..10).map(|i| delay!(inc(i))).collect();
    assert!(delay!(boom(parts))
        .try_compute_with(Scheduler::Sync)
        .is_err());
    let g = graph!(|x: i64| -> i64 {
        let a = twice(x);
        let b = negate(x);
        plus(a, b)
    });
    for x in 0..3 {
        assert_eq!(g.compute(x), x);
    }
    let client = Client::builder().threads(1).build().unwrap();
    let squares = client.map(square, 0..12u64);
    let (open, rx) = mpsc::channel();
    let gated = client.submit(gate, (Arc::new(Mutex::new(rx)),));
    let cancelled = client.submit(after, (gated.clone(),));
    cancelled.cancel();
    open.send(()).unwrap();
    assert_eq!(client.gather(&squares).unwrap().len(), 12);
    assert_eq!(gated.result().unwrap(), 1);
    assert!(cancelled.result().is_err());
    drop(client);
    let expected = [
        ("inc", (10, 0, 0, 10)),
        ("boom", (0, 1, 0, 1)),
        ("twice", (3, 0, 0, 3)),
        ("negate", (3, 0, 0, 3)),
        ("plus", (3, 0, 0, 3)),
        ("square", (12, 0, 0, 12)),
        ("gate", (1, 0, 0, 1)),
        ("after", (0, 0, 1, 1)),
    ]
    .into_iter()
    .map(|(name, counts)| (name.to_owned(), counts))
    .collect();
    // Every task ran but the cancelled one (no run, counted cancelled).
    (expected, 10 + 1 + 9 + 12 + 1)
}

#[test]
fn the_json_counts_equal_the_runs_counts() {
    let _serial = serial();
    watchdog::within(LIMIT, "counts", || {
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        let before = status(addr);
        assert_eq!(before["tasks"], 0);
        assert!(progress(&before).is_empty());

        let (expected, runs) = mixed_workload();
        let after = status(addr);
        assert_eq!(after["tasks"].as_u64(), Some(runs));
        assert_eq!(after["computes"].as_u64(), Some(4));
        assert_eq!(progress(&after), expected);
        assert_eq!(after["running"].as_array().unwrap().len(), 0);
        // The stream of the last seconds has every task run (fewer than the cap).
        let stream = &after["stream"];
        let bars = stream["bars"].as_array().unwrap();
        assert_eq!(bars.len() as u64, runs);
        let functions = stream["functions"].as_array().unwrap();
        let lanes = stream["lanes"].as_array().unwrap();
        for bar in bars {
            let bar = bar.as_array().unwrap();
            assert!((bar[0].as_u64().unwrap() as usize) < lanes.len());
            assert!((bar[1].as_u64().unwrap() as usize) < functions.len());
            assert!(bar[3].as_f64().unwrap() >= 0.0);
        }
        // The page shows the same numbers.
        let page = get(addr, "/").body;
        assert!(page.contains(&format!("<dd id=\"task-count\">{runs}</dd>")));
        assert_eq!(
            page,
            page.replace("http://", ""),
            "the page names no URL of its own"
        );
        // And the report written from it.
        let path =
            std::env::temp_dir().join(format!("taskweave-dashboard-{}.html", std::process::id()));
        assert_eq!(dashboard.write_report(&path).unwrap(), path);
        let report = std::fs::read_to_string(&path).unwrap();
        assert_eq!(report.matches("<rect class=\"task\"").count() as u64, runs);
    });
}

/// A long-running dashboard's memory is bounded: with `keep(KEEP)`, 25 rounds of a
/// dynamic fan-in and a client's `map` (150,025 tasks) leave it holding `KEEP`
/// records after every round and a few hundred kilobytes at most, while
/// the counts per function, the task count and the computes equal the run's totals.
#[test]
fn a_long_run_keeps_memory_bounded_and_counts_exact() {
    let _serial = serial();
    watchdog::within(LIMIT, "bounded memory", || {
        const KEEP: u64 = 1_000;
        const LEAVES: u64 = 4_000;
        const FUTURES: u64 = 2_000;
        const ROUNDS: u64 = 25;
        let dashboard = Dashboard::builder()
            .keep(KEEP as usize)
            .serve("127.0.0.1:0")
            .unwrap();
        let addr = dashboard.addr();
        let client = Client::builder().threads(2).build().unwrap();
        let mut memory = Vec::new();
        for round in 1..=ROUNDS {
            let parts: Vec<Delayed<u64>> = (0..LEAVES).map(|i| delay!(inc(i))).collect();
            assert_eq!(delay!(total(parts)).compute(), (1..=LEAVES).sum::<u64>());
            let squares = client.map(square, 0..FUTURES);
            assert_eq!(client.gather(&squares).unwrap().len() as u64, FUTURES);
            drop(squares);
            let s = status(addr);
            assert_eq!(s["keep"].as_u64(), Some(KEEP));
            assert_eq!(s["kept"].as_u64(), Some(KEEP), "round {round}");
            assert_eq!(
                s["tasks"].as_u64(),
                Some(round * (LEAVES + 1 + FUTURES)),
                "round {round}"
            );
            assert_eq!(s["computes"].as_u64(), Some(round));
            let p = progress(&s);
            assert_eq!(p["inc"], (round * LEAVES, 0, 0, round * LEAVES));
            assert_eq!(p["total"], (round, 0, 0, round));
            assert_eq!(p["square"], (round * FUTURES, 0, 0, round * FUTURES));
            let runs: HashMap<&str, u64> = s["progress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["name"].as_str().unwrap(), f["runs"].as_u64().unwrap()))
                .collect();
            assert_eq!(runs["inc"], round * LEAVES);
            assert_eq!(runs["square"], round * FUTURES);
            assert!(s["stream"]["bars"].as_array().unwrap().len() as u64 <= KEEP);
            memory.push(s["memory"].as_u64().unwrap());
        }
        let tasks = ROUNDS * (LEAVES + 1 + FUTURES);
        println!(
            "{tasks} tasks recorded; {KEEP} kept; the recording held {:?} bytes after \
             each round",
            memory
        );
        // Its size follows the records kept (48 bytes each), the graph drawn (about
        // 14 bytes a node) and the tasks in flight (a set of the pending tasks'
        // keys, at most FUTURES), not the run's length: 150,025 records would be
        // 7.2 MB.
        let bound = 2 * KEEP * 48 + 16 * (LEAVES + 1) + 32 * FUTURES + (64 << 10);
        assert!(
            memory.iter().all(|&m| m <= bound),
            "the recording holds more than {bound} bytes: {memory:?}"
        );
        // The page drawn from it: every task counted, the kept ones drawn.
        let page = get(addr, "/report.html").body;
        assert!(page.contains(&format!("<dd id=\"task-count\">{tasks}</dd>")));
        assert_eq!(page.matches("<rect class=\"task\"").count() as u64, KEEP);
        assert!(page.contains("id=\"kept-note\""));
    });
}

/// A poll that passes the cursor of the answer before gets the stream's bars of the
/// task runs recorded since, and only those, while its counts are the run's: round
/// after round each poll brings exactly that round's tasks; with nothing new it
/// brings no bar; after a run of 10,001 tasks one poll brings at most the stream's
/// cap of them and the next one none, its answer no longer than an idle one's (what
/// a poll sends, not what the recording holds, sets what it costs).
#[test]
fn polls_from_a_cursor_bring_only_the_new_task_runs() {
    let _serial = serial();
    watchdog::within(LIMIT, "cursor", || {
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        let (first, _) = status_since(addr, 0);
        assert_eq!(first["tasks"].as_u64(), Some(0));
        assert_eq!(first["cursor"].as_u64(), Some(0));
        let mut cursor = 0;
        let (mut incs, mut rounds) = (0u64, 0u64);
        for round in 1..=4u64 {
            let leaves = 50 * round;
            let parts: Vec<Delayed<u64>> = (0..leaves).map(|i| delay!(inc(i))).collect();
            assert_eq!(delay!(total(parts)).compute(), (1..=leaves).sum::<u64>());
            incs += leaves;
            rounds += 1;
            let (s, _) = status_since(addr, cursor);
            assert_eq!(s["tasks"].as_u64(), Some(incs + rounds), "round {round}");
            assert_eq!(s["cursor"].as_u64(), Some(incs + rounds), "round {round}");
            let bars = ended_bars(&s);
            assert_eq!(
                bars.len() as u64,
                leaves + 1,
                "round {round}: this round's task runs, and only them"
            );
            assert_eq!(bars.iter().filter(|n| *n == "inc").count() as u64, leaves);
            assert_eq!(bars.iter().filter(|n| *n == "total").count(), 1);
            let p = progress(&s);
            assert_eq!(p["inc"], (incs, 0, 0, incs), "round {round}");
            assert_eq!(p["total"], (rounds, 0, 0, rounds), "round {round}");
            cursor = s["cursor"].as_u64().unwrap();
        }
        // Nothing new: no bar, the same counts.
        let (idle, idle_len) = status_since(addr, cursor);
        assert!(ended_bars(&idle).is_empty());
        assert_eq!(idle["tasks"].as_u64(), Some(cursor));
        assert_eq!(progress(&idle)["inc"], (incs, 0, 0, incs));

        const LEAVES: u64 = 10_000;
        let parts: Vec<Delayed<u64>> = (0..LEAVES).map(|i| delay!(inc(i))).collect();
        assert_eq!(delay!(total(parts)).compute(), (1..=LEAVES).sum::<u64>());
        let (big, _) = status_since(addr, cursor);
        assert_eq!(big["tasks"].as_u64(), Some(cursor + LEAVES + 1));
        let bars = ended_bars(&big).len();
        assert!(bars > 0 && bars <= 5_000, "{bars} bars: at most the cap");
        let (next, next_len) = status_since(addr, big["cursor"].as_u64().unwrap());
        assert!(ended_bars(&next).is_empty());
        assert_eq!(next["tasks"], big["tasks"]);
        assert_eq!(progress(&next)["inc"], (incs + LEAVES, 0, 0, incs + LEAVES));
        assert!(
            next_len < idle_len + 200,
            "after a large run a poll with nothing new answers {next_len} bytes, an idle one \
             {idle_len}"
        );
    });
}

#[delayed]
fn hold(xs: Vec<u64>, gate: Arc<Mutex<mpsc::Receiver<()>>>) -> u64 {
    gate.lock().unwrap().recv().unwrap();
    xs.iter().sum()
}

/// A graph's tasks are shown while it runs: those that ended count in the progress,
/// the one running is a worker's current task and a bar of the stream.
#[test]
fn a_run_going_on_is_shown_live() {
    let _serial = serial();
    watchdog::within(LIMIT, "live run", || {
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        let (open, rx) = mpsc::channel();
        let gate = Arc::new(Mutex::new(rx));
        let parts: Vec<Delayed<u64>> = (0..20).map(|i| delay!(inc(i))).collect();
        let held = delay!(hold(parts, gate));
        let run = std::thread::spawn(move || held.compute());

        // Wait (bounded by the watchdog) until the 20 incs are done and `hold` runs.
        let live = loop {
            let s = status(addr);
            let p = progress(&s);
            if p.get("inc") == Some(&(20, 0, 0, 20)) && s["running"].as_array().unwrap().len() == 1
            {
                break s;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(progress(&live)["hold"], (0, 0, 0, 1));
        assert_eq!(live["tasks"].as_u64(), Some(20));
        let running = &live["running"][0];
        assert_eq!(running["task"], "hold");
        assert!(!running["thread"].as_str().unwrap().is_empty());
        let bars = live["stream"]["bars"].as_array().unwrap();
        assert_eq!(bars.len(), 21, "20 ended and 1 running");
        assert_eq!(
            bars.iter().filter(|b| b[4] == "running").count(),
            1,
            "the running task is a bar"
        );
        let page = get(addr, "/").body;
        let workers = &page[page.find("<table id=\"workers\"").unwrap()..];
        assert!(workers[..workers.find("</table>").unwrap()].contains(">hold</td>"));

        open.send(()).unwrap();
        assert_eq!(run.join().unwrap(), (1..=20).sum::<u64>());
        let done = status(addr);
        assert_eq!(progress(&done)["hold"], (1, 0, 0, 1));
        assert_eq!(progress(&done)["inc"], (20, 0, 0, 20));
        assert_eq!(done["tasks"].as_u64(), Some(21));
        assert_eq!(done["running"].as_array().unwrap().len(), 0);
    });
}

/// The value of `attribute` on `<body>`.
fn body_attribute<'a>(dom: &'a str, attribute: &str) -> Option<&'a str> {
    let body = &dom[dom.find("<body").expect("a body")..];
    let body = &body[..body.find('>').unwrap()];
    let open = format!("{attribute}=\"");
    let at = body.find(&open)? + open.len();
    body[at..].split('"').next()
}

/// A page's progress and per-function tables as the live script last wrote them
/// (each marked `data-polled` by it): by name, (done, failed, cancelled, total) and
/// the runs counted.
fn live_tables(dom: &str) -> (HashMap<String, Counts>, HashMap<String, u64>) {
    for id in ["progress", "functions"] {
        let open = format!("<table id=\"{id}\" data-polled=\"");
        assert!(dom.contains(&open), "the live script did not rewrite #{id}");
    }
    let progress = table_rows(dom, "progress")
        .into_iter()
        .map(|(name, row)| {
            let n = |class| cell(row, class);
            (
                name.to_owned(),
                (n("done"), n("failed"), n("cancelled"), n("total")),
            )
        })
        .collect();
    let runs = table_rows(dom, "functions")
        .into_iter()
        .map(|(name, row)| (name.to_owned(), cell(row, "count")))
        .collect();
    (progress, runs)
}

/// Headless Chromium (Debian's `chromium`; `.ci/run` installs it) loads the live page
/// twice while graphs run: each time its scripts ran to their end (`data-ok`,
/// `data-live`), polled the server at least once without error and rewrote the
/// progress and per-function tables, and the counts it shows (tasks, a function's
/// progress and runs) are larger the second time. Once the graphs stopped, a third
/// load's tables, as the script wrote them, equal the run's counts. Skipped, with a
/// notice, where Chromium is not installed.
#[test]
fn a_browser_shows_the_live_page_and_its_counts_grow() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let _serial = serial();
    watchdog::within(LIMIT, "chromium live", move || {
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let url = dashboard.url();
        let stop = Arc::new(AtomicBool::new(false));
        let computed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let work = {
            let (stop, computed) = (stop.clone(), computed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let parts: Vec<Delayed<u64>> = (0..50).map(|i| delay!(inc(i))).collect();
                    assert_eq!(delay!(total(parts)).compute(), (1..=50).sum::<u64>());
                    computed.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        while computed.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let load_page = |load: u32| {
            let dom = dump_dom(&chromium, &url, 3000, &format!("load{load}"));
            assert_eq!(
                body_attribute(&dom, "data-ok"),
                Some("1"),
                "the page's script"
            );
            assert_eq!(
                body_attribute(&dom, "data-live"),
                Some("1"),
                "the live script"
            );
            assert_eq!(
                body_attribute(&dom, "data-live-error"),
                None,
                "the live script failed"
            );
            let polls: u32 = body_attribute(&dom, "data-polls")
                .expect("the live script polled")
                .parse()
                .unwrap();
            assert!(polls >= 1);
            assert!(text_of(&dom, "live-status").starts_with("live: updated"));
            let count: u64 = text_of(&dom, "task-count").parse().unwrap();
            let first: u64 = body_attribute(&dom, "data-first-tasks")
                .expect("the first update's count")
                .parse()
                .unwrap();
            assert!(first > 0 && count >= first, "{first} then {count}");
            let (progress, runs) = live_tables(&dom);
            println!(
                "load {load}: {polls} polls, {first} then {count} tasks shown; inc {:?}, {} runs",
                progress.get("inc"),
                runs.get("inc").copied().unwrap_or(0)
            );
            (count, progress, runs, first, polls)
        };
        let mut shown = Vec::new();
        for load in 0..2 {
            let (count, progress, runs, first, polls) = load_page(load);
            // Within one load too, while tasks run.
            assert!(polls < 2 || count > first, "{first} then {count}");
            shown.push((count, progress["inc"].0, runs["inc"]));
        }
        assert!(
            shown[1].0 > shown[0].0 && shown[1].1 > shown[0].1 && shown[1].2 > shown[0].2,
            "the counts did not grow: {shown:?}"
        );
        stop.store(true, Ordering::Relaxed);
        work.join().unwrap();
        // At the end, the live tables equal the run's counts.
        let computes = computed.load(Ordering::Relaxed);
        let (count, progress, runs, ..) = load_page(2);
        assert_eq!(count, 51 * computes);
        let expected: HashMap<String, Counts> = [
            ("inc".to_owned(), (50 * computes, 0, 0, 50 * computes)),
            ("total".to_owned(), (computes, 0, 0, computes)),
        ]
        .into();
        assert_eq!(progress, expected);
        let expected: HashMap<String, u64> = [
            ("inc".to_owned(), 50 * computes),
            ("total".to_owned(), computes),
        ]
        .into();
        assert_eq!(runs, expected);
    });
}

/// Tasks named one by one (`load-{i}`, Dask-style keys, as the README's
/// `.named("load-3")`) make one row, `load`, as Dask's dashboard groups keys by
/// prefix: with 100,000 of them and `keep(1000)`, `/api/status` has two progress rows
/// (`load` and the sums' `total`) and two stream functions after every batch, `load`
/// counts every task, the page's tables have two rows, and the recording holds no
/// more than a run of ordinary names would (it used to keep a row per name, megabytes
/// of JSON per poll).
#[test]
fn tasks_named_one_by_one_make_one_row() {
    let _serial = serial();
    watchdog::within(LIMIT, "per-task names", || {
        const KEEP: u64 = 1_000;
        const BATCHES: u64 = 20;
        const PER_BATCH: u64 = 5_000;
        let dashboard = Dashboard::builder()
            .keep(KEEP as usize)
            .serve("127.0.0.1:0")
            .unwrap();
        let addr = dashboard.addr();
        for batch in 0..BATCHES {
            let leaves: Vec<Delayed<u64>> = (0..PER_BATCH)
                .map(|i| {
                    let i = batch * PER_BATCH + i;
                    delayed(|x: u64| x).named(format!("load-{i}")).call(i)
                })
                .collect();
            let first = batch * PER_BATCH;
            let expected: u64 = (first..first + PER_BATCH).sum();
            assert_eq!(delay!(total(leaves)).compute(), expected);
            let s = status(addr);
            let rows = s["progress"].as_array().unwrap();
            assert_eq!(rows.len(), 2, "batch {batch}: {rows:?}");
            let functions = s["stream"]["functions"].as_array().unwrap();
            assert!(functions.len() <= 2, "batch {batch}: {functions:?}");
        }
        let n = BATCHES * PER_BATCH;
        let s = status(addr);
        assert_eq!(s["max_rows"].as_u64(), Some(Dashboard::MAX_ROWS as u64));
        assert_eq!(s["tasks"].as_u64(), Some(n + BATCHES));
        let p = progress(&s);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p["load"], (n, 0, 0, n), "the grouped row counts every task");
        assert_eq!(p["total"], (BATCHES, 0, 0, BATCHES));
        let load = s["progress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "load")
            .unwrap();
        assert_eq!(load["runs"].as_u64(), Some(n));
        assert!(load.get("names").is_none(), "not the folded row");
        // The bound of `a_long_run_keeps_memory_bounded_and_counts_exact`: records
        // kept, one graph drawn, no per-name state.
        let memory = s["memory"].as_u64().unwrap();
        let bound = 2 * KEEP * 48 + 16 * (PER_BATCH + 1) + (64 << 10);
        assert!(
            memory <= bound,
            "the recording holds {memory} bytes (> {bound})"
        );
        // The pages' tables: one row each for `load` and `total`.
        let page = get(addr, "/report.html").body;
        assert_eq!(table_rows(&page, "progress").len(), 2);
        assert_eq!(table_rows(&page, "functions").len(), 2);
        let (_, row) = table_rows(&page, "progress")
            .into_iter()
            .find(|(name, _)| *name == "load")
            .unwrap();
        assert_eq!(cell(row, "done"), n);
        assert!(!page.contains("id=\"rows-note\""), "nothing folded");
    });
}

/// Names that do not group (`t0`, `t1`, … have no key suffix) are bounded too: past
/// `Dashboard::MAX_ROWS` rows, the names that come after count in one row,
/// `(other names)`, which says how many names it holds; the rows together count
/// every task, and a row given before stays.
#[test]
fn names_past_the_row_bound_fold_into_one_row() {
    let _serial = serial();
    watchdog::within(LIMIT, "folded names", || {
        const NAMES: u64 = 2_000;
        const ROUNDS: u64 = 3;
        let max = Dashboard::MAX_ROWS as u64;
        let dashboard = Dashboard::builder().keep(100).serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        // `inc` and `total` take their rows first.
        assert_eq!(delay!(total(vec![delay!(inc(1))])).compute(), 2);
        for _ in 0..ROUNDS {
            let leaves: Vec<Delayed<u64>> = (0..NAMES)
                .map(|i| delayed(|x: u64| x).named(format!("t{i}")).call(i))
                .collect();
            assert_eq!(delay!(total(leaves)).compute(), (0..NAMES).sum::<u64>());
        }
        let s = status(addr);
        let tasks = 2 + ROUNDS * (NAMES + 1);
        assert_eq!(s["tasks"].as_u64(), Some(tasks));
        let rows = s["progress"].as_array().unwrap();
        assert_eq!(
            rows.len() as u64,
            max + 1,
            "at most MAX_ROWS rows and the fold"
        );
        let p = progress(&s);
        assert_eq!(p["inc"], (1, 0, 0, 1));
        assert_eq!(p["total"], (1 + ROUNDS, 0, 0, 1 + ROUNDS));
        assert_eq!(p["t0"], (ROUNDS, 0, 0, ROUNDS));
        let given = max - 2; // t0 … t{max - 3}
        let folded = NAMES - given;
        assert_eq!(p["(other names)"], (ROUNDS * folded, 0, 0, ROUNDS * folded));
        let other = rows.iter().find(|r| r["name"] == "(other names)").unwrap();
        assert_eq!(other["names"].as_u64(), Some(folded));
        assert_eq!(other["names_more"].as_bool(), Some(false));
        let all: u64 = p.values().map(|c| c.3).sum();
        assert_eq!(all, tasks, "the rows together count every task");
        // The page says so too.
        let page = get(addr, "/report.html").body;
        assert_eq!(table_rows(&page, "progress").len() as u64, max + 1);
        assert!(page.contains(&format!("data-names=\"{folded}\">({folded} names)")));
        assert!(page.contains("id=\"rows-note\""));
    });
}

fn queued(x: u64) -> u64 {
    x + 1
}

/// A one-thread client held by a gate, `cancelled` tasks of `queued` cancelled while
/// queued behind it (they never run), then `ran` tasks of `queued` that do run.
fn cancel_while_queued(cancelled: u64, ran: u64) {
    let client = Client::builder().threads(1).build().unwrap();
    let (open, rx) = mpsc::channel();
    let gated = client.submit(gate, (Arc::new(Mutex::new(rx)),));
    while gated.status() == taskweave::Status::Pending {
        std::thread::yield_now();
    }
    let never = client.map(queued, 0..cancelled);
    client.cancel(&never);
    open.send(()).unwrap();
    assert_eq!(gated.result().unwrap(), 1);
    assert!(never.iter().all(|f| f.result().is_err()));
    let later = client.map(queued, 0..ran);
    assert_eq!(client.gather(&later).unwrap().len() as u64, ran);
}

/// Tasks cancelled while queued, before they ever ran, are cancelled in the progress
/// (Dask's "cancelled"), not runs: neither in the task count, the stream, nor the
/// function's runs and times, whose mean they would drag towards zero.
#[test]
fn tasks_cancelled_before_they_ran_are_not_runs() {
    let _serial = serial();
    watchdog::within(LIMIT, "cancelled before running", || {
        let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
        let addr = dashboard.addr();
        cancel_while_queued(20, 3);
        let after = status(addr);
        let row = after["progress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "queued")
            .expect("a row for queued")
            .clone();
        assert_eq!(row["done"].as_u64(), Some(3));
        assert_eq!(row["cancelled"].as_u64(), Some(20));
        assert_eq!(row["total"].as_u64(), Some(23));
        assert_eq!(
            row["runs"].as_u64(),
            Some(3),
            "only the tasks that ran: {row}"
        );
        // The gate and the three that ran.
        assert_eq!(after["tasks"].as_u64(), Some(4));
        let bars = after["stream"]["bars"].as_array().unwrap();
        assert_eq!(bars.len(), 4, "one bar per task run");
    });
}

#[delayed]
fn unwound_part(x: u64) -> u64 {
    x + 1
}

#[delayed]
fn unwound_sum(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

/// An observer whose `graph_started` or `graph_finished` panics: the run fails (with
/// an error that names the observer's hook).
struct PanicsIn {
    started: bool,
}

impl Observer for PanicsIn {
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {
        assert!(!self.started, "the observer panics as the run starts");
    }
    fn graph_finished(&self, _result: Result<(), &TaskError>) {
        panic!("the observer panics as the run ends");
    }
}

/// A run that fails outside its tasks (its own observer panicked, before or after its
/// tasks) still ends in the dashboard: its tasks that ran are counted, those that never ran count
/// as cancelled, and none stays pending. (Found by probing: the run's nodes stayed
/// pending for good, `done 0` of `total 9`, and the task runs of a run that unwound
/// after them were never counted.)
#[test]
fn a_run_that_unwinds_ends_in_the_dashboard() {
    let _serial = serial();
    watchdog::within(LIMIT, "a run that unwinds", || {
        for scheduler in [Scheduler::Sync, Scheduler::Threads] {
            for started in [true, false] {
                let dashboard = Dashboard::serve("127.0.0.1:0").unwrap();
                let parts: Vec<Delayed<u64>> = (0..8).map(|i| delay!(unwound_part(i))).collect();
                let sum = delay!(unwound_sum(parts));
                let options = RunOptions::new()
                    .scheduler(scheduler)
                    .observer(Arc::new(PanicsIn { started }));
                let run = sum.try_compute_with(options);
                assert!(
                    run.is_err(),
                    "{scheduler:?}: the observer's panic fails the run"
                );
                let what = format!(
                    "{scheduler:?}, panic as the run {}",
                    ["ends", "starts"][usize::from(started)]
                );
                let after = status(dashboard.addr());
                let rows = progress(&after);
                // As the run starts nothing ran: every node is cancelled. As it
                // ends every node ran.
                let (part, whole, tasks) = if started {
                    ((0, 0, 8, 8), (0, 0, 1, 1), 0)
                } else {
                    ((8, 0, 0, 8), (1, 0, 0, 1), 9)
                };
                assert_eq!(rows.get("unwound_part"), Some(&part), "{what}: {rows:?}");
                assert_eq!(rows.get("unwound_sum"), Some(&whole), "{what}: {rows:?}");
                assert_eq!(after["tasks"].as_u64(), Some(tasks), "{what}");
                assert!(after["running"].as_array().unwrap().is_empty(), "{what}");
                // Failed at its start, its graph says so; at its end, after every
                // task ran, the dashboard was told the run's end beside the observer
                // that panicked (observers combined are each told), as it was.
                let page = dashboard.to_html();
                assert_eq!(
                    page.contains("the observer panicked in `graph_started`"),
                    started,
                    "{what}: the graph says how it ended"
                );
            }
        }
    });
}
