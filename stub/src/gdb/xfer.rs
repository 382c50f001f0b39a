//! `qXfer` objects gdb reads on Linux: auxv, the exec file name and the SVR4 library list (so gdb
//! loads the shared-library symbols of a dynamically linked program). The target description
//! comes from `arch::Amd64Linux` itself. The process layer returns the data (auxv bytes, the
//! link-map entries); the SVR4 XML is written here, in gdbserver's format.

use std::fmt::Write as _;

use gdbstub::common::Pid as GdbPid;
use gdbstub::target::ext::auxv::Auxv;
use gdbstub::target::ext::exec_file::ExecFile;
use gdbstub::target::ext::libraries::LibrariesSvr4;
use gdbstub::target::TargetResult;
use nix::unistd::Pid;

use super::error::target_error;
use super::{GdbTarget, StubError};
use crate::process::{program_of, Backend, LinkMap, ProcessError};

/// Copies the `offset..offset+length` window of `data` into `buf`.
fn copy_window(data: &[u8], offset: u64, length: usize, buf: &mut [u8]) -> usize {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let n = (data.len() - start).min(length).min(buf.len());
    buf[..n].copy_from_slice(&data[start..start + n]);
    n
}

impl GdbTarget {
    /// The process `Hg` selected (the one gdb asks about, with more than one on the connection).
    fn backend_now(&self) -> TargetResult<&dyn Backend, Self> {
        self.session
            .selected_ref()
            .ok_or_else(|| target_error(ProcessError::NoProcess))
    }
}

impl Auxv for GdbTarget {
    fn get_auxv(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let auxv = self.backend_now()?.auxv().map_err(target_error)?;
        Ok(copy_window(&auxv, offset, length, buf))
    }
}

impl ExecFile for GdbTarget {
    fn get_exec_file(
        &self,
        pid: Option<GdbPid>,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let exec_file = |pid: Pid| {
            program_of(pid).map_err(|source| {
                target_error(StubError::ExecFile(ProcessError::Proc {
                    pid: pid.as_raw(),
                    what: "exe",
                    source,
                }))
            })
        };
        let asked = pid
            .map(|p| Pid::from_raw(p.get() as i32))
            .or(self.session.pid());
        // A core's pid names no process (or another one): its program is the one it was opened
        // with, as is the program of a session without a process.
        let is_core = self.session.is_core();
        let path = match asked {
            Some(pid) if !(is_core && self.session.pid() == Some(pid)) => exec_file(pid)?,
            _ => self
                .session
                .program()
                .map(|p| p.to_path_buf())
                .ok_or_else(|| target_error(StubError::ExecFile(ProcessError::NoProcess)))?,
        };
        Ok(copy_window(
            path.as_os_str().as_encoded_bytes(),
            offset,
            length,
            buf,
        ))
    }
}

impl LibrariesSvr4 for GdbTarget {
    fn get_libraries_svr4(
        &self,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let map = self.backend_now()?.link_map().map_err(target_error)?;
        Ok(copy_window(
            library_list_xml(&map).as_bytes(),
            offset,
            length,
            buf,
        ))
    }
}

/// The `<library-list-svr4>` document, in gdbserver's format: `main-lm` names the first
/// link map, and each named object is a `<library>` of the base namespace.
fn library_list_xml(map: &LinkMap) -> String {
    let mut xml = String::from("<library-list-svr4 version=\"1.0\"");
    if let Some(lm) = map.main_lm {
        let _ = write!(xml, " main-lm=\"{lm:#x}\"");
    }
    if map.libraries.is_empty() {
        xml.push_str("/>");
        return xml;
    }
    xml.push('>');
    for lib in &map.libraries {
        xml.push_str("<library name=\"");
        escape_into(&mut xml, &String::from_utf8_lossy(&lib.name));
        let _ = write!(
            xml,
            "\" lm=\"{:#x}\" l_addr=\"{:#x}\" l_ld=\"{:#x}\" lmid=\"0x0\"/>",
            lib.lm, lib.l_addr, lib.l_ld
        );
    }
    xml.push_str("</library-list-svr4>");
    xml
}

/// Appends `text` as XML character data or attribute value.
pub(super) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{copy_window, library_list_xml};
    use crate::process::{Library, LinkMap};

    #[test]
    fn library_list_is_gdbservers_xml() {
        let lib = |name: &[u8], i: u64| Library {
            name: name.to_vec(),
            lm: 0x800000 + 0x100 * i,
            l_addr: 0x1000 * i,
            l_ld: 0x800080 + 0x100 * i,
        };
        let map = LinkMap {
            main_lm: Some(0x800000),
            libraries: vec![lib(b"/lib/libc.so.6", 1), lib(b"/tmp/a&b<\"'>.so", 2)],
        };
        assert_eq!(
            library_list_xml(&map),
            "<library-list-svr4 version=\"1.0\" main-lm=\"0x800000\">\
             <library name=\"/lib/libc.so.6\" lm=\"0x800100\" l_addr=\"0x1000\" l_ld=\"0x800180\" lmid=\"0x0\"/>\
             <library name=\"/tmp/a&amp;b&lt;&quot;&apos;&gt;.so\" lm=\"0x800200\" l_addr=\"0x2000\" l_ld=\"0x800280\" lmid=\"0x0\"/>\
             </library-list-svr4>"
        );
        assert_eq!(
            library_list_xml(&LinkMap::default()),
            "<library-list-svr4 version=\"1.0\"/>"
        );
        assert_eq!(
            library_list_xml(&LinkMap {
                main_lm: Some(0x800000),
                libraries: Vec::new()
            }),
            "<library-list-svr4 version=\"1.0\" main-lm=\"0x800000\"/>"
        );
    }

    #[test]
    fn window_is_clamped_to_data_and_buffer() {
        let mut buf = [0u8; 4];
        assert_eq!(copy_window(b"abcdef", 2, 10, &mut buf), 4);
        assert_eq!(&buf, b"cdef");
        assert_eq!(copy_window(b"abcdef", 6, 10, &mut buf), 0);
        assert_eq!(copy_window(b"abcdef", u64::MAX, 10, &mut buf), 0);
        assert_eq!(copy_window(b"abcdef", 0, 2, &mut buf), 2);
    }
}
