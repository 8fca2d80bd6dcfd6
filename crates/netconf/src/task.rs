//! Tasks: what the writer does to one path of the root filesystem.

use serde::Serialize;

/// What to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Replace the file's content (create it if missing).
    Write,
    /// Append to the file (create it if missing).
    Append,
    /// Remove the path if it exists, without following a final symlink.
    Delete,
}

/// One file operation inside the root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Path relative to the root filesystem, without a leading `/`.
    pub path: String,
    /// What to do with it.
    pub action: Action,
    /// Permission bits to set after writing; `None` keeps the file's
    /// existing mode, or the umask default for a new file.
    #[serde(serialize_with = "octal_mode")]
    pub mode: Option<u32>,
    /// The text to write or append; `None` for a delete.
    pub content: Option<String>,
}

/// Modes are shown the way people read them: `"0755"`.
fn octal_mode<S: serde::Serializer>(mode: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match mode {
        Some(m) => s.serialize_str(&format!("{m:04o}")),
        None => s.serialize_none(),
    }
}
