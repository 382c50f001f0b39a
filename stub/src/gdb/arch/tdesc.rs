//! The target description XML gdb and lldb fetch with
//! `qXfer:features:read:target.xml`: one self-contained document (no
//! `xi:include`), equivalent to gdbserver's amd64-linux / amd64-avx-linux
//! descriptions, built once per AVX choice.
//!
//! Protocol quirks met here:
//! - gdb keys the GNU/Linux ABI on the `org.gnu.gdb.i386.linux` feature: with
//!   `orig_rax` present it runs `amd64_linux_init_abi_common` (SVR4 link-map
//!   offsets, sigtramp unwinding, TLS, `catch syscall`).
//! - Features come in gdbserver's order (core, sse, linux, segments, avx) and
//!   each `<reg>` carries an explicit `regnum`, so the `g` layout is the tdesc
//!   numbering (see `regnum.rs`), not gdb's internal one.
//! - lldb 19 reads target.xml when offered, and turns tdesc `group`s into
//!   register sets; gdb 13's reggroups are unchanged by the extra groups we
//!   add (checked with `maint print register-groups`).

use std::sync::OnceLock;

use super::regnum::{Amd64RegId, NUM_REGS_AVX, NUM_REGS_NO_AVX};

/// Target description XML (one self-contained document, no `xi:include`),
/// equivalent to gdbserver's amd64-linux / amd64-avx-linux descriptions.
pub(crate) fn target_xml(with_avx: bool) -> &'static str {
    static WITH_AVX: OnceLock<String> = OnceLock::new();
    static NO_AVX: OnceLock<String> = OnceLock::new();
    let cell = if with_avx { &WITH_AVX } else { &NO_AVX };
    cell.get_or_init(|| build_target_xml(with_avx))
}

impl Amd64RegId {
    /// gdb tdesc type name.
    fn tdesc_type(self) -> &'static str {
        match self {
            Amd64RegId::Gpr(6) | Amd64RegId::Gpr(7) => "data_ptr",
            Amd64RegId::Gpr(_) => "int64",
            Amd64RegId::Rip => "code_ptr",
            Amd64RegId::Eflags => "i386_eflags",
            Amd64RegId::Segment(_) => "int32",
            Amd64RegId::St(_) => "i387_ext",
            Amd64RegId::FpuCtrl(_)
            | Amd64RegId::OrigRax
            | Amd64RegId::FsBase
            | Amd64RegId::GsBase => "int",
            Amd64RegId::Xmm(_) => "vec128",
            Amd64RegId::Mxcsr => "i386_mxcsr",
            Amd64RegId::Ymmh(_) => "uint128",
        }
    }

    /// tdesc register group. gdbserver names only fctrl..fop ("float") and
    /// mxcsr ("vector"); the others are explicit here because lldb turns
    /// groups into register sets (so `register read` shows just the GPRs).
    /// Verified not to change gdb 13's `maint print register-groups`.
    fn tdesc_group(self) -> &'static str {
        match self {
            Amd64RegId::St(_) | Amd64RegId::FpuCtrl(_) => "float",
            Amd64RegId::Xmm(_) | Amd64RegId::Mxcsr | Amd64RegId::Ymmh(_) => "vector",
            _ => "general",
        }
    }
}

const XML_HEAD: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
  <architecture>i386:x86-64</architecture>
  <osabi>GNU/Linux</osabi>
"#;

const EFLAGS_TYPE: &str = r#"    <flags id="i386_eflags" size="4">
      <field name="CF" start="0" end="0"/>
      <field name="" start="1" end="1"/>
      <field name="PF" start="2" end="2"/>
      <field name="AF" start="4" end="4"/>
      <field name="ZF" start="6" end="6"/>
      <field name="SF" start="7" end="7"/>
      <field name="TF" start="8" end="8"/>
      <field name="IF" start="9" end="9"/>
      <field name="DF" start="10" end="10"/>
      <field name="OF" start="11" end="11"/>
      <field name="NT" start="14" end="14"/>
      <field name="RF" start="16" end="16"/>
      <field name="VM" start="17" end="17"/>
      <field name="AC" start="18" end="18"/>
      <field name="VIF" start="19" end="19"/>
      <field name="VIP" start="20" end="20"/>
      <field name="ID" start="21" end="21"/>
    </flags>
"#;

