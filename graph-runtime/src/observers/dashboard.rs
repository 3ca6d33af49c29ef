//! The live dashboard (Dask's dashboard): the performance report's page, served over
//! HTTP while tasks run and updated every second by its script, which polls a JSON
//! endpoint. The recording and the page are the report's (`observers/report.rs`), the
//! server is `observers/http.rs`: this module joins them.
//!
//! A [`Dashboard`] registers an ambient observer, as a report does, so it watches
//! every graph run and every client's tasks of the process while it lives; with none
//! active a run pays one relaxed load. Its memory is bounded: counts per row, kept as
//! tasks end, and the most recent task runs for the stream (50,000 by default,
//! [`DashboardBuilder::keep`]). Rows are the report's: task names grouped by key
//! prefix (`load-3` → `load`, as Dask's `key_split`; `report::row_name`), at most
//! [`Dashboard::MAX_ROWS`] of them, the names beyond folded into one row, so that tasks
//! named one by one do not make a row each. Each connection is served on a thread of
//! its own with deadlines, so a client that stalls holds only its own connection.
//! Dropping the dashboard stops the server (the socket closes, open connections are
//! shut down) and the recording.

use std::fmt::{self, Debug};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::observers::http::{Handler, Request, Response, Server};
use crate::observers::report::{Recording, View, MAX_ROWS};

/// The page, its data and a copy of it as a report: what the server answers.
const PAGE: &str = "/";
const STATUS: &str = "/api/status";
const REPORT: &str = "/report.html";

/// Serves the performance report's page live over HTTP while it lives (Dask's
/// dashboard): the task stream of the last ten seconds, progress and times per
/// function, tasks per second and each thread's current task, updated every second.
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
/// [`ClientBuilder::dashboard`](crate::ClientBuilder::dashboard) owns one. Unlike a
/// report its memory is bounded, however long it runs: it keeps counts and times per
/// function (updated as tasks end) and only the most recent task runs for the task
/// stream ([`Dashboard::DEFAULT_KEEP`], or [`DashboardBuilder::keep`]; about 48 bytes each), plus
/// the graphs of the first computes it draws.
///
/// Its rows ("functions", as a report's) are task names grouped by their key prefix,
/// as Dask's dashboard groups keys (its `key_split`): a name's words split at `-` are
/// kept up to the first that is not letters only (a number, a hash), so tasks named
/// one by one (`.named(format!("load-{i}"))`) all count in one row, `load`; a
/// stringified tuple key `('sum-abc', 0)` counts as `sum`, a bare 32-digit hash as
/// `data`, and ordinary names (`inc`, `read-csv`) are their own rows. There are at
/// most [`Dashboard::MAX_ROWS`] rows: the names that come after fold into one row,
/// `(other names)`, which says how many names it holds. The graphs, the task stream
/// and the workers' table show each task by its row's name.
///
/// The server is read-only and answers `GET` (and `HEAD`) of three paths: `/` (the
/// live page), `/api/status` (its data, JSON) and `/report.html` (the page as a
/// report, without the live script); anything else is `404 Not Found`, other
/// methods `405`. Each connection is served on a thread of its own and closed after
/// one answer; a client that sends nothing, or half a request, or never reads its
/// answer is dropped after 10 seconds and never holds up the others; beyond 64
/// connections at once, a new one takes the place of one answered already or of the
/// one stalled longest of those that have sent no whole request, or taken no whole
/// answer, for a second, or else is answered `503` at once. [`serve`](Self::serve)
/// binds only loopback addresses, so only this machine's users see the page;
/// [`serve_public`](Self::serve_public) binds any.
///
/// Dropping it stops the server (the port is free again at once, open connections
/// are shut down) and the recording. Needs the cargo feature `dashboard`.
#[must_use = "a `Dashboard` serves while it lives: bind it (`let dashboard = …`)"]
pub struct Dashboard {
    // The server first: dropped (stopped) before the recording.
    server: Server,
    recording: Recording,
}

/// How to serve a [`Dashboard`]: how many task runs it keeps, and whether it may
/// bind beyond loopback. [`Dashboard::builder`] makes one.
///
/// ```no_run
/// use graph_runtime::Dashboard;
///
/// let dashboard = Dashboard::builder().keep(200_000).serve("127.0.0.1:8787")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DashboardBuilder {
    keep: usize,
    public: bool,
}

impl Default for DashboardBuilder {
    fn default() -> Self {
        DashboardBuilder {
            keep: Dashboard::DEFAULT_KEEP,
            public: false,
        }
    }
}

impl DashboardBuilder {
    /// Keeps the `records` most recent task runs for the task stream (at least 1;
    /// [`Dashboard::DEFAULT_KEEP`] unless told): the page draws them, the counts and times per
    /// function cover every task whatever this bound.
    pub fn keep(mut self, records: usize) -> Self {
        self.keep = records.max(1);
        self
    }

