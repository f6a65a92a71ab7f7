//! Seeded dice for the random fail rate, so a dev node's faults can be replayed.

use crate::Fault;

/// A splitmix64 generator plus the probability that a write is faulted.
#[derive(Debug)]
pub(crate) struct Dice {
    rate: f64,
    state: u64,
}

impl Dice {
    /// Dice that fault with probability `rate`, which must be within `0.0..=1.0`.
    pub(crate) fn new(rate: f64, seed: u64) -> Dice {
        Dice { rate, state: seed }
    }

    /// With probability `rate`, one of the three write faults, picked uniformly.
    pub(crate) fn roll(&mut self) -> Option<Fault> {
        // Note: 53 random bits make a uniform f64 in [0, 1), so a rate of 1.0 always faults.
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.rate {
            return None;
        }
        Some(match self.next() % 3 {
            0 => Fault::Status(500),
            1 => Fault::ApplyThenStatus(500),
            _ => Fault::ApplyThenReset,
        })
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_rolls_the_same_faults() {
        let rolls = |seed| {
            let mut dice = Dice::new(0.5, seed);
            (0..64).map(|_| dice.roll()).collect::<Vec<_>>()
        };
        assert_eq!(rolls(7), rolls(7));
        assert_ne!(rolls(7), rolls(8));
    }

    #[test]
    fn rate_one_always_faults_and_uses_every_kind() {
        let mut dice = Dice::new(1.0, 1);
        let faults: Vec<_> = (0..300)
            .map(|_| dice.roll().expect("always faults"))
            .collect();
        for kind in [
            Fault::Status(500),
            Fault::ApplyThenStatus(500),
            Fault::ApplyThenReset,
        ] {
            assert!(faults.contains(&kind), "{kind:?} never rolled");
        }
    }

    #[test]
    fn rate_zero_never_faults() {
        let mut dice = Dice::new(0.0, 1);
        assert!((0..300).all(|_| dice.roll().is_none()));
    }
}
