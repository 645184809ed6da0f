//! The planner: what a job should do, decided from facts gathered beforehand, with no I/O.
//!
//! The executor ([`super::Pipeline`]) fetches the manifest, resolves its type (sniffing content
//! in the sandbox where a scanner asks to), looks up what the store already holds, and asks
//! [`plan`] what to do. Every rule of the pipeline lives here, with a unit test each.

use regscan_scanner_api::types::IndexChild;
use regscan_scanner_api::{Kind, Resolution, TypeEntry};

/// What the store and the registry say, gathered by the executor.
#[derive(Debug, Clone)]
pub enum Manifest<'a> {
    /// The manifest was fetched and resolved.
    Found {
        /// Its resolution, after content sniffing.
        resolution: &'a Resolution,
        /// The digest already has a completed result (succeeded or unsupported) by the scanner
        /// version this resolution routes to.
        completed_by_same_version: bool,
    },
    /// The registry answered 404 for a digest.
    Gone {
        /// The digest has some completed result (any scanner).
        has_completed_scan: bool,
    },
}

/// Where the job's tag points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFacts {
    /// The job names no tag.
    None,
    /// A job by tag: the tag resolved to the scanned digest.
    ByTag(String),
    /// A job by digest naming the tag it was pushed with, and where the tag points now at the
    /// registry (`None`: could not be asked).
    Pushed {
        /// The tag.
        tag: String,
        /// The digest scanned.
        digest: String,
        /// The tag's digest now.
        now: Option<String>,
    },
}

/// What to do with the job's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagAction {
    /// Nothing.
    Leave,
    /// Point the tag at the scanned digest.
    Point(String),
    /// The tag moved on since this push: leave it where the later push put it.
    Moved {
        /// The tag.
        tag: String,
        /// Where it points now.
        now: String,
    },
}

/// What to do with the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Already done by this scanner version: nothing.
    Skip,
    /// No scanner handles the type: store `unsupported` with the media type and reason.
    RecordUnsupported {
        /// The media type.
        artifact_type: String,
        /// The kind.
        kind: Kind,
        /// The reason.
        reason: String,
    },
    /// An index: record it and queue one job per child.
    FanOut {
        /// The children.
        children: Vec<IndexChild>,
    },
    /// Scan it with `entry.scanner` in the sandbox.
    Scan {
        /// The resolved artifact type.
        artifact_type: String,
        /// The routing row.
        entry: TypeEntry,
    },
    /// The manifest is gone but a result exists: mark the artifact deleted and keep the result.
    MarkDeleted,
    /// The manifest is gone and nothing was ever scanned: a final failure.
    FailGone,
}

/// The plan for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The artifact.
    pub action: Action,
    /// Its tag.
    pub tag: TagAction,
}

/// Decide. `force` (a user asked to scan again) overrides only the skip rule.
pub fn plan(manifest: &Manifest<'_>, tag: &TagFacts, force: bool) -> Plan {
    let action = match manifest {
        Manifest::Gone {
            has_completed_scan: true,
        } => Action::MarkDeleted,
        Manifest::Gone {
            has_completed_scan: false,
        } => Action::FailGone,
        Manifest::Found {
            completed_by_same_version: true,
            ..
        } if !force => Action::Skip,
        Manifest::Found { resolution, .. } => match resolution {
            Resolution::Index { children } => Action::FanOut {
                children: children.clone(),
            },
            Resolution::Unsupported {
                artifact_type,
                kind,
                reason,
            } => Action::RecordUnsupported {
                artifact_type: artifact_type.clone(),
                kind: kind.clone(),
                reason: reason.clone(),
            },
            Resolution::Scan { artifact_type, entry } => Action::Scan {
                artifact_type: artifact_type.clone(),
                entry: entry.clone(),
            },
        },
    };
    let tag = match (manifest, tag) {
        (Manifest::Gone { .. }, _) | (_, TagFacts::None) => TagAction::Leave,
        (_, TagFacts::ByTag(t)) => TagAction::Point(t.clone()),
        (_, TagFacts::Pushed { tag, digest, now }) => match now {
            Some(now) if now != digest => TagAction::Moved {
                tag: tag.clone(),
                now: now.clone(),
            },
            // Unknown (the registry could not say) or unchanged: the push's tag stands.
            _ => TagAction::Point(tag.clone()),
        },
    };
    Plan { action, tag }
}

