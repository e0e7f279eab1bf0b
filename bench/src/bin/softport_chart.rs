//! softport-chart: a bar chart (SVG, written to stdout) of rvs / testpmd io
//! per case, from the outputs of `bench/softport`, one bar per output side
//! by side: before and after a change, on the same port.
//!
//! Usage: softport-chart LABEL=FILE [LABEL=FILE ...] > chart.svg
//!   e.g. softport-chart 2026-12-02=bench/data/softport-2026-12-02.txt \
//!        2026-12-07=bench/data/softport-2026-12-07.txt > bench/softport-ratio.svg
//!
//! A file's case lines are `mode flows workers pages rvs [min, max] testpmd
//! [min, max] ratio`, as the command prints them; other lines (the header,
//! comments, the counter lines) are skipped. The ratio drawn is the two
//! medians' quotient. The dashed lines are issue 18's targets: 0.5 with
//! 1 000 flows, 0.35 with 400 000.

use std::fmt::Write as _;
use std::process::ExitCode;

/// One case of a `bench/softport` run.
#[derive(Clone, Debug, PartialEq)]
struct Case {
    mode: String,
    flows: u64,
    workers: u32,
    pages: String,
    rvs: f64,
    testpmd: f64,
}

impl Case {
    fn name(&self) -> (&str, u64, u32, &str) {
        (&self.mode, self.flows, self.workers, &self.pages)
    }

    fn ratio(&self) -> f64 {
        self.rvs / self.testpmd
    }
}

/// The case lines of a `bench/softport` output.
fn parse(text: &str) -> Result<Vec<Case>, String> {
    let mut cases = vec![];
    for (n, line) in text.lines().enumerate() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if !matches!(t.first(), Some(&("dr" | "nat"))) {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}: {line}", n + 1);
        if t.len() != 11 {
            return Err(bad("not a case line (11 fields)"));
        }
        let num = |i: usize, what: &str| t[i].parse::<f64>().map_err(|_| bad(what));
        let case = Case {
            mode: t[0].to_string(),
            flows: t[1].parse().map_err(|_| bad("flows"))?,
            workers: t[2].parse().map_err(|_| bad("workers"))?,
            pages: t[3].to_string(),
            rvs: num(4, "rvs Mpps")?,
            testpmd: num(7, "testpmd Mpps")?,
        };
        if case.testpmd <= 0.0 || case.rvs < 0.0 {
            return Err(bad("a rate out of range"));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err("no case lines".into());
    }
    Ok(cases)
}

const BAR: f64 = 14.0;
const GAP: f64 = 18.0;
const PLOT_H: f64 = 300.0;
const LEFT: f64 = 50.0;
const TOP: f64 = 40.0;
const Y_MAX: f64 = 0.6;
const COLOURS: [&str; 4] = ["#9aa5b1", "#2f6db5", "#d9822b", "#3d8b40"];
const TARGETS: [(f64, &str); 2] = [
    (0.5, "target, 1 000 flows"),
    (0.35, "target, 400 000 flows"),
];

