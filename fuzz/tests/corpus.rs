//! The seed corpora replay through their targets without a crash, and the
//! frame sequences split as they were joined.

use std::path::Path;

#[test]
fn every_target_has_seeds_and_they_replay() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in rvs_fuzz::TARGETS {
        let dir = corpus.join(target);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let data = std::fs::read(e.expect("an entry").path()).expect("a seed");
            assert!(rvs_fuzz::run(target, &data), "{target} is a target");
            n += 1;
        }
        assert!(n > 0, "{target} has no seeds");
    }
    assert!(!rvs_fuzz::run("no-such-target", b""));
}

#[test]
fn frames_split_as_they_were_joined() {
    let frames = vec![(0x85, vec![1, 2, 3]), (0, vec![]), (0x20, vec![9; 300])];
    let joined = rvs_fuzz::director::join_frames(&frames);
    let split: Vec<(u8, Vec<u8>)> = rvs_fuzz::director::split_frames(&joined)
        .into_iter()
        .map(|(c, f)| (c, f.to_vec()))
        .collect();
    assert_eq!(split, frames);
    // A length past the end takes what is left.
    assert_eq!(
        rvs_fuzz::director::split_frames(&[7, 0xff, 0xff, 1, 2]),
        vec![(7, &[1u8, 2][..])]
    );
}

/// Replay `seed` (a `frames` input) through a fresh director; the verdict
/// and output frame of each record.
fn replay(seed: &[u8]) -> Vec<(rvs_dataplane::pipeline::Verdict, Vec<u8>)> {
    let mut w = rvs_fuzz::director::populated_worker();
    let mut now_ms = 1_000;
    rvs_fuzz::director::split_frames(seed)
        .into_iter()
        .map(|(ctl, f)| {
            now_ms += u64::from(ctl & 0x1f) * 1000 + 1;
            let mut frame = rvs_dataplane::pipeline::VecFrame(f.to_vec());
            let v = w.handle_frame(0, &mut frame, now_ms, false);
            (v, frame.0)
        })
        .collect()
}

/// The frame seeds reach the paths they are for: every service's first
/// packet is forwarded (the SYN proxy's answered), SCTP's INIT included;
/// the cross-family FullNAT service's leaves in the other family; the
/// SYN proxy's cookie seed passes the cookie check and reaches the real
/// server.
#[test]
fn the_frame_seeds_reach_their_paths() {
    use rvs_dataplane::pipeline::Verdict;
    let ethertype = |f: &[u8]| u16::from_be_bytes([f[12], f[13]]);
    let seeds = rvs_fuzz::seeds::frames();
    let mut checked = 0;
    for (name, seed) in &seeds {
        let out = replay(seed);
        if name.ends_with("-first") {
            let synproxy = name.contains(&format!("-{}-", rvs_fuzz::director::SYNPROXY_PORT));
            let want = if synproxy {
                Verdict::Reply
            } else {
                Verdict::Forward(0)
            };
            assert_eq!(out[0].0, want, "{name}");
            let xfam = name.contains(&format!("-{}-", rvs_fuzz::director::XFAM_PORT));
            let (_, first) = &rvs_fuzz::director::split_frames(seed)[0];
            assert_eq!(
                ethertype(&out[0].1) != ethertype(first),
                xfam,
                "{name}: the family changes for the cross-family service only"
            );
            checked += 1;
        }
        if name.ends_with("-cookie") {
            let verdicts: Vec<Verdict> = out.iter().map(|(v, _)| *v).collect();
            assert_eq!(verdicts[0], Verdict::Reply, "{name}: the SYN is answered");
            assert_eq!(
                verdicts[1],
                Verdict::Forward(0),
                "{name}: the cookie is good"
            );
            assert_eq!(
                verdicts[3],
                Verdict::Forward(0),
                "{name}: data reaches the server"
            );
            assert_eq!(
                verdicts[4],
                Verdict::Forward(0),
                "{name}: the answer the client"
            );
            checked += 1;
        }
    }
    // 13 services, both families, plus the two cookie seeds.
    assert_eq!(checked, 2 * rvs_fuzz::director::SERVICES.len() + 2);
}
