//! The user-space wires of a running lab: one per impaired link, started
//! from the taps [`crate::apply::build`] created, with each direction's
//! impairments taken from the lab file and its random generator seeded
//! from the lab's `seed` (0 when unset), the link's name and the direction.

use crate::apply::WireTaps;
use warren_topology::model::{Distribution, Impair, Lab};
use warren_wire::{Engine, Params, Wire, WireError, seed_for};

/// A running wire and the link it carries.
#[derive(Debug)]
pub struct RunningWire {
    /// The link's name.
    pub link: String,
    /// Its endpoints (`node:if`), first and second.
    pub ends: [String; 2],
    /// The impairments in force, first endpoint to second and back.
    pub params: [Params; 2],
    /// The wire; dropping it stops forwarding and removes both taps.
    pub wire: Wire,
}

/// Errors changing a wire at run time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImpairError {
    /// No wired link has that name or endpoint.
    #[error(
        "no link {0} runs through the user-space wire (give it `impair: {{}}` in the lab file)"
    )]
    NotWired(String),
    /// A key is unknown or its value does not parse.
    #[error("impair {key}: {message}")]
    Value {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Parses run-time impairment keys (as in the lab file) into an [`Impair`].
pub fn parse_keys(
    keys: &std::collections::BTreeMap<String, String>,
) -> Result<Impair, ImpairError> {
    use warren_topology::values::{Duration, Percent, Rate};
    let bad = |key: &str, message: String| ImpairError::Value {
        key: key.to_string(),
        message,
    };
    let mut i = Impair::default();
    for (k, v) in keys {
        let pct = || v.parse::<Percent>().map(Some).map_err(|m| bad(k, m));
        let dur = || {
            v.parse::<Duration>()
                .map(Some)
                .map_err(|m| bad(k, m.to_string()))
        };
        match k.as_str() {
            "delay" => i.delay = dur()?,
            "jitter" => i.jitter = dur()?,
            "loss" => i.loss = pct()?,
            "loss_correlation" => i.loss_correlation = pct()?,
            "duplicate" => i.duplicate = pct()?,
            "reorder" => i.reorder = pct()?,
            "corrupt" => i.corrupt = pct()?,
            "rate" => {
                i.rate = Some(v.parse::<Rate>().map_err(|m| bad(k, m.to_string()))?);
            }
            "limit" => {
                i.limit = Some(
                    v.parse()
                        .map_err(|_| bad(k, format!("`{v}` is not a frame count")))?,
                )
            }
            "distribution" => {
                i.distribution = Some(match v.as_str() {
                    "uniform" => Distribution::Uniform,
                    "normal" => Distribution::Normal,
                    "pareto" => Distribution::Pareto,
                    "paretonormal" => Distribution::Paretonormal,
                    _ => {
                        return Err(bad(
                            k,
                            format!("`{v}` is not uniform, normal, pareto or paretonormal"),
                        ));
                    }
                });
            }
            _ => return Err(bad(k, "unknown key".to_string())),
        }
    }
    Ok(i)
}

/// Both directions' impairments in force on the wire carrying `link`.
pub fn get(wires: &[RunningWire], link: &str) -> Result<[Params; 2], ImpairError> {
    wires
        .iter()
        .find(|w| w.link == link || w.ends.iter().any(|e| e == link))
        .map(|w| w.params)
        .ok_or_else(|| ImpairError::NotWired(link.to_string()))
}

/// Puts back both directions' impairments of the wire carrying `link`.
pub fn put(wires: &mut [RunningWire], link: &str, params: [Params; 2]) -> Result<(), ImpairError> {
    let w = wires
        .iter_mut()
        .find(|w| w.link == link || w.ends.iter().any(|e| e == link))
        .ok_or_else(|| ImpairError::NotWired(link.to_string()))?;
    w.params = params;
    w.wire.set_params(params[0], params[1]);
    Ok(())
}

/// Sets the carrier of the wire carrying `link` (a link name or either
/// endpoint) off or on, as both ends see it. Returns the link's name.
pub fn set_carrier(wires: &[RunningWire], link: &str, up: bool) -> Result<String, ImpairError> {
    let w = wires
        .iter()
        .find(|w| w.link == link || w.ends.iter().any(|e| e == link))
        .ok_or_else(|| ImpairError::NotWired(link.to_string()))?;
    w.wire.set_carrier(up).map_err(|e| ImpairError::Value {
        key: "carrier".to_string(),
        message: e.to_string(),
    })?;
    Ok(w.link.clone())
}

/// Replaces the impairments of the wire carrying `link` (a link name: both
/// directions; an endpoint `node:if`: that interface's egress). Returns the
/// link's name.
pub fn set(wires: &mut [RunningWire], link: &str, impair: &Impair) -> Result<String, ImpairError> {
    let p = params(impair);
    let w = wires
        .iter_mut()
        .find(|w| w.link == link || w.ends.iter().any(|e| e == link))
        .ok_or_else(|| ImpairError::NotWired(link.to_string()))?;
    if w.link == link {
        w.params = [p, p];
    } else if w.ends[0] == link {
        w.params[0] = p;
    } else {
        w.params[1] = p;
    }
    w.wire.set_params(w.params[0], w.params[1]);
    Ok(w.link.clone())
}

/// Merges two impairment blocks key by key, `over` winning.
pub fn merge(base: Option<&Impair>, over: Option<&Impair>) -> Impair {
    let (b, o) = (
        base.cloned().unwrap_or_default(),
        over.cloned().unwrap_or_default(),
    );
    Impair {
        delay: o.delay.or(b.delay),
        jitter: o.jitter.or(b.jitter),
        distribution: o.distribution.or(b.distribution),
        loss: o.loss.or(b.loss),
        loss_correlation: o.loss_correlation.or(b.loss_correlation),
        duplicate: o.duplicate.or(b.duplicate),
        reorder: o.reorder.or(b.reorder),
        corrupt: o.corrupt.or(b.corrupt),
        rate: o.rate.or(b.rate),
        limit: o.limit.or(b.limit),
    }
}

/// The engine parameters of an impairment block.
pub fn params(i: &Impair) -> Params {
    let frac = |p: Option<warren_topology::values::Percent>| p.map_or(0.0, |p| p.0 / 100.0);
    Params {
        delay_ns: i.delay.map_or(0, |d| d.0),
        jitter_ns: i.jitter.map_or(0, |d| d.0),
        distribution: match i.distribution {
            None | Some(Distribution::Uniform) => warren_wire::Distribution::Uniform,
            Some(Distribution::Normal) => warren_wire::Distribution::Normal,
            Some(Distribution::Pareto) => warren_wire::Distribution::Pareto,
            Some(Distribution::Paretonormal) => warren_wire::Distribution::Paretonormal,
        },
        loss: frac(i.loss),
        loss_correlation: frac(i.loss_correlation),
        duplicate: frac(i.duplicate),
        reorder: frac(i.reorder),
        corrupt: frac(i.corrupt),
        rate_bps: i.rate.map_or(0, |r| r.0),
        limit: i.limit.unwrap_or(0),
    }
}

/// Both directions' impairments of link `name` (first endpoint to second,
/// then back): the link's block, overridden key by key by the sending
/// interface's own `impair`.
pub fn link_params(lab: &Lab, name: &str) -> Option<[Params; 2]> {
    let link = lab.links.iter().find(|l| l.name == name)?;
    let dir = |e: &warren_topology::model::Endpoint| {
        let own = lab
            .node(&e.node)
            .and_then(|n| n.interface(&e.iface))
            .and_then(|i| i.impair.as_ref());
        params(&merge(link.impair.as_ref(), own))
    };
    let [a, b] = &link.endpoints;
    Some([dir(&a.value), dir(&b.value)])
}

/// Starts a wire for every pair of taps.
pub fn start(lab: &Lab, taps: Vec<WireTaps>) -> Result<Vec<RunningWire>, WireError> {
    let seed = lab.seed.unwrap_or(0);
    taps.into_iter()
        .map(|t| {
            let [ab, ba] = link_params(lab, &t.link).unwrap_or_default();
            let ends = lab
                .links
                .iter()
                .find(|l| l.name == t.link)
                .map(|l| l.endpoints.clone().map(|e| e.value.to_string()))
                .unwrap_or_default();
            let wire = Wire::start(
                &t.link,
                t.a,
                t.b,
                Engine::new(ab, seed_for(seed, &t.link, 0)),
                Engine::new(ba, seed_for(seed, &t.link, 1)),
            )?;
            Ok(RunningWire {
                link: t.link,
                ends,
                params: [ab, ba],
                wire,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const LAB: &str = "
seed: 9
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:eth1, b:eth1]
    impair: {delay: 10ms, loss: 5%}
interfaces:
  b:eth1: {impair: {delay: 30ms, rate: 1mbit}}
";

    #[test]
    fn each_direction_takes_the_link_block_overridden_by_the_sender() {
        let lab = warren_topology::load(LAB, "t").lab.expect("valid lab");
        let [ab, ba] = link_params(&lab, &lab.links[0].name).expect("link");
        assert_eq!(ab.delay_ns, 10_000_000);
        assert!((ab.loss - 0.05).abs() < 1e-12);
        assert_eq!(ab.rate_bps, 0);
        assert_eq!(ba.delay_ns, 30_000_000);
        assert!((ba.loss - 0.05).abs() < 1e-12);
        assert_eq!(ba.rate_bps, 1_000_000);
    }

    #[test]
    fn run_time_keys_parse_like_the_lab_file() {
        let keys: BTreeMap<String, String> = [
            ("delay", "50ms"),
            ("loss", "2%"),
            ("rate", "10mbit"),
            ("distribution", "normal"),
            ("limit", "100"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = params(&parse_keys(&keys).expect("valid keys"));
        assert_eq!(p.delay_ns, 50_000_000);
        assert!((p.loss - 0.02).abs() < 1e-12);
        assert_eq!(p.rate_bps, 10_000_000);
        assert_eq!(p.distribution, warren_wire::Distribution::Normal);
        assert_eq!(p.limit, 100);
        assert!(params(&parse_keys(&BTreeMap::new()).expect("empty")).is_clear());
        for (k, v) in [("delay", "soon"), ("loss", "200%"), ("colour", "red")] {
            let bad = BTreeMap::from([(k.to_string(), v.to_string())]);
            assert!(parse_keys(&bad).is_err(), "{k}: {v}");
        }
    }
}
