//! `ExportTableToPointInTime` and `DescribeExport` for the finance exports (the `TableExporter`
//! port). DynamoDB JSON, a full export at the request's time, with its client token.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::DateTime as SdkDateTime;
use aws_sdk_dynamodb::types::{ExportFormat, ExportStatus as SdkStatus, ExportType};

use crate::finance::exports::{ExportRequest, ExportStatus, ExporterError, TableExporter};

#[derive(Debug, Clone)]
pub struct DynamoExporter {
    client: aws_sdk_dynamodb::Client,
}

impl DynamoExporter {
    pub fn new(client: aws_sdk_dynamodb::Client) -> Self {
        Self { client }
    }
}

fn exporter_error<E>(e: SdkError<E, HttpResponse>) -> ExporterError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default().to_owned();
            // Throttling and limits pass; a refusal (no PITR, no table, a token reused with other
            // parameters, an ExportTime outside the recovery window) does not.
            let retryable = matches!(
                code.as_str(),
                "ThrottlingException" | "LimitExceededException" | "InternalServerErrorException"
            ) || service.raw().status().is_server_error();
            ExporterError {
                message: format!("{code}: {}", service.err().message().unwrap_or_default()),
                retryable,
            }
        }
        // No answer (timeout, connection): try again.
        _ => ExporterError {
            message: DisplayErrorContext(&e).to_string(),
            retryable: true,
        },
    }
}

fn status(
    status: Option<&SdkStatus>,
    code: Option<&str>,
    message: Option<&str>,
) -> Result<ExportStatus, ExporterError> {
    match status {
        Some(SdkStatus::InProgress) => Ok(ExportStatus::InProgress),
        Some(SdkStatus::Completed) => Ok(ExportStatus::Completed),
        Some(SdkStatus::Failed) => Ok(ExportStatus::Failed {
            code: code.unwrap_or("unknown").to_owned(),
            message: message.unwrap_or_default().to_owned(),
        }),
        other => Err(ExporterError {
            message: format!(
                "DynamoDB answered with an export status this code does not know: {other:?}"
            ),
            retryable: false,
        }),
    }
}

impl TableExporter for DynamoExporter {
    async fn start(&self, r: &ExportRequest) -> Result<(String, ExportStatus), ExporterError> {
        let out = self
            .client
            .export_table_to_point_in_time()
            .table_arn(&r.table_arn)
            .s3_bucket(&r.bucket)
            .s3_prefix(&r.prefix)
            .export_time(SdkDateTime::from_secs(r.export_time.timestamp()))
            .export_format(ExportFormat::DynamodbJson)
            .export_type(ExportType::FullExport)
            .client_token(&r.client_token)
            .send()
            .await
            .map_err(exporter_error)?;
        let d = out.export_description.ok_or_else(|| ExporterError {
            message: "ExportTableToPointInTime answered without an export description".into(),
            retryable: true,
        })?;
        let arn = d.export_arn.clone().ok_or_else(|| ExporterError {
            message: "ExportTableToPointInTime answered without an export ARN".into(),
            retryable: true,
        })?;
        let s = status(
            d.export_status.as_ref(),
            d.failure_code.as_deref(),
            d.failure_message.as_deref(),
        )?;
        Ok((arn, s))
    }

    async fn describe(&self, export_arn: &str) -> Result<ExportStatus, ExporterError> {
        let out = self
            .client
            .describe_export()
            .export_arn(export_arn)
            .send()
            .await
            .map_err(exporter_error)?;
        let d = out.export_description.ok_or_else(|| ExporterError {
            message: format!("DescribeExport {export_arn}: no export description"),
            retryable: true,
        })?;
        status(
            d.export_status.as_ref(),
            d.failure_code.as_deref(),
            d.failure_message.as_deref(),
        )
    }
}
