//! The `-o/--operating-system "DISTRO VERSION"` override.

use crate::Error;

/// Distro and version given on the command line; they replace
/// `operating_system.distro` and `.version` but never `.slug`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsOverride {
    /// Lowercased distro, `None` when given as `n/a`.
    pub distro: Option<String>,
    /// Lowercased version, `None` when given as `n/a`.
    pub version: Option<String>,
}

impl OsOverride {
    /// Parses the flag's value: exactly two words, lowercased; `n/a` (as the
    /// whole value or as either word) leaves the metadata's value in place.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let lower = value.to_lowercase();
        if lower.trim() == "n/a" {
            return Ok(Self::default());
        }
        let words: Vec<&str> = lower.split_whitespace().collect();
        let [distro, version] = words[..] else {
            return Err(Error::OperatingSystemArg(value.to_owned()));
        };
        let keep = |w: &str| (w != "n/a").then(|| w.to_owned());
        Ok(Self {
            distro: keep(distro),
            version: keep(version),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_words_lowercased() {
        let o = OsOverride::parse("CentOS 7").unwrap();
        assert_eq!(o.distro.as_deref(), Some("centos"));
        assert_eq!(o.version.as_deref(), Some("7"));
    }

    #[test]
    fn wrong_word_count_is_refused() {
        for bad in ["", "debian", "debian 10 extra"] {
            assert!(matches!(
                OsOverride::parse(bad),
                Err(Error::OperatingSystemArg(_))
            ));
        }
    }

    #[test]
    fn na_keeps_metadata() {
        assert_eq!(OsOverride::parse("n/a").unwrap(), OsOverride::default());
        let o = OsOverride::parse("n/a 12").unwrap();
        assert_eq!(o.distro, None);
        assert_eq!(o.version.as_deref(), Some("12"));
    }
}
