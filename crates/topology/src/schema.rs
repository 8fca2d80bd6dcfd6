//! The JSON Schema of the lab file, for editors (`warren schema`).
//!
//! The schema is a file in the crate; a test checks that the keys it lists
//! for each mapping are exactly the keys the decoder accepts.

/// JSON Schema (draft 2020-12) of lab file version 1.
pub const SCHEMA: &str = include_str!("../schema/lab.schema.json");