#[cfg(test)]
mod tests {
    use regscan_scanner_api::{media, Descriptor};

    use super::*;

    fn scan_resolution() -> Resolution {
        Resolution::Scan {
            artifact_type: media::HELM_CONFIG.into(),
            entry: TypeEntry::scanned(media::HELM_CONFIG, "helm", "Helm chart", "helm"),
        }
    }

    fn found(resolution: &Resolution, done: bool) -> Manifest<'_> {
        Manifest::Found {
            resolution,
            completed_by_same_version: done,
        }
    }

    #[test]
    fn already_scanned_by_this_version_is_skipped_unless_forced() {
        let r = scan_resolution();
        assert_eq!(plan(&found(&r, true), &TagFacts::None, false).action, Action::Skip);
        assert!(matches!(
            plan(&found(&r, true), &TagFacts::None, true).action,
            Action::Scan { .. }
        ));
        assert!(matches!(
            plan(&found(&r, false), &TagFacts::None, false).action,
            Action::Scan { .. }
        ));
    }

    #[test]
    fn unsupported_types_are_recorded_with_their_media_type() {
        let r = Resolution::Unsupported {
            artifact_type: "application/vnd.example.thing".into(),
            kind: Kind::Unknown,
            reason: "no scanner handles media type application/vnd.example.thing".into(),
        };
        match plan(&found(&r, false), &TagFacts::None, false).action {
            Action::RecordUnsupported {
                artifact_type, reason, ..
            } => {
                assert_eq!(artifact_type, "application/vnd.example.thing");
                assert!(reason.contains("application/vnd.example.thing"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(plan(&found(&r, true), &TagFacts::None, false).action, Action::Skip);
    }

    #[test]
    fn an_index_fans_out_into_its_children() {
        let child = IndexChild {
            descriptor: Descriptor {
                media_type: media::OCI_MANIFEST.into(),
                digest: "sha256:aa".into(),
                ..Default::default()
            },
            attestation: false,
        };
        let r = Resolution::Index {
            children: vec![child.clone()],
        };
        assert_eq!(
            plan(&found(&r, false), &TagFacts::None, false).action,
            Action::FanOut { children: vec![child] }
        );
    }

    #[test]
    fn a_gone_manifest_keeps_a_completed_result_and_fails_only_when_there_is_none() {
        let tag = TagFacts::Pushed {
            tag: "1.0".into(),
            digest: "sha256:aa".into(),
            now: None,
        };
        let p = plan(
            &Manifest::Gone {
                has_completed_scan: true,
            },
            &tag,
            false,
        );
        assert_eq!(p.action, Action::MarkDeleted);
        assert_eq!(p.tag, TagAction::Leave, "a gone manifest never re-points a tag");
        assert_eq!(
            plan(
                &Manifest::Gone {
                    has_completed_scan: false
                },
                &tag,
                true
            )
            .action,
            Action::FailGone
        );
    }

    #[test]
    fn a_tag_moved_since_the_push_is_left_where_it_is() {
        let r = scan_resolution();
        let moved = TagFacts::Pushed {
            tag: "latest".into(),
            digest: "sha256:old".into(),
            now: Some("sha256:new".into()),
        };
        assert_eq!(
            plan(&found(&r, false), &moved, false).tag,
            TagAction::Moved {
                tag: "latest".into(),
                now: "sha256:new".into()
            }
        );
        let same = TagFacts::Pushed {
            tag: "latest".into(),
            digest: "sha256:old".into(),
            now: Some("sha256:old".into()),
        };
        assert_eq!(
            plan(&found(&r, true), &same, false).tag,
            TagAction::Point("latest".into())
        );
        let by_tag = TagFacts::ByTag("v2".into());
        assert_eq!(
            plan(&found(&r, false), &by_tag, false).tag,
            TagAction::Point("v2".into())
        );
    }
}
