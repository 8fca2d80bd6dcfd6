//! A node's lab interfaces as a network model (`warren_netconf`), shared
//! by system nodes (rendered into their root) and vm nodes (a cloud-init
//! NoCloud seed).

use std::io;
use std::path::Path;

use warren_netconf::model::{Cidr, Dns, Route, RouteTo};
use warren_netconf::nocloud::{self, Seed};
use warren_netconf::{LabInterface, NetworkModel};
use warren_topology::model::{Interface, Node};

/// One lab interface as the model's input: its addresses, routes and MTU,
/// matched by `mac` (and renamed to its lab name) when one is given.
pub fn lab_interface(i: &Interface, mac: Option<String>) -> LabInterface {
    LabInterface {
        name: i.name.clone(),
        mac,
        addresses: i
            .addresses()
            .map(|a| Cidr {
                addr: a.value.addr,
                prefix: a.value.prefix,
            })
            .collect(),
        routes: i
            .routes
            .iter()
            .map(|r| Route {
                to: match r.value.to {
                    Some(p) => RouteTo::Net(Cidr {
                        addr: p.addr,
                        prefix: p.len,
                    }),
                    None => RouteTo::Default,
                },
                via: r.value.via,
                metric: r.value.metric,
                on_link: r.value.onlink,
                from: r.value.src,
                ..Route::default()
            })
            .collect(),
        mtu: i.mtu,
    }
}

/// The files of a vm's NoCloud seed: `meta-data` (the lab and node names),
/// `user-data` (the `cloud_init.user_data` file, read from `lab_dir`'s
/// point of view, else empty) and, with `netconf`, `network-config` for
/// `nics` (`(interface, MAC)` in NIC order), each NIC matched by its MAC
/// and named as in the lab file.
pub fn vm_seed(
    lab: &str,
    node: &Node,
    nics: &[(&Interface, String)],
    lab_dir: &Path,
) -> io::Result<Vec<(String, String)>> {
    let user_data = match node
        .vm
        .as_ref()
        .and_then(|v| v.cloud_init.as_ref())
        .and_then(|c| c.user_data.as_deref())
    {
        Some(file) => {
            let path = lab_dir.join(file);
            Some(std::fs::read_to_string(&path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cloud_init.user_data {}: {e}", path.display()),
                )
            })?)
        }
        None => None,
    };
    let model = match &node.netconf {
        Some(_) => {
            let interfaces: Vec<LabInterface> = nics
                .iter()
                .map(|(i, mac)| lab_interface(i, Some(mac.clone())))
                .collect();
            Some(NetworkModel::from_lab(&interfaces, Dns::default()).map_err(io::Error::other)?)
        }
        None => None,
    };
    let instance_id = format!("{lab}.{}", node.name.value);
    let files = nocloud::files(&Seed {
        instance_id: &instance_id,
        hostname: &node.name.value,
        network: model.as_ref(),
        user_data: user_data.as_deref(),
    })
    .map_err(io::Error::other)?;
    Ok(files
        .into_iter()
        .map(|(name, content)| (name.to_owned(), content))
        .collect())
}