/// The chart of `runs` (a label and its cases each): one group per case of
/// the first run, in its order, a bar per run that has the case.
fn svg(runs: &[(String, Vec<Case>)]) -> Result<String, String> {
    let Some((_, first)) = runs.first() else {
        return Err("no runs".into());
    };
    if runs.len() > COLOURS.len() {
        return Err(format!("at most {} runs", COLOURS.len()));
    }
    let group = BAR * runs.len() as f64 + GAP;
    let width = LEFT + group * first.len() as f64 + 20.0;
    let height = TOP + PLOT_H + 70.0;
    let y = |r: f64| TOP + PLOT_H * (1.0 - r.min(Y_MAX) / Y_MAX);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="16" font-size="13">rvs / dpdk-testpmd io on the same software port (bench/softport)</text>"#
    );
    for (i, (label, _)) in runs.iter().enumerate() {
        let x = LEFT + 140.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="24" width="10" height="10" fill="{}"/><text x="{}" y="33">{label}</text>"#,
            COLOURS[i],
            x + 14.0
        );
    }
    for tick in 0..=6 {
        let r = tick as f64 / 10.0;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{}" y="{:.1}" text-anchor="end">{r:.1}</text>"##,
            width - 20.0,
            LEFT - 4.0,
            y(r) + 3.0,
            y = y(r)
        );
    }
    for (target, what) in TARGETS {
        let _ = writeln!(
            s,
            r##"<line class="target" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#b00" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="#b00" text-anchor="end">{what}</text>"##,
            width - 20.0,
            width - 22.0,
            y(target) - 3.0,
            y = y(target)
        );
    }
    for (g, case) in first.iter().enumerate() {
        let x0 = LEFT + GAP / 2.0 + group * g as f64;
        for (i, (label, cases)) in runs.iter().enumerate() {
            let Some(c) = cases.iter().find(|c| c.name() == case.name()) else {
                continue;
            };
            let r = c.ratio();
            let _ = writeln!(
                s,
                r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{BAR}" height="{:.1}" fill="{}"><title>{label}: {} {} flows, {} worker(s), {} pages: {:.2} / {:.2} Mpps = {r:.2}</title></rect>"#,
                x0 + BAR * i as f64,
                y(r),
                TOP + PLOT_H - y(r),
                COLOURS[i],
                c.mode,
                c.flows,
                c.workers,
                c.pages,
                c.rvs,
                c.testpmd
            );
        }
        let cx = x0 + BAR * runs.len() as f64 / 2.0;
        let flows = if case.flows % 1000 == 0 {
            format!("{}k", case.flows / 1000)
        } else {
            case.flows.to_string()
        };
        let pages = if case.pages == "huge" { "2M" } else { "4K" };
        let _ = writeln!(
            s,
            r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{flows}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}w {pages}</text>"#,
            TOP + PLOT_H + 14.0,
            case.mode.to_uppercase(),
            TOP + PLOT_H + 26.0,
            TOP + PLOT_H + 38.0,
            case.workers
        );
    }
    s.push_str("</svg>\n");
    Ok(s)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: softport-chart LABEL=FILE [LABEL=FILE ...] > chart.svg");
        return ExitCode::from(2);
    }
    let mut runs = vec![];
    for a in &args {
        let Some((label, path)) = a.split_once('=') else {
            eprintln!("softport-chart: {a}: expected LABEL=FILE");
            return ExitCode::from(2);
        };
        let cases = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| parse(&t));
        match cases {
            Ok(c) => runs.push((label.to_string(), c)),
            Err(e) => {
                eprintln!("softport-chart: {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match svg(&runs) {
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("softport-chart: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
mode    flows workers pages  rvs Mpps               testpmd io Mpps        rvs/testpmd
  (dr 1000 flows, 1 workers, 4k: to_exception 95432 from_exception 7 )
dr       1000       1    4k  10.00 [10.43, 12.37]   40.00 [27.64, 34.66]   0.25
nat    400000       2  huge  5.00 [5.38, 5.65]      50.00 [27.39, 28.76]   0.10
";

    #[test]
    fn case_lines_are_read_and_the_rest_skipped() {
        let cases = parse(OUT).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].name(), ("dr", 1000, 1, "4k"));
        assert_eq!(cases[1].ratio(), 0.1);
        assert!(parse("dr 1000 1 4k 1.0 [x]")
            .unwrap_err()
            .contains("line 1"));
        assert!(parse("nat 1000 1 4k x [1, 2] 3 [1, 2] 0.1")
            .unwrap_err()
            .contains("rvs Mpps"));
        assert!(parse("mode flows\n").is_err());
    }

    #[test]
    fn each_run_draws_a_bar_per_case_its_height_the_ratio() {
        let before = parse(OUT).unwrap();
        let mut after = before.clone();
        after[0].rvs = 20.0; // 0.5
        after.pop(); // a case the second run lacks: no bar
        let s = svg(&[("before".into(), before), ("after".into(), after)]).unwrap();
        assert_eq!(s.matches(r#"class="bar""#).count(), 3);
        assert_eq!(s.matches(r#"class="target""#).count(), 2);
        // 0.25 of a 0.6 scale over 300 pixels is 125 high; 0.5 is 250.
        assert!(s.contains(r#"height="125.0""#), "{s}");
        assert!(s.contains(r#"height="250.0""#), "{s}");
        assert!(
            s.contains("before: dr 1000 flows, 1 worker(s), 4k pages: 10.00 / 40.00 Mpps = 0.25")
        );
        assert!(svg(&[]).is_err());
    }
}
