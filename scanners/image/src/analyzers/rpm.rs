//! (in progress)
use super::*;
pub(crate) const SUPPORTED: bool = false;
pub(crate) fn analyze(_p: &str, _c: &mut dyn Read) -> Result<FileFacts, AnalyzeError> { Ok(FileFacts::Nothing) }
