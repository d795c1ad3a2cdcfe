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

/// Why the plan refuses a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanRefusal {
    /// WhatsApp and iMessage need Enterprise.
    NotSms,
    /// The plan texts US and Canada numbers (+1) only.
    NotPlusOne,
    /// Past a limit of `max` texts, until `until` (simulator time).
    Limit {
        limit: PlanLimit,
        max: u32,
        until: i64,
    },
}

impl PlanRefusal {
    pub fn code(self) -> &'static str {
        match self {
            PlanRefusal::NotSms => "ENTERPRISE_REQUIRED",
            PlanRefusal::NotPlusOne => "INVALID_PHONE_NUMBER",
            PlanRefusal::Limit { limit, .. } => limit.code(),
        }
    }

    /// 403, 400 or 429.
    pub fn status(self) -> u16 {
        match self {
            PlanRefusal::NotSms => 403,
            PlanRefusal::NotPlusOne => 400,
            PlanRefusal::Limit { .. } => 429,
        }
    }

    /// What happened and what to do, for a text to `user`.
    pub fn message(self, user: &str) -> String {
        match self {
            PlanRefusal::NotSms => "WhatsApp and iMessage need an Enterprise plan; this account \
                                    is on the Agent Phone Plan, which texts by SMS"
                .into(),
            PlanRefusal::NotPlusOne => format!(
                "The Agent Phone Plan texts US and Canada numbers only; {user} is neither (+1 \
                 also holds the Caribbean's and Bermuda's area codes)"
            ),
            PlanRefusal::Limit { limit, max, until } => format!(
                "The Agent Phone Plan sends at most {max} texts {}, the agent's replies \
                 included, and this account has sent them: it can text again at {} \
                 (simulator time)",
                match limit {
                    PlanLimit::Hourly => "an hour",
                    PlanLimit::Daily => "a day",
                },
                crate::base::clock::iso(until)
            ),
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

    /// Why one more text to `user` on `channel` at `now` would be refused (the reach first,
    /// then the daily limit, then the hourly one), if it would.
    pub fn check(
        &mut self,
        channel: crate::base::validation::Channel,
        user: &str,
        now: i64,
    ) -> Option<PlanRefusal> {
        if channel != crate::base::validation::Channel::Sms {
            return Some(PlanRefusal::NotSms);
        }
        if !us_or_canada(user) {
            return Some(PlanRefusal::NotPlusOne);
        }
        self.roll(now);
        let (limit, max) = if self.day_count >= self.daily {
            (PlanLimit::Daily, self.daily)
        } else if self.hour_count >= self.hourly {
            (PlanLimit::Hourly, self.hourly)
        } else {
            return None;
        };
        Some(PlanRefusal::Limit {
            limit,
            max,
            until: Self::resets_at(limit, now),
        })
    }

    /// Counts one text to `user` on `channel` at `now`, unless it would be refused.
    pub fn take(
        &mut self,
        channel: crate::base::validation::Channel,
        user: &str,
        now: i64,
    ) -> Result<(), PlanRefusal> {
        if let Some(refused) = self.check(channel, user, now) {
            return Err(refused);
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

/// The area codes of the countries besides the US and Canada that share +1 (the North
/// American Numbering Plan's Caribbean members and Bermuda). The US territories (Puerto Rico,
/// the US Virgin Islands, Guam, the Northern Mariana Islands, American Samoa) are US.
const OTHER_NANP: [&str; 21] = [
    "242", "246", "264", "268", "284", "345", "441", "473", "649", "658", "664", "721", "758",
    "767", "784", "809", "829", "849", "868", "869", "876",
];

/// Whether `user` is a US or Canadian number (+1, and not another country's area code):
/// the plan's reach (`platform/agent-phone-plan.mdx`, 248a4cad).
pub fn us_or_canada(user: &str) -> bool {
    user.strip_prefix("+1")
        .is_some_and(|rest| !OTHER_NANP.iter().any(|code| rest.starts_with(code)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::validation::Channel;

    #[test]
    fn the_hour_turns_on_the_hour_and_the_day_at_midnight() {
        let mut p = PlanState::new(2, 3);
        let take = |p: &mut PlanState, t| p.take(Channel::Sms, "+15550001111", t);
        let t = 10 * DAY_MS + 13 * HOUR_MS + 59 * 60_000; // 13:59
        assert_eq!(take(&mut p, t), Ok(()));
        assert_eq!(take(&mut p, t), Ok(()));
        let hourly = PlanRefusal::Limit {
            limit: PlanLimit::Hourly,
            max: 2,
            until: 10 * DAY_MS + 14 * HOUR_MS,
        };
        assert_eq!(take(&mut p, t), Err(hourly));
        assert_eq!(take(&mut p, t + 60_000), Ok(()), "14:00 is a new hour");
        let daily = PlanRefusal::Limit {
            limit: PlanLimit::Daily,
            max: 3,
            until: 11 * DAY_MS,
        };
        assert_eq!(take(&mut p, t + 60_000), Err(daily));
        assert_eq!(
            take(&mut p, 11 * DAY_MS),
            Ok(()),
            "midnight UTC is a new day"
        );
        // Out of its reach: refused, and not counted.
        let day = 11 * DAY_MS;
        assert_eq!(
            p.take(Channel::Whatsapp, "+15550001111", day),
            Err(PlanRefusal::NotSms)
        );
        assert_eq!(
            p.take(Channel::Sms, "+447700900123", day),
            Err(PlanRefusal::NotPlusOne)
        );
        // +1 is not only the US and Canada: Jamaica's 876 is refused, Toronto's 416 and Puerto
        // Rico's 787 are not.
        assert_eq!(
            p.take(Channel::Sms, "+18765550123", day),
            Err(PlanRefusal::NotPlusOne)
        );
        assert!(us_or_canada("+14165550123") && us_or_canada("+17875550123"));
        assert_eq!(take(&mut p, day), Ok(()), "the second of the hour");
        let hourly = PlanRefusal::Limit {
            limit: PlanLimit::Hourly,
            max: 2,
            until: day + HOUR_MS,
        };
        assert_eq!(
            take(&mut p, day),
            Err(hourly),
            "the third passes the hourly limit"
        );
    }
}
