//! The chart of activity: log entries and run transitions per hour or per UTC day over a
//! range, read from the counts the store keeps ([`nerve_store::LogStore::activity`]), never
//! from the entries. Drawn as inline SVG on the server: no script, nothing fetched.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use maud::{Markup, html};
use nerve_store::{ActivitySeries, HourCount, StoreError, StoreResult, WorkflowRunStatus};
use serde::{Deserialize, Serialize};

use crate::params::{given, time};

/// The most bars a chart has: 31 days of hours, or two years of days.
pub(crate) const MAX_BARS: i64 = 744;

/// `?since=&until=&by=` of the chart: the times as the log's filters take them, `by` `hour`
/// or `day`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActivityParams {
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) by: Option<String>,
}

/// What a bar covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Step {
    Hour,
    Day,
}

impl Step {
    fn length(self) -> Duration {
        match self {
            Step::Hour => Duration::hours(1),
            Step::Day => Duration::days(1),
        }
    }

    fn label(self, at: DateTime<Utc>) -> String {
        match self {
            Step::Hour => at.format("%Y-%m-%d %H:00").to_string(),
            Step::Day => at.format("%Y-%m-%d").to_string(),
        }
    }
}

/// One bar: what its hour or day holds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Bar {
    start: DateTime<Utc>,
    entries: u64,
    /// Transitions by the status they moved to, only the statuses with some.
    transitions: BTreeMap<&'static str, u64>,
}

impl Bar {
    fn moved(&self) -> u64 {
        self.transitions.values().sum()
    }
}

/// The chart's range and bars, as `/api/activity` answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Chart {
    by: Step,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bars: Vec<Bar>,
}

impl ActivityParams {
    /// The range and step asked for: by default the 24 hours up to `now`, by hour; by day
    /// when a range over 3 days sets no step. A range is widened to whole bars.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a time or step that does not parse, a range that
    /// ends before it starts, and one of more than [`MAX_BARS`] bars.
    pub(crate) fn range(
        &self,
        now: &nerve_store::time::Zoned,
    ) -> StoreResult<(DateTime<Utc>, DateTime<Utc>, Step)> {
        let until = match given(&self.until) {
            Some(text) => time("until", &text, now)?,
            None => time("until", "now", now)?,
        };
        let since = match given(&self.since) {
            Some(text) => time("since", &text, now)?,
            None => until - Duration::hours(24),
        };
        if since >= until {
            return Err(StoreError::invalid(
                "since",
                format!("{since} is not before until, {until}"),
            ));
        }
        let step = match given(&self.by).as_deref() {
            None if until - since > Duration::days(3) => Step::Day,
            None | Some("hour") => Step::Hour,
            Some("day") => Step::Day,
            Some(other) => {
                return Err(StoreError::invalid(
                    "by",
                    format!("{other:?} is not a step: hour or day"),
                ));
            }
        };
        let start = since
            .duration_trunc(step.length())
            .map_err(|err| StoreError::invalid("since", err.to_string()))?;
        let (span, length) = (
            (until - start).num_milliseconds(),
            step.length().num_milliseconds(),
        );
        let bars = (span + length - 1) / length;
        if bars > MAX_BARS {
            return Err(StoreError::invalid(
                "since",
                format!(
                    "{bars} bars of a {step:?} are more than the {MAX_BARS} a chart draws: \
                     choose a shorter range, or by=day",
                    step = step
                ),
            ));
        }
        let end = i32::try_from(bars)
            .ok()
            .and_then(|bars| start.checked_add_signed(step.length() * bars))
            .ok_or_else(|| StoreError::invalid("until", "past the times a store keeps"))?;
        Ok((start, end, step))
    }
}

