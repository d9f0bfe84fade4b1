//! A fault-injecting HTTP proxy for the tests, between précis and moto. Each request is read
//! whole, then either forwarded or answered with a fault the real services produce: Kinesis
//! throttling (ProvisionedThroughputExceededException), S3 SlowDown, 500 after the call took
//! effect, 503 before it did, a connection reset before or after forwarding, or added latency.
//! An S3 outage switch answers every S3 call with 503 while Kinesis goes on, a throttling switch
//! every Kinesis call with ProvisionedThroughputExceededException, a credentials switch every
//! call with 403 (the keys refused), and another answers every n-th GetRecords with
//! ExpiredIteratorException. A hold switch keeps every S3 UploadPart call unanswered, so that a
//! test can kill précis in the middle of a multipart upload.
//!
//! Every connection carries one request (`Connection: close` both ways), which keeps the proxy
//! free of keep-alive bookkeeping; on loopback the extra connects cost nothing measurable.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy may do to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Kinesis: 400 ProvisionedThroughputExceededException; S3: 503 SlowDown. Before forwarding.
    Throttle,
    /// 500 InternalFailure/InternalError after moto served the call: the effect happened, the
    /// caller cannot know it.
    ServerErrorAfter,
    /// 503 ServiceUnavailable before forwarding.
    UnavailableBefore,
    /// The connection is reset before anything is forwarded.
    ResetBefore,
    /// Forwarded, then the connection is reset instead of answering.
    ResetAfter,
    /// Forwarded after 0.2–1.5 s.
    Latency,
}

pub const ALL_FAULTS: [Fault; 6] = [
    Fault::Throttle,
    Fault::ServerErrorAfter,
    Fault::UnavailableBefore,
    Fault::ResetBefore,
    Fault::ResetAfter,
    Fault::Latency,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Kinesis,
    S3,
}

/// What happened to the calls so far.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Calls seen per service, outage refusals excluded.
    pub calls: BTreeMap<Service, u64>,
    pub forwarded: u64,
    pub faults: BTreeMap<(Service, Fault), u64>,
    /// S3 calls refused by the outage switch.
    pub refused_by_outage: u64,
    pub get_records: u64,
    /// GetRecords calls answered with ExpiredIteratorException.
    pub expired_iterators: u64,
    /// Calls answered 403 by the credentials switch.
    pub refused_credentials: u64,
}

impl Tally {
    pub fn of_kind(&self, fault: Fault) -> u64 {
        self.faults
            .iter()
            .filter(|((_, f), _)| *f == fault)
            .map(|(_, n)| n)
            .sum()
    }
}

struct Control {
    upstream: String,
    /// Share of each service's calls faulted, in thousandths.
    fault_per_mille: AtomicU32,
    s3_down: AtomicBool,
    kinesis_throttled: AtomicBool,
    credentials_refused: AtomicBool,
    /// Every n-th GetRecords is answered with ExpiredIteratorException (0: never).
    expire_every: AtomicU32,
    /// A pause before each PutRecords is forwarded (ms), so that calls overlap if a client lets
    /// them; and how many were in flight at once, now and at most.
    put_records_pause_ms: AtomicU32,
    put_records_now: AtomicU32,
    put_records_max: AtomicU32,
    /// S3 UploadPart calls are held unanswered while on; how many were held.
    hold_upload_parts: AtomicBool,
    held_upload_parts: AtomicU32,
    rng: Mutex<ChaCha8Rng>,
    tally: Mutex<Tally>,
}

