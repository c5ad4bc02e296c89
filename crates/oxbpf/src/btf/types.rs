//! BTF type records (`struct btf_type` and its kind-specific tails, linux/btf.h).

/// Kind numbers of `BTF_KIND_*` (linux/btf.h).
pub mod kind {
    /// `BTF_KIND_INT`
    pub const INT: u8 = 1;
    /// `BTF_KIND_PTR`
    pub const PTR: u8 = 2;
    /// `BTF_KIND_ARRAY`
    pub const ARRAY: u8 = 3;
    /// `BTF_KIND_STRUCT`
    pub const STRUCT: u8 = 4;
    /// `BTF_KIND_UNION`
    pub const UNION: u8 = 5;
    /// `BTF_KIND_ENUM`
    pub const ENUM: u8 = 6;
    /// `BTF_KIND_FWD`
    pub const FWD: u8 = 7;
    /// `BTF_KIND_TYPEDEF`
    pub const TYPEDEF: u8 = 8;
    /// `BTF_KIND_VOLATILE`
    pub const VOLATILE: u8 = 9;
    /// `BTF_KIND_CONST`
    pub const CONST: u8 = 10;
    /// `BTF_KIND_RESTRICT`
    pub const RESTRICT: u8 = 11;
    /// `BTF_KIND_FUNC`
    pub const FUNC: u8 = 12;
    /// `BTF_KIND_FUNC_PROTO`
    pub const FUNC_PROTO: u8 = 13;
    /// `BTF_KIND_VAR`
    pub const VAR: u8 = 14;
    /// `BTF_KIND_DATASEC`
    pub const DATASEC: u8 = 15;
    /// `BTF_KIND_FLOAT`
    pub const FLOAT: u8 = 16;
    /// `BTF_KIND_DECL_TAG`
    pub const DECL_TAG: u8 = 17;
    /// `BTF_KIND_TYPE_TAG`
    pub const TYPE_TAG: u8 = 18;
    /// `BTF_KIND_ENUM64`
    pub const ENUM64: u8 = 19;
}

/// `BTF_INT_SIGNED`: the integer is signed.
pub const INT_SIGNED: u8 = 1 << 0;
/// `BTF_INT_CHAR`: the integer is a character.
pub const INT_CHAR: u8 = 1 << 1;
/// `BTF_INT_BOOL`: the integer is a boolean.
pub const INT_BOOL: u8 = 1 << 2;

/// One BTF type: its name (empty for anonymous types) and kind-specific data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfType {
    /// Name from the string section; empty when `name_off` is 0.
    pub name: String,
    /// The kind and its data.
    pub kind: BtfKind,
}

/// A struct/union member with its position resolved from `kind_flag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member name (empty for anonymous members).
    pub name: String,
    /// Member type id.
    pub type_id: u32,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 if the member is not a bitfield (kind_flag encoding).
    pub bitfield_size: u32,
}

/// One enumerator (ENUM values are sign- or zero-extended into i128-free i64/u64 via `value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enumerator {
    /// Enumerator name.
    pub name: String,
    /// Raw 64-bit value (ENUM values are extended according to signedness).
    pub value: u64,
}

/// A named, typed parameter of a FUNC_PROTO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Parameter name (may be empty).
    pub name: String,
    /// Parameter type id (0 with an empty name means varargs `...`).
    pub type_id: u32,
}

/// A variable placed in a DATASEC (`struct btf_var_secinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSecInfo {
    /// Type id of the VAR (or FUNC for extern functions).
    pub type_id: u32,
    /// Byte offset of the variable inside the section.
    pub offset: u32,
    /// Size of the variable in bytes.
    pub size: u32,
}

/// Linkage of a FUNC or VAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// `BTF_FUNC_STATIC` / `BTF_VAR_STATIC`.
    Static,
    /// `BTF_FUNC_GLOBAL` / `BTF_VAR_GLOBAL_ALLOCATED`.
    Global,
    /// `BTF_FUNC_EXTERN` / `BTF_VAR_GLOBAL_EXTERN`.
    Extern,
    /// A value the kernel does not define.
    Other(u32),
}

impl Linkage {
    pub(crate) fn from_raw(v: u32) -> Self {
        match v {
            0 => Linkage::Static,
            1 => Linkage::Global,
            2 => Linkage::Extern,
            o => Linkage::Other(o),
        }
    }
}

