//! Per-instruction transfer: arithmetic on scalars and pointers (kernel `check_alu_op`,
//! `adjust_ptr_min_max_vals`), 64-bit immediates, calls and exits.

use super::callbacks::FOR_EACH_MAP_ELEM;
use super::conststr::SNPRINTF;
use super::exec::{Env, Flow, Reject};
use super::maprefs::SPIN_UNLOCK;
use super::protos::{ArgKind, RetKind};
use super::scalar::{self, Scalar};
use super::state::{Frame, RegState, RegType, VState, MAX_FRAMES};
use super::{MAP_TYPE_PROG_ARRAY, MAP_TYPE_QUEUE, MAP_TYPE_RINGBUF, MAP_TYPE_STACK};
use crate::isa::{AluOp, CallTarget, Insn, LdPseudo, Reg, Src, Width};

/// Bound on pointer offsets (kernel `BPF_MAX_VAR_OFF`).
pub(super) const MAX_VAR_OFF: i64 = 1 << 29;

/// The kernel's operator spelling (`bpf_alu_string`).
fn opstr(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div | AluOp::Sdiv => "/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod | AluOp::Smod => "%=",
        AluOp::Xor => "^=",
        AluOp::Mov => "=",
        AluOp::Arsh => "s>>=",
    }
}