pub struct FaultProxy {
    pub endpoint: String,
    control: Arc<Control>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// A proxy to `upstream` (an `http://host:port` endpoint) faulting `share` of the calls;
    /// `seed` drives the added latencies.
    pub fn start(upstream: &str, share: f64, seed: u64) -> Self {
        let control = Arc::new(Control {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            fault_per_mille: AtomicU32::new((share * 1000.0).round() as u32),
            s3_down: AtomicBool::new(false),
            kinesis_throttled: AtomicBool::new(false),
            credentials_refused: AtomicBool::new(false),
            expire_every: AtomicU32::new(0),
            put_records_pause_ms: AtomicU32::new(0),
            put_records_now: AtomicU32::new(0),
            put_records_max: AtomicU32::new(0),
            hold_upload_parts: AtomicBool::new(false),
            held_upload_parts: AtomicU32::new(0),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            tally: Mutex::new(Tally::default()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        // Bound here, not with the runtime's block_on: tests call this from inside their own.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let accepting = control.clone();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("proxy listener");
            while let Ok((client, _)) = listener.accept().await {
                let control = accepting.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-request is not the proxy's concern.
                    let _ = serve(client, &control).await;
                });
            }
        });
        Self {
            endpoint,
            control,
            runtime: Some(runtime),
        }
    }

    pub fn set_s3_down(&self, down: bool) {
        self.control.s3_down.store(down, Ordering::SeqCst);
    }

    /// Every Kinesis call is throttled while on (a storm), counted as Throttle faults.
    pub fn set_kinesis_throttled(&self, throttled: bool) {
        self.control
            .kinesis_throttled
            .store(throttled, Ordering::SeqCst);
    }

    /// Every call is answered 403 while on, as AWS answers keys it refuses.
    pub fn set_credentials_refused(&self, refused: bool) {
        self.control
            .credentials_refused
            .store(refused, Ordering::SeqCst);
    }

    pub fn expire_every_nth_get_records(&self, n: u32) {
        self.control.expire_every.store(n, Ordering::SeqCst);
    }

    /// Holds each PutRecords call `ms` before forwarding it.
    pub fn pause_put_records(&self, ms: u32) {
        self.control
            .put_records_pause_ms
            .store(ms, Ordering::SeqCst);
    }

    /// The most PutRecords calls that were in the proxy at once.
    pub fn put_records_at_once(&self) -> u32 {
        self.control.put_records_max.load(Ordering::SeqCst)
    }

    /// Every S3 UploadPart call is held unanswered (never forwarded) while on.
    pub fn hold_upload_parts(&self, hold: bool) {
        self.control.hold_upload_parts.store(hold, Ordering::SeqCst);
    }

    /// UploadPart calls held so far.
    pub fn held_upload_parts(&self) -> u32 {
        self.control.held_upload_parts.load(Ordering::SeqCst)
    }

    pub fn tally(&self) -> Tally {
        self.control.tally.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Tests drop the proxy inside their own runtime, where a blocking shutdown would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
    service: Service,
    /// The Kinesis operation (`Kinesis_20131202.GetRecords`), when it is one.
    target: Option<String>,
}

