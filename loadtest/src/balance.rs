//! Smooth weighted round-robin (nginx's): over any window, each choice is picked in proportion
//! to its weight, interleaved rather than in runs. Equal weights give plain round-robin.

use std::sync::Mutex;

pub struct Balancer {
    state: Mutex<State>,
}

struct State {
    weights: Vec<f64>,
    current: Vec<f64>,
    total: f64,
}

impl Balancer {
    /// `weights` must be positive; an empty list always picks 0.
    pub fn new(weights: Vec<f64>) -> Balancer {
        let total = weights.iter().sum();
        let current = vec![0.0; weights.len()];
        Balancer {
            state: Mutex::new(State {
                weights,
                current,
                total,
            }),
        }
    }

    pub fn next(&self) -> usize {
        let mut state = self.state.lock().expect("not poisoned");
        let State {
            weights,
            current,
            total,
        } = &mut *state;
        if weights.len() <= 1 {
            return 0;
        }
        let mut best = 0;
        for i in 0..weights.len() {
            current[i] += weights[i];
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= *total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::Balancer;

    #[test]
    fn picks_in_proportion_to_weight_and_interleaves() {
        let balancer = Balancer::new(vec![3.0, 1.0]);
        let picks: Vec<usize> = (0..8).map(|_| balancer.next()).collect();
        assert_eq!(picks, [0, 0, 1, 0, 0, 0, 1, 0]);
        let even = Balancer::new(vec![1.0, 1.0, 1.0]);
        let picks: Vec<usize> = (0..6).map(|_| even.next()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }
}
