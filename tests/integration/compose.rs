//! docker-compose.yml cannot run here (no Docker), so check what can be checked: every `precis`
//! command it runs is one the CLI accepts, and the image's entrypoint is the binary.

use std::path::Path;

use clap::Parser;
use precis::cli::Cli;
use serde_yaml::Value;

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// Services built from our Dockerfile, with the argument vector each one runs.
fn precis_commands() -> Vec<(String, Vec<String>)> {
    let compose: Value = serde_yaml::from_str(&repo_file("docker-compose.yml")).unwrap();
    let services = compose["services"].as_mapping().expect("services");
    let mut commands = Vec::new();
    for (name, service) in services {
        if service.get("build").is_none() {
            continue;
        }
        let args: Vec<String> = match &service["command"] {
            Value::Sequence(items) => items
                .iter()
                .map(|v| v.as_str().expect("string argument").to_string())
                .collect(),
            Value::String(line) => line.split_whitespace().map(str::to_string).collect(),
            other => panic!("service {name:?} has no usable command: {other:?}"),
        };
        commands.push((name.as_str().unwrap().to_string(), args));
    }
    commands
}

#[test]
fn every_precis_command_in_compose_is_accepted_by_the_cli() {
    let commands = precis_commands();
    let names: Vec<&str> = commands.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"generator"), "{names:?}");
    assert!(names.contains(&"worker"), "{names:?}");
    for (service, args) in commands {
        let argv = std::iter::once("precis".to_string()).chain(args.iter().cloned());
        if let Err(err) = Cli::try_parse_from(argv) {
            panic!(
                "service {service}: `precis {}` is rejected:\n{err}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn generator_takes_its_record_count_from_num_records() {
    let compose: Value = serde_yaml::from_str(&repo_file("docker-compose.yml")).unwrap();
    let env = &compose["services"]["generator"]["environment"];
    let value = env["NUM_RECORDS"].as_str().expect("NUM_RECORDS is set");
    assert!(
        value.contains("NUM_RECORDS"),
        "not taken from the host: {value}"
    );
}

#[test]
fn localstack_runs_s3_kinesis_and_dynamodb() {
    let compose: Value = serde_yaml::from_str(&repo_file("docker-compose.yml")).unwrap();
    let services = compose["services"]["localstack"]["environment"]["SERVICES"]
        .as_str()
        .expect("SERVICES");
    for service in ["s3", "kinesis", "dynamodb"] {
        assert!(
            services.split(',').any(|s| s.trim() == service),
            "{services}"
        );
    }
}

#[test]
fn image_entrypoint_is_the_precis_binary() {
    let dockerfile = repo_file("Dockerfile");
    let entrypoint = dockerfile
        .lines()
        .rev()
        .find(|l| l.starts_with("ENTRYPOINT"))
        .expect("ENTRYPOINT");
    assert!(entrypoint.contains("\"precis\""), "{entrypoint}");
    assert!(dockerfile.matches("FROM ").count() >= 2, "not multi-stage");
}

#[test]
fn the_image_carries_the_default_summarizer_model_where_precis_looks_for_it() {
    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("fetch-models minilm"), "{dockerfile}");
    let model_dir = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENV PRECIS_MODEL_DIR="))
        .expect("the runtime image sets PRECIS_MODEL_DIR");
    assert!(
        dockerfile.contains(&format!("COPY --from=models /models {model_dir}")),
        "{dockerfile}"
    );
}