async fn serve(mut client: TcpStream, control: &Control) -> std::io::Result<()> {
    let Some(request) = read_request(&mut client).await? else {
        return Ok(());
    };
    if control.credentials_refused.load(Ordering::SeqCst) {
        control.tally.lock().unwrap().refused_credentials += 1;
        return answer(&mut client, &refused_response(request.service)).await;
    }
    if request.service == Service::Kinesis && control.kinesis_throttled.load(Ordering::SeqCst) {
        {
            let mut tally = control.tally.lock().unwrap();
            *tally.calls.entry(Service::Kinesis).or_default() += 1;
            *tally
                .faults
                .entry((Service::Kinesis, Fault::Throttle))
                .or_default() += 1;
        }
        return answer(
            &mut client,
            &fault_response(Service::Kinesis, Fault::Throttle),
        )
        .await;
    }
    if request.service == Service::S3 && control.s3_down.load(Ordering::SeqCst) {
        control.tally.lock().unwrap().refused_by_outage += 1;
        return answer(
            &mut client,
            &fault_response(Service::S3, Fault::UnavailableBefore),
        )
        .await;
    }
    if request.service == Service::S3
        && control.hold_upload_parts.load(Ordering::SeqCst)
        && request.head[0].contains("partNumber=")
    {
        control.held_upload_parts.fetch_add(1, Ordering::SeqCst);
        // Until the caller is killed or the proxy stops: the connection is never answered.
        std::future::pending::<()>().await;
    }
    if request.target.as_deref() == Some("Kinesis_20131202.GetRecords") {
        let every = u64::from(control.expire_every.load(Ordering::SeqCst));
        let expire = {
            let mut tally = control.tally.lock().unwrap();
            tally.get_records += 1;
            let expire = every > 0 && tally.get_records.is_multiple_of(every);
            tally.expired_iterators += u64::from(expire);
            expire
        };
        if expire {
            return answer(&mut client, &expired_iterator_response()).await;
        }
    }
    if request.target.as_deref() == Some("Kinesis_20131202.PutRecords") {
        let now = control.put_records_now.fetch_add(1, Ordering::SeqCst) + 1;
        control.put_records_max.fetch_max(now, Ordering::SeqCst);
        let pause = control.put_records_pause_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(u64::from(pause))).await;
        let response = forward(&control.upstream, &request).await;
        control.put_records_now.fetch_sub(1, Ordering::SeqCst);
        control.tally.lock().unwrap().forwarded += 1;
        return answer(&mut client, &with_connection_close(&response?)).await;
    }
    let fault = pick_fault(control, request.service);
    match fault {
        Some(Fault::ResetBefore) => return reset(client),
        Some(Fault::Throttle | Fault::UnavailableBefore) => {
            return answer(
                &mut client,
                &fault_response(request.service, fault.unwrap()),
            )
            .await
        }
        Some(Fault::Latency) => {
            let pause = control.rng.lock().unwrap().random_range(200..1500);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        _ => {}
    }
    let response = forward(&control.upstream, &request).await?;
    control.tally.lock().unwrap().forwarded += 1;
    match fault {
        Some(Fault::ResetAfter) => reset(client),
        Some(Fault::ServerErrorAfter) => {
            answer(
                &mut client,
                &fault_response(request.service, Fault::ServerErrorAfter),
            )
            .await
        }
        _ => answer(&mut client, &with_connection_close(&response)).await,
    }
}

/// Faults are spread evenly over each service's calls (call n is faulted when n·share crosses
/// a whole number), and their kinds take turns, so even a service with few calls (Kinesis
/// returns thousands of records a call) meets throttling, 5xx and resets in every run.
fn pick_fault(control: &Control, service: Service) -> Option<Fault> {
    let share = u64::from(control.fault_per_mille.load(Ordering::SeqCst));
    let mut tally = control.tally.lock().unwrap();
    let calls = tally.calls.entry(service).or_default();
    let n = *calls;
    *calls += 1;
    if (n + 1) * share / 1000 == n * share / 1000 {
        return None;
    }
    let faulted: u64 = tally
        .faults
        .iter()
        .filter(|((s, _), _)| *s == service)
        .map(|(_, count)| count)
        .sum();
    let fault = ALL_FAULTS[(faulted % ALL_FAULTS.len() as u64) as usize];
    *tally.faults.entry((service, fault)).or_default() += 1;
    Some(fault)
}

/// Reads one request: its head as lines, and its body as sent (Content-Length or chunked).
async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at;
        }
        let mut piece = [0u8; 16 * 1024];
        let n = client.read(&mut piece).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&piece[..n]);
    };
    let head: Vec<String> = String::from_utf8_lossy(&buffer[..head_end])
        .split("\r\n")
        .map(str::to_string)
        .collect();
    let mut body = buffer[head_end + 4..].to_vec();
    let header = |name: &str| {
        head.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        read_to_length(client, &mut body, length).await?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(client, &mut body).await?;
    }
    let target = header("x-amz-target").filter(|t| t.starts_with("Kinesis_"));
    let service = if target.is_some() {
        Service::Kinesis
    } else {
        Service::S3
    };
    Ok(Some(Request {
        head,
        body,
        service,
        target,
    }))
}

