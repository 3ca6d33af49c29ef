//! The live dashboard's HTTP server: a small read-only HTTP/1.x server on `std::net`,
//! one request per connection, written for a page polled by a browser and for
//! clients that misbehave.
//!
//! One thread accepts connections; each connection is read and answered on a thread
//! of its own, so a client that stalls (connects and sends nothing, sends half a
//! request, or never reads its answer) holds only its own thread, and only until its
//! deadline: [`REQUEST_TIMEOUT`] to send its request head (at most [`MAX_HEAD`]
//! bytes), [`WRITE_TIMEOUT`] to take its answer. At most [`MAX_CONNECTIONS`]
//! connections are served at once; one more takes the place of one answered already,
//! or of the one stalled longest of those sending their request head, or taking their
//! answer, for [`STALLED`] or longer, or, if none has, is answered `503` at once and
//! closed, without a thread. Stopping the server (dropping it) wakes the accepting thread
//! with a connection of its own, closes the listening socket and shuts every open
//! connection down, so that their threads end at once too.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::lock::Recover;

/// How long a client has to send its request's head, from its connection.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to take its answer.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head read (request line and header fields).
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once; more are answered `503 Service Unavailable`, unless
/// one of those has stalled (see [`STALLED`]).
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// How long a connection may go without sending its whole request head, or without
/// taking its whole answer, before a new connection takes its place when every place
/// is taken: clients that connect and send nothing, or never read, 64 of them again
/// every 10 s, kept everyone else out.
const STALLED: Duration = Duration::from_secs(1);
/// How long dropping a server waits for its accepting thread.
const DROP_WAIT: Duration = Duration::from_secs(2);
/// How long a connection is read on after its answer (for the request's rest, so
/// that closing it does not reset it before the client read the answer).
const LINGER: Duration = Duration::from_millis(500);

/// A request, as the handler sees it.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// `GET`, `HEAD`, `POST`, …
    pub(crate) method: &'a str,
    /// The target's path, without its query or fragment.
    pub(crate) path: &'a str,
    /// The target's query, without its `?` (empty if none).
    pub(crate) query: &'a str,
}

/// An answer: status, content type, extra header fields, body. A `HEAD` request is
/// answered with the head alone.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, &'static str)>,
    pub(crate) body: String,
}

impl Response {
    /// A plain-text answer.
    pub(crate) fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }
}

/// Answers requests; called on the connection's thread.
pub(crate) type Handler = Arc<dyn Fn(&Request<'_>) -> Response + Send + Sync>;

/// The open connections, by number: a handle to each, for shutting them down.
#[derive(Default)]
struct Connections {
    open: HashMap<u64, Connection>,
    next: u64,
    stopped: bool,
}

/// An open connection, as the accepting thread keeps it.
struct Connection {
    /// A handle of its stream, to shut it down.
    stream: TcpStream,
    /// When it entered its phase.
    since: Instant,
    /// Where it is: a client that stalls reading its head, or taking its answer,
    /// holds its place for up to [`REQUEST_TIMEOUT`] or [`WRITE_TIMEOUT`].
    phase: Phase,
}

/// Where a connection is, as its thread tells the accepting one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Sending its request head.
    Reading,
    /// Being answered by the handler: not stalled, whatever the time.
    Handling,
    /// Taking its answer.
    Writing,
    /// Answered: its thread reads what is left of the request, then closes it.
    Answered,
}

impl Connections {
    /// Makes room for one more connection when all [`MAX_CONNECTIONS`] are taken: one
    /// answered already, or else the one stalled longest of those still sending their
    /// request head, or taking their answer, after [`STALLED`], is shut down and
    /// forgotten. False when none has stalled that long: every place serves a live
    /// request. (Clients that never read their answer held every place for
    /// [`WRITE_TIMEOUT`], again each time they came back.)
    fn evict_stalled(&mut self) -> bool {
        let stalled = self
            .open
            .iter()
            .filter(|(_, c)| match c.phase {
                Phase::Answered => true,
                Phase::Reading | Phase::Writing => c.since.elapsed() >= STALLED,
                Phase::Handling => false,
            })
            .min_by_key(|(_, c)| (c.phase != Phase::Answered, c.since))
            .map(|(id, _)| *id);
        let Some(id) = stalled else {
            return false;
        };
        if let Some(connection) = self.open.remove(&id) {
            let _ = connection.stream.shutdown(Shutdown::Both);
        }
        true
    }
}

