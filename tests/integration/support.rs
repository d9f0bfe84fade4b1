//! Test harness: a real moto server on a free port, unique names, and helpers that read a stream
//! back through the AWS SDK.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use precis::aws::AwsClients;
use precis::config::Settings;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A moto server for the tests. It stops on drop, and also when the test process dies in any
/// way: it runs under a shell that kills it as soon as our end of its stdin closes.
pub struct MotoServer {
    pub endpoint: String,
    child: Child,
    lifeline: Option<ChildStdin>,
}

impl MotoServer {
    pub fn start() -> Self {
        let moto = moto_launcher_path();
        let mut last_failure = String::new();
        // A free port can be taken between our probe and moto's bind; try a few.
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("precis-moto-{port}.log"));
            let log_file = std::fs::File::create(&log).expect("create moto log");
            let mut child = Command::new("bash")
                .arg("-c")
                .arg(r#""$0" -H 127.0.0.1 -p "$1" & srv=$!; read -r _; kill "$srv" 2>/dev/null; wait "$srv""#)
                .arg(&moto)
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .stdout(log_file.try_clone().expect("log handle"))
                .stderr(log_file)
                .spawn()
                .expect("spawn moto");
            let lifeline = child.stdin.take();
            let endpoint = format!("http://127.0.0.1:{port}");
            let mut server = MotoServer {
                endpoint,
                child,
                lifeline,
            };
            if server.wait_until_ready(port) {
                return server;
            }
            last_failure = std::fs::read_to_string(&log).unwrap_or_default();
            drop(server);
        }
        panic!("moto ({}) did not start:\n{last_failure}", moto.display());
    }

    fn wait_until_ready(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if http_answers(port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing the lifeline makes the shell kill moto and exit.
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server shared by every test of this binary; tests keep apart by unique names.
pub fn moto() -> &'static MotoServer {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    SERVER.get_or_init(MotoServer::start)
}

/// `PRECIS_MOTO_SERVER` (set by scripts/test), else the single-threaded launcher that
/// scripts/local-aws installs next to moto (see that script for why not `moto_server`).
fn moto_launcher_path() -> PathBuf {
    venv_tool("PRECIS_MOTO_SERVER", "path")
}

/// The project venv's python (moto, pyarrow): `PRECIS_PYTHON` (set by scripts/test), else
/// asked of scripts/local-aws.
pub fn project_python() -> PathBuf {
    venv_tool("PRECIS_PYTHON", "python")
}

/// A program from the project venv: the path in `variable`, else the one `scripts/local-aws
/// <command>` prints (it installs the venv on first use).
fn venv_tool(variable: &str, command: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/local-aws");
    let output = Command::new(&script)
        .arg(command)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/local-aws {command}: {e}"));
    assert!(
        output.status.success(),
        "the project venv (moto, pyarrow) is needed for the integration tests and could not be installed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(stdout.lines().last().expect("a path").trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn http_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// A name no other test (or earlier run against the same server) uses; valid as both a stream
/// and a bucket name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// Settings pointing at the shared moto server, with a stream and bucket of their own. Built
/// from defaults only, so a developer's precis.toml or environment cannot leak in.
pub fn settings_for(test: &str) -> Settings {
    let mut settings = Settings::default();
    settings.aws.endpoint_url = Some(moto().endpoint.clone());
    settings.stream.name = unique_name(test);
    settings.lake.bucket = unique_name(test);
    settings
}

pub async fn clients(settings: &Settings) -> AwsClients {
    AwsClients::connect(settings).await
}

/// Every record on every shard of `stream`, read from the start, with its shard id.
pub async fn read_stream(clients: &AwsClients, stream: &str) -> Vec<(String, Record)> {
    let mut shard_ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = clients.kinesis.list_shards();
        request = match &token {
            Some(t) => request.next_token(t),
            None => request.stream_name(stream),
        };
        let page = request.send().await.expect("ListShards");
        shard_ids.extend(page.shards().iter().map(|s| s.shard_id().to_string()));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut records = Vec::new();
    for shard_id in shard_ids {
        let mut iterator = clients
            .kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator()
            .map(str::to_string);
        while let Some(it) = iterator {
            let page = clients
                .kinesis
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .expect("GetRecords");
            if page.records().is_empty() {
                break;
            }
            records.extend(page.records().iter().map(|r| (shard_id.clone(), r.clone())));
            iterator = page.next_shard_iterator().map(str::to_string);
        }
    }
    records
}

/// The model store the tests use: the developer's (or CI's) cache, which scripts/test fills with
/// `scripts/fetch-models`. Children get it explicitly, since their HOME is a temp directory.
pub fn model_dir() -> PathBuf {
    precis::summarize::store::cache_dir()
}

/// The real binary with a clean environment (no AWS settings from the developer's shell) plus
/// `env`, the test model store, no stdin, and its output captured.
pub fn precis_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_precis"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("PRECIS_MODEL_DIR", model_dir())
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs the real binary with a clean environment (no AWS settings from the developer's shell)
/// plus `env`, and kills it if it outlives `limit`. Its output is read while it runs, so a
/// chatty run (trace logging) cannot fill a pipe and stall.
pub fn run_precis(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (Output, Duration) {
    let mut command = precis_command(args, env);
    let started = Instant::now();
    let child = command.spawn().expect("spawn precis");
    let output = finish_within(child, limit, &format!("precis {args:?}"));
    (output, started.elapsed())
}

/// `precis <args>` with `env`, which must succeed within 4 minutes; its stdout.
pub fn precis_ok(env: &[(&'static str, String)], args: &[&str]) -> String {
    let (output, _) = run_precis(args, &borrowed(env), Duration::from_secs(240));
    assert!(
        output.status.success(),
        "precis {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits for a child process to end, reading its output meanwhile; one still running after
/// `limit` is killed and fails the test (a hang must not hang CI).
pub fn finish_within(child: std::process::Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(limit) {
        Ok(output) => output.expect("the child's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let output = finished.recv().expect("killed child").expect("output");
            panic!(
                "{what} still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// [`finish_within`] off the async workers.
pub async fn finish_within_async(
    child: std::process::Child,
    limit: Duration,
    what: &str,
) -> Output {
    let what = what.to_string();
    tokio::task::spawn_blocking(move || finish_within(child, limit, &what))
        .await
        .expect("wait task")
}

/// Runs a command (a helper script) to its end within `limit`, output captured.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    finish_within(child, limit, &format!("{command:?}"))
}

/// `(key, value)` pairs borrowed the way [`run_precis`] and [`precis_command`] take them.
pub fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Sends SIGTERM to a running `precis` and waits for it to exit, off the async workers.
pub async fn terminate(child: std::process::Child) -> Output {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
    // The documented stop is within seconds; a minute is a hang.
    finish_within_async(child, Duration::from_secs(60), "precis after SIGTERM").await
}

/// A running child whose stderr is collected as it comes, so that a test waits for what the
/// child says (its stats line, a warning) instead of sleeping a fixed time and hoping. A test
/// that fails while it runs kills it (drop), rather than leave it reading beside later tests.
pub struct Watched {
    /// None once finished.
    child: Option<Child>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watched {
    pub fn spawn(command: &mut Command) -> Self {
        use std::io::BufRead;
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let pipe = child.stderr.take().expect("stderr piped");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut collected = sink.lock().unwrap();
                collected.push_str(&line);
                collected.push('\n');
            }
        });
        Self {
            child: Some(child),
            stderr,
            reader: Some(reader),
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is running")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the stderr so far satisfies `seen`; the test fails when the child ends first
    /// or `limit` passes.
    pub async fn wait_for(&mut self, what: &str, limit: Duration, seen: impl Fn(&str) -> bool) {
        let began = Instant::now();
        loop {
            let stderr = self.stderr();
            if seen(&stderr) {
                return;
            }
            if let Some(status) = self.child().try_wait().unwrap() {
                panic!("the child ended ({status}) before {what}:\n{stderr}");
            }
            if began.elapsed() > limit {
                panic!("no {what} after {limit:?}:\n{stderr}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the pipeline's stats line counts `records` read.
    pub async fn wait_for_records(&mut self, records: u64) {
        let pattern = format!("records in {records} (");
        self.wait_for(
            &format!("the {records} records read"),
            crate::cli::READ_LIMIT,
            |s| s.contains(&pattern),
        )
        .await;
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        self.child().try_wait().unwrap().is_none()
    }

    /// Whether the child has ended, and how.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child().try_wait().unwrap()
    }

    /// SIGKILL, and waits for the process to be gone; what it said stays in [`Self::stderr`].
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the child is running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits for the child to end within `limit` (see [`finish_within`]).
    pub async fn finish_within(mut self, limit: Duration, what: &str) -> Output {
        let child = self.child.take().expect("the child is running");
        let mut output = finish_within_async(child, limit, what).await;
        self.with_stderr(&mut output).await;
        output
    }

    /// Sends SIGTERM and waits, as [`terminate`] does.
    pub async fn terminate(mut self) -> Output {
        let child = self.child.take().expect("the child is running");
        let mut output = terminate(child).await;
        self.with_stderr(&mut output).await;
        output
    }

    async fn with_stderr(&mut self, output: &mut Output) {
        let reader = self.reader.take().expect("one reader");
        // The pipe closes with the child: the reader ends at once.
        tokio::task::spawn_blocking(move || reader.join())
            .await
            .expect("join task")
            .expect("stderr reader");
        output.stderr = self.stderr().into_bytes();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Each line's operation in a history listing (its fourth word: after the version and the
/// time), top to bottom; the console's panel border is skipped.
pub fn operations(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter_map(|l| l.trim_start_matches('│').split_whitespace().nth(3))
        .collect()
}

/// Asserts that a history listing names each of `newest_first` (its first occurrence), in
/// that order.
pub fn assert_listed_in_order(screen: &str, newest_first: &[&str]) {
    let listed = operations(screen);
    let at = |name: &str| {
        listed
            .iter()
            .position(|o| *o == name)
            .unwrap_or_else(|| panic!("no {name} in:\n{screen}"))
    };
    for pair in newest_first.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{screen}");
    }
}
