//! The real `precis` binary: exit codes, the lines a person reads, bounded failure.

use std::net::TcpListener;
use std::time::Duration;

use crate::support::{moto, precis_command, read_stream, run_precis, unique_name, Watched};

const LIMIT: Duration = Duration::from_secs(60);

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Bind then drop: nothing listens on this port any more.
fn endpoint_nobody_listens_on() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn unreachable_endpoint_fails_fast_with_one_clear_line() {
    let endpoint = endpoint_nobody_listens_on();
    let (output, took) = run_precis(
        &["produce", "--records", "5", "--endpoint-url", &endpoint],
        &[],
        LIMIT,
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(error_lines[0].contains("cannot reach"), "{stderr}");
    assert!(error_lines[0].contains(&endpoint), "{stderr}");
    assert!(
        error_lines[0].contains("scripts/local-aws start"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn endpoint_that_never_answers_times_out_within_the_configured_bound() {
    // Accepts connections (the kernel backlog does) but never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (output, took) = run_precis(
        &[
            "produce",
            "--records",
            "5",
            "--endpoint-url",
            &endpoint,
            "--aws-timeout-secs",
            "1",
        ],
        &[],
        LIMIT,
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    // 4 attempts of 1 s plus backoff between them.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    drop(listener);
}

#[test]
fn num_records_environment_variable_sets_how_many_are_put() {
    let stream = unique_name("env-n");
    let bucket = unique_name("env-n");
    let (output, _) = run_precis(
        &[
            "produce", "--stream", &stream, "--bucket", &bucket, "--seed", "9",
        ],
        &[
            ("NUM_RECORDS", "25"),
            ("AWS_ENDPOINT_URL", &moto().endpoint),
        ],
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stdout.starts_with("produced 25 records"), "{stdout}");
    assert!(stdout.contains("records/s"), "{stdout}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let count = runtime.block_on(async {
        let mut settings = precis::config::Settings::default();
        settings.aws.endpoint_url = Some(moto().endpoint.clone());
        let clients = precis::aws::AwsClients::connect(&settings).await;
        read_stream(&clients, &stream).await.len()
    });
    assert_eq!(count, 25);
}

#[test]
fn bad_setting_value_exits_2_naming_the_setting_and_accepted_form() {
    let (output, _) = run_precis(&["config"], &[("PRECIS_SHARDS", "lots")], LIMIT);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("stream.shards"), "{stderr}");
    assert!(stderr.contains("PRECIS_SHARDS"), "{stderr}");
    assert!(stderr.contains("a whole number from 1 to 500"), "{stderr}");
}

#[test]
fn unknown_flag_exits_2() {
    let (output, _) = run_precis(&["produce", "--recrods", "5"], &[], LIMIT);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_without_a_panic() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = precis_command(&["config"], &[])
        .stdout(writer)
        .output()
        .expect("run precis config");
    let stderr = stderr_of(&output);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn config_prints_effective_settings_without_secrets() {
    let secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY";
    let (output, _) = run_precis(
        &["config", "--stream", "FromFlag"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("PRECIS_BUCKET", "from-env"),
        ],
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stdout.contains("name = \"FromFlag\"  # flag --stream"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bucket = \"from-env\"  # env PRECIS_BUCKET"),
        "{stdout}"
    );
    assert!(
        stdout.contains("region = \"us-east-1\"  # default"),
        "{stdout}"
    );
    assert!(!stdout.contains(secret), "{stdout}");
    assert!(!stderr_of(&output).contains(secret));
}

#[test]
fn config_file_is_read_from_the_config_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.toml");
    std::fs::write(&path, "[lake]\nbucket = \"from-file\"\n").unwrap();
    let (output, _) = run_precis(&["config", "--config", path.to_str().unwrap()], &[], LIMIT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stdout.contains("bucket = \"from-file\"  # file"),
        "{stdout}"
    );
}

#[test]
fn eval_scores_the_summarizer_and_lead_3_and_skips_lines_without_a_reference() {
    let input =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval-sample.jsonl");
    let input = input.to_str().unwrap();
    let (output, _) = crate::support::run_precis(
        &["eval", "--input", input, "--json", "--encoder", "onnx"],
        &[],
        std::time::Duration::from_secs(300),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["articles"], 5);
    assert_eq!(report["skipped"], 1);
    assert!(stderr.contains("line 6: no reference"), "{stderr}");
    assert_eq!(report["baseline"]["name"], "lead-3");
    for system in ["summarizer", "baseline"] {
        for measure in ["rouge1", "rouge2", "rougeL"] {
            let v = report[system][measure].as_f64().unwrap();
            assert!(v > 5.0 && v < 100.0, "{system} {measure} = {v}");
        }
    }
    let name = report["summarizer"]["name"].as_str().unwrap();
    assert!(name.starts_with("extractive:"), "{name}");
    assert!(name.contains("+onnx-int8;"), "{name}");
    assert!(
        report["summarizer"]["input_tokens_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn the_onnx_encoder_without_its_runtime_is_one_line_naming_the_command_that_installs_it() {
    let input =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval-sample.jsonl");
    let (output, _) = crate::support::run_precis(
        &[
            "eval",
            "--input",
            input.to_str().unwrap(),
            "--encoder",
            "onnx",
        ],
        &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")],
        std::time::Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or("");
    assert!(last.contains("scripts/fetch-models minilm"), "{stderr}");
    assert!(last.contains("--encoder candle"), "{stderr}");
}

#[test]
fn run_without_a_terminal_falls_back_to_headless_and_says_so() {
    let endpoint = endpoint_nobody_listens_on();
    let (output, _) = run_precis(
        &[
            "run",
            "--once",
            "--summarizer",
            "none",
            "--endpoint-url",
            &endpoint,
        ],
        &[],
        LIMIT,
    );
    let stderr = stderr_of(&output);
    assert!(stderr.contains("no terminal: running headless"), "{stderr}");
    // Headless: the failure is the usual single line, not a console.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: ") && stderr.contains("cannot reach"),
        "{stderr}"
    );
}

#[test]
fn tui_without_a_terminal_is_one_line_pointing_to_no_ui() {
    let (output, _) = run_precis(&["tui"], &[], LIMIT);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("precis run --no-ui"), "{stderr}");
}

#[test]
fn a_bad_theme_file_is_a_bad_setting_naming_the_key() {
    let theme = std::env::temp_dir().join(format!("{}.toml", unique_name("theme")));
    let text =
        include_str!("../../themes/dark.toml").replace("accent = \"#88c0d0\"", "accent = \"bleu\"");
    std::fs::write(&theme, text).unwrap();
    for command in ["tui", "run"] {
        let (output, _) = run_precis(&[command, "--theme", theme.to_str().unwrap()], &[], LIMIT);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(
            errors[0].contains("invalid ui.theme (from flag --theme)"),
            "{stderr}"
        );
        assert!(errors[0].contains("`accent` = \"bleu\""), "{stderr}");
    }
    let _ = std::fs::remove_file(theme);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_deleted_under_a_running_pipeline_stops_it_with_one_line_saying_so() {
    let settings = crate::support::settings_for("deleted-stream");
    crate::pipeline::seed_one_day(&settings, 50, 301).await;
    let clients = crate::support::clients(&settings).await;
    let mut child = crate::pipeline::watch_follow(&settings);
    child.wait_for_records(50).await;
    clients
        .kinesis
        .delete_stream()
        .stream_name(&settings.stream.name)
        .enforce_consumer_deletion(true)
        .send()
        .await
        .expect("delete the stream");
    let (output, waited, last) = wait_for_the_stop(child).await;
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        waited < CUT_OFF_STOP,
        "still running {waited:?} after the stream was deleted"
    );
    assert!(
        last.contains("does not exist") || last.contains("rejected"),
        "no line saying what is wrong: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_deleted_under_a_running_pipeline_stops_it_with_one_line_saying_so() {
    let settings = crate::support::settings_for("deleted-bucket");
    crate::pipeline::seed_one_day(&settings, 50, 302).await;
    let clients = crate::support::clients(&settings).await;
    let env = crate::pipeline::env_for(&settings);
    let mut env = crate::support::borrowed(&env);
    env.push(("PRECIS_FLUSH_AGE_SECS", "1"));
    let mut child = Watched::spawn(&mut precis_command(&["run", "--no-ui"], &env));
    child.wait_for_records(50).await;
    // Emptied, then deleted (S3 deletes only empty buckets).
    let bucket = &settings.lake.bucket;
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    for object in listed.contents() {
        let key = object.key().unwrap();
        clients
            .s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    clients
        .s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("delete the bucket");
    // New records make a chunk that has nowhere to go.
    let late = (0..5).map(|i| {
        let body =
            format!(r#"{{"id":"late-{i}","content":"A late article, number {i}, with words."}}"#);
        (format!("late-{i}"), body.into_bytes())
    });
    crate::pipeline::put_raw(&clients, &settings.stream.name, late).await;
    let (output, waited, last) = wait_for_the_stop(child).await;
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        waited < CUT_OFF_STOP,
        "still running {waited:?} after the bucket was deleted"
    );
    assert!(last.contains("bucket does not exist"), "{stderr}");
}

/// The documented bound on a stop after what retrying cannot fix (README, exit codes): a 10 s
/// grace, plus meeting the failure (the next shard listing, GetRecords or chunk commit, with a
/// 1 s flush age) and a margin for a loaded 2-core CI machine. Unloaded, these stops take 6–14 s.
pub(crate) const CUT_OFF_STOP: Duration = Duration::from_secs(10 + 15);

/// How long a test waits for a started pipeline's first stats line to count its records (the
/// line comes every 5 s).
pub(crate) const READ_LIMIT: Duration = Duration::from_secs(60);

/// Waits for a pipeline that was just cut off (its stream or bucket deleted, its credentials
/// refused) to end: its output, how long it took, and its last `error:` line.
pub(crate) async fn wait_for_the_stop(child: Watched) -> (std::process::Output, Duration, String) {
    let deleted = std::time::Instant::now();
    let output = child
        .finish_within(Duration::from_secs(180), "a pipeline that was cut off")
        .await;
    let waited = deleted.elapsed();
    let last = stderr_of(&output)
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_string();
    eprintln!("stopped {waited:?} after it was cut off: {last}");
    (output, waited, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_of_the_config_file_points_every_command_at_its_stream_and_bucket() {
    let settings = crate::support::settings_for("context");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("precis.toml");
    // The file's own endpoint leads nowhere: only the context's reaches moto.
    std::fs::write(
        &file,
        format!(
            "[aws]\nendpoint_url = \"{}\"\n\n[contexts.local.aws]\nendpoint_url = \"{}\"\n\
             [contexts.local.stream]\nname = \"{}\"\n[contexts.local.lake]\nbucket = \"{}\"\n",
            endpoint_nobody_listens_on(),
            moto().endpoint,
            settings.stream.name,
            settings.lake.bucket
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let with_flag = |args: &[&str]| {
        let mut all = vec!["--config", config, "--context", "local"];
        all.extend_from_slice(args);
        crate::support::precis_ok(&[], &all)
    };
    with_flag(&["produce", "--records", "5"]);
    let clients = crate::support::clients(&settings).await;
    assert_eq!(read_stream(&clients, &settings.stream.name).await.len(), 5);

    let shown = with_flag(&["config"]);
    assert!(shown.contains("# context: local"), "{shown}");
    assert!(
        shown.contains(&format!(
            "name = \"{}\"  # context local",
            settings.stream.name
        )),
        "{shown}"
    );

    // PRECIS_CONTEXT names it too, for every command.
    let env = [("PRECIS_CONTEXT", "local".to_string())];
    let lines = crate::support::precis_ok(&env, &["--config", config, "inspect", "-n", "2"]);
    assert_eq!(lines.lines().count(), 2, "{lines}");

    let (output, _) = run_precis(
        &["--config", config, "--context", "prod", "config"],
        &[],
        LIMIT,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("context prod: ")
            && stderr_of(&output).contains("its contexts: local"),
        "{}",
        stderr_of(&output)
    );
}
