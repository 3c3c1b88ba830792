//! Reading a DynamoDB export (DynamoDB JSON) of the ledger table from a folder: the layout
//! `ExportTableToPointInTime` writes under `<prefix>/AWSDynamoDB/<export id>/`:
//!
//! ```text
//! manifest-summary.json   the export: table, exportTime (the cut-off), itemCount, outputFormat
//! manifest-files.json     one JSON object per line: dataFileS3Key, itemCount, md5Checksum
//! data/<name>.json.gz     gzip, one `{"Item": {...}}` per line
//! ```
//!
//! Nothing is taken on trust: every data file the manifest names must be there, decompress to the
//! end, match its MD5 and hold exactly its item count, and the counts must add up to the
//! summary's. Any failure names the file (and the line, for an item) and nothing is returned as a
//! result: a short total is never produced silently.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::Deserialize;

use super::booked::{BookedEntry, ItemError};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{file}: {message}")]
    Manifest { file: PathBuf, message: String },
    #[error("{file}: cannot read it: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: truncated or corrupt after line {line}: {message}")]
    Truncated {
        file: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{file}, line {line}: {error}")]
    Item {
        file: PathBuf,
        line: u64,
        error: ItemError,
    },
    #[error("{file}: holds {found} items, the manifest says {expected}")]
    FileCount {
        file: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{file}: MD5 {found} is not the manifest's {expected}")]
    Checksum {
        file: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{file}: the data files hold {found} items, the summary says {expected}")]
    TotalCount {
        file: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{0}")]
    Sink(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSummary {
    export_arn: Option<String>,
    table_arn: Option<String>,
    export_time: Option<String>,
    item_count: Option<u64>,
    output_format: Option<String>,
    manifest_files_s3_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDataFile {
    item_count: Option<u64>,
    md5_checksum: Option<String>,
    data_file_s3_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    pub item_count: u64,
    /// Base64 of the file's MD5, as the manifest gives it.
    pub md5: String,
}

/// An export, its manifests read and checked for shape.
#[derive(Debug, Clone)]
pub struct Export {
    pub folder: PathBuf,
    pub export_arn: String,
    pub table_arn: String,
    /// The point in time the export is of: nothing booked after it is in it.
    pub export_time: DateTime<Utc>,
    pub item_count: u64,
    pub files: Vec<DataFile>,
}

pub const SUMMARY_FILE: &str = "manifest-summary.json";
pub const FILES_FILE: &str = "manifest-files.json";

fn manifest_error(file: &Path, message: impl Into<String>) -> ExportError {
    ExportError::Manifest {
        file: file.to_owned(),
        message: message.into(),
    }
}

fn required<T>(file: &Path, field: &str, v: Option<T>) -> Result<T, ExportError> {
    v.ok_or_else(|| manifest_error(file, format!("{field} is missing")))
}

impl Export {
    /// Reads the manifests of the export in `folder` (the `AWSDynamoDB/<export id>/` folder).
    pub fn open(folder: &Path) -> Result<Export, ExportError> {
        let summary_path = folder.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&summary_path).map_err(|source| ExportError::Io {
            file: summary_path.clone(),
            source,
        })?;
        let raw: RawSummary = serde_json::from_str(&text)
            .map_err(|e| manifest_error(&summary_path, format!("not a manifest summary: {e}")))?;
        let format = required(&summary_path, "outputFormat", raw.output_format)?;
        if format != "DYNAMODB_JSON" {
            return Err(manifest_error(
                &summary_path,
                format!("outputFormat is {format}; the statements read DYNAMODB_JSON"),
            ));
        }
        let time_text = required(&summary_path, "exportTime", raw.export_time)?;
        let export_time = DateTime::parse_from_rfc3339(&time_text)
            .map_err(|e| manifest_error(&summary_path, format!("exportTime {time_text:?}: {e}")))?
            .with_timezone(&Utc);
        let item_count = required(&summary_path, "itemCount", raw.item_count)?;
        let files_key = required(
            &summary_path,
            "manifestFilesS3Key",
            raw.manifest_files_s3_key,
        )?;
        if !files_key.ends_with(FILES_FILE) {
            return Err(manifest_error(
                &summary_path,
                format!("manifestFilesS3Key {files_key:?} does not name {FILES_FILE}"),
            ));
        }
        let files_path = folder.join(FILES_FILE);
        let listing = std::fs::read_to_string(&files_path).map_err(|source| ExportError::Io {
            file: files_path.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for (n, line) in listing.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |m: String| manifest_error(&files_path, format!("line {}: {m}", n + 1));
            let raw: RawDataFile = serde_json::from_str(line)
                .map_err(|e| at(format!("not a data file entry: {e}")))?;
            let key = raw
                .data_file_s3_key
                .ok_or_else(|| at("dataFileS3Key is missing".into()))?;
            let name = match key.rsplit_once("/data/") {
                Some((_, name)) if !name.is_empty() && !name.contains('/') => name,
                _ => return Err(at(format!("dataFileS3Key {key:?} is not under data/"))),
            };
            files.push(DataFile {
                path: folder.join("data").join(name),
                item_count: raw
                    .item_count
                    .ok_or_else(|| at("itemCount is missing".into()))?,
                md5: raw
                    .md5_checksum
                    .ok_or_else(|| at("md5Checksum is missing".into()))?,
            });
        }
        let listed: u64 = files.iter().map(|f| f.item_count).sum();
        if listed != item_count {
            return Err(ExportError::TotalCount {
                file: files_path,
                expected: item_count,
                found: listed,
            });
        }
        Ok(Export {
            folder: folder.to_owned(),
            export_arn: required(&summary_path, "exportArn", raw.export_arn)?,
            table_arn: required(&summary_path, "tableArn", raw.table_arn)?,
            export_time,
            item_count,
            files,
        })
    }

    /// Streams every item of every data file to `sink` (the line as exported, and the entry),
    /// checking each file's count and checksum. Memory is one line at a time.
    pub fn for_each_item(
        &self,
        mut sink: impl FnMut(&str, BookedEntry) -> Result<(), String>,
    ) -> Result<u64, ExportError> {
        let mut total = 0;
        for file in &self.files {
            total += read_data_file(file, &mut sink)?;
        }
        if total != self.item_count {
            return Err(ExportError::TotalCount {
                file: self.folder.join(SUMMARY_FILE),
                expected: self.item_count,
                found: total,
            });
        }
        Ok(total)
    }
}

/// Feeds what is read through it to an MD5.
struct Md5Reader<R> {
    inner: R,
    md5: Md5,
}

impl<R: Read> Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }
}

fn read_data_file(
    file: &DataFile,
    sink: &mut impl FnMut(&str, BookedEntry) -> Result<(), String>,
) -> Result<u64, ExportError> {
    let raw = File::open(&file.path).map_err(|source| ExportError::Io {
        file: file.path.clone(),
        source,
    })?;
    let mut hashed = Md5Reader {
        inner: raw,
        md5: Md5::new(),
    };
    let mut lines = 0u64;
    {
        let gz = flate2::read::MultiGzDecoder::new(&mut hashed);
        let mut reader = BufReader::with_capacity(256 * 1024, gz);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    return Err(ExportError::Truncated {
                        file: file.path.clone(),
                        line: lines,
                        message: e.to_string(),
                    })
                }
            }
            lines += 1;
            let text = line.trim_end_matches(['\n', '\r']);
            let entry = BookedEntry::from_export_line(text).map_err(|error| ExportError::Item {
                file: file.path.clone(),
                line: lines,
                error,
            })?;
            sink(text, entry).map_err(ExportError::Sink)?;
        }
    }
    // Whatever the decoder left unread still counts for the checksum.
    std::io::copy(&mut hashed, &mut std::io::sink()).map_err(|source| ExportError::Io {
        file: file.path.clone(),
        source,
    })?;
    let found = base64::engine::general_purpose::STANDARD.encode(hashed.md5.finalize());
    if found != file.md5 {
        return Err(ExportError::Checksum {
            file: file.path.clone(),
            expected: file.md5.clone(),
            found,
        });
    }
    if lines != file.item_count {
        return Err(ExportError::FileCount {
            file: file.path.clone(),
            expected: file.item_count,
            found: lines,
        });
    }
    Ok(lines)
}

/// Writes `lines` (DynamoDB JSON items, one per line) as an export in DynamoDB's layout, split
/// over `files` data files: what `ExportTableToPointInTime` leaves under `AWSDynamoDB/<id>/`.
/// For tests, benchmarks and fixtures; a deployed stack's exports are written by DynamoDB.
pub fn write_export<I, S>(
    folder: &Path,
    table_arn: &str,
    export_time: DateTime<Utc>,
    files: usize,
    lines: I,
) -> std::io::Result<u64>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    use std::io::Write;
    let files = files.max(1);
    let export_id = format!("{}-fixture", export_time.timestamp_millis());
    std::fs::create_dir_all(folder.join("data"))?;
    let mut writers = Vec::with_capacity(files);
    for n in 0..files {
        let name = format!("part-{n:05}.json.gz");
        let file = File::create(folder.join("data").join(&name))?;
        let gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        writers.push((name, gz, 0u64));
    }
    let mut total = 0u64;
    for (i, line) in lines.into_iter().enumerate() {
        let (_, gz, count) = &mut writers[i % files];
        gz.write_all(line.as_ref().as_bytes())?;
        gz.write_all(b"\n")?;
        *count += 1;
        total += 1;
    }
    let prefix = format!("AWSDynamoDB/{export_id}");
    let mut manifest = String::new();
    for (name, gz, count) in writers {
        gz.finish()?.flush()?;
        let bytes = std::fs::read(folder.join("data").join(&name))?;
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&bytes));
        manifest.push_str(
            &serde_json::json!({
                "itemCount": count,
                "md5Checksum": md5,
                "etag": format!("{:x}", Md5::digest(&bytes)),
                "dataFileS3Key": format!("{prefix}/data/{name}"),
            })
            .to_string(),
        );
        manifest.push('\n');
    }
    std::fs::write(folder.join(FILES_FILE), manifest)?;
    let time = export_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let summary = serde_json::json!({
        "version": "2020-06-30",
        "exportArn": format!("{table_arn}/export/{export_id}"),
        "startTime": time,
        "endTime": time,
        "tableArn": table_arn,
        "tableId": "fixture",
        "exportTime": time,
        "s3Bucket": "fixture",
        "s3Prefix": null,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": null,
        "manifestFilesS3Key": format!("{prefix}/{FILES_FILE}"),
        "billedSizeBytes": 0,
        "itemCount": total,
        "outputFormat": "DYNAMODB_JSON",
    });
    std::fs::write(
        folder.join(SUMMARY_FILE),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(total)
}
