//! The exporter's HTTP client, and what it takes to send spans straight to AWS X-Ray's OTLP
//! traces endpoint (`https://xray.<region>.amazonaws.com/v1/traces`): a SigV4 signature for the
//! service `xray` over each export, with the process's own AWS credentials (the ECS task role,
//! the Lambda execution role) from aws-config's default chain. The role needs
//! `xray:PutTraceSegments`, which is what that endpoint authorizes, and the account needs
//! CloudWatch Transaction Search on (the endpoint's destination is CloudWatch Logs).
//!
//! This replaces a collector beside each process (an ADOT sidecar in the task, the collector
//! Lambda layer): no extra container to size, pin and patch, no per-region layer ARN, and the
//! Lambda's spans go out with the flush it already makes before each answer.
//!
//! `AWS_ENDPOINT_URL_XRAY` (the SDKs' per-service endpoint override) sends the signed requests
//! elsewhere, e.g. a test's receiver; the signature is still for the X-Ray region.

use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{HttpClient, HttpError};
use tokio::sync::OnceCell;

use crate::sigv4::SigV4Signer;

/// The region of an X-Ray OTLP endpoint (`https://xray.<region>.amazonaws.com[/...]`, or the
/// `amazonaws.com.cn` partition's), if `url` is one.
pub fn region_of(url: &str) -> Option<String> {
    let rest = url.trim().strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    let region = host
        .strip_prefix("xray.")?
        .strip_suffix(".amazonaws.com")
        .or_else(|| {
            host.strip_prefix("xray.")?
                .strip_suffix(".amazonaws.com.cn")
        })?;
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    valid.then(|| region.to_owned())
}

/// The OTLP exporter's HTTP client: hyper over rustls (native roots), signing for X-Ray when the
/// endpoint is X-Ray's.
#[derive(Debug)]
pub struct OtlpClient {
    http: HyperClient<HttpsConnector<HttpConnector>>,
    xray: Option<XRay>,
}

#[derive(Debug)]
struct XRay {
    region: String,
    /// Where requests go instead of the X-Ray endpoint (`AWS_ENDPOINT_URL_XRAY`).
    endpoint_override: Option<Uri>,
    /// Made on the first export: aws-config's chain is async, and the process may never export.
    signer: OnceCell<SigV4Signer>,
}

impl OtlpClient {
    /// A client with `timeout` per export; `xray_region` when the endpoint is X-Ray's.
    pub fn new(
        timeout: Duration,
        xray_region: Option<String>,
        endpoint_override: Option<Uri>,
    ) -> Result<Self, std::io::Error> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            http: HyperClient::new(connector, timeout, None),
            xray: xray_region.map(|region| XRay {
                region,
                endpoint_override,
                signer: OnceCell::new(),
            }),
        })
    }
}

/// `uri` with its scheme and authority (and a path prefix) taken from `base`.
fn redirect(uri: &Uri, base: &Uri) -> Result<Uri, http::Error> {
    let prefix = base.path().trim_end_matches('/');
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(format!("{prefix}{path}").parse()?);
    Ok(Uri::from_parts(parts)?)
}

#[async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        if let Some(xray) = &self.xray {
            if let Some(base) = &xray.endpoint_override {
                *request.uri_mut() = redirect(request.uri(), base)?;
            }
            let signer = xray
                .signer
                .get_or_init(|| async {
                    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .region(aws_config::Region::new(xray.region.clone()))
                        .build()
                        .await;
                    SigV4Signer::new(
                        SharedCredentialsProvider::new(chain),
                        xray.region.clone(),
                        "xray",
                    )
                })
                .await;
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/x-protobuf")
                .to_owned();
            let headers = signer
                .sign(
                    request.method().as_str(),
                    &request.uri().to_string(),
                    &[("content-type", &content_type)],
                    request.body(),
                )
                .await?;
            request.headers_mut().extend(headers);
        }
        self.http.send_bytes(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_xray_hosts_over_https_name_a_region() {
        let region = |url| region_of(url);
        assert_eq!(
            region("https://xray.us-east-1.amazonaws.com/v1/traces").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region("https://xray.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(
            region("http://xray.us-east-1.amazonaws.com/v1/traces"),
            None
        );
        assert_eq!(region("https://xray.evil.example/v1/traces"), None);
        assert_eq!(region("https://xray.a.b.amazonaws.com/v1/traces"), None);
        assert_eq!(region("https://collector:4318/v1/traces"), None);
    }

    #[test]
    fn an_override_keeps_the_path_and_query() {
        let uri: Uri = "https://xray.us-east-1.amazonaws.com/v1/traces"
            .parse()
            .unwrap();
        let base: Uri = "http://127.0.0.1:4318".parse().unwrap();
        assert_eq!(
            redirect(&uri, &base).unwrap().to_string(),
            "http://127.0.0.1:4318/v1/traces"
        );
        let base: Uri = "http://127.0.0.1:4318/prefix/".parse().unwrap();
        assert_eq!(
            redirect(&uri, &base).unwrap().to_string(),
            "http://127.0.0.1:4318/prefix/v1/traces"
        );
    }
}
