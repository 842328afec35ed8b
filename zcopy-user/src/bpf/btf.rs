//! Member offsets of kernel structs, from the kernel's BTF
//! (/sys/kernel/btf/vmlinux), for programs that read kernel structs through
//! pointers. aya resolves types by name but keeps member offsets to itself,
//! so this reads the BTF type section directly (include/uapi/linux/btf.h).

use std::{collections::HashMap, io};

const BTF_MAGIC: u16 = 0xeb9f;

// Kinds (btf.h BTF_KIND_*) and the bytes that follow each `struct btf_type`.
const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed BTF: {what}"))
}

/// A struct or union member: name ("" when anonymous), type id, byte offset.
#[derive(Debug)]
struct Member {
    name: String,
    type_id: u32,
    offset: u32,
}

/// Byte offsets of the members of named structs (members of anonymous
/// structs and unions inside them included, as C sees them).
#[derive(Debug, Default)]
pub struct StructOffsets {
    /// Members of every struct and union, by type id.
    aggregates: HashMap<u32, Vec<Member>>,
    /// Named structs' type ids (the first of each name).
    structs: HashMap<String, u32>,
    /// Enumerator values by name (the first of each name).
    enumerators: HashMap<String, i64>,
}

impl StructOffsets {
    /// Reads the running kernel's BTF.
    pub fn from_sys_fs() -> io::Result<Self> {
        Self::parse(&std::fs::read("/sys/kernel/btf/vmlinux")?)
    }

    /// Parses a little-endian BTF blob, keeping the structs' member offsets.
    pub fn parse(data: &[u8]) -> io::Result<Self> {
        let u16_at = |off: usize| -> io::Result<u16> {
            data.get(off..off + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(|| invalid("truncated"))
        };
        let u32_at = |off: usize| -> io::Result<u32> {
            data.get(off..off + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| invalid("truncated"))
        };
        if u16_at(0)? != BTF_MAGIC {
            return Err(invalid("bad magic (not little-endian BTF)"));
        }
        let hdr_len = u32_at(4)? as usize;
        let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
        let str_off = u32_at(16)? as usize;
        let types = hdr_len + type_off;
        let strings = hdr_len + str_off;
        let name = |off: u32| -> String {
            let start = strings + off as usize;
            let end = data[start.min(data.len())..].iter().position(|b| *b == 0).map_or(data.len(), |n| start + n);
            String::from_utf8_lossy(&data[start.min(data.len())..end]).into_owned()
        };

        let mut out = Self::default();
        let mut pos = types;
        let mut id = 0u32;
        while pos < types + type_len {
            id += 1;
            let (name_off, info) = (u32_at(pos)?, u32_at(pos + 4)?);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let kind_flag = info >> 31 == 1;
            pos += 12;
            match kind {
                KIND_STRUCT | KIND_UNION => {
                    let mut members = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let m = pos + 12 * i;
                        let raw = u32_at(m + 8)?;
                        let bits = if kind_flag { raw & 0x00ff_ffff } else { raw };
                        members.push(Member { name: name(u32_at(m)?), type_id: u32_at(m + 4)?, offset: bits / 8 });
                    }
                    if kind == KIND_STRUCT && name_off != 0 {
                        out.structs.entry(name(name_off)).or_insert(id);
                    }
                    out.aggregates.insert(id, members);
                    pos += 12 * vlen;
                }
                KIND_INT | KIND_VAR | KIND_DECL_TAG => pos += 4,
                KIND_ARRAY => pos += 12,
                KIND_ENUM => {
                    for i in 0..vlen {
                        let e = pos + 8 * i;
                        let value = i64::from(u32_at(e + 4)? as i32);
                        out.enumerators.entry(name(u32_at(e)?)).or_insert(value);
                    }
                    pos += 8 * vlen;
                }
                KIND_FUNC_PROTO => pos += 8 * vlen,
                KIND_DATASEC | KIND_ENUM64 => pos += 12 * vlen,
                _ => {}
            }
        }
        Ok(out)
    }

    /// The byte offset of `member` in `struct name`, if both exist.
    pub fn offset(&self, name: &str, member: &str) -> Option<u32> {
        self.member_in(*self.structs.get(name)?, member, 0)
    }

    /// The value of the enumerator `name` (e.g. ITER_UBUF), if the BTF has it.
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        self.enumerators.get(name).copied()
    }

    /// `member`'s offset in aggregate `id`, looking into anonymous members
    /// (a few levels deep, as the kernel nests them).
    fn member_in(&self, id: u32, member: &str, depth: u32) -> Option<u32> {
        let members = self.aggregates.get(&id)?;
        if let Some(m) = members.iter().find(|m| m.name == member) {
            return Some(m.offset);
        }
        if depth >= 4 {
            return None;
        }
        members
            .iter()
            .filter(|m| m.name.is_empty())
            .find_map(|m| Some(m.offset + self.member_in(m.type_id, member, depth + 1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made BTF blob: struct point { int x; int y; union { int z; int w; }; }.
    fn blob() -> Vec<u8> {
        let strings = b"\0point\0x\0y\0int\0z\0w\0";
        let mut types = Vec::new();
        let push = |v: &mut Vec<u8>, words: &[u32]| words.iter().for_each(|w| v.extend_from_slice(&w.to_le_bytes()));
        push(&mut types, &[13, (KIND_INT << 24), 4, 32]); // [1] int
        push(&mut types, &[1, (KIND_STRUCT << 24) | 3, 12]); // [2] struct point
        push(&mut types, &[7, 1, 0]); // x @ bit 0
        push(&mut types, &[9, 1, 32]); // y @ bit 32
        push(&mut types, &[0, 3, 64]); // anonymous union [3] @ bit 64
        push(&mut types, &[0, (KIND_UNION << 24) | 2, 4]); // [3] union
        push(&mut types, &[17, 1, 0]); // z
        push(&mut types, &[19, 1, 0]); // w
        let mut data = Vec::new();
        data.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        data.extend_from_slice(&[1, 0]); // version, flags
        push(&mut data, &[24, 0, types.len() as u32, types.len() as u32, strings.len() as u32]);
        data.extend_from_slice(&types);
        data.extend_from_slice(strings);
        data
    }

    #[test]
    fn finds_member_offsets() {
        let btf = StructOffsets::parse(&blob()).unwrap();
        assert_eq!(btf.offset("point", "x"), Some(0));
        assert_eq!(btf.offset("point", "y"), Some(4));
        assert_eq!(btf.offset("point", "w"), Some(8), "inside the anonymous union");
        assert_eq!(btf.offset("point", "v"), None);
        assert_eq!(btf.offset("line", "x"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(StructOffsets::parse(b"nope").is_err());
        assert!(StructOffsets::parse(&[0x9f, 0xeb, 1]).is_err());
    }

    #[test]
    fn reads_this_kernel() {
        // Where the kernel has BTF (every machine zcopy runs on), it parses and net_device.name is found.
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            eprintln!("skipped: this machine's kernel has no BTF");
            return;
        }
        let btf = StructOffsets::from_sys_fs().expect("the kernel's BTF parses");
        {
            assert!(btf.offset("net_device", "name").is_some());
            assert!(btf.offset("task_struct", "files").is_some());
            assert!(btf.offset("io_kiocb", "file").is_some(), "in an anonymous union");
            assert_eq!(btf.enum_value("ITER_UBUF").map(|v| v != btf.enum_value("ITER_IOVEC").unwrap_or(v)), Some(true));
        }
    }
}
