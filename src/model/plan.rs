//! The Agent Phone Plan (§11): an account plan besides Enterprise that texts US and Canada
//! numbers only, at most so many texts an hour and a day (on the simulator's clock; the hour
//! turns on the hour, the day at midnight UTC). Every text the account sends counts, the
//! agent's automatic replies included.

/// The plan's documented limits.
pub const HOURLY_TEXTS: u32 = 20;
pub const DAILY_TEXTS: u32 = 100;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Which limit a text would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanLimit {
    Hourly,
    Daily,
}

impl PlanLimit {
    pub fn code(self) -> &'static str {
        match self {
            PlanLimit::Hourly => "SMS_RL_PLAN_HOURLY",
            PlanLimit::Daily => "SMS_RL_PLAN_DAILY",
        }
    }
}

/// An Agent Phone Plan account's limits and what it has sent in the current hour and day.
#[derive(Clone, Debug)]
pub struct PlanState {
    pub hourly: u32,
    pub daily: u32,
    hour: i64,
    hour_count: u32,
    day: i64,
    day_count: u32,
}

impl PlanState {
    pub fn new(hourly: u32, daily: u32) -> Self {
        PlanState {
            hourly,
            daily,
            hour: i64::MIN,
            hour_count: 0,
            day: i64::MIN,
            day_count: 0,
        }
    }

    /// Starts the hour and the day `now` falls in, when they have turned.
    fn roll(&mut self, now: i64) {
        let (hour, day) = (now.div_euclid(HOUR_MS), now.div_euclid(DAY_MS));
        if hour != self.hour {
            (self.hour, self.hour_count) = (hour, 0);
        }
        if day != self.day {
            (self.day, self.day_count) = (day, 0);
        }
    }

    /// The limit one more text at `now` would pass (the daily one first), if any.
    pub fn check(&mut self, now: i64) -> Option<PlanLimit> {
        self.roll(now);
        if self.day_count >= self.daily {
            Some(PlanLimit::Daily)
        } else if self.hour_count >= self.hourly {
            Some(PlanLimit::Hourly)
        } else {
            None
        }
    }

    /// Counts one text at `now`, unless it would pass a limit.
    pub fn take(&mut self, now: i64) -> Result<(), PlanLimit> {
        if let Some(limit) = self.check(now) {
            return Err(limit);
        }
        self.hour_count += 1;
        self.day_count += 1;
        Ok(())
    }

    /// When the limit passed at `now` lets texts through again.
    pub fn resets_at(limit: PlanLimit, now: i64) -> i64 {
        match limit {
            PlanLimit::Hourly => (now.div_euclid(HOUR_MS) + 1) * HOUR_MS,
            PlanLimit::Daily => (now.div_euclid(DAY_MS) + 1) * DAY_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hour_turns_on_the_hour_and_the_day_at_midnight() {
        let mut p = PlanState::new(2, 3);
        let t = 10 * DAY_MS + 13 * HOUR_MS + 59 * 60_000; // 13:59
        assert_eq!(p.take(t), Ok(()));
        assert_eq!(p.take(t), Ok(()));
        assert_eq!(p.take(t), Err(PlanLimit::Hourly));
        assert_eq!(
            PlanState::resets_at(PlanLimit::Hourly, t),
            10 * DAY_MS + 14 * HOUR_MS
        );
        assert_eq!(p.take(t + 60_000), Ok(()), "14:00 is a new hour");
        assert_eq!(p.take(t + 60_000), Err(PlanLimit::Daily));
        assert_eq!(p.take(11 * DAY_MS), Ok(()), "midnight UTC is a new day");
    }
}
