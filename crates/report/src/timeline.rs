//! The run's timeline from `events.jsonl`: bring-up, tests and teardown as
//! phases, each step as a bar coloured by its result (steps of a
//! `parallel:` group overlap in time, so they get lanes side by side),
//! and faults, node stops and starts and vm events as markers.
//!
//! Times are seconds since the run's first event. Each bar and marker
//! carries its times in data attributes, and the drawing its scale, so a
//! reader (or a test) can check the picture against the events.

use crate::evidence::Event;
use crate::html::esc;
use std::fmt::Write;

/// A phase of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// `bring-up`, `tests` or `teardown`.
    pub name: &'static str,
    /// Start, seconds since the first event.
    pub from: f64,
    /// End.
    pub to: f64,
}

/// A step.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The step's name.
    pub name: String,
    /// Start, seconds since the first event.
    pub from: f64,
    /// End; a step that never ended ends with the run.
    pub to: f64,
    /// `passed`, `failed`, `skipped`, or `running` when it never ended.
    pub result: String,
    /// Row, counted from 0: one per step, in the order they started.
    pub lane: usize,
}

/// Something that happened at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Seconds since the first event.
    pub at: f64,
    /// The event (`fault`, `node-stop`, `node-start`, `qmp`, …).
    pub kind: String,
    /// What to write beside it.
    pub label: String,
}

/// The run in time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// Time of the first event, seconds since the epoch.
    pub t0: f64,
    /// Seconds from the first event to the last.
    pub span: f64,
    /// Phases in order.
    pub phases: Vec<Phase>,
    /// Steps in the order they started.
    pub bars: Vec<Bar>,
    /// Markers in time order.
    pub markers: Vec<Marker>,
}

impl Timeline {
    /// The timeline of `events` (in file order) from `t0` to `end`
    /// (seconds since the epoch; the run's first and last event or frame).
    pub fn of(events: &[Event], t0: f64, end: f64) -> Timeline {
        let Some(first) = events.first() else {
            return Timeline {
                t0,
                span: end - t0,
                ..Timeline::default()
            };
        };
        let end = end - t0;
        let at = |kind: &str| events.iter().find(|e| e.event == kind).map(|e| e.t - t0);
        let mut phases = Vec::new();
        let bounds = [
            ("bring-up", Some(first.t - t0), at("ready")),
            ("tests", at("ready"), at("teardown")),
            ("teardown", at("teardown"), at("down")),
        ];
        for (name, from, to) in bounds {
            if let Some(from) = from {
                phases.push(Phase {
                    name,
                    from,
                    to: to.unwrap_or(end),
                });
            }
        }
        let mut bars: Vec<Bar> = Vec::new();
        let mut markers = Vec::new();
        for e in events {
            let t = e.t - t0;
            let name = e.text("name");
            match e.event.as_str() {
                "step-start" => bars.push(Bar {
                    name,
                    from: t,
                    to: end,
                    result: "running".into(),
                    lane: 0,
                }),
                "step-end" => {
                    if let Some(b) = bars
                        .iter_mut()
                        .find(|b| b.name == name && b.result == "running")
                    {
                        b.to = t;
                        b.result = e.text("result");
                    }
                }
                "fault" => markers.push(Marker {
                    at: t,
                    kind: e.event.clone(),
                    label: format!("{}: {}", e.text("fault"), e.text("action")),
                }),
                "node-stop" | "node-start" | "accel-fallback" => markers.push(Marker {
                    at: t,
                    kind: e.event.clone(),
                    label: format!("{} {}", e.event, e.text("node")),
                }),
                "qmp" => markers.push(Marker {
                    at: t,
                    kind: e.event.clone(),
                    label: format!("{} {}", e.text("node"), name),
                }),
                _ => {}
            }
        }
        // A row per step, in the order they started: steps of a parallel
        // group sit in adjacent rows over the same stretch of time.
        for (row, b) in bars.iter_mut().enumerate() {
            b.lane = row;
        }
        Timeline {
            t0,
            span: end,
            phases,
            bars,
            markers,
        }
    }

    /// How many rows of steps there are.
    pub fn lanes(&self) -> usize {
        self.bars.iter().map(|b| b.lane + 1).max().unwrap_or(0)
    }
}

/// How seconds map to the drawing's x axis; the traffic charts share it
/// with the timeline so they line up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    /// x of second 0.
    pub x0: f64,
    /// Drawing units per second.
    pub scale: f64,
    /// Seconds shown.
    pub span: f64,
    /// Total width.
    pub width: f64,
}