    /// Binds any address, not only loopback: see [`Dashboard::serve_public`] and
    /// its warning.
    pub fn public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }

    /// Starts recording and serves the dashboard on `addr`: as
    /// [`Dashboard::serve`], or [`Dashboard::serve_public`] if [`public`](Self::public).
    pub fn serve(self, addr: impl ToSocketAddrs + Debug) -> io::Result<Dashboard> {
        // The resolver's errors ("invalid socket address syntax") do not say which.
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("could not resolve the dashboard's address {addr:?}: {error}"),
                )
            })?
            .collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the dashboard's address {addr:?} resolves to nothing"),
            ));
        }
        if !self.public {
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
        }
        let recording = Recording::start(true, self.keep);
        let view = recording.view().clone();
        let handler: Handler = Arc::new(move |request: &Request<'_>| respond(&view, request));
        // The socket's error alone ("Address already in use") does not say which
        // address: a second dashboard on a taken port should name it.
        let server = Server::start(&addrs, handler).map_err(|error| {
            let tried: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            io::Error::new(
                error.kind(),
                format!("could not bind {}: {error}", tried.join(" or ")),
            )
        })?;
        Ok(Dashboard { server, recording })
    }
}

impl Dashboard {
    /// The task runs a dashboard keeps for its task stream, unless told otherwise
    /// ([`DashboardBuilder::keep`]).
    pub const DEFAULT_KEEP: usize = 50_000;

    /// The most rows (task names grouped by key prefix) with counts of their own; the
    /// names that come after count in one more row, `(other names)` (see
    /// [`Dashboard`]). The same bound holds for a
    /// [`PerformanceReport`](crate::PerformanceReport)'s tables.
    pub const MAX_ROWS: usize = MAX_ROWS;

    /// Starts recording and serves the dashboard on `addr`, which must be a loopback
    /// address (`127.0.0.1:8787`, `[::1]:8787`, `localhost:8787`); port 0 picks a free
    /// port ([`addr`](Self::addr) tells which). An address that is not loopback is an
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) error: see
    /// [`serve_public`](Self::serve_public). Other errors are the socket's (the port
    /// is taken, say: [`AddrInUse`](io::ErrorKind::AddrInUse)), their message naming
    /// the address. Keeps [`Dashboard::DEFAULT_KEEP`] task runs for the stream; see
    /// [`builder`](Self::builder) for another bound.
    pub fn serve(addr: impl ToSocketAddrs + Debug) -> io::Result<Dashboard> {
        DashboardBuilder::default().serve(addr)
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
    pub fn serve_public(addr: impl ToSocketAddrs + Debug) -> io::Result<Dashboard> {
        DashboardBuilder::default().public(true).serve(addr)
    }

    /// A builder, to choose how many task runs the dashboard keeps
    /// ([`DashboardBuilder::keep`]).
    pub fn builder() -> DashboardBuilder {
        DashboardBuilder::default()
    }

    /// The address served: the port chosen, when asked for port 0.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The page's address, `http://127.0.0.1:PORT/` (an unspecified address such as
    /// `0.0.0.0` is given as loopback, where this machine reaches it).
    pub fn url(&self) -> String {
        let mut addr = self.addr();
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
    /// recorded), `kept` and `keep` (task runs kept for the stream, and the bound),
    /// `memory` (bytes the recording holds, about), `computes`, `rate` and
    /// `recent_rate` (tasks per second, overall and in the last second), `cursor` (the
    /// number of the next task run recorded: `/api/status?since=CURSOR` answers with
    /// the stream's bars of only the task runs recorded since, as the live page
    /// asks), `max_rows` ([`Dashboard::MAX_ROWS`]), `progress`
    /// (per row, at most `max_rows` and the row `(other names)`: `name`, `done`,
    /// `failed`, `cancelled`, `total`, and its runs' `runs`, `errors`, `total_us`,
    /// `mean_us`, `max_us`; the row `(other names)` also has `names`, how many
    /// distinct names it holds, and `names_more`, true if it holds more than it
    /// counted, 10,000), `running` (each running
    /// task's `thread`, `task`, and how long it has run, `for`) and `stream` (the
    /// last ten seconds' bars: `[lane, function, start µs, duration µs, outcome]`,
    /// starts from `from_us`, with `lanes`, `lane_ids` (the threads' numbers) and
    /// `functions`).
    pub fn status_json(&self) -> String {
        self.recording.view().status_json(0)
    }

    /// Writes the page as a performance report (no live script) to `path`, as it is
    /// now; the dashboard goes on. Returns the path.
    pub fn write_report(&self, path: impl AsRef<Path>) -> io::Result<PathBuf> {
        let path = path.as_ref();
        std::fs::write(path, self.recording.view().page(false))?;
        Ok(path.to_path_buf())
    }
}

/// The task run number a poll of `/api/status` asks for runs from: its query's
/// `since` (the `cursor` of the answer before), 0 if none or not a number.
fn since(query: &str) -> u64 {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("since="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Answers one request; a panic drawing the page is a `500`.
fn respond(view: &View, request: &Request<'_>) -> Response {
    let get = matches!(request.method, "GET" | "HEAD");
    let drawn = panic::catch_unwind(AssertUnwindSafe(|| match (get, request.path) {
        (true, PAGE | "/index.html") => (200, "text/html; charset=utf-8", view.page(true)),
        (true, STATUS) => (
            200,
            "application/json",
            view.status_json(since(request.query)),
        ),
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
    let mut headers = vec![
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ];
    if status == 405 {
        headers.push(("Allow", "GET, HEAD"));
    }
    Response {
        status,
        content_type,
        headers,
        body,
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}