const SSE_TYPES: &str = r#"    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v16i8" type="int8" count="16"/>
    <vector id="v8i16" type="int16" count="8"/>
    <vector id="v4i32" type="int32" count="4"/>
    <vector id="v2i64" type="int64" count="2"/>
    <union id="vec128">
      <field name="v4_float" type="v4f"/>
      <field name="v2_double" type="v2d"/>
      <field name="v16_int8" type="v16i8"/>
      <field name="v8_int16" type="v8i16"/>
      <field name="v4_int32" type="v4i32"/>
      <field name="v2_int64" type="v2i64"/>
      <field name="uint128" type="uint128"/>
    </union>
    <flags id="i386_mxcsr" size="4">
      <field name="IE" start="0" end="0"/>
      <field name="DE" start="1" end="1"/>
      <field name="ZE" start="2" end="2"/>
      <field name="OE" start="3" end="3"/>
      <field name="UE" start="4" end="4"/>
      <field name="PE" start="5" end="5"/>
      <field name="DAZ" start="6" end="6"/>
      <field name="IM" start="7" end="7"/>
      <field name="DM" start="8" end="8"/>
      <field name="ZM" start="9" end="9"/>
      <field name="OM" start="10" end="10"/>
      <field name="UM" start="11" end="11"/>
      <field name="PM" start="12" end="12"/>
      <field name="FZ" start="15" end="15"/>
    </flags>
"#;

