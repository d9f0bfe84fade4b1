//! AWS: region, endpoints (global and per service), profile, and the limit on one call.

use serde::{Deserialize, Serialize};

use super::values::*;

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
