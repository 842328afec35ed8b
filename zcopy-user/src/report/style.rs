//! What every chart shares: the embedded font, the size, one colour per
//! strategy, and the panel helpers.

use std::sync::OnceLock;

use plotters::{
    coord::Shift,
    prelude::*,
    style::{FontStyle, register_font},
};

use crate::model::strategy::Strategy;

/// Every chart's size in pixels: readable at 1200x800.
pub const SIZE: (u32, u32) = (1200, 800);

/// The font every chart uses, embedded so that charts render the same on a
/// machine without fonts: DejaVu Sans (assets/fonts/LICENSE-DejaVu).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub const FAMILY: &str = "sans-serif";

/// Registers the embedded font once; plotters' text then uses it.
pub fn init_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(ok, "the embedded chart font could not be loaded");
    Ok(())
}

/// A qualitative palette (Okabe-Ito, then Tableau), one colour per strategy,
/// by the strategy's place in the enum: the same in every chart and report.
const PALETTE: [RGBColor; 16] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 94, 240),
    RGBColor(140, 86, 75),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
];

pub fn color(strategy: Strategy) -> RGBColor {
    PALETTE[strategy as usize % PALETTE.len()]
}

/// The lighter shade used for the receiver side (and for user time).
pub fn light(c: RGBColor) -> RGBColor {
    let mix = |v: u8| ((u16::from(v) + 2 * 255) / 3) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Grey for the literature's claimed figures.
pub const CLAIMED: RGBColor = RGBColor(190, 190, 190);
/// Red for a claim that the measurement contradicts.
pub const DIFFERS: RGBColor = RGBColor(200, 30, 30);

pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws a chart's frame: title on top, caption line at the bottom; returns the body.
pub fn frame<'a>(root: &Area<'a>, title: &str, caption: &str) -> anyhow::Result<Area<'a>> {
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(48);
    let (body, bottom) = rest.split_vertically(SIZE.1 - 48 - 30);
    top.draw(&Text::new(title, (20, 12), (FAMILY, 26).into_font().color(&BLACK)))?;
    bottom.draw(&Text::new(caption, (20, 6), (FAMILY, 15).into_font().color(&RGBColor(80, 80, 80))))?;
    Ok(body)
}

/// A legend panel: a swatch and a label per entry.
pub fn legend(area: &Area<'_>, heading: &str, entries: &[(String, RGBColor)]) -> anyhow::Result<()> {
    area.draw(&Text::new(heading, (10, 8), (FAMILY, 17).into_font().color(&BLACK)))?;
    for (i, (label, c)) in entries.iter().enumerate() {
        let y = 36 + 24 * i as i32;
        area.draw(&Rectangle::new([(12, y), (30, y + 16)], c.filled()))?;
        area.draw(&Text::new(label.as_str(), (38, y), (FAMILY, 15).into_font().color(&BLACK)))?;
    }
    Ok(())
}

/// One bar in a grouped bar panel.
#[derive(Debug, Clone)]
pub struct Bar {
    pub value: f64,
    pub color: RGBColor,
    /// Drawn as an outline in this colour over `color` (e.g. a claimed bar's strategy).
    pub outline: Option<RGBColor>,
    /// (low, high) whiskers, e.g. min-max over runs.
    pub whiskers: Option<(f64, f64)>,
    /// A mark above the bar (e.g. "differs").
    pub mark: Option<String>,
    /// Print the value above the bar.
    pub show_value: bool,
}

impl Bar {
    pub fn new(value: f64, color: RGBColor) -> Self {
        Self { value, color, outline: None, whiskers: None, mark: None, show_value: false }
    }
}

/// A bar panel: groups side by side along x (labelled under the axis), the
/// bars of a group next to each other. `None` values are drawn as "n/a".
pub fn bar_panel(
    area: &Area<'_>,
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<Option<Bar>>)],
) -> anyhow::Result<()> {
    let top = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().flatten())
        .map(|b| b.whiskers.map_or(b.value, |w| w.1.max(b.value)))
        .fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
    let n = groups.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..n, 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_label)
        .y_label_formatter(&|v| short_number(*v))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    let label = (FAMILY, 14).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Top,
    ));
    for (g, (name, bars)) in groups.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
        area.draw(&Text::new(
            name.as_str(),
            (px - area.get_base_pixel().0, py - area.get_base_pixel().1 + 6),
            label.clone(),
        ))?;
        let width = 0.8 / bars.len().max(1) as f64;
        for (i, bar) in bars.iter().enumerate() {
            let x0 = g as f64 + 0.1 + width * i as f64;
            let x1 = x0 + width * 0.9;
            let Some(bar) = bar else {
                chart.draw_series(std::iter::once(Text::new(
                    "n/a",
                    (x0, y_max * 0.02),
                    (FAMILY, 11).into_font().color(&RGBColor(120, 120, 120)),
                )))?;
                continue;
            };
            chart.draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x1, bar.value)], bar.color.filled())))?;
            if let Some(outline) = bar.outline {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, bar.value)],
                    outline.stroke_width(2),
                )))?;
            }
            if let Some((lo, hi)) = bar.whiskers {
                let mid = (x0 + x1) / 2.0;
                let black = BLACK.stroke_width(1);
                chart.draw_series(std::iter::once(PathElement::new(vec![(mid, lo), (mid, hi)], black)))?;
                for y in [lo, hi] {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(mid - width * 0.2, y), (mid + width * 0.2, y)],
                        black,
                    )))?;
                }
            }
            if bar.show_value {
                chart.draw_series(std::iter::once(Text::new(
                    short_number(bar.value),
                    (x0, bar.value + y_max * 0.01),
                    (FAMILY, 12).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Bottom,
                    )),
                )))?;
            }
            if let Some(mark) = &bar.mark {
                chart.draw_series(std::iter::once(Text::new(
                    mark.clone(),
                    (x0, bar.value + y_max * if bar.show_value { 0.07 } else { 0.03 }),
                    (FAMILY, 12).into_font().color(&DIFFERS),
                )))?;
            }
        }
    }
    Ok(())
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max.saturating_sub(1)).collect::<String>())
    }
}

/// 1234567 -> "1.23M", 0.5 -> "0.5".
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(2.5), "2.50");
        assert_eq!(short_number(12345.0), "12.3k");
        assert_eq!(short_number(67_108_864.0), "67.11M");
    }

    #[test]
    fn every_strategy_has_its_own_colour() {
        let mut seen: Vec<RGBColor> =
            Strategy::ALL.iter().chain(Strategy::SCENARIOS.iter()).map(|s| color(*s)).collect();
        seen.sort_by_key(|c| (c.0, c.1, c.2));
        seen.dedup();
        assert_eq!(seen.len(), Strategy::ALL.len() + Strategy::SCENARIOS.len());
    }
}
