//! The server's HTTP/1.1: one thread per connection, its requests read and
//! answered in order (keep-alive), bodies by `Content-Length` or chunked.
//!
//! tiny_http, used before, handed connections to a pool whose `spawn` could
//! queue one behind a thread that was about to serve a kept-alive connection
//! for as long as it lived: concurrent clients that reuse connections (ureq,
//! `ouro sample --base-url`) saw requests sit unread until another connection
//! came and went. A thread of its own per connection cannot starve that way.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest request head (request line and headers).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// A kept-alive connection with no request for this long is closed, so idle
/// clients do not hold threads forever.
const IDLE: Duration = Duration::from_secs(300);
/// Once a request has begun, its head must be in within this long: each byte
/// restarts the idle timeout, so a client trickling bytes would otherwise hold
/// its thread for ever.
const HEAD_DEADLINE: Duration = Duration::from_secs(30);
/// Connections served at once; more get a 503 at once (a thread each).
const MAX_CONNECTIONS: usize = 1024;

/// One request, its body read.
pub(super) struct Request {
    pub method: String,
    /// The target without its query string.
    pub path: String,
    pub version: (u8, u8),
    /// `None`: the body is larger than the limit the server was started with
    /// (it was not read, and the connection closes after the answer).
    pub body: Option<Vec<u8>>,
}

/// Where an answer goes: the connection, in the request's HTTP version.
pub(super) struct Responder<'a> {
    w: &'a mut TcpStream,
    version: (u8, u8),
    close: bool,
    /// A HEAD request: the head of the GET answer, without its body.
    head_only: bool,
}

impl Responder<'_> {
    /// A whole answer with a `Content-Length`.
    pub fn respond(&mut self, status: u16, content_type: &str, body: &[u8]) -> io::Result<()> {
        self.respond_with(status, content_type, "", body)
    }

    /// [`respond`](Self::respond) with more header lines (each ending in CRLF), such
    /// as the `Allow` a 405 must carry.
    pub fn respond_with(
        &mut self,
        status: u16,
        content_type: &str,
        headers: &str,
        body: &[u8],
    ) -> io::Result<()> {
        let (major, minor) = self.version;
        let connection = if self.close {
            "Connection: close\r\n"
        } else if self.version == (1, 0) {
            "Connection: keep-alive\r\n"
        } else {
            ""
        };
        write!(
            self.w,
            "HTTP/{major}.{minor} {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{headers}{connection}\r\n",
            reason(status),
            body.len()
        )?;
        if !self.head_only {
            self.w.write_all(body)?;
        }
        self.w.flush()
    }

    /// The raw connection, for an answer that writes its own head and a chunked body.
    pub fn raw(&mut self) -> &mut dyn Write {
        &mut *self.w
    }

    /// Whether the client closed the connection while its answer is being made
    /// (it timed out, or was stopped), so that the work for it can stop too.
    pub fn client_gone(&self) -> bool {
        let s: &TcpStream = self.w;
        if s.set_read_timeout(Some(Duration::from_millis(1))).is_err() {
            return false;
        }
        let gone = match s.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            ),
        };
        let _ = s.set_read_timeout(Some(IDLE));
        gone
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        499 => "Client Closed Request",
        501 => "Not Implemented",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

pub(super) type Handler = dyn Fn(Request, &mut Responder<'_>) + Send + Sync;

/// A bound listener; [`Server::serve`] runs its accept loop.
pub(super) struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    max_body: u64,
}

/// Stops a server's accept loop from another thread.
#[derive(Clone)]
pub(super) struct Stopper {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Stopper {
    pub fn stop(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            // Wakes the blocked accept, which then sees the flag.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        }
    }
}

impl Server {
    pub fn bind(addr: &str, max_body: u64) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            addr,
            stop: Arc::new(AtomicBool::new(false)),
            max_body,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stopper(&self) -> Stopper {
        Stopper {
            addr: self.addr,
            stop: Arc::clone(&self.stop),
        }
    }

