//! Map handles beyond plain lookups: map-in-map (a lookup in an array or hash of maps
//! yields a nullable handle to a map like the inner template, usable as a helper's map
//! argument after the null check) and `bpf_spin_lock`/`bpf_spin_unlock`
//! on a map value's `struct bpf_spin_lock` (kernel `process_spin_lock`).

use super::exec::{Env, Reject};
use super::state::{RegState, RegType, VState, INNER_MAP};
use super::{MapInfo, MapMeta, MAP_TYPE_ARRAY_OF_MAPS, MAP_TYPE_HASH_OF_MAPS};
use crate::isa::Reg;

/// `BPF_FUNC_spin_lock`.
pub(super) const SPIN_LOCK: i32 = 93;
/// `BPF_FUNC_spin_unlock`.
pub(super) const SPIN_UNLOCK: i32 = 94;

/// The offset of the `struct bpf_spin_lock` member of BTF struct `value_type_id`, if it
/// has one (kernel `btf_find_field` with `BPF_SPIN_LOCK`, top-level members).
pub fn spin_lock_offset(btf: &crate::btf::Btf, value_type_id: u32) -> Option<u32> {
    btf.members(value_type_id)
        .ok()?
        .iter()
        .find(|m| {
            btf.resolve(m.type_id)
                .and_then(|t| btf.type_by_id(t))
                .is_ok_and(|t| t.name == "bpf_spin_lock")
        })
        .map(|m| m.bit_offset / 8)
}

/// A map with nothing beyond its [`MapInfo`].
static NO_META: MapMeta = MapMeta {
    name: String::new(),
    inner: None,
    btf: false,
    spin_lock_off: None,
    frozen: None,
};

impl Env<'_> {
    /// The map a register's map index names: a map of the program, or (with
    /// [`INNER_MAP`]) the inner template of one.
    pub(super) fn map_info(&self, m: u32) -> MapInfo {
        let outer = (m & !INNER_MAP) as usize;
        let info = self.config.maps.get(outer).copied();
        let info = if m & INNER_MAP != 0 {
            self.config.map_meta.get(outer).and_then(|x| x.inner)
        } else {
            info
        };
        // Indices come from `lddw`, checked against `maps`, and inner ones only exist
        // where a template does.
        info.unwrap_or(MapInfo {
            map_type: 0,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            flags: 0,
        })
    }

    /// What else is known about map `m` (inner templates have no BTF here).
    pub(super) fn map_meta(&self, m: u32) -> &MapMeta {
        if m & INNER_MAP != 0 {
            return &NO_META;
        }
        self.config.map_meta.get(m as usize).unwrap_or(&NO_META)
    }

    /// The map's name for messages.
    fn map_name(&self, m: u32) -> &str {
        &self.map_meta(m).name
    }

    /// Whether a nullable map value keeps its id once proven non-null: it names the
    /// value's spin lock (kernel `reg_may_point_to_spin_lock`).
    pub(super) fn keeps_id(&self, ptr: &RegState) -> bool {
        match ptr.ty {
            RegType::PtrToMapValueOrNull { map } => self.map_meta(map).spin_lock_off.is_some(),
            _ => false,
        }
    }

    /// What `map_lookup_elem` on map `m` returns: a value pointer, or for an array or hash
    /// of maps a handle to the inner map (kernel: `CONST_PTR_TO_MAP | PTR_MAYBE_NULL`
    /// whose map is the inner template), either maybe null.
    pub(super) fn lookup_result(&self, m: u32) -> RegType {
        if matches!(
            self.map_info(m).map_type,
            MAP_TYPE_ARRAY_OF_MAPS | MAP_TYPE_HASH_OF_MAPS
        ) {
            RegType::PtrToMapOrNull { map: m | INNER_MAP }
        } else {
            RegType::PtrToMapValueOrNull { map: m }
        }
    }

    /// `bpf_spin_lock(r1)` / `bpf_spin_unlock(r1)`: `r1` points at the value's lock.
    pub(super) fn spin_lock_arg(&self, st: &mut VState, id: i32) -> Result<(), Reject> {
        let r = Reg::R1;
        let reg = *st.reg(r);
        let RegType::PtrToMapValue { map } = reg.ty else {
            return Err(Reject::reg(
                r,
                format!("R1 type={} expected=map_value", reg.ty.name()),
            ));
        };
        let Some(var) = reg.var.as_const() else {
            return Err(Reject::reg(
                r,
                "R1 doesn't have constant offset. bpf_spin_lock has to be at the constant offset",
            ));
        };
        let meta = self.map_meta(map);
        if !meta.btf {
            return Err(Reject::reg(
                r,
                format!(
                    "map '{}' has to have BTF in order to use bpf_spin_lock",
                    self.map_name(map)
                ),
            ));
        }
        let Some(lock_off) = meta.spin_lock_off else {
            return Err(Reject::reg(
                r,
                format!("map '{}' has no valid bpf_spin_lock", self.map_name(map)),
            ));
        };
        let at = var as i64 + i64::from(reg.off);
        if at != i64::from(lock_off) {
            return Err(Reject::reg(
                r,
                format!("off {at} doesn't point to 'struct bpf_spin_lock' that is at {lock_off}"),
            ));
        }
        if id == SPIN_LOCK {
            if st.lock.is_some() {
                return Err(Reject::new("Locking two bpf_spin_locks are not allowed"));
            }
            st.lock = Some((map, reg.id));
        } else {
            match st.lock {
                None => return Err(Reject::new("bpf_spin_unlock without taking a lock")),
                Some(l) if l != (map, reg.id) => {
                    return Err(Reject::new("bpf_spin_unlock of different lock"))
                }
                Some(_) => st.lock = None,
            }
        }
        Ok(())
    }
}
