//! A store's error as the console answers it: the status that says whose fault it was, and
//! the error's own words (which never hold a credential), escaped.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nerve_store::StoreError;

/// A request the console could not answer, and why.
pub(crate) struct Failure(pub(crate) StoreError);

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure(err)
    }
}

impl Failure {
    /// The HTTP status of the error: the request's fault, a missing thing, a busy or
    /// unreachable store, or the store's.
    pub(crate) fn status(&self) -> StatusCode {
        match &self.0 {
            StoreError::InvalidInput { .. } | StoreError::InvalidDigest { .. } => {
                StatusCode::BAD_REQUEST
            }
            StoreError::UnknownRun { .. } => StatusCode::NOT_FOUND,
            StoreError::Busy { .. } | StoreError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = self.status();
        let page = crate::layout::page(
            "error",
            maud::html! {
                h1 { (status.canonical_reason().unwrap_or("error")) }
                p.error { (self.0.to_string()) }
            },
        );
        (status, page).into_response()
    }
}
