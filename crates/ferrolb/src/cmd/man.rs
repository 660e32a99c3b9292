//! `ferrolb man DIR` (hidden): the manual pages, written from the command
//! line's own definitions (clap_mangen), one for `ferrolb` and one per
//! subcommand (`ferrolb-run.1`...), for the Debian package.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

/// Writes `ferrolb.1` and `ferrolb-SUBCOMMAND.1` for every visible subcommand of `command` into `dir`.
pub fn run(command: clap::Command, dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut pages = vec![("ferrolb".to_owned(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ferrolb-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let mut text = Vec::new();
        clap_mangen::Man::new(page).render(&mut text)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