/// Kind-specific data of a BTF type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfKind {
    /// Type id 0: `void`.
    Void,
    /// `BTF_KIND_INT`.
    Int {
        /// Size in bytes.
        size: u32,
        /// `BTF_INT_SIGNED` | `BTF_INT_CHAR` | `BTF_INT_BOOL`.
        encoding: u8,
        /// Bit offset of the value inside its storage (legacy bitfield encoding).
        offset: u8,
        /// Number of value bits.
        bits: u8,
    },
    /// `BTF_KIND_PTR`.
    Ptr {
        /// Pointee type id.
        target: u32,
    },
    /// `BTF_KIND_ARRAY`.
    Array {
        /// Element type id.
        elem: u32,
        /// Index type id.
        index: u32,
        /// Number of elements.
        len: u32,
    },
    /// `BTF_KIND_STRUCT`.
    Struct {
        /// Size in bytes.
        size: u32,
        /// Members in declaration order.
        members: Vec<Member>,
    },
    /// `BTF_KIND_UNION`.
    Union {
        /// Size in bytes.
        size: u32,
        /// Members in declaration order.
        members: Vec<Member>,
    },
    /// `BTF_KIND_ENUM` (and `BTF_KIND_ENUM64` with `is64`).
    Enum {
        /// Size in bytes.
        size: u32,
        /// Signed enumerators (kind_flag).
        signed: bool,
        /// True for ENUM64 records.
        is64: bool,
        /// The enumerators.
        values: Vec<Enumerator>,
    },
    /// `BTF_KIND_FWD`.
    Fwd {
        /// True for `union` forward declarations (kind_flag).
        is_union: bool,
    },
    /// `BTF_KIND_TYPEDEF`.
    Typedef {
        /// Aliased type id.
        target: u32,
    },
    /// `BTF_KIND_VOLATILE`.
    Volatile {
        /// Qualified type id.
        target: u32,
    },
    /// `BTF_KIND_CONST`.
    Const {
        /// Qualified type id.
        target: u32,
    },
    /// `BTF_KIND_RESTRICT`.
    Restrict {
        /// Qualified type id.
        target: u32,
    },
    /// `BTF_KIND_FUNC`.
    Func {
        /// FUNC_PROTO type id.
        proto: u32,
        /// Linkage (stored in vlen).
        linkage: Linkage,
    },
    /// `BTF_KIND_FUNC_PROTO`.
    FuncProto {
        /// Return type id (0 = void).
        ret: u32,
        /// Parameters.
        params: Vec<Param>,
    },
    /// `BTF_KIND_VAR`.
    Var {
        /// Variable type id.
        target: u32,
        /// Linkage.
        linkage: Linkage,
    },
    /// `BTF_KIND_DATASEC`.
    DataSec {
        /// Section size in bytes (0 in clang output until fixed up).
        size: u32,
        /// Variables in the section.
        vars: Vec<VarSecInfo>,
    },
    /// `BTF_KIND_FLOAT`.
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// `BTF_KIND_DECL_TAG`.
    DeclTag {
        /// Tagged type id.
        target: u32,
        /// Member/parameter index, or -1 for the type itself.
        component_idx: i32,
    },
    /// `BTF_KIND_TYPE_TAG`.
    TypeTag {
        /// Tagged type id.
        target: u32,
    },
}

impl BtfKind {
    /// The kernel kind number (`BTF_KIND_*`), 0 for void.
    pub fn number(&self) -> u8 {
        match self {
            BtfKind::Void => 0,
            BtfKind::Int { .. } => kind::INT,
            BtfKind::Ptr { .. } => kind::PTR,
            BtfKind::Array { .. } => kind::ARRAY,
            BtfKind::Struct { .. } => kind::STRUCT,
            BtfKind::Union { .. } => kind::UNION,
            BtfKind::Enum { is64: false, .. } => kind::ENUM,
            BtfKind::Enum { is64: true, .. } => kind::ENUM64,
            BtfKind::Fwd { .. } => kind::FWD,
            BtfKind::Typedef { .. } => kind::TYPEDEF,
            BtfKind::Volatile { .. } => kind::VOLATILE,
            BtfKind::Const { .. } => kind::CONST,
            BtfKind::Restrict { .. } => kind::RESTRICT,
            BtfKind::Func { .. } => kind::FUNC,
            BtfKind::FuncProto { .. } => kind::FUNC_PROTO,
            BtfKind::Var { .. } => kind::VAR,
            BtfKind::DataSec { .. } => kind::DATASEC,
            BtfKind::Float { .. } => kind::FLOAT,
            BtfKind::DeclTag { .. } => kind::DECL_TAG,
            BtfKind::TypeTag { .. } => kind::TYPE_TAG,
        }
    }

    /// The kind's name as bpftool prints it (`STRUCT`, `PTR`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            BtfKind::Void => "VOID",
            BtfKind::Int { .. } => "INT",
            BtfKind::Ptr { .. } => "PTR",
            BtfKind::Array { .. } => "ARRAY",
            BtfKind::Struct { .. } => "STRUCT",
            BtfKind::Union { .. } => "UNION",
            BtfKind::Enum { is64: false, .. } => "ENUM",
            BtfKind::Enum { is64: true, .. } => "ENUM64",
            BtfKind::Fwd { .. } => "FWD",
            BtfKind::Typedef { .. } => "TYPEDEF",
            BtfKind::Volatile { .. } => "VOLATILE",
            BtfKind::Const { .. } => "CONST",
            BtfKind::Restrict { .. } => "RESTRICT",
            BtfKind::Func { .. } => "FUNC",
            BtfKind::FuncProto { .. } => "FUNC_PROTO",
            BtfKind::Var { .. } => "VAR",
            BtfKind::DataSec { .. } => "DATASEC",
            BtfKind::Float { .. } => "FLOAT",
            BtfKind::DeclTag { .. } => "DECL_TAG",
            BtfKind::TypeTag { .. } => "TYPE_TAG",
        }
    }

    /// The type this one refers to for modifiers, typedefs, pointers, vars and tags.
    pub fn referenced(&self) -> Option<u32> {
        match self {
            BtfKind::Ptr { target }
            | BtfKind::Typedef { target }
            | BtfKind::Volatile { target }
            | BtfKind::Const { target }
            | BtfKind::Restrict { target }
            | BtfKind::Var { target, .. }
            | BtfKind::DeclTag { target, .. }
            | BtfKind::TypeTag { target } => Some(*target),
            BtfKind::Func { proto, .. } => Some(*proto),
            BtfKind::Array { elem, .. } => Some(*elem),
            _ => None,
        }
    }

    /// True for typedef and the qualifiers/tags that do not change layout.
    pub fn is_alias(&self) -> bool {
        matches!(
            self,
            BtfKind::Typedef { .. }
                | BtfKind::Volatile { .. }
                | BtfKind::Const { .. }
                | BtfKind::Restrict { .. }
                | BtfKind::TypeTag { .. }
        )
    }
}
