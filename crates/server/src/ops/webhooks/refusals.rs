//! The per-address budget of `push_refused` webhooks (`webhooks.refused_per_address_per_minute`).
//!
//! A refusal costs the client one connection, and each one would store a row and post it to every callback URL:
//! one address retrying a bad URL in a loop would flood the outbox and the receivers. So each address (see
//! [`address_key`](crate::ops::address::address_key)) gets a number of `push_refused` events per minute; the rest are
//! counted in `/metrics` and logged once per address and minute, not stored. Pure: the clock is an argument.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

/// The length of one budget window.
const WINDOW_MS: i64 = 60_000;

/// What to do with one `push_refused` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Within the address's budget: store and send it.
    Send,
    /// Over the budget: drop it. `first` on the first drop of the window, the one to log.
    Suppress { first: bool },
}

/// One address's window: when it started and how many events it has had.
#[derive(Debug)]
struct Window {
    start_ms: i64,
    count: u32,
}

/// The budgets of every address seen in the last window or two.
#[derive(Debug)]
pub(super) struct RefusedBudget {
    per_minute: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    windows: HashMap<IpAddr, Window>,
    /// When ended windows are next swept out, so the map holds only recent addresses.
    next_sweep_ms: i64,
}

impl RefusedBudget {
    pub(super) fn new(per_minute: u32) -> RefusedBudget {
        RefusedBudget {
            per_minute,
            state: Mutex::new(State::default()),
        }
    }

    /// Counts one `push_refused` event from `address` (already an address key) at `now_ms`.
    pub(super) fn check(&self, address: IpAddr, now_ms: i64) -> Verdict {
        let mut state = self.state.lock();
        if now_ms >= state.next_sweep_ms {
            state.windows.retain(|_, w| now_ms - w.start_ms < WINDOW_MS);
            state.next_sweep_ms = now_ms + WINDOW_MS;
        }
        let window = state.windows.entry(address).or_insert(Window {
            start_ms: now_ms,
            count: 0,
        });
        if now_ms - window.start_ms >= WINDOW_MS {
            *window = Window {
                start_ms: now_ms,
                count: 0,
            };
        }
        window.count = window.count.saturating_add(1);
        if window.count <= self.per_minute {
            Verdict::Send
        } else {
            Verdict::Suppress {
                first: window.count == self.per_minute.saturating_add(1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_budget_per_minute() {
        let budget = RefusedBudget::new(3);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t = 1_000_000;
        let verdicts: Vec<Verdict> = (0..6).map(|i| budget.check(a, t + i)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Send,
                Verdict::Send,
                Verdict::Send,
                Verdict::Suppress { first: true },
                Verdict::Suppress { first: false },
                Verdict::Suppress { first: false },
            ]
        );
        assert_eq!(budget.check(b, t + 10), Verdict::Send, "another address");
        assert_eq!(
            budget.check(a, t + WINDOW_MS - 1),
            Verdict::Suppress { first: false }
        );
        assert_eq!(
            budget.check(a, t + WINDOW_MS),
            Verdict::Send,
            "a new window"
        );
    }

    #[test]
    fn zero_sends_none_and_old_addresses_are_forgotten() {
        let budget = RefusedBudget::new(0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(budget.check(a, 0), Verdict::Suppress { first: true });
        for i in 0..100u8 {
            budget.check(IpAddr::from([10, 0, 0, i]), 1);
        }
        assert_eq!(budget.state.lock().windows.len(), 101);
        budget.check(a, 2 * WINDOW_MS);
        assert_eq!(budget.state.lock().windows.len(), 1, "swept");
    }
}
