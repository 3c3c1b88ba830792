//! An export in S3, fetched into a local folder for the statements command: the two manifests and
//! the data files the manifest lists, each streamed to disk in chunks (memory does not grow with
//! a file's size). Nothing is checked here that `Export::open` and `for_each_item` check anyway
//! (counts, MD5s, items): the fetched folder is read exactly like a downloaded one.
//!
//! `s3://bucket/<prefix>` may name the export's own folder (`.../AWSDynamoDB/<export id>/`) or any
//! prefix above it holding exactly one export (`ledger/2026-12-03T00-00-00Z`, as the scheduled
//! export names its prefixes).

use std::fs::{self, File};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::export::{Export, ExportError, FILES_FILE, SUMMARY_FILE};
use super::run::{beside_out, run, Options, Report, RunError};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0:?} is not an s3://bucket/prefix URL")]
    NotAnS3Url(String),
    #[error("no export under s3://{bucket}/{prefix} (no {SUMMARY_FILE} there)")]
    NoExport { bucket: String, prefix: String },
    #[error("{count} exports under s3://{bucket}/{prefix}; name one: {listing}")]
    SeveralExports {
        bucket: String,
        prefix: String,
        count: usize,
        listing: String,
    },
    #[error("s3://{bucket}/{key}: {message}")]
    S3 {
        bucket: String,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `s3://bucket/prefix` split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

pub fn parse_s3_url(url: &str) -> Result<S3Url, FetchError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| FetchError::NotAnS3Url(url.to_owned()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(FetchError::NotAnS3Url(url.to_owned()));
    }
    Ok(S3Url {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// What was fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The export's folder in S3 (`s3://bucket/.../AWSDynamoDB/<id>/`).
    pub source: String,
    pub files: usize,
    pub bytes: u64,
}

fn s3_error(bucket: &str, key: &str, e: impl std::error::Error) -> FetchError {
    FetchError::S3 {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
    }
}

/// The key prefixes (ending in `/`) of every export folder under `url`.
async fn export_folders(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
) -> Result<Vec<String>, FetchError> {
    let mut folders = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&url.bucket)
        .prefix(&url.prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| s3_error(&url.bucket, &url.prefix, e))?;
        for object in page.contents() {
            if let Some(folder) = object
                .key()
                .and_then(|k| k.strip_suffix(SUMMARY_FILE))
                .filter(|f| f.is_empty() || f.ends_with('/'))
            {
                folders.push(folder.to_owned());
            }
        }
    }
    Ok(folders)
}

/// Streams one object to `path`; returns its size.
async fn download(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
) -> Result<u64, FetchError> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error(bucket, key, e))?;
    let mut body = object.body;
    let io = |source| FetchError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::create(path).map_err(io)?;
    let mut size = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| s3_error(bucket, key, e))?
    {
        file.write_all(&chunk).map_err(io)?;
        size += chunk.len() as u64;
    }
    file.sync_all().map_err(io)?;
    Ok(size)
}

/// Fetches the one export under `url` into `into` (created; it must not exist).
pub async fn fetch_export(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    into: &Path,
    progress: bool,
) -> Result<Fetched, FetchError> {
    let progress = progress && std::io::stderr().is_terminal();
    let mut folders = export_folders(client, url).await?;
    let folder = match folders.len() {
        0 => {
            return Err(FetchError::NoExport {
                bucket: url.bucket.clone(),
                prefix: url.prefix.clone(),
            })
        }
        1 => folders.remove(0),
        count => {
            return Err(FetchError::SeveralExports {
                bucket: url.bucket.clone(),
                prefix: url.prefix.clone(),
                count,
                listing: folders
                    .iter()
                    .map(|f| format!("s3://{}/{f}", url.bucket))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| FetchError::Io { path, source }
    };
    let data = into.join("data");
    fs::create_dir_all(&data).map_err(io(&data))?;
    let mut bytes = 0u64;
    for name in [SUMMARY_FILE, FILES_FILE] {
        bytes += download(
            client,
            &url.bucket,
            &format!("{folder}{name}"),
            &into.join(name),
        )
        .await?;
    }
    // The manifests are read and checked as they will be read locally; they name the data files.
    let export = Export::open(into)?;
    let names: Vec<String> = export
        .files
        .iter()
        .filter_map(|f| f.path.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    for (i, name) in names.iter().enumerate() {
        if progress {
            eprint!(
                "\rstatements: fetching data file {} of {}",
                i + 1,
                names.len()
            );
        }
        bytes += download(
            client,
            &url.bucket,
            &format!("{folder}data/{name}"),
            &data.join(name),
        )
        .await?;
    }
    if progress && !names.is_empty() {
        eprintln!();
    }
    Ok(Fetched {
        source: format!("s3://{}/{folder}", url.bucket),
        files: names.len() + 2,
        bytes,
    })
}

/// The statements of the export under `url`: fetched into a folder beside `opts.out` (removed
/// afterwards, whatever happens), then read exactly as a downloaded export is. `opts.export` is
/// ignored.
pub async fn run_from_s3(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    opts: &Options,
) -> Result<(Fetched, Report), RunError> {
    let fetched_dir = beside_out(&opts.out, "export")?;
    let result = async {
        let fetched = fetch_export(client, url, &fetched_dir, opts.progress).await?;
        let local = Options {
            export: fetched_dir.clone(),
            ..opts.clone()
        };
        let report = run(&local)?;
        Ok((fetched, report))
    }
    .await;
    let _ = fs::remove_dir_all(&fetched_dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        assert_eq!(
            parse_s3_url("s3://b/ledger/2026-12-03T00-00-00Z").unwrap(),
            S3Url {
                bucket: "b".into(),
                prefix: "ledger/2026-12-03T00-00-00Z".into()
            }
        );
        assert_eq!(parse_s3_url("s3://b").unwrap().prefix, "");
        for bad in ["b/ledger", "s3:///x", "https://b.s3.amazonaws.com/x"] {
            assert!(
                matches!(parse_s3_url(bad), Err(FetchError::NotAnS3Url(_))),
                "{bad}"
            );
        }
    }
}
