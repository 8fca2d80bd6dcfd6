//! [`Lab::scale`]: a compose lab's replica counts changed while it runs.

use super::{Lab, LabError};
use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// The nodes a scaling removed and added, as the `scale` operation
/// answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Scaled {
    /// Nodes stopped, unplugged and dropped.
    pub removed: Vec<String>,
    /// Nodes plugged in and started.
    pub added: Vec<String>,
}

impl Lab {
    /// Sets the replica count of each compose service in `counts`
    /// (`[("node", 4)]`) on the running lab, as `warren scale LAB node=4`
    /// does: the compose files the lab was brought up from are converted
    /// again with the new counts, and the supervisor's `scale` operation
    /// adds and removes replicas while every other node keeps running.
    /// Only a lab `warren up` brought up from a compose file scales.
    pub fn scale<S: AsRef<str>>(&self, counts: &[(S, u32)]) -> Result<Scaled, LabError> {
        self.scale_with(counts, std::iter::empty::<(&str, &str)>())
    }

    /// [`Lab::scale`] with variables added to warren's environment (the
    /// registry and image store new replicas' images come from).
    pub fn scale_with<S, K, V>(
        &self,
        counts: &[(S, u32)],
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Scaled, LabError>
    where
        S: AsRef<str>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let failed = |message: String| LabError::Scale {
            lab: self.name.clone(),
            message,
        };
        if counts.is_empty() {
            return Err(failed("no SERVICE=N to set".into()));
        }
        let program = crate::binary::warren()?;
        let out = Command::new(program)
            .args(["scale", "--json", &self.name])
            .args(counts.iter().map(|(s, n)| format!("{}={n}", s.as_ref())))
            .envs(env)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| failed(format!("running warren: {e}")))?;
        if !out.status.success() {
            return Err(failed(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            )));
        }
        serde_json::from_slice(&out.stdout).map_err(|source| LabError::Answer {
            request: "scale",
            source,
        })
    }
}
