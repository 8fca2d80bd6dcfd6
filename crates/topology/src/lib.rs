//! The lab file model (placeholder until the model lands).
