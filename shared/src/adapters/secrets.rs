//! Reads the ingest secrets from Secrets Manager once, at cold start.

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::ingest::{IngestSecrets, SecretsError};

#[derive(Debug, thiserror::Error)]
pub enum SecretsFetchError {
    #[error("GetSecretValue failed: {0}")]
    Fetch(String),
    #[error("the secret has no string value")]
    NotAString,
    #[error(transparent)]
    Invalid(#[from] SecretsError),
}

pub async fn fetch_ingest_secrets(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<IngestSecrets, SecretsFetchError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretsFetchError::Fetch(DisplayErrorContext(e).to_string()))?;
    let text = output
        .secret_string()
        .ok_or(SecretsFetchError::NotAString)?;
    Ok(IngestSecrets::from_json(text)?)
}
