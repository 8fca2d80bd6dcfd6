//! Processes of a lab: the user namespace a rootless lab lives in, the pid
//! namespace that ties every node process to the lab's supervisor, and
//! commands run inside nodes with their stdio passed through.
//!
//! Namespace switches act on the calling thread and some (`CLONE_NEWUSER`,
//! joining a user namespace) are refused in multi-threaded processes, so
//! the functions that make them say so and are meant for a process's
//! single-threaded start or for `pre_exec` children.

pub mod console;
pub mod container;
pub mod exec;
pub mod pidns;
pub mod procs;
mod reaper;
pub mod security;
pub mod userns;
pub mod vm;
