//! `PanicReports` and `DeletePanicReports`: what the user can see of the
//! panic reports (pending with their exact bodies, delivered, removed) and
//! their deletion. Both work while the user is opted out and without a DSN,
//! once `InitializeApplication` has succeeded.

use serde::{Deserialize, Serialize};

use super::request::GoRequest;
use super::{to_json, ApiError, Reply};
use crate::outbox::{self, Dropped, Pending, Sent};

/// The most pending reports one `PanicReports` answer lists (the default).
pub const MAX_PAGE_REPORTS: u64 = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PanicReportsRequest {
    /// List the pending reports after this id (the previous answer's `next`).
    #[serde(default)]
    pub after: Option<String>,
    /// At most this many pending reports (1 to 100, default 100).
    #[serde(default)]
    pub limit: Option<u64>,
}

impl GoRequest for PanicReportsRequest {
    const FIELDS: &'static [&'static str] = &["after", "limit"];
}

#[derive(Debug, Deserialize)]
pub struct DeletePanicReportsRequest {
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default)]
    pub all: bool,
}

impl GoRequest for DeletePanicReportsRequest {
    const FIELDS: &'static [&'static str] = &["ids", "all"];
    // `{"all":false,"ALL":true}` must not delete everything by accident.
    const STRICT: &'static [&'static str] = &["all"];
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PanicReportsAnswer {
    error: &'static str,
    pending: Vec<Pending>,
    pending_total: usize,
    next: Option<String>,
    sent: Vec<Sent>,
    dropped: Dropped,
}

pub(super) fn panic_reports(request: PanicReportsRequest) -> Result<Reply, ApiError> {
    let limit = match request.limit {
        None => MAX_PAGE_REPORTS,
        Some(n @ 1..=MAX_PAGE_REPORTS) => n,
        Some(n) => {
            return Err(ApiError::invalid_request(format!(
                "limit must be between 1 and {MAX_PAGE_REPORTS}, got {n}"
            )))
        }
    };
    let outbox = crate::reporting::outbox().ok_or_else(ApiError::not_initialized)?;
    let after = request.after.as_deref().filter(|a| !a.is_empty());
    let page = outbox.pending_reports(after, limit as usize);
    to_json(&PanicReportsAnswer {
        error: "",
        pending: page.pending,
        pending_total: page.pending_total,
        next: page.next,
        sent: outbox.sent_reports(),
        dropped: outbox::dropped(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeleteAnswer {
    error: &'static str,
    #[serde(flatten)]
    deleted: outbox::Deleted,
}

pub(super) fn delete_panic_reports(request: DeletePanicReportsRequest) -> Result<Reply, ApiError> {
    let ids = match (request.ids, request.all) {
        (Some(_), true) => {
            return Err(ApiError::invalid_request("give either `ids` or `\"all\":true`, not both"))
        }
        (None, false) => return Err(ApiError::invalid_request("give `ids` (an array) or `\"all\":true`")),
        (ids, _) => ids,
    };
    let outbox = crate::reporting::outbox().ok_or_else(ApiError::not_initialized)?;
    let deleted = outbox.delete_reports(ids.as_deref());
    if deleted.deleted > 0 {
        log::info!("deleted {} pending panic reports at the user's request", deleted.deleted);
    }
    to_json(&DeleteAnswer { error: "", deleted })
}

#[cfg(test)]
mod tests {
    use super::super::{parse, ErrorCode};
    use super::*;

    #[test]
    fn requests_are_validated() {
        let delete = |json: &str| parse::<DeletePanicReportsRequest>(json).and_then(delete_panic_reports);
        for json in [r#"{}"#, r#"{"all":false}"#, r#"{"ids":["a"],"all":true}"#, r#"{"ids":"a"}"#] {
            assert_eq!(delete(json).unwrap_err().code, ErrorCode::InvalidRequest, "{json}");
        }
        let err = parse::<DeletePanicReportsRequest>(r#"{"all":false,"ALL":true}"#).unwrap_err();
        assert!(err.message.contains("more than once"), "{}", err.message);
        let list = |json: &str| parse::<PanicReportsRequest>(json).and_then(panic_reports);
        for json in [r#"{"limit":0}"#, r#"{"limit":101}"#, r#"{"limit":-1}"#, r#"{"after":5}"#] {
            assert_eq!(list(json).unwrap_err().code, ErrorCode::InvalidRequest, "{json}");
        }
        // Valid, but before InitializeApplication.
        assert_eq!(list("{}").unwrap_err().code, ErrorCode::NotInitialized);
        assert_eq!(delete(r#"{"all":true}"#).unwrap_err().code, ErrorCode::NotInitialized);
        assert_eq!(delete(r#"{"ids":[]}"#).unwrap_err().code, ErrorCode::NotInitialized);
    }
}
