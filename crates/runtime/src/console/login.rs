//! Logging in at a console's login prompt (a getty's or `login`'s): the
//! user name, the password when asked, then the shell's prompt, which
//! [`Console::run`] waits for from then on.

use super::ConsoleError;
use super::cursor::Console;
use regex::bytes::Regex;
use std::time::{Duration, Instant};

/// What a getty or `login` prints when it wants the user name.
pub const LOGIN_PROMPT: &str = r"(?m)login: *$";
/// What `login` prints when it wants the password.
const PASSWORD_PROMPT: &str = r"(?mi)password: *$";
/// What `login` prints when it refuses the user or password.
const REFUSED: &str = r"(?i)login incorrect";
/// The shell's prompt when none is given: a line ending in `#`, `$` or `>`
/// (busybox's line editing then asks the terminal for the cursor position).
pub const DEFAULT_PROMPT: &str = r"(?m)[#$>] *(\x1b\[6n)?$";

/// Who to log in as: a vm's `console: {login, password, prompt}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// The password, typed when the console asks for one.
    pub password: Option<String>,
    /// A regex of the shell's prompt; [`DEFAULT_PROMPT`] without one.
    pub prompt: Option<String>,
}

impl Console {
    /// Waits for a login prompt after the read position, types the user
    /// name, the password when asked, and waits for the shell's prompt.
    /// A refusal (`Login incorrect`), a password prompt without a
    /// password, or no prompt within `timeout` is an error. With
    /// `login.prompt` set, every handle's [`Console::run`] waits for that
    /// prompt afterwards ([`Console::set_prompt`]).
    pub fn login(&self, login: &Login, timeout: Duration) -> Result<(), ConsoleError> {
        let deadline = Instant::now() + timeout;
        let prompt = login.prompt.as_deref().unwrap_or(DEFAULT_PROMPT);
        let fail = |why: String| ConsoleError::Login {
            user: login.user.clone(),
            why,
            tail: self.tail(),
        };
        let compile = |p: &str| {
            Regex::new(p).map_err(|source| ConsoleError::Pattern {
                pattern: p.to_owned(),
                source,
            })
        };
        let password = compile(PASSWORD_PROMPT)?;
        let refused = compile(REFUSED)?;
        let after_user = compile(&format!("(?:{PASSWORD_PROMPT})|(?:{REFUSED})|(?:{prompt})"))?;
        let after_password = compile(&format!("(?:{REFUSED})|(?:{prompt})"))?;
        self.expect(LOGIN_PROMPT, left(deadline))?;
        self.send_line(&login.user)?;
        let mut m = self.expect_re(&after_user, left(deadline))?;
        if password.is_match(m.matched.as_bytes()) {
            let Some(secret) = &login.password else {
                return Err(fail(
                    "the console asks for a password and none is set".into(),
                ));
            };
            self.send_line(secret)?;
            m = self.expect_re(&after_password, left(deadline))?;
        }
        if refused.is_match(m.matched.as_bytes()) {
            return Err(fail("the console refused the user or password".into()));
        }
        if login.prompt.is_some() {
            self.set_prompt(prompt)?;
        }
        Ok(())
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompts_match_what_busybox_login_prints() {
        let re = |p: &str| Regex::new(p).expect("regex");
        assert!(re(LOGIN_PROMPT).is_match(b"\r\ndut login: "));
        assert!(!re(LOGIN_PROMPT).is_match(b"Last login: today\r\nroot@dut:~# "));
        assert!(re(PASSWORD_PROMPT).is_match(b"Password: "));
        assert!(re(DEFAULT_PROMPT).is_match(b"root@dut:~# "));
        assert!(re(DEFAULT_PROMPT).is_match(b"op@dut $ \x1b[6n"));
        assert!(!re(DEFAULT_PROMPT).is_match(b"dut login: "));
    }
}
