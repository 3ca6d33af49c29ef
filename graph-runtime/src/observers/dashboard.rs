//! The live dashboard (Dask's dashboard): the performance report's page, served over
//! HTTP while tasks run and updated every second by its script, which polls a JSON
//! endpoint. The recording and the page are the report's (`observers/report.rs`):
//! this module is only the server.
//!
//! A [`Dashboard`] registers an ambient observer, as a report does, so it watches
//! every graph run and every client's tasks of the process while it lives; with none
//! active a run pays one relaxed load. The server is `tiny_http`: a thread of its own
//! accepts connections and reads requests, and [`WORKERS`] threads of the dashboard
//! answer them, each waiting at most [`POLL`] at a time so that it sees the dashboard
//! end. Dropping the dashboard stops them and closes the socket; a thread stuck
//! writing to a client that reads nothing is waited for at most [`DROP_WAIT`], then
//! left to end on its own.
//!
//! Known limit of `tiny_http` 0.12: it reads each connection on a thread of its own
//! pool, with no read timeout, so a client that connects and sends nothing holds one
//! such thread until it goes; and its pool may queue a connection that arrives in a
//! burst of others instead of starting a thread for it, until one of its threads is
//! free. With clients that send their requests (a browser polling the page, each
//! request on a connection the server closes after answering) threads free up at
//! once; with many idle connections held open, a request may wait for the next one
//! to end. The dashboard's own threads never wait on a connection.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::observers::report::{Recording, View};

/// Threads answering requests (a slow client holds one).
const WORKERS: usize = 4;
/// How long an answering thread waits for a request before it checks whether the
/// dashboard ended.
const POLL: Duration = Duration::from_millis(100);
/// How long dropping a dashboard waits for its threads.
const DROP_WAIT: Duration = Duration::from_secs(2);

/// The page, its data and a copy of it as a report: what the server answers.
const PAGE: &str = "/";
const STATUS: &str = "/api/status";
const REPORT: &str = "/report.html";

/// Serves the performance report's page live over HTTP while it lives (Dask's
/// dashboard): the task stream of the last ten seconds, progress per function, tasks
/// per second and each thread's current task, updated every second.
///
/// ```no_run
/// use graph_runtime::{delayed, Dashboard};
///
/// let dashboard = Dashboard::serve("127.0.0.1:0")?; // port 0: any free port
/// println!("dashboard: {}", dashboard.url());        // open it in a browser
/// let inc = delayed(|x: u64| x + 1);
/// let total = delayed(|xs: Vec<u64>| xs.iter().sum::<u64>());
/// let parts: Vec<_> = (0..100).map(|i| inc.call(i)).collect();
/// assert_eq!(total.call(parts).compute(), 5050);
/// dashboard.write_report("report.html")?; // the page as it is now, kept as a file
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Like a [`PerformanceReport`](crate::PerformanceReport) it records every graph run
/// (`graph!`, `Delayed`, a client's `compute`) and every task of every
/// [`Client`](crate::Client) of the process while it lives; a client built with
/// [`ClientBuilder::dashboard`](crate::ClientBuilder::dashboard) owns one. It keeps
/// every record until dropped (about 50 bytes per task run), as a report does.
///
/// The server is read-only and answers `GET` (and `HEAD`) of three paths: `/` (the
/// live page), `/api/status` (its data, JSON) and `/report.html` (the page as a
/// report, without the live script); anything else is `404 Not Found`, other
/// methods `405`. [`serve`](Self::serve) binds only loopback addresses, so only this
/// machine's users see the page; [`serve_public`](Self::serve_public) binds any.
///
/// Dropping it stops the server (the port is free again once its accepting thread
/// has seen it, at once in practice) and the recording. Needs the cargo feature
/// `dashboard`.
#[must_use = "a `Dashboard` serves while it lives: bind it (`let dashboard = …`)"]
pub struct Dashboard {
    addr: SocketAddr,
    recording: Recording,
    server: Option<Arc<tiny_http::Server>>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    /// One message per answering thread that ended (in a mutex: the dashboard is
    /// shared between threads, inside a client).
    exited: Mutex<mpsc::Receiver<()>>,
}

