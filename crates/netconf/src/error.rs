//! The errors a plan can end with.

/// Why no task list could be produced.
///
/// Every message is one line and names the metadata key (or flag) at fault,
/// e.g. `network.interfaces[1].mac: expected a string`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A metadata key is missing, has the wrong type or an unusable value.
    #[error("{key}: {message}")]
    Metadata {
        /// The dotted path of the key, e.g. `network.bonding.mode`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The `-o/--operating-system` value is not exactly "DISTRO VERSION".
    #[error("--operating-system: expected \"DISTRO VERSION\", got {0:?}")]
    OperatingSystemArg(String),
    /// No distro builder handles this distro.
    #[error(
        "operating_system.distro: no builder for distro {0:?} (known: {known})",
        known = crate::distro::known_distros()
    )]
    UnknownDistro(String),
    /// No network builder applies (`network.bonding.link_aggregation` is
    /// neither bonded, mlag_ha nor individual), so nothing is written.
    #[error("network.bonding.link_aggregation: no network builder for {0:?}, nothing to write")]
    NoNetworkTasks(String),
    /// The network config (`--network-config`) is malformed.
    #[error("network config: {key}: {message}")]
    NetworkConfig {
        /// The dotted path of the key, e.g. `ethernets.eth0.mtu`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The network model is inconsistent (a dangling member, a duplicate id…).
    #[error("interface {id}: {message}")]
    Model {
        /// The interface at fault.
        id: String,
        /// What is wrong with it.
        message: String,
    },
    /// The chosen renderer cannot express part of the model.
    #[error("renderer {renderer} cannot express {what}")]
    Unsupported {
        /// The renderer's name (`eni`, `netplan`…).
        renderer: &'static str,
        /// What it cannot express, naming the interface.
        what: String,
    },
    /// No renderer is known for this distro (`--renderer auto`).
    #[error("--renderer auto: no renderer for distro {0:?}")]
    NoRenderer(String),
    /// A template failed for a reason other than the metadata (a bug in warren).
    #[error("template {name}: {message}")]
    Template {
        /// The template or rule that failed.
        name: String,
        /// minijinja's description of the failure, on one line.
        message: String,
    },
}

impl Error {
    /// An error about the metadata key `key`.
    pub(crate) fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Metadata {
            key: key.into(),
            message: message.into(),
        }
    }

    /// An error about the network config key `key`.
    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::NetworkConfig {
            key: key.into(),
            message: message.into(),
        }
    }

    /// An inconsistency of interface `id` in the model.
    pub(crate) fn model(id: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model {
            id: id.into(),
            message: message.into(),
        }
    }
}
