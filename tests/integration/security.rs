//! Security basics: credentials never reach what précis prints, logs or writes, and TLS
//! endpoints are verified.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::pipeline::{env_for, keys_under, object};
use crate::support::{borrowed, clients, project_python, run_precis, settings_for, unique_name};

const LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_key_never_reaches_output_logs_or_the_lake() {
    let settings = settings_for("secrets");
    let secret = unique_name("SecretKeyOfTheTest").replace('-', "x");
    let token = unique_name("SessionTokenOfTheTest").replace('-', "x");
    let mut env = env_for(&settings);
    env.extend([
        ("AWS_ACCESS_KEY_ID", "AKIAPRECISTESTKEY000".to_string()),
        ("AWS_SECRET_ACCESS_KEY", secret.clone()),
        ("AWS_SESSION_TOKEN", token.clone()),
        // Everything every crate logs, the SDK's request tracing included. (The console
        // writes the same tracing output to its log file instead of stderr.)
        ("PRECIS_LOG", "trace".to_string()),
    ]);
    let env = borrowed(&env);
    let clients = clients(&settings).await;
    let mut printed = String::new();
    for args in [
        &["produce", "--records", "30", "--seed", "5"][..],
        &["run", "--once", "--no-ui"],
        &["config"],
        &["partitions"],
        &["preview", "lake/summaries/", "--all-columns"],
        &["run", "--once", "--no-ui", "--log-format", "json"],
    ] {
        let (output, _) = run_precis(args, &env, LIMIT);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        printed.push_str(&String::from_utf8_lossy(&output.stdout));
        printed.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    // The trace really was on (so the search below covers the SDK's own request logging).
    assert!(printed.contains("TRACE"), "no trace lines were logged");

    let mut written = Vec::new();
    for key in keys_under(&clients, &settings.lake.bucket, "").await {
        let body = object(&clients, &settings.lake.bucket, &key).await;
        written.push((key, body));
    }
    assert!(written.len() > 3, "the runs wrote nothing to search");
    for needle in [&secret, &token] {
        assert!(!printed.contains(needle.as_str()), "{needle} printed");
        for (key, body) in &written {
            let found = body.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{needle} written to s3://…/{key}");
        }
    }
}

/// A TLS server on loopback with a self-signed certificate (tests/fixtures/tls, made with
/// `openssl req -x509`), answering 200 to anything; killed on drop.
struct UntrustedTlsServer {
    child: Child,
    port: u16,
}

const TLS_SERVER: &str = r#"
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = do_PUT = do_HEAD = answer
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl UntrustedTlsServer {
    fn start() -> Self {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        let mut child = Command::new(project_python())
            .args(["-c", TLS_SERVER])
            .arg(fixtures.join("self-signed.crt"))
            .arg(fixtures.join("self-signed.key"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the TLS server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the TLS server's port");
        let port = line.trim().parse().expect("a port number");
        Self { child, port }
    }
}

impl Drop for UntrustedTlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_endpoint_whose_certificate_is_not_trusted_is_refused_with_one_line() {
    let server = UntrustedTlsServer::start();
    let endpoint = format!("https://localhost:{}", server.port);
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("PRECIS_AWS_TIMEOUT_SECS", "5"),
        ("PRECIS_SUMMARIZER", "none"),
    ];
    let (output, _) = run_precis(&["run", "--once", "--no-ui"], &env, LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "talked to an untrusted server");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("certificate") && errors[0].contains("not trusted"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