async fn read_to_length(
    source: &mut (impl AsyncRead + Unpin),
    body: &mut Vec<u8>,
    length: usize,
) -> std::io::Result<()> {
    while body.len() < length {
        let mut piece = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = source.read(&mut piece).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&piece[..n]);
    }
    Ok(())
}

/// Reads a chunked body through its last chunk and trailers, keeping the bytes as sent.
async fn read_chunked(source: &mut TcpStream, body: &mut Vec<u8>) -> std::io::Result<()> {
    let mut at = 0;
    loop {
        while find(&body[at..], b"\r\n").is_none() {
            fill(source, body).await?;
        }
        let line_end = at + find(&body[at..], b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&body[at..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::other(format!("bad chunk size {size_text:?}")))?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                while find(&body[at..], b"\r\n").is_none() {
                    fill(source, body).await?;
                }
                let end = at + find(&body[at..], b"\r\n").unwrap();
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Ok(());
                }
            }
        }
        while body.len() < at + size + 2 {
            fill(source, body).await?;
        }
        at += size + 2;
    }
}

async fn fill(source: &mut TcpStream, body: &mut Vec<u8>) -> std::io::Result<()> {
    let mut piece = [0u8; 16 * 1024];
    let n = source.read(&mut piece).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    body.extend_from_slice(&piece[..n]);
    Ok(())
}

async fn forward(upstream: &str, request: &Request) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    let mut head: Vec<&str> = request
        .head
        .iter()
        .map(String::as_str)
        .filter(|line| {
            let name = line.split(':').next().unwrap_or("").trim();
            !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("expect")
        })
        .collect();
    head.push("Connection: close");
    let mut bytes = head.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(&request.body);
    server.write_all(&bytes).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    Ok(response)
}

/// The upstream response with `Connection: close`, so the client does not reuse the connection.
fn with_connection_close(response: &[u8]) -> Vec<u8> {
    let Some(head_end) = find(response, b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..head_end]);
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|line| {
            !line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("connection")
        })
        .collect();
    lines.push("Connection: close");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&response[head_end..]);
    out
}

fn fault_response(service: Service, fault: Fault) -> Vec<u8> {
    let (status, code) = match (service, fault) {
        (Service::Kinesis, Fault::Throttle) => {
            ("400 Bad Request", "ProvisionedThroughputExceededException")
        }
        (Service::S3, Fault::Throttle) => ("503 Slow Down", "SlowDown"),
        (Service::Kinesis, Fault::ServerErrorAfter) => {
            ("500 Internal Server Error", "InternalFailure")
        }
        (Service::S3, Fault::ServerErrorAfter) => ("500 Internal Server Error", "InternalError"),
        (_, _) => ("503 Service Unavailable", "ServiceUnavailable"),
    };
    let message = "injected by the test fault proxy";
    let (content_type, body, error_header) = match service {
        Service::Kinesis => (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
            format!("x-amzn-ErrorType: {code}\r\n"),
        ),
        Service::S3 => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
            ),
            String::new(),
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{error_header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// 403 with the code each service gives keys it does not accept.
fn refused_response(service: Service) -> Vec<u8> {
    let message = "refused by the test fault proxy";
    let (content_type, body, error_header) = match service {
        Service::Kinesis => (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"UnrecognizedClientException","message":"{message}"}}"#),
            "x-amzn-ErrorType: UnrecognizedClientException\r\n",
        ),
        Service::S3 => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
            ),
            "",
        ),
    };
    format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: {content_type}\r\n{error_header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn expired_iterator_response() -> Vec<u8> {
    let body =
        r#"{"__type":"ExpiredIteratorException","message":"Iterator expired (test fault proxy)"}"#;
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: ExpiredIteratorException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn answer(client: &mut TcpStream, response: &[u8]) -> std::io::Result<()> {
    client.write_all(response).await?;
    client.shutdown().await
}

/// Closes with RST instead of FIN: the client sees "connection reset by peer".
fn reset(client: TcpStream) -> std::io::Result<()> {
    socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO))?;
    drop(client);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
