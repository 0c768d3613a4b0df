//! Protocol fuzzing over TCP: a proptest feeds a running broker random frames, frames with a
//! valid header and a random body, and valid requests of every API mutated (bits flipped,
//! bytes set to edge values, cut, spliced, size prefix left stale). After each frame the broker
//! must still answer Metadata on a new connection, any response it sent must carry the
//! request's correlation id, and at the end it must stop cleanly having logged no ERROR.
//!
//! Each case is one to three frames on one connection. Bounded for CI: 300 cases, a few
//! seconds. The seed is printed; `WEIR_FUZZ_SEED=<n>`
//! replays a run and `WEIR_FUZZ_CASES=<n>` runs longer.

#![allow(clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod seeds;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use support::Broker;
use support::wire::{self, Outcome};

/// How long to wait for a response that may never come (a long poll, acks=0, a partial frame).
const WAIT: Duration = Duration::from_millis(150);

/// One change to a frame's bytes; positions are taken modulo the frame's length.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    /// Overwrites 4 bytes with an edge value (0, -1, i32::MAX, i32::MIN, 0x7fff…).
    SetEdge(usize, i32),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let edge = prop::sample::select(vec![0, -1, 1, i32::MAX, i32::MIN, 0x7fff, 0xffff, 0x10000]);
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::FlipBit(p, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Mutation::SetByte(p, v)),
        2 => (any::<usize>(), edge).prop_map(|(p, v)| Mutation::SetEdge(p, v)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        1 => (any::<usize>(), 1usize..16).prop_map(|(p, n)| Mutation::Remove(p, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(frame: &mut Vec<u8>, mutation: &Mutation) {
    let len = frame.len().max(1);
    match mutation {
        Mutation::FlipBit(p, bit) if !frame.is_empty() => frame[p % len] ^= 1 << bit,
        Mutation::SetByte(p, v) if !frame.is_empty() => frame[p % len] = *v,
        Mutation::SetEdge(p, v) if frame.len() >= 4 => {
            let at = p % (frame.len() - 3);
            frame[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
        Mutation::Insert(p, bytes) => {
            let at = p % (frame.len() + 1);
            frame.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove(p, n) if !frame.is_empty() => {
            let at = p % len;
            let end = (at + n).min(frame.len());
            frame.drain(at..end);
        }
        Mutation::Truncate(p) => frame.truncate(p % len),
        _ => {}
    }
}

/// What is sent: the body and whether its size prefix is kept true.
#[derive(Debug, Clone)]
enum Case {
    /// Any bytes at all.
    Random(Vec<u8>),
    /// A supported API key and a version near its range, then random bytes.
    RandomBody {
        key: i16,
        version: i16,
        body: Vec<u8>,
    },
    /// A valid request with mutations; `stale_size` keeps the original size prefix.
    Mutated {
        seed: usize,
        mutations: Vec<Mutation>,
        stale_size: bool,
    },
}

fn case(seed_count: usize) -> impl Strategy<Value = Case> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Case::Random),
        2 => (
            // every API key up to OffsetDelete (47), the group APIs among them
            -1i16..50,
            -1i16..14,
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(key, version, body)| Case::RandomBody { key, version, body }),
        5 => (
            0..seed_count,
            prop::collection::vec(mutation(), 1..5),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(seed, mutations, stale_size)| Case::Mutated { seed, mutations, stale_size }),
    ]
}

/// The size-prefixed bytes of a case.
fn bytes_of(case: &Case, seeds: &[Vec<u8>]) -> Vec<u8> {
    let (body, size) = match case {
        Case::Random(bytes) => (bytes.clone(), bytes.len()),
        Case::RandomBody { key, version, body } => {
            let mut frame = key.to_be_bytes().to_vec();
            frame.extend_from_slice(&version.to_be_bytes());
            frame.extend_from_slice(&0x0bad_cafe_i32.to_be_bytes());
            frame.extend_from_slice(body);
            let len = frame.len();
            (frame, len)
        }
        Case::Mutated {
            seed,
            mutations,
            stale_size,
        } => {
            let original = &seeds[*seed];
            let mut frame = original.clone();
            for m in mutations {
                apply(&mut frame, m);
            }
            let size = if *stale_size {
                original.len()
            } else {
                frame.len()
            };
            (frame, size)
        }
    };
    let mut bytes = (size as i32).to_be_bytes().to_vec();
    bytes.extend(body);
    bytes
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
    )
}

#[test]
fn broker_survives_random_and_mutated_frames() {
    let broker = Broker::start_with("num_partitions = 2", "");
    let addr = broker.addr();
    wire::metadata(&addr, &[seeds::TOPIC]); // the topic the seeds name exists, with data
    let seeds = seeds::all();

    let seed = env_number("WEIR_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let cases = env_number("WEIR_FUZZ_CASES").unwrap_or(300) as u32;
    eprintln!("protocol fuzz: {cases} cases, WEIR_FUZZ_SEED={seed}");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let counts = std::cell::Cell::new((0u32, 0u32, 0u32)); // answered, closed, silent
    // Once the broker is down every input "fails": shrinking would learn nothing, so the
    // first fatal case is kept and later ones pass untried.
    let death: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
    // One to three frames on one connection: pipelined requests, and what a bad frame does
    // to the good ones after it.
    let connection = prop::collection::vec(case(seeds.len()), 1..4);
    let result = runner.run(&connection, |cases| {
        if death.borrow().is_some() {
            return Ok(());
        }
        let frames: Vec<Vec<u8>> = cases.iter().map(|c| bytes_of(c, &seeds)).collect();
        let bytes = frames.concat();
        let mut stream = wire::connect(&addr);
        let mut outcomes = vec![wire::exchange(&mut stream, &bytes, WAIT)];
        while outcomes.len() < frames.len() && matches!(outcomes.last(), Some(Outcome::Answered(_)))
        {
            outcomes.push(wire::read_outcome(&mut stream, WAIT));
        }
        // Answers come in request order, each with its request's correlation id: the ids
        // answered are a subsequence of the ids sent (unless a stale size blurred the frames).
        let framed_truly = !cases.iter().any(|c| {
            matches!(
                c,
                Case::Mutated {
                    stale_size: true,
                    ..
                }
            )
        });
        let sent: Vec<&[u8]> = frames
            .iter()
            .filter(|f| f.len() >= 12)
            .map(|f| &f[8..12])
            .collect();
        let mut unmatched = sent.iter();
        for outcome in &outcomes {
            if let Outcome::Answered(body) = outcome {
                prop_assert!(body.len() >= 4, "an answer without a correlation id");
                prop_assert!(!sent.is_empty(), "answered headerless frames");
                if framed_truly {
                    prop_assert!(
                        unmatched.any(|id| *id == &body[..4]),
                        "answer {:?} is out of order or for no request",
                        &body[..4]
                    );
                }
            }
        }
        let (mut a, mut c, mut s) = counts.get();
        for outcome in &outcomes {
            match outcome {
                Outcome::Answered(_) => a += 1,
                Outcome::Closed => c += 1,
                Outcome::Silent => s += 1,
            }
        }
        counts.set((a, c, s));
        let case = &cases;
        if let Err(why) = wire::check_alive(&addr) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            *death.borrow_mut() = Some(format!("{why}\nafter {case:?}\nframe: {hex}"));
            return Err(TestCaseError::fail("the broker stopped answering"));
        }
        Ok(())
    });
    if let Some(death) = death.into_inner() {
        panic!("the broker stopped answering: {death}\nreplay with WEIR_FUZZ_SEED={seed}");
    }
    let (answered, closed, silent) = counts.get();
    eprintln!("protocol fuzz: {answered} answered, {closed} closed, {silent} silent");
    if let Err(e) = result {
        panic!("{e}\nreplay with WEIR_FUZZ_SEED={seed}");
    }
    // Not only rejections: mutated requests also reach the handlers and get answers.
    assert!(
        answered >= 10,
        "only {answered} frames of {cases} cases were answered"
    );
    broker.assert_clean_log();
}
