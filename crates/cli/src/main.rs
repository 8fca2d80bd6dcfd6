//! The `warren` binary (placeholder until the commands land).
fn main() {}
