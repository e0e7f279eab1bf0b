//! `rvs-fuzz TARGET`: one of rvs's fuzz targets, run by AFL++ (input on
//! standard input, in AFL's persistent mode). Also:
//! - `rvs-fuzz TARGET FILE...` runs the target once on each file (a crash
//!   found replays this way, in a debugger too);
//! - `rvs-fuzz seeds DIR` writes the generated seeds under `DIR/TARGET/`;
//! - `rvs-fuzz list` prints the targets' names.

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: rvs-fuzz TARGET [FILE...] | rvs-fuzz seeds DIR | rvs-fuzz list\ntargets: {}",
        rvs_fuzz::TARGETS.join(" ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [list] if list == "list" => {
            for t in rvs_fuzz::TARGETS {
                println!("{t}");
            }
            ExitCode::SUCCESS
        }
        [seeds, dir] if seeds == "seeds" => match rvs_fuzz::seeds::write_all(dir.as_ref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rvs-fuzz: {dir}: {e}");
                ExitCode::FAILURE
            }
        },
        [target] if rvs_fuzz::TARGETS.contains(&target.as_str()) => {
            afl::fuzz!(|data: &[u8]| {
                rvs_fuzz::run(target, data);
            });
            ExitCode::SUCCESS
        }
        [target, files @ ..] if rvs_fuzz::TARGETS.contains(&target.as_str()) => {
            for f in files {
                match std::fs::read(f) {
                    Ok(data) => {
                        rvs_fuzz::run(target, &data);
                    }
                    Err(e) => {
                        eprintln!("rvs-fuzz: {f}: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
