//! The notes of a Linux x86_64 core file, decoded: one entry per thread (`NT_PRSTATUS` and the
//! register notes after it), the process notes (`NT_PRPSINFO`, `NT_AUXV`, `NT_FILE`) and the
//! fatal signal (`NT_SIGINFO`).
//!
//! Kernel and gdb quirks met here:
//! * A thread's notes start with its `NT_PRSTATUS`; `NT_PRFPREG`, `NT_X86_XSTATE` and (gdb's
//!   `gcore`) `NT_SIGINFO` after it belong to that thread. The kernel writes the thread that
//!   took the signal first, with the process notes and the one `NT_SIGINFO` after its
//!   `NT_PRSTATUS`; gdb writes `NT_PRPSINFO` before every thread.
//! * `struct elf_prstatus` (x86_64, 336 bytes): `pr_cursig` at 12, `pr_pid` (the thread id)
//!   at 32, `pr_reg` (`user_regs_struct`, 27 words: r15 … gs, with `fs_base` at word 21) at 112.
//! * `struct elf_prpsinfo` (136 bytes): `pr_uid` 16, `pr_gid` 20, `pr_pid` 24, `pr_ppid` 28,
//!   `pr_fname[16]` at 40.
//! * `NT_FILE`: count, page size, then (start, end, offset in pages) per mapping, then the
//!   NUL-terminated names in the same order.
//! * `siginfo_t`: `si_signo` at 0, `si_code` at 8; a zero signal means none.

use std::collections::BTreeMap;

use nix::unistd::Pid;

use super::elf::{u16_at, u32_at, u64_at, Note};

const NT_PRSTATUS: u32 = 1;
const NT_PRFPREG: u32 = 2;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_X86_XSTATE: u32 = 0x202;
const NT_SIGINFO: u32 = 0x5349_4749;
const NT_FILE: u32 = 0x4649_4c45;

const PR_CURSIG: usize = 12;
const PR_PID: usize = 32;
const PR_REG: usize = 112;
const GREG_COUNT: usize = 27;

/// One thread of the core.
#[derive(Debug, Clone, Default)]
pub struct CoreThread {
    /// `None`: the note is too short to hold `pr_reg`.
    pub gprs: Option<libc::user_regs_struct>,
    pub cursig: i32,
    pub fpregs: Option<Vec<u8>>,
    pub xstate: Option<Vec<u8>>,
    /// The `NT_SIGINFO` that follows this thread's status (a `siginfo_t`).
    pub siginfo: Option<Vec<u8>>,
}

impl CoreThread {
    /// `si_signo` of the thread's `NT_SIGINFO` (`None` without one, or for signal 0).
    pub fn siginfo_signo(&self) -> Option<i32> {
        let info = self.siginfo.as_deref()?;
        u32_at(info, 0).map(|s| s as i32).filter(|&s| s != 0)
    }
}

/// One file mapping of `NT_FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    pub start: u64,
    pub end: u64,
    /// Byte offset in the file.
    pub offset: u64,
    pub path: String,
}

/// The process notes of `NT_PRPSINFO`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PsInfo {
    pub pid: i32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub fname: String,
}

/// Everything the notes say.
#[derive(Debug, Clone, Default)]
pub struct CoreNotes {
    pub threads: BTreeMap<Pid, CoreThread>,
    /// The threads in the order of the core (the kernel's first is the one that took the signal).
    pub order: Vec<Pid>,
    pub psinfo: Option<PsInfo>,
    pub auxv: Vec<u8>,
    pub files: Vec<FileMapping>,
}

