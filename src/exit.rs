//! Exit codes, and the typed error that carries one through anyhow.

use std::fmt;

/// The process exit code of each kind of failure (main turns it into a
/// std::process::ExitCode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Runtime = 1,
    Usage = 2,
    Privilege = 3,
    Unsupported = 4,
    Output = 5,
}

/// An error whose exit code is known. Anything else that reaches main exits with 1.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn err(code: Code, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            code,
            message: message.into(),
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for an error: the first Failure in its chain decides.
pub fn code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or(Code::Runtime as i32, |f| f.code as i32)
}

/// One line for the user: the context chain joined, never a backtrace.
pub fn one_line(err: &anyhow::Error) -> String {
    let parts: Vec<String> = err.chain().map(|e| e.to_string()).collect();
    let mut line = String::new();
    for part in parts {
        if line.contains(&part) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&part);
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn code_survives_context() {
        let err: anyhow::Result<()> = Err(Failure::err(Code::Privilege, "needs CAP_BPF"));
        let err = err.context("starting").unwrap_err();
        assert_eq!(code_of(&err), 3);
        assert_eq!(one_line(&err), "starting: needs CAP_BPF");
    }

    #[test]
    fn plain_errors_are_runtime() {
        let err = anyhow::anyhow!("boom\nsecond line");
        assert_eq!(code_of(&err), 1);
        assert_eq!(one_line(&err), "boom second line");
    }
}
