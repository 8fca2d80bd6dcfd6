//! Graph layout: where each node and network goes in a drawing.
//!
//! A Fruchterman-Reingold force layout computed here, about a hundred
//! lines: every pair of vertices repels, every edge pulls its ends
//! together, and the moves shrink each round. It starts from a circle and
//! uses no randomness, so a lab is always drawn the same way, and it needs
//! no Graphviz, no layout crate and no JavaScript. Labs are small (tens of
//! vertices), where the quadratic repulsion costs nothing. Afterwards the
//! vertices are scaled into the drawing's box and pushed apart until no
//! two are closer than [`MIN_GAP`].

/// Closest two vertex centres may be after layout, in drawing units.
pub const MIN_GAP: f64 = 180.0;

/// Length an edge is drawn at, typically.
pub const EDGE_LENGTH: f64 = 320.0;

/// A point in the drawing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Across, from the left.
    pub x: f64,
    /// Down, from the top.
    pub y: f64,
}

/// Positions of `n` vertices joined by `edges` (index pairs with a
/// stretch: an edge of stretch 2 settles about twice as long as one of
/// stretch 1, room for labels at both its ends), inside a
/// box `width` wide; returns the positions and the box's height.
pub fn layout(n: usize, edges: &[(usize, usize, f64)], width: f64) -> (Vec<Point>, f64) {
    let margin = MIN_GAP * 0.8;
    if n == 0 {
        return (Vec::new(), 2.0 * margin);
    }
    let mut pos = start(n);
    let area = 1.0;
    #[allow(clippy::cast_precision_loss)]
    let k = (area / n as f64).sqrt();
    let rounds = 300;
    for round in 0..rounds {
        #[allow(clippy::cast_precision_loss)]
        let temp = 0.1 * (1.0 - f64::from(round) / f64::from(rounds)) + 0.002;
        let mut moves = vec![Point { x: 0.0, y: 0.0 }; n];
        for i in 0..n {
            for j in (i + 1)..n {
                let (dx, dy, d) = apart(pos[i], pos[j]);
                let f = k * k / d;
                moves[i].x += dx / d * f;
                moves[i].y += dy / d * f;
                moves[j].x -= dx / d * f;
                moves[j].y -= dy / d * f;
            }
        }
        for &(a, b, stretch) in edges.iter().filter(|(a, b, _)| a != b && *a < n && *b < n) {
            let (dx, dy, d) = apart(pos[a], pos[b]);
            // Repulsion k²/d balances attraction d²/(k·s³) at d = k·s.
            let f = d * d / (k * stretch.max(0.1).powi(3));
            moves[a].x -= dx / d * f;
            moves[a].y -= dy / d * f;
            moves[b].x += dx / d * f;
            moves[b].y += dy / d * f;
        }
        for (p, m) in pos.iter_mut().zip(&moves) {
            let len = (m.x * m.x + m.y * m.y).sqrt().max(1e-9);
            let step = len.min(temp);
            p.x += m.x / len * step;
            p.y += m.y / len * step;
        }
    }
    fit(&mut pos, edges, width, margin)
}

/// Vertices evenly on a circle, the first at the left.
fn start(n: usize) -> Vec<Point> {
    (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let a = std::f64::consts::TAU * i as f64 / n as f64 + std::f64::consts::PI;
            Point {
                x: 0.5 + 0.3 * a.cos(),
                y: 0.5 + 0.3 * a.sin(),
            }
        })
        .collect()
}

/// The vector from `b` to `a` and its length (never zero: coincident
/// points are nudged apart by a fixed amount, so the result stays
/// deterministic).
fn apart(a: Point, b: Point) -> (f64, f64, f64) {
    let (mut dx, dy) = (a.x - b.x, a.y - b.y);
    if dx.abs() < 1e-9 && dy.abs() < 1e-9 {
        dx = 1e-3;
    }
    (dx, dy, (dx * dx + dy * dy).sqrt())
}