impl Axis {
    /// An axis `width` wide for `span` seconds, with room for labels on
    /// the left.
    pub fn new(span: f64, width: f64) -> Axis {
        let x0 = 180.0;
        let span = span.max(0.001);
        Axis {
            x0,
            scale: (width - x0 - 20.0) / span,
            span,
            width,
        }
    }

    /// x of second `t`.
    pub fn x(&self, t: f64) -> f64 {
        self.x0 + t * self.scale
    }

    /// Ticks along the bottom of a chart at `y`: a line and labels at a
    /// round number of seconds apart.
    pub fn ticks(&self, s: &mut String, y: f64) {
        let step = [
            0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ]
        .into_iter()
        .find(|st| self.span / st <= 10.0)
        .unwrap_or(1200.0);
        let _ = write!(
            s,
            "<line class=\"axis\" x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>",
            self.x0,
            self.x(self.span)
        );
        let mut t = 0.0;
        while t <= self.span + 1e-9 {
            let _ = write!(
                s,
                "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}s</text>",
                self.x(t),
                y + 14.0,
                trim(t)
            );
            t += step;
        }
    }
}

fn trim(t: f64) -> String {
    let s = format!("{t:.1}");
    s.strip_suffix(".0").map(String::from).unwrap_or(s)
}

const ROW: f64 = 22.0;

/// A step's name cut to fit the label column; the bar's tooltip has it whole.
fn short(name: &str) -> String {
    if name.chars().count() <= 28 {
        name.to_string()
    } else {
        format!("{}…", name.chars().take(27).collect::<String>())
    }
}