    /// Accepts connections until stopped, each on a thread of its own.
    pub fn serve(self, handler: Arc<Handler>) {
        let open = Arc::new(AtomicUsize::new(0));
        for stream in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors, say: wait for connections to close
                    // rather than spin on the error.
                    tracing::warn!("accepting a connection: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let mut w = stream;
                let _ = Responder {
                    w: &mut w,
                    version: (1, 1),
                    close: true,
                    head_only: false,
                }
                .respond(
                    503,
                    "application/json",
                    br#"{"error": {"message": "too many connections", "code": 503}}"#,
                );
                continue;
            }
            let handler = Arc::clone(&handler);
            let max_body = self.max_body;
            open.fetch_add(1, Ordering::SeqCst);
            // Counted out when the thread ends, panicking or not (or never starts).
            let counted = Counted(Arc::clone(&open));
            let spawned = std::thread::Builder::new()
                .name("ouro-serve-conn".into())
                .spawn(move || {
                    let _counted = counted;
                    connection(stream, &*handler, max_body)
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a connection thread: {e}");
            }
        }
    }
}

/// One open connection in the server's count, for as long as this lives.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a request could not be read: answered with `status`, then the connection closes.
struct Refused {
    status: u16,
    message: &'static str,
    version: (u8, u8),
}

fn connection(stream: TcpStream, handler: &Handler, max_body: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let (request, close) = match read_request(&mut reader, &mut writer, max_body) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(Ok(refused)) => {
                let mut r = Responder {
                    w: &mut writer,
                    version: refused.version,
                    close: true,
                    head_only: false,
                };
                let body = serde_json::json!({"error": {"message": refused.message,
                    "type": "BadRequestError", "param": null, "code": refused.status}});
                let _ = r.respond(
                    refused.status,
                    "application/json",
                    body.to_string().as_bytes(),
                );
                linger(&mut reader, &writer);
                return;
            }
            Err(Err(_)) => return,
        };
        let (version, head_only) = (request.version, request.method == "HEAD");
        let mut request = request;
        if head_only {
            request.method = "GET".into();
        }
        let close = close || request.body.is_none();
        let mut responder = Responder {
            w: &mut writer,
            version,
            close,
            head_only,
        };
        let unread_body = request.body.is_none();
        handler(request, &mut responder);
        if unread_body {
            linger(&mut reader, &writer);
        }
        if close {
            return;
        }
    }
}

/// After answering a request that was refused or whose body was left unread (too
/// large): closing at once would reset the connection while the client still sends,
/// and it would never read the answer. Reads and drops what still comes, for a short while.
fn linger(reader: &mut BufReader<TcpStream>, writer: &TcpStream) {
    let _ = writer.shutdown(std::net::Shutdown::Write);
    let _ = writer.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = io::copy(&mut reader.by_ref().take(256 << 20), &mut io::sink());
}