/// Scales the layout into `width` (keeping its aspect ratio), spreads it
/// until no two vertices are closer than [`MIN_GAP`], and returns the
/// height it needs.
fn fit(
    pos: &mut [Point],
    edges: &[(usize, usize, f64)],
    width: f64,
    margin: f64,
) -> (Vec<Point>, f64) {
    let (min_x, max_x, min_y, max_y) = bounds(pos);
    let span = (max_x - min_x).max(max_y - min_y).max(1e-9);
    let inner = (width - 2.0 * margin).max(MIN_GAP);
    // As wide as the box allows, but no wider than a comfortable
    // EDGE_LENGTH per edge would make it (a few nodes are not stretched
    // across the page).
    let typical = typical_edge(pos, edges).unwrap_or(span).max(1e-9);
    let scale = (inner / span).min(EDGE_LENGTH / typical);
    for p in pos.iter_mut() {
        p.x = (p.x - min_x) * scale;
        p.y = (p.y - min_y) * scale;
    }
    // Spread out (never in) so that close vertices get their gap.
    let mut closest = f64::INFINITY;
    for i in 0..pos.len() {
        for j in (i + 1)..pos.len() {
            closest = closest.min(apart(pos[i], pos[j]).2);
        }
    }
    if closest < MIN_GAP {
        let s = MIN_GAP / closest.max(1e-9);
        for p in pos.iter_mut() {
            p.x *= s;
            p.y *= s;
        }
    }
    let (min_x, max_x, min_y, max_y) = bounds(pos);
    // Centred across when narrower than the box.
    let shift = margin + ((inner - (max_x - min_x)) / 2.0).max(0.0);
    for p in pos.iter_mut() {
        p.x += shift - min_x;
        p.y += margin - min_y;
    }
    (pos.to_vec(), max_y - min_y + 2.0 * margin)
}

/// The median length of the edges, before scaling.
fn typical_edge(pos: &[Point], edges: &[(usize, usize, f64)]) -> Option<f64> {
    let mut lengths: Vec<f64> = edges
        .iter()
        .filter(|(a, b, _)| a != b && *a < pos.len() && *b < pos.len())
        .map(|&(a, b, _)| apart(pos[a], pos[b]).2)
        .collect();
    lengths.sort_by(f64::total_cmp);
    lengths.get(lengths.len() / 2).copied()
}

fn bounds(pos: &[Point]) -> (f64, f64, f64, f64) {
    pos.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), p| (a.min(p.x), b.max(p.x), c.min(p.y), d.max(p.y)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dist(a: Point, b: Point) -> f64 {
        ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
    }

    #[test]
    fn a_chain_is_laid_out_in_order_and_the_same_every_time() {
        let edges = [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0)];
        let (a, h) = layout(4, &edges, 900.0);
        assert_eq!(layout(4, &edges, 900.0), (a.clone(), h));
        // Neighbours are closer than the chain's two ends.
        assert!(dist(a[0], a[1]) < dist(a[0], a[3]));
        assert!(dist(a[2], a[3]) < dist(a[0], a[3]));
    }

    #[test]
    fn a_stretched_edge_settles_longer() {
        let (p, _) = layout(3, &[(0, 1, 1.0), (1, 2, 2.0)], 900.0);
        assert!(dist(p[1], p[2]) > 1.5 * dist(p[0], p[1]), "{p:?}");
    }

    #[test]
    fn one_vertex_sits_in_the_middle() {
        let (p, h) = layout(1, &[], 800.0);
        assert!((p[0].x - 400.0).abs() < 1e-6, "{p:?}");
        assert!(h > 0.0);
    }

    proptest! {
        #[test]
        fn vertices_keep_their_gap_and_stay_in_the_box(
            n in 1usize..30,
            raw in proptest::collection::vec((0usize..30, 0usize..30), 0..60),
        ) {
            let edges: Vec<_> = raw
                .into_iter()
                .filter(|(a, b)| *a < n && *b < n)
                .map(|(a, b)| (a, b, 1.0 + (a % 2) as f64))
                .collect();
            let (pos, height) = layout(n, &edges, 900.0);
            prop_assert_eq!(pos.len(), n);
            for (i, p) in pos.iter().enumerate() {
                prop_assert!(p.x.is_finite() && p.y.is_finite());
                prop_assert!(p.x > 0.0 && p.y > 0.0 && p.y < height);
                for q in &pos[i + 1..] {
                    prop_assert!(dist(*p, *q) >= MIN_GAP - 1e-6);
                }
            }
        }
    }
}
