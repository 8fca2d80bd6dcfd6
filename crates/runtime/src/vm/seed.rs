//! A cloud-init NoCloud seed volume: a small FAT image labelled `CIDATA`
//! holding `meta-data`, `user-data` and `network-config`, made with
//! dosfstools' `mkfs.vfat` and mtools' `mcopy` (no mount, no root needed)
//! and attached to the guest as a read-only drive.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// The FAT volume label (cloud-init looks for `cidata` in either case;
/// FAT labels are upper case).
pub const LABEL: &str = "CIDATA";

/// Writes `files` (`name`, content) into a new FAT image at `image`,
/// replacing any file there.
pub fn write_vfat(image: &Path, files: &[(String, String)]) -> io::Result<()> {
    let _ = std::fs::remove_file(image);
    let total: usize = files.iter().map(|(_, c)| c.len()).sum();
    // Room for the files twice over, and at least 1 MiB (mkfs.vfat's
    // smallest comfortable FAT12 volume).
    let kib = (total / 1024 * 2 + 512).max(1024);
    run(Command::new("mkfs.vfat")
        .args(["-n", LABEL, "-C"])
        .arg(image)
        .arg(kib.to_string()))?;
    // mcopy copies from files: stage them beside the image.
    let mut staging = image.as_os_str().to_owned();
    staging.push(".files");
    let staging = std::path::PathBuf::from(staging);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let copied = files.iter().try_for_each(|(name, content)| {
        let src = staging.join(name);
        std::fs::write(&src, content)?;
        run(Command::new("mcopy")
            .arg("-i")
            .arg(image)
            .arg(&src)
            .arg(format!("::{name}")))
    });
    let _ = std::fs::remove_dir_all(&staging);
    copied
}

/// Runs a tool, turning a failure into an error with its output.
fn run(cmd: &mut Command) -> io::Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .env("MTOOLS_SKIP_CHECK", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{program}: {e} (Debian's dosfstools and mtools)"),
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
