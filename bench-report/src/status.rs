//! What became of one cell of a table (a variant at some N): it ran, it was
//! estimated, it could not run and why, it is not available on this machine,
//! or every run failed and why.

use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Measured; the note says which runs were left out, if any.
    Ran(Option<String>),
    /// Too long to run: its ideal time stands in for it.
    Estimated(String),
    /// This machine's limits (or a failed build) keep it from running.
    NotRun(String),
    /// The variant's own `available` check said no.
    NotAvailable(String),
    /// It ran, and no run counts.
    Failed(String),
}

impl Status {
    /// The word in the tables.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Ran(_) => "measured",
            Status::Estimated(_) => "estimated",
            Status::NotRun(_) => "not run",
            Status::NotAvailable(_) => "not available",
            Status::Failed(_) => "failed",
        }
    }

    /// The sentence for a footnote.
    pub fn reason(&self) -> Option<String> {
        match self {
            Status::Ran(note) => note.clone(),
            Status::Estimated(why) | Status::NotRun(why) | Status::Failed(why) => Some(why.clone()),
            Status::NotAvailable(why) => Some(format!("not available here: {why}")),
        }
    }

    pub fn ran(&self) -> bool {
        matches!(self, Status::Ran(_))
    }
}

/// As two fields, `status` (the label) and `reason`, so a cell's JSON reads
/// `"status": "estimated", "reason": "..."`.
impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("status", self.label())?;
        m.serialize_entry("reason", &self.reason())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_says_what_and_why() {
        let s = Status::NotAvailable("io_uring is disabled".into());
        assert_eq!(s.label(), "not available");
        assert_eq!(
            s.reason().unwrap(),
            "not available here: io_uring is disabled"
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["status"], "not available");
        assert_eq!(json["reason"], "not available here: io_uring is disabled");
        assert!(Status::Ran(None).ran() && Status::Ran(None).reason().is_none());
        assert!(!Status::Failed("boom".into()).ran());
    }
}