impl CoreNotes {
    pub fn decode(notes: &[Note<'_>]) -> CoreNotes {
        let mut out = CoreNotes::default();
        let mut current: Option<Pid> = None;
        for n in notes {
            match (n.name, n.n_type) {
                (b"CORE", NT_PRSTATUS) => {
                    let tid = Pid::from_raw(u32_at(n.desc, PR_PID).unwrap_or(0) as i32);
                    let cursig = u16_at(n.desc, PR_CURSIG).map_or(0, i32::from);
                    out.threads.insert(
                        tid,
                        CoreThread {
                            gprs: gprs(n.desc),
                            cursig,
                            ..CoreThread::default()
                        },
                    );
                    if !out.order.contains(&tid) {
                        out.order.push(tid);
                    }
                    current = Some(tid);
                }
                (b"CORE", NT_PRPSINFO) => out.psinfo = Some(psinfo(n.desc)),
                (b"CORE", NT_AUXV) => out.auxv = n.desc.to_vec(),
                (b"CORE", NT_FILE) => out.files = files(n.desc),
                (b"CORE", NT_PRFPREG) | (b"LINUX", NT_X86_XSTATE) | (b"CORE", NT_SIGINFO) => {
                    let Some(t) = current.and_then(|tid| out.threads.get_mut(&tid)) else {
                        continue;
                    };
                    match n.n_type {
                        NT_PRFPREG => t.fpregs = Some(n.desc.to_vec()),
                        NT_X86_XSTATE => t.xstate = Some(n.desc.to_vec()),
                        _ => t.siginfo = Some(n.desc.to_vec()),
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The thread that took the fatal signal and the signal: the one with a `NT_SIGINFO`, else
    /// the first with a current signal, else the first thread with none.
    pub fn stop(&self) -> Option<(Pid, i32)> {
        let in_order = || self.order.iter().map(|tid| (*tid, &self.threads[tid]));
        in_order()
            .find_map(|(tid, t)| t.siginfo_signo().map(|s| (tid, s)))
            .or_else(|| {
                in_order()
                    .find(|(_, t)| t.cursig != 0)
                    .map(|(tid, t)| (tid, t.cursig))
            })
            .or_else(|| self.order.first().map(|&tid| (tid, 0)))
    }
}

fn gprs(desc: &[u8]) -> Option<libc::user_regs_struct> {
    let w: Vec<u64> = (0..GREG_COUNT)
        .map(|i| u64_at(desc, PR_REG + 8 * i))
        .collect::<Option<_>>()?;
    Some(libc::user_regs_struct {
        r15: w[0],
        r14: w[1],
        r13: w[2],
        r12: w[3],
        rbp: w[4],
        rbx: w[5],
        r11: w[6],
        r10: w[7],
        r9: w[8],
        r8: w[9],
        rax: w[10],
        rcx: w[11],
        rdx: w[12],
        rsi: w[13],
        rdi: w[14],
        orig_rax: w[15],
        rip: w[16],
        cs: w[17],
        eflags: w[18],
        rsp: w[19],
        ss: w[20],
        fs_base: w[21],
        gs_base: w[22],
        ds: w[23],
        es: w[24],
        fs: w[25],
        gs: w[26],
    })
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn psinfo(desc: &[u8]) -> PsInfo {
    let word = |off| u32_at(desc, off).unwrap_or(0);
    PsInfo {
        uid: word(16),
        gid: word(20),
        pid: word(24) as i32,
        ppid: word(28),
        fname: c_string(desc.get(40..56).unwrap_or_default()),
    }
}

fn files(desc: &[u8]) -> Vec<FileMapping> {
    let (Some(count), Some(page)) = (u64_at(desc, 0), u64_at(desc, 8)) else {
        return Vec::new();
    };
    // Each entry takes 24 bytes, so a count beyond what the note holds is corrupt.
    let count = count.min(desc.len() as u64 / 24) as usize;
    let mut names = desc
        .get(16 + 24 * count..)
        .unwrap_or_default()
        .split(|&c| c == 0);
    (0..count)
        .map_while(|i| {
            let at = 16 + 24 * i;
            Some(FileMapping {
                start: u64_at(desc, at)?,
                end: u64_at(desc, at + 8)?,
                offset: u64_at(desc, at + 16)?.saturating_mul(page),
                path: String::from_utf8_lossy(names.next()?).into_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &'static [u8], n_type: u32, desc: &'static [u8]) -> Note<'static> {
        Note {
            name,
            n_type,
            desc,
            start: 0,
            end: 0,
        }
    }

    fn prstatus(tid: u32, cursig: u16, rip: u64) -> &'static [u8] {
        let mut d = vec![0u8; 336];
        d[PR_CURSIG..PR_CURSIG + 2].copy_from_slice(&cursig.to_le_bytes());
        d[PR_PID..PR_PID + 4].copy_from_slice(&tid.to_le_bytes());
        d[PR_REG + 16 * 8..PR_REG + 17 * 8].copy_from_slice(&rip.to_le_bytes());
        d[PR_REG + 21 * 8..PR_REG + 22 * 8].copy_from_slice(&0x7000u64.to_le_bytes());
        Vec::leak(d)
    }

    #[test]
    fn threads_and_their_register_notes() {
        let mut siginfo = vec![0u8; 128];
        siginfo[0] = 11;
        let notes = [
            note(b"CORE", NT_PRSTATUS, prstatus(20, 0, 0x1000)),
            note(b"CORE", NT_PRFPREG, &[1; 512]),
            note(b"CORE", NT_PRSTATUS, prstatus(10, 11, 0x2000)),
            note(b"CORE", NT_SIGINFO, Vec::leak(siginfo)),
            note(b"LINUX", NT_X86_XSTATE, &[2; 832]),
            note(b"CORE", NT_PRSTATUS, &[0; 40]),
        ];
        let n = CoreNotes::decode(&notes);
        assert_eq!(
            n.order,
            [Pid::from_raw(20), Pid::from_raw(10), Pid::from_raw(0)]
        );
        let t20 = &n.threads[&Pid::from_raw(20)];
        assert_eq!(t20.gprs.unwrap().rip, 0x1000);
        assert_eq!(t20.gprs.unwrap().fs_base, 0x7000);
        assert!(t20.fpregs.is_some() && t20.xstate.is_none());
        let t10 = &n.threads[&Pid::from_raw(10)];
        assert_eq!((t10.cursig, t10.siginfo_signo()), (11, Some(11)));
        assert!(t10.xstate.is_some());
        assert!(n.threads[&Pid::from_raw(0)].gprs.is_none());
        assert_eq!(n.stop(), Some((Pid::from_raw(10), 11)));
    }

    #[test]
    fn file_list_and_psinfo() {
        let mut d = Vec::new();
        for w in [2u64, 4096, 0x400000, 0x401000, 0, 0x7f00, 0x7f10, 3] {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(b"/bin/prog\0/lib/libc.so.6\0");
        let files = files(&d);
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].offset, 3 * 4096);
        assert_eq!(files[1].path, "/lib/libc.so.6");
        // A count larger than the note is cut to what fits.
        d[0] = 200;
        assert!(super::files(&d).len() <= 3);
        let mut p = vec![0u8; 136];
        p[24] = 42;
        p[40..44].copy_from_slice(b"prog");
        let ps = psinfo(&p);
        assert_eq!((ps.pid, ps.fname.as_str()), (42, "prog"));
    }
}