/// A running server; dropping it stops it.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Connections>>,
    accepting: Option<JoinHandle<()>>,
    /// Told when the accepting thread ends (in a mutex: the server is shared).
    accepted_all: Mutex<mpsc::Receiver<()>>,
}

impl Server {
    /// Binds `addrs` (the first that binds) and serves `handler` there.
    pub(crate) fn start(addrs: &[SocketAddr], handler: Handler) -> io::Result<Server> {
        let listener = TcpListener::bind(addrs)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Connections::default()));
        let (done, accepted_all) = mpsc::channel();
        let accepting = {
            let (stop, connections) = (stop.clone(), connections.clone());
            std::thread::Builder::new()
                .name("taskweave-dashboard".to_owned())
                .spawn(move || {
                    accept(&listener, &stop, &connections, &handler);
                    drop(listener);
                    let _ = done.send(());
                })?
        };
        Ok(Server {
            addr,
            stop,
            connections,
            accepting: Some(accepting),
            accepted_all: Mutex::new(accepted_all),
        })
    }

    /// The address bound.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections are open now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn open_connections(&self) -> usize {
        self.connections.lock().recover().open.len()
    }
}

/// The accepting thread: until stopped.
fn accept(
    listener: &TcpListener,
    stop: &AtomicBool,
    connections: &Arc<Mutex<Connections>>,
    handler: &Handler,
) {
    let mut failures = 0u32;
    while !stop.load(Ordering::Acquire) {
        let stream = match listener.accept() {
            Ok((stream, _)) => {
                failures = 0;
                stream
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            // Out of descriptors, a connection reset before it was taken, …: wait a
            // little (longer each time in a row) rather than spin.
            Err(_) => {
                failures = (failures + 1).min(10);
                std::thread::sleep(Duration::from_millis(5 << failures.min(6)));
                continue;
            }
        };
        if stop.load(Ordering::Acquire) {
            break;
        }
        let id = {
            let mut open = connections.lock().recover();
            let full = open.open.len() >= MAX_CONNECTIONS && !open.evict_stalled();
            if open.stopped || full {
                drop(open);
                busy(stream);
                continue;
            }
            let Ok(handle) = stream.try_clone() else {
                continue;
            };
            let id = open.next;
            open.next += 1;
            let connection = Connection {
                stream: handle,
                since: Instant::now(),
                phase: Phase::Reading,
            };
            open.open.insert(id, connection);
            id
        };
        let (their_connections, their_handler) = (connections.clone(), handler.clone());
        let spawned = std::thread::Builder::new()
            .name("taskweave-dashboard-connection".to_owned())
            .spawn(move || {
                // Forgets the connection however the thread ends.
                let open = Open(&their_connections, id);
                serve(stream, &*their_handler, |phase| open.enter(phase));
            });
        if spawned.is_err() {
            // The stream goes with the closure: closed.
            connections.lock().recover().open.remove(&id);
        }
    }
}

/// Removes connection `.1` from the open ones when dropped.
struct Open<'a>(&'a Mutex<Connections>, u64);

impl Open<'_> {
    /// It enters `phase`, from now.
    fn enter(&self, phase: Phase) {
        if let Some(connection) = self.0.lock().recover().open.get_mut(&self.1) {
            connection.phase = phase;
            connection.since = Instant::now();
        }
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.lock().recover().open.remove(&self.1);
    }
}

