//! Placeholder.

use crate::model::NetworkModel;
use crate::{Error, Task};

/// Renders the model.
pub(crate) fn render(_model: &NetworkModel) -> Result<Vec<Task>, Error> {
    Ok(Vec::new())
}
