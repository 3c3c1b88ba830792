//! SQS FIFO trigger: lifecycle events → attribution, commissions, ledger.
// The processor future nests the SDK's futures deeply enough to pass the default limit of 128.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::processor_lambda::run().await
}