/// Answers a connection beyond [`MAX_CONNECTIONS`] on the accepting thread without
/// waiting for it: one try to write a short `503`, then closed. What of the request
/// has arrived is read first (without waiting for more): closed with bytes unread, the
/// socket would send a reset, and the client could lose the answer to it.
fn busy(mut stream: TcpStream) {
    let body = "the dashboard serves too many connections: try again\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let _ = stream.write(answer.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 4096];
    for _ in 0..MAX_HEAD / sink.len() {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Why no request head was read.
enum Unread {
    /// The client closed or reset the connection (with part of a head or none).
    Closed { partial: bool },
    /// Its time ran out.
    TimedOut,
    /// The head is longer than [`MAX_HEAD`].
    TooLarge,
}

/// One connection: read one request, answer it, close. `enter` is told each phase
/// after the first (reading the head).
fn serve(
    mut stream: TcpStream,
    handler: &(dyn Fn(&Request<'_>) -> Response + Send + Sync),
    enter: impl Fn(Phase),
) {
    let _ = stream.set_nodelay(true);
    let head = read_head(&mut stream, Instant::now() + REQUEST_TIMEOUT);
    enter(Phase::Handling);
    let answer = match head {
        Ok(head) => match parse(&head) {
            Ok(request) => {
                let head_only = request.method == "HEAD";
                let response = handler(&request);
                encode(&response, head_only)
            }
            Err(status) => encode(&error(status), false),
        },
        Err(Unread::Closed { partial: false }) => return,
        Err(Unread::Closed { partial: true }) => encode(&error(400), false),
        Err(Unread::TimedOut) => encode(&error(408), false),
        Err(Unread::TooLarge) => encode(&error(431), false),
    };
    enter(Phase::Writing);
    if write_by(&mut stream, &answer, Instant::now() + WRITE_TIMEOUT).is_err() {
        return;
    }
    enter(Phase::Answered);
    // Then close: the end of the answer for the client. Bytes of the request left
    // unread would make the close a reset that may lose the answer, so read them
    // first, for a moment.
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Reads up to the end of a request head (an empty line), by `deadline`.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, Unread> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Unread::TimedOut);
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return Err(Unread::Closed {
                partial: !head.is_empty(),
            });
        }
        let n = match stream.read(&mut buffer) {
            Ok(0) => {
                return Err(Unread::Closed {
                    partial: !head.is_empty(),
                })
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Unread::TimedOut)
            }
            Err(_) => {
                return Err(Unread::Closed {
                    partial: !head.is_empty(),
                })
            }
        };
        // Look for the end from just before the new bytes.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buffer[..n]);
        if let Some(end) = end_of_head(&head[from..]) {
            head.truncate(from + end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(Unread::TooLarge);
        }
    }
}

/// Where the head's empty line ends in `bytes` (`\r\n\r\n`, or `\n\n`), if there.
fn end_of_head(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The request in a head, or the status of the error: `400` (not a request), `505`
/// (not HTTP/1.x).
fn parse(head: &[u8]) -> Result<Request<'_>, u16> {
    let head = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = head
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let line = lines.next().ok_or(400u16)?;
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(400);
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !token(method) || !target.starts_with('/') {
        return Err(400);
    }
    let Some(minor) = version.strip_prefix("HTTP/") else {
        return Err(400);
    };
    if !matches!(minor, "1.0" | "1.1") {
        return Err(505);
    }
    for field in lines.take_while(|line| !line.is_empty()) {
        match field.split_once(':') {
            Some((name, _)) if !name.is_empty() && !name.contains([' ', '\t']) => {}
            _ => return Err(400),
        }
    }
    let target = target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method,
        path,
        query,
    })
}

/// The answer to a request that could not be read.
fn error(status: u16) -> Response {
    let why = match status {
        408 => "the request did not come in time\n",
        431 => "the request's head is too large\n",
        505 => "only HTTP/1.0 and HTTP/1.1\n",
        _ => "not an HTTP request\n",
    };
    Response::text(status, why)
}

/// A status code's reason phrase.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The answer's bytes: the head, then the body unless `head_only`. Every answer
/// closes its connection.
fn encode(response: &Response, head_only: bool) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut head = String::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if !head_only {
        bytes.extend_from_slice(response.body.as_bytes());
    }
    bytes
}

