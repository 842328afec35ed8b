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

/// Byte offsets of the members of named structs (members of anonymous
/// structs and unions inside them included, as C sees them), and enumerator
/// values. Parsing only indexes the type section: names are compared when
/// asked, so reading the kernel's 5 MB of BTF allocates little.
#[derive(Debug, Default)]
pub struct StructOffsets {
    data: Vec<u8>,
    /// Start of the string section.
    strings: usize,
    /// Per type id: where a struct's or union's members start, how many, and
    /// whether their offsets are bitfield-encoded.
    aggregates: Vec<Option<(usize, usize, bool)>>,
    /// Named structs' type ids (the first of each name).
    structs: HashMap<Box<str>, u32>,
    /// Where each enum's entries start, and how many.
    enums: Vec<(usize, usize)>,
}

impl StructOffsets {
    /// Reads the running kernel's BTF.
    pub fn from_sys_fs() -> io::Result<Self> {
        Self::parse(&std::fs::read("/sys/kernel/btf/vmlinux")?)
    }

    /// Indexes a little-endian BTF blob.
    pub fn parse(data: &[u8]) -> io::Result<Self> {
        let mut out = Self { data: data.to_vec(), ..Self::default() };
        let hdr_len = out.u32_at(4)? as usize;
        if out.u16_at(0)? != BTF_MAGIC {
            return Err(invalid("bad magic (not little-endian BTF)"));
        }
        let (type_off, type_len) = (out.u32_at(8)? as usize, out.u32_at(12)? as usize);
        out.strings = hdr_len + out.u32_at(16)? as usize;
        let types = hdr_len + type_off;
        let end = types.checked_add(type_len).filter(|e| *e <= out.data.len()).ok_or_else(|| invalid("truncated"))?;
        let mut pos = types;
        out.aggregates.push(None); // type id 0 is void
        while pos < end {
            let (name_off, info) = (out.u32_at(pos)?, out.u32_at(pos + 4)?);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let kind_flag = info >> 31 == 1;
            pos += 12;
            let mut aggregate = None;
            match kind {
                KIND_STRUCT | KIND_UNION => {
                    aggregate = Some((pos, vlen, kind_flag));
                    if kind == KIND_STRUCT && name_off != 0 {
                        let id = u32::try_from(out.aggregates.len()).map_err(|_| invalid("too many types"))?;
                        let name = String::from_utf8_lossy(out.name(name_off)).into();
                        out.structs.entry(name).or_insert(id);
                    }
                    pos += 12 * vlen;
                }
                KIND_INT | KIND_VAR | KIND_DECL_TAG => pos += 4,
                KIND_ARRAY => pos += 12,
                KIND_ENUM => {
                    out.enums.push((pos, vlen));
                    pos += 8 * vlen;
                }
                KIND_FUNC_PROTO => pos += 8 * vlen,
                KIND_DATASEC | KIND_ENUM64 => pos += 12 * vlen,
                _ => {}
            }
            out.aggregates.push(aggregate);
        }
        Ok(out)
    }

    /// The byte offset of `member` in `struct name`, if both exist.
    pub fn offset(&self, name: &str, member: &str) -> Option<u32> {
        self.member_in(*self.structs.get(name)?, member.as_bytes(), 0)
    }

    /// The value of the enumerator `name` (e.g. ITER_UBUF), if the BTF has it
    /// (the first of that name).
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        self.enums.iter().find_map(|&(pos, vlen)| {
            (0..vlen).find_map(|i| {
                let e = pos + 8 * i;
                (self.name(self.u32_at(e).ok()?) == name.as_bytes())
                    .then(|| Some(i64::from(self.u32_at(e + 4).ok()?.cast_signed())))
                    .flatten()
            })
        })
    }

    /// `member`'s offset in aggregate `id`, looking into anonymous members
    /// (a few levels deep, as the kernel nests them).
    fn member_in(&self, id: u32, member: &[u8], depth: u32) -> Option<u32> {
        let &(pos, vlen, kind_flag) = self.aggregates.get(id as usize)?.as_ref()?;
        let members = (0..vlen).filter_map(|i| {
            let m = pos + 12 * i;
            let raw = self.u32_at(m + 8).ok()?;
            let bits = if kind_flag { raw & 0x00ff_ffff } else { raw };
            Some((self.name(self.u32_at(m).ok()?), self.u32_at(m + 4).ok()?, bits / 8))
        });
        let mut anonymous = Vec::new();
        for (name, type_id, offset) in members {
            if name == member {
                return Some(offset);
            }
            if name.is_empty() {
                anonymous.push((type_id, offset));
            }
        }
        if depth >= 4 {
            return None;
        }
        anonymous.into_iter().find_map(|(type_id, offset)| Some(offset + self.member_in(type_id, member, depth + 1)?))
    }

    /// The NUL-terminated string at `off` in the string section.
    fn name(&self, off: u32) -> &[u8] {
        let start = self.strings.saturating_add(off as usize).min(self.data.len());
        let rest = &self.data[start..];
        &rest[..rest.iter().position(|b| *b == 0).unwrap_or(rest.len())]
    }

    fn u16_at(&self, off: usize) -> io::Result<u16> {
        self.data.get(off..off + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(|| invalid("truncated"))
    }

    fn u32_at(&self, off: usize) -> io::Result<u32> {
        self.data
            .get(off..off + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| invalid("truncated"))
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
