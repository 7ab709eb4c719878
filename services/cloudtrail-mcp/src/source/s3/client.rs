//! The S3 requests of the S3 archive (ListObjectsV2 and GetObject with the real SDK client), and
//! their errors as [`SourceError`]s that name the bucket and key and keep S3's message.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;

use super::location::S3Location;
use super::plan;
use crate::source::SourceError;

/// One log file as a listing showed it; a day is reloaded when its listing changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub key: String,
    pub size: i64,
    pub e_tag: Option<String>,
}

/// Every page of the delimited listing of `prefix` (its folders and the files directly in it),
/// handed to `take` in order.
async fn delimited_listing(
    client: &Client,
    location: &S3Location,
    prefix: &str,
    mut take: impl FnMut(ListObjectsV2Output),
) -> Result<(), SourceError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(location.bucket())
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        take(page.map_err(|e| map_error(e, location, prefix))?);
    }
    Ok(())
}

/// The names of the folders directly below `prefix` (a delimited listing, every page).
pub async fn list_folders(
    client: &Client,
    location: &S3Location,
    prefix: &str,
) -> Result<Vec<String>, SourceError> {
    let mut names = Vec::new();
    delimited_listing(client, location, prefix, |page| {
        names.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .filter_map(|p| plan::child(prefix, p))
                .map(str::to_owned),
        );
    })
    .await?;
    Ok(names)
}

/// The log files directly in the folder `prefix` (every page), sorted by key.
pub async fn list_files(
    client: &Client,
    location: &S3Location,
    prefix: &str,
) -> Result<Vec<FileStamp>, SourceError> {
    let mut files = Vec::new();
    delimited_listing(client, location, prefix, |page| {
        files.extend(page.contents().iter().filter_map(|o| {
            let key = o.key()?;
            plan::is_log_file(key).then(|| FileStamp {
                key: key.to_owned(),
                size: o.size().unwrap_or(0),
                e_tag: o.e_tag().map(str::to_owned),
            })
        }));
    })
    .await?;
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

/// The bytes of the object `key`, or `None` when it no longer exists (a lifecycle rule removed
/// it between the listing and the download).
pub async fn get(
    client: &Client,
    location: &S3Location,
    key: &str,
) -> Result<Option<Vec<u8>>, SourceError> {
    let output = match client
        .get_object()
        .bucket(location.bucket())
        .key(key)
        .send()
        .await
    {
        Ok(output) => output,
        Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
        Err(e) => return Err(map_error(e, location, key)),
    };
    let body = output.body.collect().await.map_err(|e| SourceError::S3 {
        location: location.url_of(key),
        message: format!("the download broke off: {}", DisplayErrorContext(&e)),
    })?;
    Ok(Some(body.into_bytes().to_vec()))
}

/// Maps an SDK error of a request for `key` (an object or a prefix) to a source error.
pub fn map_error<E>(error: SdkError<E>, location: &S3Location, key: &str) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let at = location.url_of(key);
    match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("Unknown");
            let status = service.raw().status().as_u16();
            let message = format!("{code}: {}", err.message().unwrap_or("no message"));
            match code {
                "NoSuchBucket" => SourceError::S3NoBucket {
                    bucket: location.bucket().to_owned(),
                    message,
                },
                "AccessDenied" | "AllAccessDisabled" => SourceError::S3AccessDenied {
                    location: at,
                    message,
                },
                c if c.starts_with("KMS.") => SourceError::S3AccessDenied {
                    location: at,
                    message,
                },
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "TokenRefreshRequired" => SourceError::Credentials(message),
                "SlowDown" | "RequestLimitExceeded" | "Throttling" => SourceError::S3 {
                    location: at,
                    message: format!(
                        "{message} (throttled even after retries; narrow the window or the accounts and regions)"
                    ),
                },
                // HEAD-like answers without a body carry no code: the status says it.
                _ if status == 404 && code == "Unknown" => SourceError::S3NoBucket {
                    bucket: location.bucket().to_owned(),
                    message: format!("HTTP 404 for {at}"),
                },
                _ if status == 403 && code == "Unknown" => SourceError::S3AccessDenied {
                    location: at,
                    message: "HTTP 403".to_owned(),
                },
                _ => SourceError::S3 {
                    location: at,
                    message,
                },
            }
        }
        SdkError::TimeoutError(_) => SourceError::S3 {
            location: at,
            message: "the request to S3 timed out".to_owned(),
        },
        _ => {
            let text = DisplayErrorContext(&error).to_string();
            if text.to_ascii_lowercase().contains("credentials") {
                SourceError::Credentials(text)
            } else {
                SourceError::S3 {
                    location: at,
                    message: text,
                }
            }
        }
    }
}

/// The text of a downloaded log file: gunzipped when it is gzip (by its magic bytes, so an
/// object a proxy already inflated reads too), else as UTF-8.
pub fn decode(bytes: &[u8]) -> Result<String, std::io::Error> {
    use std::io::Read;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)?;
        Ok(text)
    } else {
        String::from_utf8(bytes.to_vec())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use std::io::Write;

    fn mapped(code: &str, status: u16) -> SourceError {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("what S3 said")
            .build();
        let response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        let error = SdkError::service_error(ListObjectsV2Error::generic(meta), response);
        let location: S3Location = "s3://trail-bucket/org/".parse().unwrap();
        map_error(error, &location, "org/AWSLogs/")
    }

    #[test]
    fn s3_errors_name_the_bucket_and_key_and_keep_the_message() {
        let err = mapped("AccessDenied", 403);
        assert!(matches!(err, SourceError::S3AccessDenied { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("s3://trail-bucket/org/AWSLogs/"), "{text}");
        assert!(text.contains("AccessDenied: what S3 said"), "{text}");
        assert!(text.contains("s3:ListBucket"), "{text}");
        let err = mapped("NoSuchBucket", 404);
        assert!(matches!(err, SourceError::S3NoBucket { .. }), "{err}");
        assert!(err.to_string().contains("`trail-bucket`"), "{err}");
        assert!(matches!(
            mapped("KMS.DisabledException", 400),
            SourceError::S3AccessDenied { .. }
        ));
        assert!(matches!(
            mapped("InvalidAccessKeyId", 403),
            SourceError::Credentials(_)
        ));
        let err = mapped("SlowDown", 503).to_string();
        assert!(
            err.contains("throttled") && err.contains("what S3 said"),
            "{err}"
        );
        let err = mapped("InternalError", 500);
        assert!(matches!(err, SourceError::S3 { .. }), "{err}");
        assert!(
            err.to_string().contains("s3://trail-bucket/org/AWSLogs/"),
            "{err}"
        );
    }

    #[test]
    fn gzip_and_plain_files_decode_and_broken_ones_fail() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"Records":[]}"#).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode(&gz).unwrap(), r#"{"Records":[]}"#);
        assert_eq!(decode(b"{}").unwrap(), "{}");
        assert!(decode(&gz[..gz.len() / 2]).is_err(), "a cut gzip file");
        assert!(decode(&[0xff, 0xfe, 0x00]).is_err(), "not UTF-8");
    }
}