/// The timeline as SVG, on `axis`.
pub fn svg(t: &Timeline, axis: &Axis) -> String {
    let top = 34.0;
    let rows_y = top + 24.0;
    #[allow(clippy::cast_precision_loss)]
    let height = rows_y + ROW * t.lanes().max(1) as f64 + 30.0;
    let mut s = format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w:.0} {height:.0}\" \
         width=\"{w:.0}\" height=\"{height:.0}\" data-t0=\"{:.6}\" data-x0=\"{:.3}\" data-scale=\"{:.6}\">",
        t.t0,
        axis.x0,
        axis.scale,
        w = axis.width
    );
    for p in &t.phases {
        let _ = write!(
            s,
            "<g class=\"phase-group\" data-phase=\"{}\" data-start=\"{:.3}\" data-end=\"{:.3}\">\
             <rect class=\"phase\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"18\"/>\
             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            p.name,
            p.from,
            p.to,
            axis.x(p.from),
            ((p.to - p.from) * axis.scale).max(1.0),
            axis.x(p.from) + 3.0,
            top + 13.0,
            p.name
        );
    }
    let _ = write!(
        s,
        "<text class=\"label\" x=\"4\" y=\"{:.1}\">phases</text>",
        top + 13.0
    );
    for b in &t.bars {
        #[allow(clippy::cast_precision_loss)]
        let y = rows_y + ROW * b.lane as f64;
        let _ = write!(
            s,
            "<g data-name=\"{}\" data-start=\"{:.3}\" data-end=\"{:.3}\" data-result=\"{}\">\
             <rect class=\"step {}\" x=\"{:.2}\" y=\"{y:.1}\" width=\"{:.2}\" height=\"{:.1}\"/>\
             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\
             <title>{} ({}, {:.3}s)</title></g>",
            esc(&b.name),
            b.from,
            b.to,
            esc(&b.result),
            esc(&b.result),
            axis.x(b.from),
            ((b.to - b.from) * axis.scale).max(1.5),
            ROW - 6.0,
            4.0,
            y + 12.0,
            esc(&short(&b.name)),
            esc(&b.name),
            esc(&b.result),
            b.to - b.from
        );
    }
    let bottom = height - 30.0;
    // Label rows: a label goes in the first of two rows where it does not
    // run into the previous one; with no room it is left out (the line's
    // tooltip still has it).
    let mut taken: [(f64, f64); 2] = [(f64::NEG_INFINITY, f64::NEG_INFINITY); 2];
    for m in &t.markers {
        let x = axis.x(m.at);
        // Labels near the right edge extend to the left of their line.
        let right = x > axis.width * 0.7;
        #[allow(clippy::cast_precision_loss)]
        let w = m.label.chars().count() as f64 * 6.0 + 6.0;
        let (from, to) = if right { (x - w, x) } else { (x, x + w) };
        let row = taken.iter().position(|&(_, end)| from > end);
        let _ = write!(
            s,
            "<g class=\"marker {}\" data-kind=\"{}\" data-at=\"{:.3}\">",
            esc(&m.kind),
            esc(&m.kind),
            m.at
        );
        let top = match row {
            Some(r) => {
                taken[r] = (from, to);
                #[allow(clippy::cast_precision_loss)]
                let ly = 12.0 + 14.0 * r as f64;
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{ly:.1}\" text-anchor=\"{}\">{}</text>",
                    if right { x - 3.0 } else { x + 3.0 },
                    if right { "end" } else { "start" },
                    esc(&m.label)
                );
                ly + 3.0
            }
            None => 30.0,
        };
        let _ = write!(
            s,
            "<line x1=\"{x:.2}\" y1=\"{top:.1}\" x2=\"{x:.2}\" y2=\"{bottom:.1}\"/><title>{}</title></g>",
            esc(&m.label)
        );
    }
    axis.ticks(&mut s, bottom + 6.0);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, event: &str, fields: serde_json::Value) -> Event {
        Event {
            t,
            event: event.into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    fn run() -> Vec<Event> {
        use serde_json::json;
        vec![
            ev(100.0, "created", json!({})),
            ev(101.0, "ready", json!({})),
            ev(101.0, "step-start", json!({"name": "a"})),
            ev(101.5, "step-end", json!({"name": "a", "result": "passed"})),
            ev(101.5, "step-start", json!({"name": "p1"})),
            ev(101.6, "step-start", json!({"name": "p2"})),
            ev(
                101.7,
                "fault",
                json!({"fault": "cut", "action": "link r1:eth1 down"}),
            ),
            ev(101.8, "node-stop", json!({"node": "r2", "by": "fault"})),
            ev(102.0, "step-end", json!({"name": "p2", "result": "failed"})),
            ev(102.2, "node-start", json!({"node": "r2", "by": "fault"})),
            ev(102.5, "step-end", json!({"name": "p1", "result": "passed"})),
            ev(103.0, "teardown", json!({})),
            ev(103.5, "down", json!({})),
        ]
    }

    #[test]
    fn steps_phases_and_markers_come_from_the_events() {
        let t = Timeline::of(&run(), 100.0, 103.5);
        assert_eq!(t.t0, 100.0);
        assert!((t.span - 3.5).abs() < 1e-9);
        assert_eq!(
            t.phases
                .iter()
                .map(|p| (p.name, p.from, p.to))
                .collect::<Vec<_>>(),
            [
                ("bring-up", 0.0, 1.0),
                ("tests", 1.0, 3.0),
                ("teardown", 3.0, 3.5)
            ]
        );
        let bars: Vec<_> = t
            .bars
            .iter()
            .map(|b| (b.name.as_str(), b.result.as_str(), b.lane))
            .collect();
        assert_eq!(
            bars,
            [("a", "passed", 0), ("p1", "passed", 1), ("p2", "failed", 2)]
        );
        // The parallel pair overlaps in time.
        assert!(t.bars[2].from < t.bars[1].to);
        assert!((t.bars[2].to - 2.0).abs() < 1e-9);
        let markers: Vec<_> = t
            .markers
            .iter()
            .map(|m| (m.kind.as_str(), m.label.as_str()))
            .collect();
        assert_eq!(
            markers,
            [
                ("fault", "cut: link r1:eth1 down"),
                ("node-stop", "node-stop r2"),
                ("node-start", "node-start r2")
            ]
        );
        assert!((t.markers[2].at - 2.2).abs() < 1e-9);
    }

    #[test]
    fn the_drawing_carries_times_that_match_its_geometry() {
        let t = Timeline::of(&run(), 100.0, 103.5);
        let axis = Axis::new(t.span, 1000.0);
        let s = svg(&t, &axis);
        assert!(s.contains(
            "data-name=\"p2\" data-start=\"1.600\" data-end=\"2.000\" data-result=\"failed\""
        ));
        let x = axis.x(1.6);
        assert!(
            s.contains(&format!("<rect class=\"step failed\" x=\"{x:.2}\"")),
            "{s}"
        );
        assert!(s.contains("data-kind=\"fault\" data-at=\"1.700\""));
    }
}
