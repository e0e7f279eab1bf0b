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
