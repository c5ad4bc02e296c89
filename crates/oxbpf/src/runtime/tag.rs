//! Program tags and object names, as the kernel computes and checks them.

use sha1::{Digest, Sha1};
use sha2::Sha256;

/// The hash the kernel takes the tag from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagHash {
    /// SHA-256 (Linux 6.18 and later, which also keep the full digest for exclusive maps
    /// and signed programs).
    #[default]
    Sha256,
    /// SHA-1 (Linux 4.10 to 6.17).
    Sha1,
}

/// `BPF_LD | BPF_IMM | BPF_DW`.
const LDDW: u8 = 0x18;
/// `lddw` src_reg values whose imm the tag ignores: `BPF_PSEUDO_MAP_FD`,
/// `BPF_PSEUDO_MAP_VALUE`.
const MAP_FD: u8 = 1;
const MAP_VALUE: u8 = 2;

/// The program tag: the first 8 bytes of the hash of the instructions with the map
/// references' immediates (both slots of an `lddw` map/value load) zeroed, as the kernel's
/// `bpf_prog_calc_tag` does so that tags do not depend on fd numbers.
#[doc(alias = "bpf_prog_calc_tag")]
pub fn prog_tag(insns: &[[u8; 8]], hash: TagHash) -> [u8; 8] {
    let bytes = tag_input(insns);
    let mut tag = [0u8; 8];
    match hash {
        TagHash::Sha256 => tag.copy_from_slice(&Sha256::digest(&bytes)[..8]),
        TagHash::Sha1 => tag.copy_from_slice(&Sha1::digest(&bytes)[..8]),
    }
    tag
}

/// The instructions as the tag hashes them.
fn tag_input(insns: &[[u8; 8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * 8);
    let mut was_ld_map = false;
    for insn in insns {
        let mut i = *insn;
        let src = i[1] >> 4;
        let dst = i[1] & 0xf;
        let off = i16::from_le_bytes([i[2], i[3]]);
        if !was_ld_map && i[0] == LDDW && (src == MAP_FD || src == MAP_VALUE) {
            was_ld_map = true;
            i[4..8].fill(0);
        } else if was_ld_map && i[0] == 0 && dst == 0 && src == 0 && off == 0 {
            was_ld_map = false;
            i[4..8].fill(0);
        } else {
            was_ld_map = false;
        }
        out.extend_from_slice(&i);
    }
    out
}

/// The tag as bpftool prints it (16 lowercase hex digits).
pub fn tag_hex(tag: &[u8; 8]) -> String {
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

/// An object name the kernel accepts (`bpf_obj_name_cpy`): at most 15 bytes of
/// `[A-Za-z0-9_.]`. libbpf truncates longer program names; other characters are
/// replaced by `_`.
pub fn kernel_obj_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(crate::maps::BPF_OBJ_NAME_LEN - 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_immediates_do_not_change_the_tag() {
        // r1 = map[fd 3]; r0 = 0; exit  vs  the same with fd 9.
        let prog = |fd: u8| {
            vec![
                [0x18, 0x11, 0, 0, fd, 0, 0, 0],
                [0, 0, 0, 0, 0, 0, 0, 0],
                [0xb7, 0, 0, 0, 0, 0, 0, 0],
                [0x95, 0, 0, 0, 0, 0, 0, 0],
            ]
        };
        for h in [TagHash::Sha256, TagHash::Sha1] {
            assert_eq!(prog_tag(&prog(3), h), prog_tag(&prog(9), h));
        }
        // A plain lddw keeps its immediate.
        let plain = |v: u8| {
            vec![
                [0x18, 0x01, 0, 0, v, 0, 0, 0],
                [0; 8],
                [0x95, 0, 0, 0, 0, 0, 0, 0],
            ]
        };
        assert_ne!(
            prog_tag(&plain(3), TagHash::Sha256),
            prog_tag(&plain(9), TagHash::Sha256)
        );
        // SHA-1 of `r0 = 0; exit`, the tag Linux < 6.18 gives it (bpftool: a04f5eef06a7f555).
        let t = prog_tag(
            &[[0xb7, 0, 0, 0, 0, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]],
            TagHash::Sha1,
        );
        assert_eq!(tag_hex(&t), "a04f5eef06a7f555");
    }

    #[test]
    fn names() {
        assert_eq!(
            kernel_obj_name("a_very_long_program_name"),
            "a_very_long_pro"
        );
        assert_eq!(kernel_obj_name("hello.bss"), "hello.bss");
        assert_eq!(kernel_obj_name("x-y"), "x_y");
    }
}
