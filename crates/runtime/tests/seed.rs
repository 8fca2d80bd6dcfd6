//! The NoCloud seed volume is a FAT image labelled CIDATA that the host's
//! mtools read back file for file (Debian's dosfstools and mtools; a
//! missing tool fails the test).

use std::process::Command;

use warren_runtime::vm::seed::{LABEL, write_vfat};

fn mtools(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (install Debian's mtools)", args[0]));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn seed_files_come_back_through_mtools() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("vm.seed.img");
    let big = "#cloud-config\n".to_owned() + &"# padding\n".repeat(300_000);
    let files = vec![
        (
            "meta-data".to_owned(),
            "instance-id: lab-vm\nlocal-hostname: vm\n".to_owned(),
        ),
        ("user-data".to_owned(), big.clone()),
        ("network-config".to_owned(), "version: 2\n".to_owned()),
    ];
    write_vfat(&image, &files).unwrap();
    let img = image.to_str().unwrap();
    let label = mtools(&["mlabel", "-i", img, "-s", "::"]);
    assert!(label.contains(LABEL), "{label}");
    for (name, content) in &files {
        let back = mtools(&["mtype", "-i", img, &format!("::{name}")]);
        assert_eq!(&back, content, "{name}");
    }
    // Written again, it replaces the old image.
    write_vfat(&image, &files[..1]).unwrap();
    let listing = mtools(&["mdir", "-i", img, "-b", "::"]);
    assert!(!listing.contains("user-data"), "{listing}");
    // The staging folder is gone.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
