//! AWS clients built once from the settings, and one way to turn SDK errors into messages that
//! say what to do.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

use crate::config::{redact_url, Origin, Service, Settings};

/// Credentials used against a local emulator when none are configured; moto and LocalStack
/// accept any.
const LOCAL_ACCESS_KEY: &str = "test";

/// Attempts per call (the first plus retries) for throttling, 5xx and connection errors.
const MAX_ATTEMPTS: u32 = 4;

/// The clients, sharing one resolved configuration.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub s3: aws_sdk_s3::Client,
    /// The lease table's (scale-out across workers, docs/scale-out.md).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// What the clients talk to, for messages: the endpoint URL or "AWS <region>".
    pub target: Target,
}

#[derive(Clone, Debug)]
pub struct Target {
    pub label: String,
    pub local: bool,
}

impl AwsClients {
    pub async fn connect(settings: &Settings) -> Self {
        let aws = &settings.aws;
        let attempt_timeout = Duration::from_secs(aws.timeout_secs);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(attempt_timeout.min(Duration::from_secs(5)))
                    .operation_attempt_timeout(attempt_timeout)
                    .build(),
            );
        // A region the user set wins; otherwise the profile's region may still apply. (Not the
        // full default chain: off EC2 its instance-metadata probe only adds delay and a warning.)
        loader = if settings.origin("aws.region") == Origin::Default {
            let mut profile_region = ProfileFileRegionProvider::builder();
            if let Some(profile) = &aws.profile {
                profile_region = profile_region.profile_name(profile);
            }
            loader.region(
                RegionProviderChain::first_try(profile_region.build())
                    .or_else(Region::new(aws.region.clone())),
            )
        } else {
            loader.region(Region::new(aws.region.clone()))
        };
        if let Some(profile) = &aws.profile {
            loader = loader.profile_name(profile);
        }
        // Each client gets its service's endpoint (its own, else the global one); a service with
        // neither keeps the SDK's own resolution (the profile's `services` section, then AWS).
        let local = aws.is_local();
        if local && aws.profile.is_none() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(Credentials::new(
                LOCAL_ACCESS_KEY,
                LOCAL_ACCESS_KEY,
                None,
                None,
                "precis-local-emulator",
            ));
        }
        let shared = loader.load().await;
        let mut kinesis = aws_sdk_kinesis::config::Builder::from(&shared);
        if let Some(url) = aws.endpoint(Service::Kinesis) {
            kinesis.set_endpoint_url(Some(url.to_string()));
        }
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Some(url) = aws.endpoint(Service::DynamoDb) {
            dynamodb.set_endpoint_url(Some(url.to_string()));
        }
        let s3_endpoint = aws.endpoint(Service::S3);
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(url) = s3_endpoint {
            s3.set_endpoint_url(Some(url.to_string()));
        }
        // Emulators (MinIO, moto, LocalStack) serve buckets under the path, not as subdomains
        // of the endpoint.
        s3.set_force_path_style(Some(s3_endpoint.is_some()));
        let (kinesis, dynamodb, s3) = (
            aws_sdk_kinesis::Client::from_conf(kinesis.build()),
            aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            aws_sdk_s3::Client::from_conf(s3.build()),
        );
        let region = shared.region().map(|r| r.as_ref()).unwrap_or(&aws.region);
        let at = |service| match aws.endpoint(service) {
            Some(url) => redact_url(url),
            None => format!("AWS {region}"),
        };
        let (kinesis_at, s3_at) = (at(Service::Kinesis), at(Service::S3));
        let label = if kinesis_at == s3_at {
            kinesis_at
        } else {
            format!("Kinesis at {kinesis_at}, S3 at {s3_at}")
        };
        Self {
            kinesis,
            s3,
            dynamodb,
            target: Target { label, local },
        }
    }

    /// The same clients making one attempt per call, for the pipeline, whose loops retry by
    /// themselves (`pipeline::retry`): retries do not multiply.
    pub fn single_attempt(&self) -> Self {
        let once = RetryConfig::disabled();
        Self {
            kinesis: aws_sdk_kinesis::Client::from_conf(
                self.kinesis
                    .config()
                    .to_builder()
                    .retry_config(once.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                self.s3
                    .config()
                    .to_builder()
                    .retry_config(once.clone())
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                self.dynamodb
                    .config()
                    .to_builder()
                    .retry_config(once)
                    .build(),
            ),
            target: self.target.clone(),
        }
    }

    /// Turns an SDK error into one line (what failed, why, and what to do about it), carried by an
    /// [`AwsError`] that says whether retrying can help.
    pub fn explain<E>(
        &self,
        what: &str,
        err: &SdkError<E, aws_sdk_kinesis::config::http::HttpResponse>,
    ) -> anyhow::Error
    where
        E: StdError + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let target = &self.target.label;
        let (kind, message) = match err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                let detail = error_chain(err);
                let (kind, hint) = if detail.contains("credentials") || detail.contains("identity")
                {
                    (
                        ErrorKind::Stop,
                        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE".to_string(),
                    )
                } else if detail.contains("certificate") {
                    (
                        ErrorKind::Stop,
                        "the endpoint's TLS certificate is not trusted here (précis always \
                         verifies TLS): give the server a certificate from a trusted authority, \
                         or add its authority to the system's trust store"
                            .to_string(),
                    )
                } else if self.target.local {
                    (
                        ErrorKind::Retry,
                        "start local AWS with `scripts/local-aws start`, or point --endpoint-url \
                         / AWS_ENDPOINT_URL at a running emulator"
                            .to_string(),
                    )
                } else {
                    (
                        ErrorKind::Retry,
                        "check the network, the region and --endpoint-url".to_string(),
                    )
                };
                (
                    kind,
                    format!("{what}: cannot reach {target} ({detail}); {hint}"),
                )
            }
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("error");
                let status = service.raw().status().as_u16();
                let detail = format!(
                    "{what} at {target}: {code}: {}",
                    e.message().unwrap_or("no message")
                );
                match classify(code, status) {
                    Some(hint) => (ErrorKind::Stop, format!("{detail}; {hint}")),
                    None => (ErrorKind::Retry, detail),
                }
            }
            _ => (
                ErrorKind::Retry,
                format!("{what} at {target}: {}", error_chain(err)),
            ),
        };
        anyhow::Error::new(AwsError { kind, message })
    }
}