/// Reads one request: `Ok(None)` at a clean end of the connection, `Err(Ok(_))` for a
/// request to refuse, `Err(Err(_))` when the connection failed. The `bool` says whether
/// the connection closes after the answer.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    max_body: u64,
) -> Result<Option<(Request, bool)>, Result<Refused, io::Error>> {
    let refuse = |status, message, version| {
        Err(Ok(Refused {
            status,
            message,
            version,
        }))
    };
    // Waiting for a request is the idle timeout's; reading one, the head deadline's.
    if reader.fill_buf().map_err(Err)?.is_empty() {
        return Ok(None);
    }
    let mut timed = Deadline {
        r: &mut *reader,
        until: Instant::now() + HEAD_DEADLINE,
    };
    let mut head = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = (&mut timed)
            .take((MAX_HEAD_BYTES - head.len().min(MAX_HEAD_BYTES)) as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(Err)?;
        if n == 0 {
            if lines.is_empty() {
                return Ok(None);
            }
            return Err(Err(io::ErrorKind::UnexpectedEof.into()));
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD_BYTES {
            return refuse(431, "the request head is too large", (1, 1));
        }
        if !line.ends_with(b"\n") {
            return Err(Err(io::ErrorKind::UnexpectedEof.into()));
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if text.is_empty() {
            // Blank lines before a request line are allowed (RFC 9112 2.2).
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(text);
    }
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(proto), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return refuse(400, "malformed request line", (1, 1));
    };
    let version = match proto {
        "HTTP/1.1" => (1, 1),
        "HTTP/1.0" => (1, 0),
        p if p.starts_with("HTTP/") => {
            return refuse(505, "this server speaks HTTP/1.0 and HTTP/1.1", (1, 1))
        }
        _ => return refuse(400, "malformed request line", (1, 1)),
    };
    reader.get_ref().set_read_timeout(Some(IDLE)).map_err(Err)?;
    let mut content_length: Option<u64> = None;
    let (mut chunked, mut connection, mut expect_continue) = (false, String::new(), false);
    for line in &lines[1..] {
        let Some((name, value)) = line.split_once(':') else {
            return refuse(400, "malformed header line", version);
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => match value.parse::<u64>() {
                Ok(n)
                    if value.bytes().all(|b| b.is_ascii_digit())
                        && content_length.is_none_or(|m| m == n) =>
                {
                    content_length = Some(n)
                }
                _ => return refuse(400, "bad Content-Length", version),
            },
            "transfer-encoding" if value.to_ascii_lowercase().ends_with("chunked") => {
                chunked = true
            }
            // gzip or deflate framing of a request body is not read here.
            "transfer-encoding" => {
                return refuse(501, "only chunked Transfer-Encoding is read", version)
            }
            "connection" => connection = value.to_ascii_lowercase(),
            "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    // Both framings at once is how requests are smuggled: answer, then close (RFC 9112 6.1).
    let close = (chunked && content_length.is_some())
        || if version == (1, 0) {
            !connection.contains("keep-alive")
        } else {
            connection.contains("close")
        };
    let too_large = !chunked && content_length.is_some_and(|n| n > max_body);
    if expect_continue && !too_large && version == (1, 1) {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(Err)?;
    }
    let body = if too_large {
        None
    } else if chunked {
        match read_chunked(reader, max_body) {
            Ok(body) => body,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return refuse(400, "malformed chunked body", version)
            }
            Err(e) => return Err(Err(e)),
        }
    } else {
        let mut body = Vec::new();
        let n = content_length.unwrap_or(0);
        reader
            .by_ref()
            .take(n)
            .read_to_end(&mut body)
            .map_err(Err)?;
        if (body.len() as u64) < n {
            return Err(Err(io::ErrorKind::UnexpectedEof.into()));
        }
        Some(body)
    };
    // The absolute form (`http://host/v1/models`), which a server must accept too.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = target.split('?').next().unwrap_or("").to_string();
    Ok(Some((
        Request {
            method: method.to_string(),
            path,
            version,
            body,
        },
        close,
    )))
}

/// A reader that fails with `TimedOut` once `until` has passed, however the bytes trickle.
struct Deadline<'a> {
    r: &'a mut BufReader<TcpStream>,
    until: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Deadline<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.r.buffer().is_empty() {
            let left = self
                .until
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(io::ErrorKind::TimedOut)?;
            self.r.get_ref().set_read_timeout(Some(left))?;
        }
        self.r.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.r.consume(n)
    }
}

/// A chunked body; `None` once it passes `max_body` (the rest is left unread).
fn read_chunked(reader: &mut BufReader<TcpStream>, max_body: u64) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    loop {
        let mut line = String::new();
        reader.by_ref().take(1024).read_line(&mut line)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                line.clear();
                reader.by_ref().take(8192).read_line(&mut line)?;
                if line.trim().is_empty() {
                    return Ok(Some(body));
                }
            }
        }
        if (body.len() as u64).saturating_add(size) > max_body {
            return Ok(None);
        }
        let start = body.len();
        reader.by_ref().take(size).read_to_end(&mut body)?;
        if (body.len() - start) as u64 != size {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.clear();
        reader.by_ref().take(2).read_line(&mut line)?;
        if line != "\r\n" && line != "\n" {
            return Err(bad("chunk data not followed by a line end"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_closed_its_connection_is_gone_and_one_that_waits_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server_side, _) = listener.accept().unwrap();
        let responder = Responder {
            w: &mut server_side,
            version: (1, 1),
            close: false,
            head_only: false,
        };
        assert!(!responder.client_gone(), "waiting, nothing sent");
        // A pipelined next request is data, not a departure.
        client.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
        assert!(!responder.client_gone());
        drop(client);
        // The pipelined bytes are still unread: the close shows once they are.
        let mut buf = [0u8; 64];
        let _ = responder.w.read(&mut buf).unwrap();
        // The FIN may take a moment to arrive: wait for it (a condition, not a timing).
        let gone = (0..500).any(|_| {
            let gone = responder.client_gone();
            if !gone {
                std::thread::sleep(Duration::from_millis(10));
            }
            gone
        });
        assert!(gone);
    }
}
