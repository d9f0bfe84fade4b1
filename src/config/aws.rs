//! AWS: region, endpoints (global and per service), profile, and the limit on one call.

use serde::{Deserialize, Serialize};

use super::values::*;
use super::{FlagScope, SettingSpec};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSettings {
    #[serde(deserialize_with = "region")]
    pub region: String,
    /// Every service's endpoint, unless the service has its own below.
    #[serde(deserialize_with = "endpoint")]
    pub endpoint_url: Option<String>,
    #[serde(deserialize_with = "endpoint")]
    pub endpoint_url_kinesis: Option<String>,
    #[serde(deserialize_with = "endpoint")]
    pub endpoint_url_s3: Option<String>,
    #[serde(deserialize_with = "endpoint")]
    pub endpoint_url_dynamodb: Option<String>,
    #[serde(deserialize_with = "some_non_empty")]
    pub profile: Option<String>,
    /// Limit on one attempt of one AWS call; with the SDK's retries it bounds how long an
    /// unreachable endpoint can stall a command.
    #[serde(deserialize_with = "whole::<_, _, 1, 600>")]
    pub timeout_secs: u64,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            endpoint_url: None,
            endpoint_url_kinesis: None,
            endpoint_url_s3: None,
            endpoint_url_dynamodb: None,
            profile: None,
            timeout_secs: 20,
        }
    }
}

/// The AWS services précis talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Kinesis,
    S3,
    DynamoDb,
}

impl AwsSettings {
    /// Where a service's calls go: its own endpoint (the SDKs' `AWS_ENDPOINT_URL_<SERVICE>`),
    /// else the global one; None is real AWS.
    pub fn endpoint(&self, service: Service) -> Option<&str> {
        let own = match service {
            Service::Kinesis => &self.endpoint_url_kinesis,
            Service::S3 => &self.endpoint_url_s3,
            Service::DynamoDb => &self.endpoint_url_dynamodb,
        };
        own.as_deref().or(self.endpoint_url.as_deref())
    }

    /// The stream and the lake are both on local emulators: dummy credentials are fine there.
    pub fn is_local(&self) -> bool {
        [Service::Kinesis, Service::S3]
            .iter()
            .all(|s| self.endpoint(*s).is_some_and(is_local_endpoint))
    }
}

/// This section's settings: names, flags and forms (the fields above hold the values).
pub(super) const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "aws.region",
        env: &["AWS_REGION", "AWS_DEFAULT_REGION"],
        flag: "--region",
        value_name: "REGION",
        help: "AWS region",
        accepted: "an AWS region name such as us-east-1",
        default_note: None,
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "aws.endpoint_url",
        env: &["AWS_ENDPOINT_URL"],
        flag: "--endpoint-url",
        value_name: "URL",
        help: "AWS endpoint, e.g. http://127.0.0.1:4566 for local AWS",
        accepted: "an http:// or https:// URL such as http://127.0.0.1:4566",
        default_note: Some("real AWS endpoints for the region"),
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "aws.endpoint_url_kinesis",
        env: &["AWS_ENDPOINT_URL_KINESIS"],
        flag: "--endpoint-url-kinesis",
        value_name: "URL",
        help: "Kinesis's own endpoint, over --endpoint-url",
        accepted: "an http:// or https:// URL for Kinesis alone (wins over aws.endpoint_url)",
        default_note: Some("aws.endpoint_url, the profile's services section, or real AWS"),
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "aws.endpoint_url_s3",
        env: &["AWS_ENDPOINT_URL_S3"],
        flag: "--endpoint-url-s3",
        value_name: "URL",
        help: "S3's own endpoint (MinIO, say), over --endpoint-url",
        accepted: "an http:// or https:// URL for S3 alone (wins over aws.endpoint_url)",
        default_note: Some("aws.endpoint_url, the profile's services section, or real AWS"),
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "aws.endpoint_url_dynamodb",
        env: &["AWS_ENDPOINT_URL_DYNAMODB"],
        flag: "--endpoint-url-dynamodb",
        value_name: "URL",
        help: "DynamoDB's own endpoint (the lease table), over --endpoint-url",
        accepted: "an http:// or https:// URL for DynamoDB alone (wins over aws.endpoint_url)",
        default_note: Some("aws.endpoint_url, the profile's services section, or real AWS"),
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "aws.profile",
        env: &["AWS_PROFILE"],
        flag: "--profile",
        value_name: "NAME",
        help: "AWS profile for credentials",
        accepted: "a profile name from ~/.aws/config",
        default_note: Some("the default credential chain"),
        scopes: &[FlagScope::Global],
    },
    SettingSpec {
        key: "aws.timeout_secs",
        env: &["PRECIS_AWS_TIMEOUT_SECS"],
        flag: "--aws-timeout-secs",
        value_name: "SECS",
        help: "Seconds one AWS call attempt may take before it is retried or fails",
        accepted: "a whole number of seconds from 1 to 600",
        default_note: None,
        scopes: &[FlagScope::Global],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::load;

    #[test]
    fn a_services_own_endpoint_wins_over_the_global_one_for_that_service_only() {
        let s = load(
            None,
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                ("AWS_ENDPOINT_URL_S3", "http://minio:9000/"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.aws.endpoint(Service::S3), Some("http://minio:9000"));
        assert_eq!(
            s.aws.endpoint(Service::Kinesis),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(
            s.aws.endpoint(Service::DynamoDb),
            Some("http://127.0.0.1:4566")
        );
        assert!(s.aws.is_local());
    }

    #[test]
    fn a_local_stream_with_the_lake_on_aws_is_not_local() {
        let s = load(
            None,
            &[("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4566")],
            &[],
        )
        .unwrap();
        assert_eq!(s.aws.endpoint(Service::S3), None);
        assert!(!s.aws.is_local());
    }
}