impl Dashboard {
    /// Starts recording and serves the dashboard on `addr`, which must be a loopback
    /// address (`127.0.0.1:8787`, `[::1]:8787`, `localhost:8787`); port 0 picks a free
    /// port ([`addr`](Self::addr) tells which). An address that is not loopback is an
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) error: see
    /// [`serve_public`](Self::serve_public). Other errors are the socket's (the port
    /// is taken, say).
    pub fn serve(addr: impl ToSocketAddrs) -> io::Result<Dashboard> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the dashboard's address resolves to nothing",
            ));
        }
        if let Some(outside) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the dashboard binds only loopback addresses by default, not {outside}; \
                     use `Dashboard::serve_public` (or `ClientBuilder::dashboard_public`) to \
                     serve other machines"
                ),
            ));
        }
        Dashboard::start(&addrs)
    }

    /// Like [`serve`](Self::serve), on any address (`0.0.0.0:8787` serves every
    /// interface).
    ///
    /// **Warning**: anyone who can reach the port can read the page, without
    /// authentication and unencrypted: the names and call sites of your tasks (file
    /// paths of your sources), how long they ran, the machine's host name, thread
    /// names and memory use. The server changes nothing and runs nothing, but bind
    /// beyond loopback only on a network you trust (or reach a loopback dashboard
    /// through an SSH tunnel instead: `ssh -L 8787:127.0.0.1:8787 host`).
    pub fn serve_public(addr: impl ToSocketAddrs) -> io::Result<Dashboard> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        Dashboard::start(&addrs)
    }

    fn start(addrs: &[SocketAddr]) -> io::Result<Dashboard> {
        let server = tiny_http::Server::http(addrs).map_err(io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the dashboard's server is not on an IP address"))?;
        let server = Arc::new(server);
        let recording = Recording::start(true);
        let stop = Arc::new(AtomicBool::new(false));
        let (exited_tx, exited) = mpsc::channel();
        let exited = Mutex::new(exited);
        let mut workers = Vec::with_capacity(WORKERS);
        for i in 0..WORKERS {
            let (their_server, their_stop, view, done) = (
                server.clone(),
                stop.clone(),
                recording.view().clone(),
                exited_tx.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("taskweave-dashboard-{i}"))
                .spawn(move || {
                    answer(&their_server, &their_stop, &view);
                    drop(their_server);
                    let _ = done.send(());
                });
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(error) => {
                    // Those started end with the partial dashboard.
                    drop(Dashboard {
                        addr,
                        recording,
                        server: Some(server),
                        stop,
                        workers,
                        exited,
                    });
                    return Err(error);
                }
            }
        }
        Ok(Dashboard {
            addr,
            recording,
            server: Some(server),
            stop,
            workers,
            exited,
        })
    }

    /// The address served: the port chosen, when asked for port 0.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, `http://127.0.0.1:PORT/` (an unspecified address such as
    /// `0.0.0.0` is given as loopback, where this machine reaches it).
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}/")
    }

    /// The live page as the server would answer it now.
    pub fn to_html(&self) -> String {
        self.recording.view().page(true)
    }

    /// The data the live page polls (`/api/status`), as JSON: `tasks` (task runs
    /// recorded), `computes`, `rate` and `recent_rate` (tasks per second, overall and
    /// in the last second), `progress` (per function: `name`, `done`, `failed`,
    /// `cancelled`, `total`), `running` (each running task's `thread`, `task`, and
    /// how long it has run, `for`) and `stream` (the last ten seconds' bars:
    /// `[lane, function, start µs, duration µs, outcome]`, with `lanes` and
    /// `functions`).
    pub fn status_json(&self) -> String {
        self.recording.view().status_json()
    }

    /// Writes the page as a performance report (no live script) to `path`, as it is
    /// now; the dashboard goes on. Returns the path.
    pub fn write_report(&self, path: impl AsRef<Path>) -> io::Result<PathBuf> {
        let path = path.as_ref();
        std::fs::write(path, self.recording.view().page(false))?;
        Ok(path.to_path_buf())
    }
}

/// One answering thread: requests until the dashboard stops or the server fails.
fn answer(server: &tiny_http::Server, stop: &AtomicBool, view: &View) {
    while !stop.load(Ordering::Acquire) {
        match server.recv_timeout(POLL) {
            Ok(Some(request)) => respond(view, request),
            Ok(None) => {}
            // The accepting thread ended (the socket failed): nothing more will come.
            Err(_) => break,
        }
    }
}

/// Answers one request; a panic drawing the page is a `500`, never the thread's end.
fn respond(view: &View, request: tiny_http::Request) {
    use tiny_http::Method;
    let path = request.url().split(['?', '#']).next().unwrap_or("");
    let get = matches!(request.method(), Method::Get | Method::Head);
    let drawn = panic::catch_unwind(AssertUnwindSafe(|| match (get, path) {
        (true, PAGE | "/index.html") => (200, "text/html; charset=utf-8", view.page(true)),
        (true, STATUS) => (200, "application/json", view.status_json()),
        (true, REPORT) => (200, "text/html; charset=utf-8", view.page(false)),
        (true, _) => (404, "text/plain; charset=utf-8", "not found\n".to_owned()),
        (false, _) => (
            405,
            "text/plain; charset=utf-8",
            "the dashboard is read-only: GET or HEAD only\n".to_owned(),
        ),
    }));
    let (status, content_type, body) = drawn.unwrap_or_else(|_| {
        (
            500,
            "text/plain; charset=utf-8",
            "the page could not be drawn\n".to_owned(),
        )
    });
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    for (field, value) in [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        // One request per connection: no thread of the server waits on an idle one.
        ("Connection", "close"),
    ] {
        if let Ok(header) = tiny_http::Header::from_bytes(field, value) {
            response.add_header(header);
        }
    }
    if status == 405 {
        if let Ok(header) = tiny_http::Header::from_bytes("Allow", "GET, HEAD") {
            response.add_header(header);
        }
    }
    // The client may have gone: nothing to do about it.
    let _ = request.respond(response);
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(server) = &self.server {
            server.unblock();
        }
        // Each thread sees the stop within `POLL`, unless it is writing to a client
        // that reads nothing: wait for them up to `DROP_WAIT`, then leave those.
        let deadline = Instant::now() + DROP_WAIT;
        let mut ended = 0;
        let exited = self.exited.get_mut().unwrap_or_else(|e| e.into_inner());
        while ended < self.workers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match exited.recv_timeout(left) {
                Ok(()) => ended += 1,
                Err(_) => break,
            }
        }
        let all = ended == self.workers.len();
        for worker in self.workers.drain(..) {
            // A thread that told it ended returns at once.
            if all || worker.is_finished() {
                let _ = worker.join();
            }
        }
        // The last reference (unless a thread was left) closes the socket.
        drop(self.server.take());
        self.recording.stop();
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
