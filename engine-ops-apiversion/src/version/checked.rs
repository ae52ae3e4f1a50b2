//! The constructors that check their input and say what is wrong with it.
//!
//! They return [`ConfigError`], whose variants name versions: kept apart
//! from the version type so that `version` imports nothing and the error
//! type can import it.

use super::Version;
use crate::error::ConfigError;

impl Version {
    /// This `major.minor` version with a status suffix: a pre-release that
    /// sorts before the release (`2.0-alpha < 2.0-beta < 2.0`). Statuses are
    /// compared as lowercase text, so `rc10` sorts before `rc2`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidStatus`] when the status is not 1 to 6 ASCII
    /// letters and digits starting with a letter, or the version is not a
    /// `major.minor` version.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_apiversion::Version;
    ///
    /// let rc = Version::major_minor(3, 1).with_status("rc1")?;
    /// assert_eq!(rc.to_string(), "3.1-rc1");
    /// assert!(Version::major_minor(3, 1).with_status("release-candidate").is_err());
    /// # Ok::<(), engine_ops_apiversion::ConfigError>(())
    /// ```
    pub fn with_status(self, status: &str) -> Result<Self, ConfigError> {
        self.try_with_status(status.as_bytes())
            .ok_or_else(|| ConfigError::InvalidStatus {
                version: self,
                status: status.to_owned(),
            })
    }

    /// A date version, validated as a real calendar date (years 1..=9999).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidDate`] when the day does not exist (`2023-02-29`,
    /// month 13, day 0, year 0).
    pub fn date(year: u16, month: u8, day: u8) -> Result<Self, ConfigError> {
        Version::try_date(year, month, day).ok_or(ConfigError::InvalidDate { year, month, day })
    }
}
