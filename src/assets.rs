//! The man page and shell completions, generated from the clap definition so they never
//! drift from --help (used by `make package`).

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;

pub fn write(dir: &Path) -> Result<()> {
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    let cmd = Cli::command();
    let mut man = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut man)
        .context("rendering the man page")?;
    let man_path = dir.join("tailcall-logger.1");
    std::fs::write(&man_path, man).with_context(|| format!("writing {}", man_path.display()))?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "tailcall-logger", &completions)
            .with_context(|| format!("writing {shell} completions"))?;
    }
    Ok(())
}
