//! One module per subcommand group.

pub mod asm;
pub mod run;