impl Env<'_> {
    /// Executes one instruction on `st`.
    pub(super) fn step(&mut self, pc: usize, st: &mut VState) -> Result<Flow, Reject> {
        let next = pc + 1;
        if self.prog[pc].insn.def_reg() == Some(Reg::R10) {
            return Err(Reject::new("frame pointer is read only"));
        }
        match self.prog[pc].insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(pc, st, (width, op, dst, src))?,
            Insn::Neg { width, dst } => {
                let r = self.read_reg(st, dst)?;
                *st.reg_mut(dst) = match r.ty {
                    RegType::Scalar => RegState::scalar(scalar::neg(width, &r.var)),
                    _ => RegState::unknown(),
                };
            }
            Insn::MovSx {
                width,
                dst,
                src,
                bits,
            } => {
                let r = self.read_reg(st, src)?;
                *st.reg_mut(dst) = match r.ty {
                    RegType::Scalar => RegState::scalar(scalar::movsx(width, &r.var, bits)),
                    _ => RegState::unknown(),
                };
            }
            Insn::End { order, dst, bits } => {
                let r = self.read_reg(st, dst)?;
                *st.reg_mut(dst) = match r.ty {
                    RegType::Scalar => RegState::scalar(scalar::end(order, &r.var, bits)),
                    _ => RegState::unknown(),
                };
            }
            Insn::LdImm64 {
                dst,
                pseudo,
                imm,
                imm2,
            } => *st.reg_mut(dst) = self.ld_imm64(pc, pseudo, imm, imm2)?,
            Insn::LdAbs { .. } => self.ld_abs(st, None)?,
            Insn::LdInd { src, .. } => self.ld_abs(st, Some(src))?,
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => {
                let v = self.load(pc, st, src, off, size.bytes() as u32)?;
                *st.reg_mut(dst) = v;
            }
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            } => {
                let v = self.load(pc, st, src, off, size.bytes() as u32)?;
                let bits = size.bytes() as u32 * 8;
                *st.reg_mut(dst) = RegState::scalar(match v.ty {
                    RegType::Scalar => v.var.sign_extend(bits),
                    _ => Scalar::UNKNOWN,
                });
            }
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => {
                let v = RegState::scalar(Scalar::constant(imm as i64 as u64));
                self.store(pc, st, dst, off, size.bytes() as u32, v)?;
            }
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => {
                let v = self.read_reg(st, src)?;
                if v.is_const_zero() && matches!(st.reg(dst).ty, RegType::PtrToStack { .. }) {
                    // It may become known-zero stack bytes, which pruning compares exactly.
                    self.mark_precise(st, &[src]);
                }
                self.store(pc, st, dst, off, size.bytes() as u32, v)?;
            }
            Insn::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => self.atomic(pc, st, (size.bytes() as u32, op, fetch, dst, src, off))?,
            Insn::Ja { .. } | Insn::Gotol { .. } => {
                // The kernel counts every JMP-class instruction for its checkpoint heuristic.
                self.jmps_seen();
                return Ok(Flow::Goto(self.target_of(pc)));
            }
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                ..
            } => return self.cond_jmp(pc, st, (width, cond, dst, src)),
            Insn::Call(CallTarget::Helper(id)) => return self.helper_call(pc, st, id),
            Insn::Call(CallTarget::Local(_)) => return self.local_call(pc, st),
            Insn::Call(CallTarget::Kfunc(_)) if st.lock.is_some() => {
                return Err(Reject::new(
                    "function calls are not allowed while holding a lock",
                ))
            }
            Insn::Call(CallTarget::Kfunc(id)) => {
                return Err(Reject::new(format!(
                    "kernel function calls are not supported (kfunc btf_id {id})"
                )))
            }
            Insn::Callx { .. } => {
                return Err(Reject::new("indirect calls (callx) are not supported"))
            }
            Insn::Exit => {
                self.jmps_seen();
                return self.exit(pc, st);
            }
        }
        Ok(Flow::Goto(next))
    }

    /// Two-operand arithmetic.
    fn alu(
        &mut self,
        pc: usize,
        st: &mut VState,
        (width, op, dst, src): (Width, AluOp, Reg, Src),
    ) -> Result<(), Reject> {
        let bits = match width {
            Width::W32 => 32,
            Width::W64 => 64,
        };
        let s = match src {
            Src::Reg(r) => self.read_reg(st, r)?,
            Src::Imm(k) => {
                if matches!(op, AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod) && k == 0 {
                    return Err(Reject::new("div by zero"));
                }
                if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) && !(0..bits).contains(&k) {
                    return Err(Reject::new(format!("invalid shift {k}")));
                }
                RegState::scalar(Scalar::constant(k as i64 as u64))
            }
        };
        if op == AluOp::Mov {
            let v = match (width, src) {
                (Width::W64, Src::Reg(r))
                    if s.ty == RegType::Scalar && s.var.as_const().is_none() =>
                {
                    // Link the copy so a later comparison narrows both (find_equal_scalars).
                    let id = if s.id != 0 { s.id } else { self.new_id() };
                    st.reg_mut(r).id = id;
                    RegState { id, ..s }
                }
                (Width::W64, _) => s,
                (Width::W32, _) if s.ty == RegType::Scalar => RegState::scalar(s.var.zext32()),
                // A partial copy of a pointer is just a number (allowed as root).
                (Width::W32, _) => RegState::scalar(Scalar::UNKNOWN.zext32()),
            };
            *st.reg_mut(dst) = v;
            return Ok(());
        }
        let d = self.read_reg(st, dst)?;
        if matches!(op, AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod)
            && matches!(src, Src::Reg(_))
            && s.ty == RegType::Scalar
        {
            let zero_possible = match width {
                Width::W64 => s.var.contains(0),
                Width::W32 => s.var.zext32().contains(0),
            };
            self.facts[pc].divisor_may_be_zero |= zero_possible;
        }
        let r = if d.ty == RegType::Scalar && s.ty == RegType::Scalar {
            let mut r = RegState::scalar(scalar::alu(op, width, &d.var, &s.var));
            // `rX += k` of a linked copy stays linked with delta k (kernel
            // `BPF_ADD_CONST`): once, 64-bit, 0 <= k <= i32::MAX.
            if let (AluOp::Add, Width::W64, Src::Imm(k)) = (op, width, src) {
                if d.id != 0 && d.off == 0 && k >= 0 {
                    r.id = d.id;
                    r.off = k;
                }
            }
            r
        } else {
            // The scalar operand of pointer arithmetic decides the pointer's bounds.
            if d.ty == RegType::Scalar {
                self.mark_precise(st, &[dst]);
            } else if let (RegType::Scalar, Src::Reg(r)) = (s.ty, src) {
                self.mark_precise(st, &[r]);
            }
            self.ptr_alu((width, op, dst), d, s)?
        };
        *st.reg_mut(dst) = r;
        Ok(())
    }

    /// Arithmetic with a pointer operand (kernel `adjust_ptr_min_max_vals`).
    fn ptr_alu(
        &mut self,
        (width, op, dst): (Width, AluOp, Reg),
        d: RegState,
        s: RegState,
    ) -> Result<RegState, Reject> {
        let n = dst.num();
        let err = |m: String| Err(Reject::reg(dst, m));
        if d.ty.is_ptr() && s.ty.is_ptr() {
            if op == AluOp::Sub {
                return Ok(RegState::unknown());
            }
            return err(format!("R{n} pointer {} pointer prohibited", opstr(op)));
        }
        let (ptr, off, ptr_is_dst) = if d.ty.is_ptr() {
            (d, s, true)
        } else {
            (s, d, false)
        };
        let name = ptr.ty.name();
        if width == Width::W32 {
            if op == AluOp::Sub {
                return Ok(RegState::unknown());
            }
            return err(format!("R{n} 32-bit pointer arithmetic prohibited"));
        }
        if ptr.ty.is_or_null() {
            return err(format!(
                "R{n} pointer arithmetic on {name} prohibited, null-check it first"
            ));
        }
        match ptr.ty {
            RegType::ConstPtrToMap { .. } if op == AluOp::Add && off.var.as_const() == Some(0) => {
                return Ok(ptr)
            }
            RegType::ConstPtrToMap { .. } | RegType::PtrToPacketEnd => {
                return err(format!("R{n} pointer arithmetic on {name} prohibited"))
            }
            _ => {}
        }
        match op {
            AluOp::Add => {}
            AluOp::Sub if !ptr_is_dst => {
                return err(format!("R{n} tried to subtract pointer from scalar"))
            }
            // The kernel forbids it even for root (some JITs could not handle it).
            AluOp::Sub if matches!(ptr.ty, RegType::PtrToStack { .. }) => {
                return err(format!("R{n} subtraction from stack pointer prohibited"))
            }
            AluOp::Sub => {}
            AluOp::And | AluOp::Or | AluOp::Xor => {
                return err(format!(
                    "R{n} bitwise operator {} on pointer prohibited",
                    opstr(op)
                ))
            }
            _ => {
                return err(format!(
                    "R{n} pointer arithmetic with {} operator prohibited",
                    opstr(op)
                ))
            }
        }
        sane_offset(&off.var, name).map_err(|m| Reject::reg(dst, m))?;
        let mut r = ptr;
        let known = off.var.as_const().map(|k| k as i64).and_then(|k| {
            let o = i64::from(ptr.off);
            let v = if op == AluOp::Add {
                o.checked_add(k)?
            } else {
                o.checked_sub(k)?
            };
            i32::try_from(v).ok()
        });
        match known {
            Some(o) => r.off = o,
            None => {
                r.var = scalar::alu(op, Width::W64, &ptr.var, &off.var);
                if ptr.ty.is_pkt() {
                    // A new variable part: the proven range no longer applies.
                    r.id = self.new_id();
                    r.ty = match ptr.ty {
                        RegType::PtrToPacket { .. } => RegType::PtrToPacket { range: 0 },
                        _ => RegType::PtrToPacketMeta { range: 0 },
                    };
                }
            }
        }
        if i64::from(r.off).abs() >= MAX_VAR_OFF {
            return err(format!("{name} pointer offset {} is not allowed", r.off));
        }
        sane_offset(&r.var, name).map_err(|m| Reject::reg(dst, m))?;
        Ok(r)
    }

    /// `lddw` of a constant, a map handle or a map value address.
    fn ld_imm64(
        &mut self,
        pc: usize,
        pseudo: LdPseudo,
        imm: i32,
        imm2: i32,
    ) -> Result<RegState, Reject> {
        let map = |imm: i32| {
            usize::try_from(imm)
                .ok()
                .filter(|&i| i < self.config.maps.len())
                .ok_or_else(|| Reject::new(format!("fd {imm} is not pointing to valid bpf_map")))
        };
        Ok(match pseudo {
            LdPseudo::Imm => RegState::scalar(Scalar::constant(Insn::imm64(imm, imm2))),
            LdPseudo::MapFd | LdPseudo::MapIdx => RegState::ptr(RegType::ConstPtrToMap {
                map: map(imm)? as u32,
            }),
            LdPseudo::MapValue | LdPseudo::MapIdxValue => {
                let m = map(imm)?;
                let info = self.config.maps[m];
                if info.map_type != super::MAP_TYPE_ARRAY {
                    return Err(Reject::new(
                        "no direct value access support for this map type",
                    ));
                }
                if imm2 < 0 || imm2 as u32 >= info.value_size {
                    return Err(Reject::new(format!(
                        "invalid access to map value pointer, value_size={} off={}",
                        info.value_size, imm2 as u32
                    )));
                }
                let mut r = RegState::ptr(RegType::PtrToMapValue { map: m as u32 });
                r.off = imm2;
                r
            }
            LdPseudo::BtfId => {
                return Err(Reject::new(
                    "ld_imm64 of a BTF id (src_reg 3) is not supported",
                ))
            }
            // `check_cfg` proved the target is a subprogram start.
            LdPseudo::Func => {
                // Kernel `check_ld_imm`: a callback needs its BTF function record.
                if !self.config.func_info {
                    return Err(Reject::new("missing btf func_info"));
                }
                let slot = self.prog[pc].slot as i64 + 1 + i64::from(imm);
                let start = self.slots.at(slot).unwrap_or(pc);
                RegState::ptr(RegType::PtrToFunc {
                    start: start as u32,
                })
            }
        })
    }

    /// A helper call (kernel `check_helper_call`).
    fn helper_call(&mut self, pc: usize, st: &mut VState, id: i32) -> Result<Flow, Reject> {
        self.jmps_seen();
        if st.lock.is_some() && id != SPIN_UNLOCK {
            return Err(Reject::new(
                "function calls are not allowed while holding a lock",
            ));
        }
        let name = crate::helpers::ids::helper_name(id).unwrap_or("unknown");
        let proto = match self.config.helpers.proto(id) {
            Some(p)
                if self.config.prog_type.helper_allowed(id)
                    && p.prog_types.is_none_or(|t| {
                        self.config
                            .prog_type
                            .kernel_prog_type()
                            .is_none_or(|k| t.contains(&k))
                    }) =>
            {
                p
            }
            _ if name == "unknown" => {
                return Err(Reject::new(format!("invalid func unknown#{id}")))
            }
            _ => {
                return Err(Reject::new(format!(
                    "program of this type cannot use helper bpf_{name}#{id}"
                )))
            }
        };
        if proto.gpl_only && !self.config.gpl {
            return Err(Reject::new(
                "cannot call GPL-restricted function from non-GPL compatible program",
            ));
        }
        let mut map: Option<u32> = None;
        let mut mem_arg: Option<(Reg, bool)> = None;
        let mut release: Option<u32> = None;
        let mut alloc_size: u32 = 0;
        let mut callback: Option<u32> = None;
        for (i, kind) in proto.args.iter().enumerate() {
            let r = Reg::new(i as u8 + 1).unwrap_or(Reg::R1);
            let n = r.num();
            if *kind == ArgKind::Unused {
                break;
            }
            let reg = self.read_reg(st, r)?;
            let expect =
                |what: &str| Reject::reg(r, format!("R{n} type={} expected={what}", reg.ty.name()));
            match *kind {
                ArgKind::Unused | ArgKind::Anything => {}
                ArgKind::Unsupported(kind) => {
                    return Err(Reject::reg(
                        r,
                        format!(
                            "R{n} argument kind {kind} of bpf_{}#{id} is not supported",
                            proto.name
                        ),
                    ))
                }
                ArgKind::ConstMapPtr => {
                    let RegType::ConstPtrToMap { map: m } = reg.ty else {
                        return Err(expect("map_ptr"));
                    };
                    map = Some(m);
                }
                ArgKind::MapKey | ArgKind::MapValue | ArgKind::UninitMapValue => {
                    let m =
                        map.ok_or_else(|| Reject::reg(r, "invalid map_ptr to access map->key"))?;
                    let info = self.map_info(m);
                    let (size, write) = match kind {
                        ArgKind::MapKey => (info.key_size, false),
                        ArgKind::MapValue => (info.value_size, false),
                        _ => (info.value_size, true),
                    };
                    if size == 0 {
                        return Err(Reject::reg(r, "invalid zero-sized read"));
                    }
                    self.helper_mem(pc, st, r, size, size, write)?;
                }
                ArgKind::Mem { write } => mem_arg = Some((r, write)),
                ArgKind::Stack { maybe_null } => {
                    let null_ok = maybe_null && reg.is_const_zero();
                    if !matches!(reg.ty, RegType::PtrToStack { .. }) && !null_ok {
                        return Err(expect("fp"));
                    }
                }
                ArgKind::Func => {
                    let RegType::PtrToFunc { start } = reg.ty else {
                        return Err(expect("func"));
                    };
                    // The callback is the function itself, never an offset into it.
                    if reg.off != 0 || reg.var.as_const() != Some(0) {
                        return Err(Reject::reg(
                            r,
                            format!(
                                "dereference of modified func ptr R{n} off={} disallowed",
                                reg.off
                            ),
                        ));
                    }
                    callback = Some(start);
                }
                ArgKind::SpinLock => self.spin_lock_arg(st, id)?,
                ArgKind::ConstStr => {
                    self.const_str(pc, st, r, &reg)?;
                }
                ArgKind::ConstSize | ArgKind::ConstSizeOrZero => {
                    if reg.ty != RegType::Scalar {
                        return Err(expect("scalar"));
                    }
                    self.mark_precise(st, &[r]);
                    if reg.var.smin < 0 {
                        return Err(Reject::reg(
                            r,
                            format!(
                                "R{n} min value is negative, either use unsigned or 'var &= const'"
                            ),
                        ));
                    }
                    if reg.var.umin == 0 && *kind == ArgKind::ConstSize {
                        return Err(Reject::reg(
                            r,
                            format!(
                                "R{n} invalid zero-sized read: u64=[{},{}]",
                                reg.var.umin, reg.var.umax
                            ),
                        ));
                    }
                    if reg.var.umax >= MAX_VAR_OFF as u64 {
                        return Err(Reject::reg(r, format!("R{n} unbounded memory access, use 'var &= const' or 'if (var < const)'")));
                    }
                    if let Some((mr, write)) = mem_arg.take() {
                        self.helper_mem(
                            pc,
                            st,
                            mr,
                            reg.var.umin as u32,
                            reg.var.umax as u32,
                            write,
                        )?;
                    }
                }
                ArgKind::Ctx => {
                    if reg.ty != RegType::PtrToCtx {
                        return Err(expect("ctx"));
                    }
                    if reg.off != 0 || reg.var.as_const() != Some(0) {
                        return Err(Reject::reg(
                            r,
                            format!(
                                "dereference of modified ctx ptr R{n} off={} disallowed",
                                reg.off
                            ),
                        ));
                    }
                }
                ArgKind::AllocMem => {
                    if !matches!(reg.ty, RegType::PtrToMem { .. }) || reg.ref_obj_id == 0 {
                        return Err(expect("ringbuf_mem"));
                    }
                    if reg.off != 0 || reg.var.as_const() != Some(0) {
                        return Err(Reject::reg(
                            r,
                            format!("R{n} must have zero offset when passed to release func"),
                        ));
                    }
                    release = Some(reg.ref_obj_id);
                }
                ArgKind::ConstAllocSizeOrZero => {
                    self.mark_precise(st, &[r]);
                    let c = (reg.ty == RegType::Scalar)
                        .then(|| reg.var.as_const())
                        .flatten()
                        .ok_or_else(|| Reject::reg(r, format!("R{n} is not a known constant'")))?;
                    alloc_size = u32::try_from(c)
                        .map_err(|_| Reject::reg(r, format!("R{n} is not a known constant'")))?;
                }
            }
        }
        if id == SNPRINTF {
            self.check_snprintf(pc, st)?;
        }
        if let Some(m) = map {
            // Kernel `set_map_elem_callback_state`: only maps with for-each support
            // (hash, array and their per-CPU and LRU forms) can be walked.
            let mt = self.map_info(m).map_type;
            if id == FOR_EACH_MAP_ELEM && !matches!(mt, 1 | 2 | 5 | 6 | 9 | 10) {
                return Err(Reject::new("callback function not allowed for map"));
            }
            self.check_map_compat(m, id, proto.name)?;
        }
        if let Some(rid) = release {
            st.refs.retain(|&(i, _)| i != rid);
            st.for_each_reg(|x| {
                if x.ref_obj_id == rid {
                    *x = RegState::unknown();
                }
            });
        }
        // The callback path forks off with the caller's registers intact: it comes back
        // to this call.
        let cb_state = match callback {
            Some(start) => Some(self.callback_entry(pc, st, id, start, map)?),
            None => None,
        };
        for i in 1..=5 {
            st.cur_mut().regs[i] = RegState::NOT_INIT;
        }
        if proto.changes_pkt_data {
            st.for_each_reg(|x| {
                if x.ty.is_pkt() || x.ty == RegType::PtrToPacketEnd {
                    *x = RegState::unknown();
                }
            });
        }
        st.cur_mut().regs[0] = match proto.ret {
            RetKind::Integer => RegState::unknown(),
            RetKind::Void => RegState::NOT_INIT,
            RetKind::MapValueOrNull => {
                let m = map.ok_or_else(|| {
                    Reject::new(format!(
                        "kernel subsystem misconfigured verifier: {} without map",
                        proto.name
                    ))
                })?;
                let mut r = RegState::ptr(self.lookup_result(m));
                r.id = self.new_id();
                r
            }
            RetKind::AllocMemOrNull => {
                let mut r = RegState::ptr(RegType::PtrToMemOrNull { size: alloc_size });
                r.id = self.new_id();
                r.ref_obj_id = r.id;
                st.refs.push((r.id, pc));
                r
            }
        };
        Ok(match cb_state {
            Some(other) => Flow::Fork {
                cont: pc + 1,
                target: other.cur().subprog,
                other,
            },
            None => Flow::Goto(pc + 1),
        })
    }

    /// Kernel `check_map_func_compatibility` for the map kinds with dedicated helpers.
    fn check_map_compat(&self, map: u32, id: i32, name: &str) -> Result<(), Reject> {
        let mt = self.map_info(map).map_type;
        if id == 12 && mt != MAP_TYPE_PROG_ARRAY {
            return Err(Reject::new("expected prog array map for tail call"));
        }
        let ok = match mt {
            MAP_TYPE_PROG_ARRAY => id == 12,
            MAP_TYPE_RINGBUF => matches!(id, 130 | 131 | 134),
            MAP_TYPE_QUEUE | MAP_TYPE_STACK => matches!(id, 87..=89),
            _ => !matches!(id, 12 | 130 | 131 | 134 | 87..=89),
        };
        if ok {
            Ok(())
        } else {
            Err(Reject::new(format!(
                "cannot pass map_type {mt} into func bpf_{name}#{id}"
            )))
        }
    }

    /// A BPF-to-BPF call: push a frame with the arguments (kernel `check_func_call`).
    fn local_call(&mut self, pc: usize, st: &mut VState) -> Result<Flow, Reject> {
        self.jmps_seen();
        let target = self.target_of(pc);
        if st.frames.len() >= MAX_FRAMES {
            return Err(Reject::new(format!(
                "the call stack of {} frames is too deep",
                st.frames.len() + 1
            )));
        }
        let mut f = Frame::new(st.frames.len() as u8, pc, target);
        for i in 1..=5 {
            f.regs[i] = st.cur().regs[i];
            st.cur_mut().regs[i] = RegState::NOT_INIT;
        }
        st.frames.push(f);
        Ok(Flow::Goto(target))
    }

    /// `exit`: return to the caller, or end the program (checking `r0`, references and
    /// the return range).
    fn exit(&mut self, _pc: usize, st: &mut VState) -> Result<Flow, Reject> {
        // Kernel `prepare_func_exit`: a function may return any stack pointer to no one
        // (conservatively), and need not set r0 (the caller just cannot read it).
        let r0 = *st.reg(Reg::R0);
        if st.frames.len() > 1 && matches!(r0.ty, RegType::PtrToStack { .. }) {
            return Err(Reject::reg(
                Reg::R0,
                "cannot return stack pointer to the caller",
            ));
        }
        if self.in_callback(st) {
            return Ok(Flow::Goto(self.callback_exit(st)?));
        }
        if st.frames.len() > 1 {
            let depth = st.frames.len() - 1;
            if r0.ty == (RegType::PtrToStack { frame: depth as u8 }) {
                return Err(Reject::reg(
                    Reg::R0,
                    "cannot return stack pointer to the caller",
                ));
            }
            let callsite = st.cur().callsite;
            st.frames.pop();
            st.cur_mut().regs[0] = r0;
            // Pointers into the dead frame become plain numbers.
            st.for_each_reg(|x| {
                if x.ty == (RegType::PtrToStack { frame: depth as u8 }) {
                    *x = RegState::unknown();
                }
            });
            return Ok(Flow::Goto(callsite + 1));
        }
        if st.lock.is_some() {
            return Err(Reject::new(
                "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region",
            ));
        }
        let r0 = self.read_reg(st, Reg::R0)?;
        if let Some(&(id, at)) = st.refs.first() {
            let slot = self.prog.get(at).map_or(at, |l| l.slot);
            return Err(Reject::new(format!(
                "Unreleased reference id={id} alloc_insn={slot}"
            )));
        }
        if let Some((lo, hi)) = self.config.prog_type.return_range() {
            self.mark_precise(st, &[Reg::R0]);
            if r0.ty != RegType::Scalar {
                return Err(Reject::reg(
                    Reg::R0,
                    format!(
                        "At program exit the register R0 is not a known value ({})",
                        r0.ty.name()
                    ),
                ));
            }
            if r0.var.smin < lo || r0.var.smax > hi {
                let mut m = String::from("At program exit the register R0 has");
                if r0.var.smin > i64::MIN {
                    m.push_str(&format!(" smin={}", r0.var.smin));
                }
                if r0.var.smax < i64::MAX {
                    m.push_str(&format!(" smax={}", r0.var.smax));
                }
                if r0.var.smin == i64::MIN && r0.var.smax == i64::MAX {
                    m.push_str(" unknown scalar value");
                }
                m.push_str(&format!(" should have been in [{lo}, {hi}]"));
                return Err(Reject::reg(Reg::R0, m));
            }
        }
        Ok(Flow::End)
    }
}

/// Kernel `check_reg_sane_offset`: offsets that could overflow pointer math.
fn sane_offset(v: &Scalar, name: &str) -> Result<(), String> {
    if let Some(k) = v.as_const() {
        let k = k as i64;
        if k >= MAX_VAR_OFF || k <= -MAX_VAR_OFF {
            return Err(format!(
                "math between {name} pointer and {k} is not allowed"
            ));
        }
        return Ok(());
    }
    if v.smin == i64::MIN {
        return Err(format!(
            "math between {name} pointer and register with unbounded min value is not allowed"
        ));
    }
    if v.smin >= MAX_VAR_OFF || v.smin <= -MAX_VAR_OFF {
        return Err(format!(
            "value {} makes {name} pointer be out of bounds",
            v.smin
        ));
    }
    Ok(())
}