/// Whether retrying an AWS call can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttling, 5xx, timeouts, connection resets: retried with backoff.
    Retry,
    /// A missing stream or bucket, refused or invalid credentials, a request the service
    /// rejects: the run stops with the message, which says what to do.
    Stop,
}

/// An AWS call that failed, as one line, and its kind.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub kind: ErrorKind,
    message: String,
}

impl AwsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Whether an error (or one of its causes) is an AWS failure that retrying cannot fix.
pub fn is_terminal(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<AwsError>()
            .is_some_and(|a| a.kind == ErrorKind::Stop)
    })
}

/// Whether an error (or one of its causes) is a failure that may heal by itself: an SDK call's
/// (throttling, 5xx, timeouts, resets: [`ErrorKind::Retry`]), or the tables' object store's
/// `Generic` error (5xx, timeouts and resets once the store's own retries are spent). Where
/// delta-rs hands the store's error on as text only (its kernel's log reads), the text is read
/// for the same failures.
pub fn may_heal(err: &anyhow::Error) -> bool {
    let structured = err.chain().find_map(|e| {
        if let Some(aws) = e.downcast_ref::<AwsError>() {
            return Some(aws.kind == ErrorKind::Retry);
        }
        e.downcast_ref::<object_store::Error>()
            .map(|store| matches!(store, object_store::Error::Generic { .. }))
    });
    structured.unwrap_or_else(|| {
        let text = format!("{err:#}");
        [
            "Service Unavailable",
            "SlowDown",
            "Internal Server Error",
            "InternalError",
            "timed out",
            "connection",
            "Connection",
            "error sending request",
        ]
        .iter()
        .any(|marker| text.contains(marker))
    })
}

/// A failure retrying cannot fix, as a terminal [`AwsError`] that says what to do: an SDK call's
/// ([`ErrorKind::Stop`]), or the tables' object store refusing the credentials
/// (`PermissionDenied`, `Unauthenticated`) or missing the bucket (`NotFound` naming
/// NoSuchBucket). Where delta-rs hands the store's error on as text only, its S3 code is read
/// from the text.
pub fn terminal(err: &anyhow::Error) -> Option<anyhow::Error> {
    let text = format!("{err:#}");
    if is_terminal(err) {
        return Some(anyhow::Error::new(AwsError {
            kind: ErrorKind::Stop,
            message: text,
        }));
    }
    const CODES: [&str; 5] = [
        "NoSuchBucket",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    ];
    let named = CODES.into_iter().find(|code| text.contains(code));
    let store = err
        .chain()
        .find_map(|e| e.downcast_ref::<object_store::Error>());
    let code = match store {
        Some(object_store::Error::PermissionDenied { .. })
        | Some(object_store::Error::Unauthenticated { .. }) => named
            .filter(|c| *c != "NoSuchBucket")
            .unwrap_or("AccessDenied"),
        Some(object_store::Error::NotFound { .. }) => named.filter(|c| *c == "NoSuchBucket")?,
        Some(_) => return None,
        None => named?,
    };
    let hint = classify(code, 0)?;
    // The store's own text spans lines (it quotes S3's XML answer): one line instead.
    let what = err
        .chain()
        .next()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Some(anyhow::Error::new(AwsError {
        kind: ErrorKind::Stop,
        message: format!("{what}: S3 answered {code}; {hint}"),
    }))
}

/// For an error code (or HTTP status) that retrying cannot fix, what to do about it.
fn classify(code: &str, status: u16) -> Option<&'static str> {
    match code {
        "ResourceNotFoundException" => Some(
            "the stream (or lease table) does not exist: create it (`precis produce` makes the \
             stream) or point --stream / --lease-table at an existing one",
        ),
        "NoSuchBucket" => Some(
            "the bucket does not exist: create it (`precis run` makes it when it starts) or point \
             --bucket at an existing one",
        ),
        "AccessDenied"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "MissingAuthenticationToken" => Some(
            "the credentials were refused: check AWS_PROFILE or the AWS_* keys (expired session?) \
             and that they allow what deploy/iam-policy.json lists",
        ),
        "ValidationException" | "InvalidArgumentException" => {
            Some("the request was rejected as invalid: check the settings (`precis config`)")
        }
        _ if status == 403 => Some(
            "the credentials were refused: check AWS_PROFILE or the AWS_* keys and their \
             permissions",
        ),
        _ => None,
    }
}

/// The error and its causes on one line ("dispatch failure: io error: … Connection refused"),
/// without the Debug dump the SDK's own context printer appends, and without repeats.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ").replace('\n', " ")
}