fn build_target_xml(with_avx: bool) -> String {
    use std::fmt::Write;
    let features: [(&str, &str, core::ops::Range<usize>); 5] = [
        ("org.gnu.gdb.i386.core", EFLAGS_TYPE, 0..40),
        ("org.gnu.gdb.i386.sse", SSE_TYPES, 40..57),
        ("org.gnu.gdb.i386.linux", "", 57..58),
        ("org.gnu.gdb.i386.segments", "", 58..60),
        ("org.gnu.gdb.i386.avx", "", 60..NUM_REGS_AVX),
    ];
    let mut xml = String::from(XML_HEAD);
    for (name, types, range) in features {
        if !with_avx && range.start >= NUM_REGS_NO_AVX {
            continue;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(xml, "  <feature name=\"{name}\">");
        xml.push_str(types);
        for reg in range.filter_map(Amd64RegId::from_regnum) {
            let _ = writeln!(
                xml,
                "    <reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\" group=\"{}\"/>",
                reg.name(),
                reg.size() * 8,
                reg.tdesc_type(),
                reg.regnum(),
                reg.tdesc_group(),
            );
        }
        xml.push_str("  </feature>\n");
    }
    xml.push_str("</target>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::super::regnum::g_packet_len;
    use super::*;

    /// One element of the document, in document order.
    struct Element {
        name: String,
        attrs: Vec<(String, String)>,
        /// Names of the enclosing elements, outermost first.
        ancestors: Vec<String>,
    }

    impl Element {
        fn attr(&self, key: &str) -> &str {
            let found = self.attrs.iter().find(|(k, _)| k == key);
            &found
                .unwrap_or_else(|| panic!("<{}> has no {key}", self.name))
                .1
        }
    }

    fn is_xml_name(s: &str) -> bool {
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    }

    /// Parses the subset of XML this document may use (a declaration, a
    /// DOCTYPE, elements with double-quoted attributes, plain text),
    /// panicking unless it is well-formed: one root, tags balanced, no stray
    /// markup characters, no duplicate attributes.
    fn parse(xml: &str) -> Vec<Element> {
        let mut rest = xml
            .strip_prefix("<?xml version=\"1.0\"?>\n")
            .expect("XML declaration first");
        let (mut open, mut elements, mut roots) = (Vec::<String>::new(), Vec::new(), 0);
        loop {
            let lt = rest.find('<');
            let text = &rest[..lt.unwrap_or(rest.len())];
            assert!(!text.contains(['>', '&']), "stray markup in {text:?}");
            assert!(
                !open.is_empty() || text.trim().is_empty(),
                "text outside the root"
            );
            let Some(lt) = lt else { break };
            let gt = lt + rest[lt..].find('>').expect("unterminated tag");
            let tag = &rest[lt + 1..gt];
            rest = &rest[gt + 1..];
            assert!(!tag.contains('<'), "nested '<' in {tag:?}");
            if let Some(decl) = tag.strip_prefix('!') {
                assert!(decl.starts_with("DOCTYPE target ") && elements.is_empty());
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "mismatched </{name}>");
                continue;
            }
            let (body, empty) = match tag.strip_suffix('/') {
                Some(body) => (body, true),
                None => (tag, false),
            };
            let (name, mut src) = body.split_once(' ').unwrap_or((body, ""));
            assert!(is_xml_name(name), "element name {name:?}");
            let mut attrs: Vec<(String, String)> = Vec::new();
            while !src.trim().is_empty() {
                let (key, after) = src.trim_start().split_once("=\"").expect("key=\"value\"");
                let (value, after) = after.split_once('"').expect("closing quote");
                assert!(is_xml_name(key), "attribute name {key:?}");
                assert!(!value.contains(['<', '&']), "attribute value {value:?}");
                assert!(attrs.iter().all(|(k, _)| k != key), "duplicate {key}");
                assert!(after.is_empty() || after.starts_with(' '), "{after:?}");
                attrs.push((key.to_string(), value.to_string()));
                src = after;
            }
            roots += usize::from(open.is_empty());
            elements.push(Element {
                name: name.to_string(),
                attrs,
                ancestors: open.clone(),
            });
            if !empty {
                open.push(name.to_string());
            }
        }
        assert!(open.is_empty(), "unclosed {open:?}");
        assert_eq!(roots, 1);
        elements
    }

    /// The feature gdbserver puts regnum `n` in.
    fn feature_of(n: usize) -> &'static str {
        match n {
            0..=39 => "org.gnu.gdb.i386.core",
            40..=56 => "org.gnu.gdb.i386.sse",
            57 => "org.gnu.gdb.i386.linux",
            58 | 59 => "org.gnu.gdb.i386.segments",
            _ => "org.gnu.gdb.i386.avx",
        }
    }

    #[test]
    fn well_formed_with_the_registers_in_regnum_order() {
        for avx in [false, true] {
            let elements = parse(target_xml(avx));
            assert_eq!(elements[0].name, "target");
            let mut feature = "";
            let mut regnum = 0;
            let mut bits = 0;
            for e in &elements {
                match e.name.as_str() {
                    "feature" => feature = e.attr("name"),
                    "reg" => {
                        assert_eq!(e.ancestors, ["target", "feature"]);
                        let id = Amd64RegId::from_regnum(regnum).unwrap();
                        assert_eq!(e.attr("regnum"), regnum.to_string());
                        assert_eq!(e.attr("name"), id.name());
                        assert_eq!(e.attr("bitsize"), (id.size() * 8).to_string());
                        assert_eq!(feature, feature_of(regnum), "{}", id.name());
                        bits += id.size() * 8;
                        regnum += 1;
                    }
                    _ => {}
                }
            }
            let n = if avx { NUM_REGS_AVX } else { NUM_REGS_NO_AVX };
            assert_eq!(regnum, n);
            assert_eq!(bits / 8, g_packet_len(avx));
        }
    }

    #[test]
    fn every_register_type_is_predefined_or_declared() {
        const GDB_PREDEFINED: [&str; 7] = [
            "int", "int32", "int64", "uint128", "data_ptr", "code_ptr", "i387_ext",
        ];
        let elements = parse(target_xml(true));
        let declared: Vec<&str> = elements
            .iter()
            .filter(|e| matches!(e.name.as_str(), "flags" | "vector" | "union"))
            .map(|e| e.attr("id"))
            .collect();
        for reg in elements.iter().filter(|e| e.name == "reg") {
            let ty = reg.attr("type");
            assert!(
                GDB_PREDEFINED.contains(&ty) || declared.contains(&ty),
                "{}: type {ty}",
                reg.attr("name")
            );
            assert!(["general", "float", "vector"].contains(&reg.attr("group")));
        }
    }

    #[test]
    fn names_the_gnu_linux_abi_and_avx_only_when_asked() {
        let xml = target_xml(true);
        for needle in [
            "<architecture>i386:x86-64</architecture>",
            "<osabi>GNU/Linux</osabi>",
            "org.gnu.gdb.i386.linux",
            "org.gnu.gdb.i386.avx",
        ] {
            assert!(xml.contains(needle), "{needle}");
        }
        assert!(!target_xml(false).contains("i386.avx"));
        assert!(!xml.contains("xi:include"));
        assert!(core::ptr::eq(xml, target_xml(true)), "built once");
    }
}