/// Writes all of `bytes` by `deadline`.
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accepting thread with a connection (to loopback where the address
        // is unspecified); it sees the stop and closes the socket.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        // Every open connection ends now: its reads and writes fail at once.
        {
            let mut open = self.connections.lock().recover();
            open.stopped = true;
            for connection in open.open.values() {
                let _ = connection.stream.shutdown(Shutdown::Both);
            }
        }
        let ended = self
            .accepted_all
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .recv_timeout(DROP_WAIT)
            .is_ok();
        if let Some(accepting) = self.accepting.take() {
            if ended || accepting.is_finished() {
                let _ = accepting.join();
            }
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_or_are_refused() {
        let ok = parse(b"GET /api/status?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!((ok.method, ok.path), ("GET", "/api/status"));
        assert_eq!(parse(b"HEAD / HTTP/1.0\n\n").unwrap().method, "HEAD");
        for (bad, status) in [
            (&b"this is not HTTP\r\n\r\n"[..], 400),
            (b"GET\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
            (b"\x00\xff\xfe\x01\r\n\r\n", 400),
            (b"GET / HTTP/9.9\r\n\r\n", 505),
            (b"GET nowhere HTTP/1.1\r\n\r\n", 400),
        ] {
            assert_eq!(parse(bad).map(|_| ()), Err(status), "{bad:?}");
        }
        assert_eq!(end_of_head(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(end_of_head(b"GET / HTTP/1.1\r\n"), None);
    }

    /// A request answered: its status line's code.
    fn status_of(addr: SocketAddr) -> u16 {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        text.split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0)
    }

    /// Every place taken by clients that connected and sent nothing: a request that
    /// comes once they have stalled for a while takes the oldest one's place and is
    /// answered (it was answered `503` for as long as they held on, 10 s each).
    #[test]
    fn a_request_takes_the_place_of_a_stalled_connection() {
        let handler: Handler = Arc::new(|_: &Request<'_>| Response::text(200, "ok"));
        let server = Server::start(&["127.0.0.1:0".parse().unwrap()], handler).unwrap();
        let addr = server.addr();
        let stalled: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        while server.open_connections() < MAX_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(STALLED + Duration::from_millis(100));
        assert_eq!(status_of(addr), 200);
        assert_eq!(status_of(addr), 200);
        drop(stalled);
    }

    /// A connection answered `503` whose request had arrived reads the whole answer:
    /// closed with the request unread, it was reset, and the client read an error
    /// (`ECONNRESET`) rather than the `503`.
    #[test]
    fn a_busy_answer_reaches_a_client_that_sent_its_request() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let (accepted, _) = listener.accept().unwrap();
        // The request is in the accepted socket's buffer before it is answered.
        std::thread::sleep(Duration::from_millis(50));
        busy(accepted);
        // The reset arrives after the answer: reading at once could still see it all.
        std::thread::sleep(Duration::from_millis(50));
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 503 ") && answer.ends_with(b"try again\n"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// With every place taken, a connection answered already gives its place first,
    /// then the one stalled longest reading its head or taking its answer; one being
    /// answered by the handler never does. (Clients that never read their answer were
    /// never evicted: 64 of them kept everyone out for 10 s.)
    #[test]
    fn a_full_server_evicts_answered_then_stalled_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ago = |ms: u64| Instant::now() - Duration::from_millis(ms);
        let mut open = Connections::default();
        let mut clients = Vec::new();
        let mut add = |open: &mut Connections, phase: Phase, since: Instant| {
            clients.push(TcpStream::connect(addr).unwrap());
            let (stream, _) = listener.accept().unwrap();
            let id = open.next;
            open.next += 1;
            open.open.insert(
                id,
                Connection {
                    stream,
                    since,
                    phase,
                },
            );
            id
        };
        let handling = add(&mut open, Phase::Handling, ago(60_000));
        let writing = add(&mut open, Phase::Writing, ago(5_000));
        let reading = add(&mut open, Phase::Reading, ago(3_000));
        let fresh = add(&mut open, Phase::Writing, ago(0));
        let answered = add(&mut open, Phase::Answered, ago(0));
        let left = |open: &Connections| {
            let mut ids: Vec<u64> = open.open.keys().copied().collect();
            ids.sort_unstable();
            ids
        };
        assert!(open.evict_stalled());
        assert_eq!(left(&open), [handling, writing, reading, fresh]);
        assert!(open.evict_stalled());
        assert_eq!(left(&open), [handling, reading, fresh]);
        assert!(open.evict_stalled());
        assert_eq!(left(&open), [handling, fresh]);
        assert!(
            !open.evict_stalled(),
            "a fresh writer and a handled request stay"
        );
        let _ = answered;
    }

    #[test]
    fn a_stopped_server_closes_its_connections() {
        let handler: Handler = Arc::new(|_: &Request<'_>| Response::text(200, "ok"));
        let server = Server::start(&["127.0.0.1:0".parse().unwrap()], handler).unwrap();
        let addr = server.addr();
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // Served once the accepting thread took it.
        while server.open_connections() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(server);
        let mut sink = Vec::new();
        // Ended by the server (end of stream or reset), not by the 30 s timeout.
        if let Err(error) = idle.read_to_end(&mut sink) {
            assert!(
                !matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ),
                "{error}"
            );
        }
    }
}
