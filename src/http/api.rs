//! The query API (`/v1/artifacts`, `/v1/scans`, `/v1/summary`).
