//! What `up` hands a lab's supervisor in the state folder, so that nothing
//! is parsed or resolved twice: the validated lab (`lab.json`), its
//! bring-up plan (`plan.json`) and the images `up` resolved
//! (`images.json`). The supervisor runs exactly these, and `exec` reads
//! the lab from here too; `lab.yaml` beside them is the user's file as it
//! was, kept as evidence only.

use crate::images::Resolved;
use crate::state::StateError;
use crate::steps::BringUp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::Path;
use warren_topology::Lab;

/// The resolved lab.
pub const LAB: &str = "lab.json";
/// Its bring-up plan.
pub const PLAN: &str = "plan.json";
/// The images of its nodes, by the reference the lab gives.
pub const IMAGES: &str = "images.json";

/// Images resolved by `up`, by the reference the lab file gives.
pub type Images = BTreeMap<String, Resolved>;

/// What the supervisor runs.
#[derive(Debug)]
pub struct Saved {
    /// The lab.
    pub lab: Lab,
    /// Its plan.
    pub plan: BringUp,
    /// Its nodes' images, as `up` resolved them.
    pub images: Images,
}

fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<(), StateError> {
    let path = dir.join(name);
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| StateError::Saved {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, bytes).map_err(|source| StateError::Io {
        action: "writing",
        path,
        source,
    })
}

fn read_json<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, StateError> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| StateError::Io {
        action: "reading",
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| StateError::Saved { path, source })
}

/// Saves `lab`, `plan` and `images` in the state folder `dir`.
pub fn write(dir: &Path, lab: &Lab, plan: &BringUp, images: &Images) -> Result<(), StateError> {
    write_json(dir, LAB, lab)?;
    write_json(dir, PLAN, plan)?;
    write_json(dir, IMAGES, images)
}

/// Saves a lab that changed while it runs (`warren scale`) and its plan,
/// keeping the images `up` resolved.
pub fn rewrite(dir: &Path, lab: &Lab, plan: &BringUp) -> Result<(), StateError> {
    write_json(dir, LAB, lab)?;
    write_json(dir, PLAN, plan)
}

/// The lab saved in `dir`.
pub fn read_lab(dir: &Path) -> Result<Lab, StateError> {
    let path = dir.join(LAB);
    let text = std::fs::read_to_string(&path).map_err(|source| StateError::Io {
        action: "reading",
        path: path.clone(),
        source,
    })?;
    Lab::from_saved(&text).map_err(|source| StateError::Saved { path, source })
}

/// Everything saved in `dir`.
pub fn read(dir: &Path) -> Result<Saved, StateError> {
    Ok(Saved {
        lab: read_lab(dir)?,
        plan: read_json(dir, PLAN)?,
        images: read_json(dir, IMAGES)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_up_saves_the_supervisor_reads_back() {
        let lab = warren_topology::load(
            "name: s\nnodes:\n  a: {}\n  c: {kind: container, image: busybox}\nlinks:\n  - [a:eth1, c:eth1]\n",
            "s",
        )
        .lab
        .expect("valid lab");
        let plan = crate::steps::plan(&lab);
        let image = Resolved {
            layers: vec!["/store/l0".into(), "/store/l1".into()],
            entrypoint: vec!["/bin/sh".into()],
            cmd: vec!["-c".into(), "sleep 1".into()],
            env: vec![("PATH".into(), "/bin".into())],
            workdir: "/".into(),
            user: Some("1000".into()),
        };
        let images: Images = [("busybox".to_string(), image)].into();
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), &lab, &plan, &images).expect("saved");
        let saved = read(dir.path()).expect("read back");
        assert_eq!(saved.plan, plan);
        assert_eq!(saved.lab.name, "s");
        assert_eq!(crate::steps::plan(&saved.lab), plan);
        let back = &saved.images["busybox"];
        assert_eq!(back.layers, images["busybox"].layers);
        assert_eq!(back.user.as_deref(), Some("1000"));
        // A file that is not what `up` writes names itself.
        std::fs::write(dir.path().join(PLAN), "{}").expect("write");
        let err = read(dir.path()).expect_err("not a plan");
        assert!(
            err.to_string()
                .ends_with("plan.json: not a lab as `warren up` saves it"),
            "{err}"
        );
    }
}