/// The chart of `since..until` by `step` from the store's counts: every bar of the range,
/// empty ones included.
pub(crate) fn chart(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    by: Step,
    counts: &[HourCount],
) -> Chart {
    let mut bars = Vec::new();
    let mut at = since;
    while at < until {
        bars.push(Bar {
            start: at,
            entries: 0,
            transitions: BTreeMap::new(),
        });
        at += by.length();
    }
    for count in counts {
        let Ok(place) =
            usize::try_from((count.hour - since).num_seconds() / by.length().num_seconds())
        else {
            continue;
        };
        let Some(bar) = bars.get_mut(place) else {
            continue;
        };
        match count.series {
            ActivitySeries::Entries => bar.entries += count.count,
            ActivitySeries::Transitions(status) => {
                *bar.transitions.entry(status.as_str()).or_default() += count.count;
            }
        }
    }
    Chart {
        by,
        since,
        until,
        bars,
    }
}

/// The chart's section of the overview: the range's form, the presets, and the two charts.
pub(crate) fn section(chart: &Chart, params: &ActivityParams) -> Markup {
    let entries: u64 = chart.bars.iter().map(|bar| bar.entries).sum();
    let moved: u64 = chart.bars.iter().map(Bar::moved).sum();
    html! {
        section.activity {
            h2 { "Activity" }
            form.filters method="get" action="/" {
                label { "since" input name="since" value=(given(&params.since).unwrap_or_default()) placeholder="24h, today, 2026-12-01"; }
                label { "until" input name="until" value=(given(&params.until).unwrap_or_default()) placeholder="now"; }
                label { "by" select name="by" {
                    option value="" { "auto" }
                    option value="hour" selected[given(&params.by).as_deref() == Some("hour")] { "hour" }
                    option value="day" selected[given(&params.by).as_deref() == Some("day")] { "day" }
                } }
                button type="submit" { "show" }
                span.presets {
                    a href="/?since=24h" { "24 hours" } " · "
                    a href="/?since=7d&by=hour" { "7 days by hour" } " · "
                    a href="/?since=30d" { "30 days" }
                }
            }
            p.range {
                (chart.by.label(chart.since)) " to " (chart.by.label(chart.until))
                " UTC, by " (format!("{:?}", chart.by).to_lowercase()) ": "
                (entries) " log entries, " (moved) " run transitions"
            }
            h3 { "Log entries" }
            (bars_svg(chart, "entries", |bar| vec![("entries", bar.entries)]))
            h3 { "Run transitions" }
            (bars_svg(chart, "transitions", |bar| {
                WorkflowRunStatus::ALL
                    .into_iter()
                    .map(|status| (status.as_str(), bar.transitions.get(status.as_str()).copied().unwrap_or(0)))
                    .filter(|(_, n)| *n > 0)
                    .collect()
            }))
            p.legend {
                @for status in WorkflowRunStatus::ALL {
                    span class={ "key s-" (status.as_str()) } { (status.as_str()) }
                }
            }
        }
    }
}

/// One chart: a bar per step, stacked by the parts `parts` gives it (each drawn in the
/// class `s-NAME`), each with a tooltip saying what it counts.
fn bars_svg(chart: &Chart, name: &str, parts: impl Fn(&Bar) -> Vec<(&'static str, u64)>) -> Markup {
    const HEIGHT: f64 = 120.0;
    let stacks: Vec<Vec<(&'static str, u64)>> = chart.bars.iter().map(&parts).collect();
    let highest = stacks
        .iter()
        .map(|stack| stack.iter().map(|(_, n)| n).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = chart.bars.len().max(1) as f64;
    html! {
        figure class={ "chart chart-" (name) } {
            svg viewBox={ "0 0 " (width) " " (HEIGHT) } preserveAspectRatio="none" role="img" {
                @for (place, (bar, stack)) in chart.bars.iter().zip(&stacks).enumerate() {
                    @let mut top = HEIGHT;
                    @for (part, n) in stack.iter().filter(|(_, n)| *n > 0) {
                        @let height = *n as f64 / highest as f64 * HEIGHT;
                        @let y = { top -= height; top };
                        rect class={ "s-" (part) } x=(place) y=(y) width="0.9" height=(height) {
                            title { (chart.by.label(bar.start)) " UTC: " (n) " " (part) }
                        }
                    }
                }
            }
            figcaption {
                span { (chart.by.label(chart.since)) }
                span { "highest " (highest) }
                span { (chart.by.label(chart.until)) }
            }
        }
    }
}
