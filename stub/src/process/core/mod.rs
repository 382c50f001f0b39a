//! The core-file backend: a Linux x86_64 ELF core (the kernel's, or gdb's `gcore`) served as a
//! stopped process. Threads and registers come from the notes, memory from the core's segments
//! and the files it names, the stop (and `$_siginfo`) from `NT_SIGINFO`. Nothing runs: every request that would
//! change or resume the program is refused here, with [`ProcessError::NotRunning`], and nowhere
//! else. The core and the program files are opened read-only and mapped, never read whole.
//!
//! Quirks met here:
//! * The executable is the `NT_FILE` mapping that holds `AT_PHDR` (the program headers the
//!   kernel loaded); PROGRAM, when given, is read in its place.
//! * A core of another program is caught by its build ID: the note the executable's first page
//!   holds in the core (the kernel dumps ELF header pages, filter bit 4) must equal PROGRAM's.
//!   gdb's `gcore` leaves that page out; then there is nothing to compare.
//! * A truncated core (a segment or a note past the end of the file) is refused whole, naming
//!   the file: gdb only warns, but then answers reads of the lost part with garbage.

mod elf;
mod memory;
mod notes;
mod resident;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memcache::{CacheStats, MemError, MemorySource, SyscallCounters};
use nix::unistd::Pid;

use super::backend::{Backend, MemoryStats};
use super::debugregs::{HwError, HwKind};
use super::inferior::next_stop_id;
use super::procfs::{ProcessInfo, Region};
use super::regs::XState;
use super::siginfo::SIGINFO_SIZE;
use super::svr4::{self, LinkMap};
use super::threads::Action;
use super::{Origin, ProcessError, StopEvent};
use elf::{ElfError, EM_X86_64, ET_CORE, PT_LOAD, PT_NOTE};
use memory::{CoreMemory, CoreReader};
use notes::{CoreNotes, PsInfo};
use resident::{ResidentMap, CORE_BUDGET, FILE_BUDGET};

const AT_PHDR: u64 = 3;

/// Why a core file cannot be served. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a core file: {why}", path.display())]
    NotCore { path: PathBuf, why: String },
    #[error("{} is a truncated core file: {source}", path.display())]
    Truncated { path: PathBuf, source: ElfError },
    #[error("{} holds no thread (no NT_PRSTATUS note)", path.display())]
    NoThreads { path: PathBuf },
    #[error(
        "{} names {named} as its program, which cannot be read ({source}); give PROGRAM after the core",
        core.display()
    )]
    NoProgram {
        core: PathBuf,
        named: String,
        source: std::io::Error,
    },
    #[error(
        "{} is a core of another program than {}: the core's build ID is {core_id}, the program's {program_id}",
        core.display(),
        program.display()
    )]
    OtherProgram {
        core: PathBuf,
        program: PathBuf,
        core_id: String,
        program_id: String,
    },
    #[error("{}: thread {tid} has no registers in the core", core.display())]
    NoRegisters { core: PathBuf, tid: i32 },
    #[error("{}: thread {tid} has no siginfo (NT_SIGINFO) in the core", core.display())]
    NoSiginfo { core: PathBuf, tid: i32 },
}

struct CoreThread {
    gprs: Option<libc::user_regs_struct>,
    xstate: XState,
    /// Its `NT_SIGINFO`, cut or zero-padded to a `siginfo_t`.
    siginfo: Option<[u8; SIGINFO_SIZE]>,
}

pub struct Core {
    path: PathBuf,
    program: PathBuf,
    pid: Pid,
    psinfo: PsInfo,
    memory: CoreMemory,
    threads: BTreeMap<Pid, CoreThread>,
    auxv: Vec<u8>,
    /// The thread that took the fatal signal, and the signal (0: the core names none).
    stop: (Pid, i32),
    stop_id: u64,
    /// Software breakpoints the client planted: kept so that removing them answers truly. They
    /// never take effect, since nothing runs.
    breakpoints: std::collections::BTreeSet<u64>,
}

impl Core {
    /// Opens `path` read-only and checks it is a whole x86_64 core, of `program` when given.
    pub fn open(path: &Path, program: Option<&Path>) -> Result<Core, CoreError> {
        let open_err = |source| CoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let map = ResidentMap::open(path, CORE_BUDGET).map_err(open_err)?;
        let bytes = map.bytes();
        let not_core = |why: String| CoreError::NotCore {
            path: path.to_path_buf(),
            why,
        };
        let truncated = |source| CoreError::Truncated {
            path: path.to_path_buf(),
            source,
        };
        let header = match elf::header(bytes) {
            Ok(h) => h,
            Err(e @ (ElfError::NotElf | ElfError::WrongClass)) => {
                return Err(not_core(e.to_string()))
            }
            Err(e) => return Err(truncated(e)),
        };
        if header.e_type != ET_CORE {
            return Err(not_core(format!(
                "an ELF file of type {}, not a core (type 4)",
                header.e_type
            )));
        }
        if header.e_machine != EM_X86_64 {
            return Err(not_core(format!(
                "a core for machine {}, not x86_64",
                header.e_machine
            )));
        }
        let phdrs = elf::program_headers(bytes, &header).map_err(truncated)?;
        let mut all_notes = Vec::new();
        for p in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
            let seg = elf::segment_bytes(bytes, p, "note segment").map_err(truncated)?;
            let (found, whole) = elf::notes(seg);
            if !whole {
                return Err(truncated(ElfError::Truncated {
                    what: "note segment",
                    end: p.offset + p.filesz,
                    size: bytes.len() as u64,
                }));
            }
            all_notes.extend(found);
        }
        let loads: Vec<_> = phdrs
            .iter()
            .filter(|p| p.p_type == PT_LOAD)
            .copied()
            .collect();
        for p in &loads {
            elf::segment_bytes(bytes, p, "memory segment").map_err(truncated)?;
        }
        let notes = CoreNotes::decode(&all_notes);
        drop(all_notes);
        let Some(stop) = notes.stop() else {
            return Err(CoreError::NoThreads {
                path: path.to_path_buf(),
            });
        };
        let named = executable_of(&notes);
        let program = match program {
            Some(p) => p.to_path_buf(),
            None => {
                let named = named.clone().unwrap_or_default();
                if let Err(source) = std::fs::metadata(&named) {
                    return Err(CoreError::NoProgram {
                        core: path.to_path_buf(),
                        named: if named.is_empty() {
                            "no file".into()
                        } else {
                            named
                        },
                        source,
                    });
                }
                PathBuf::from(named)
            }
        };
        let program_map =
            ResidentMap::open(&program, FILE_BUDGET).map_err(|source| CoreError::Open {
                path: program.clone(),
                source,
            })?;
        let files = notes
            .files
            .iter()
            .cloned()
            .map(|mut f| {
                if Some(&f.path) == named.as_ref() {
                    f.path = program.display().to_string();
                }
                f
            })
            .collect();
        let memory = CoreMemory::new(map, &loads, files);
        check_build_id(
            path,
            &program,
            program_map.bytes(),
            &memory,
            &notes,
            named.as_deref(),
        )?;
        let threads = notes
            .threads
            .iter()
            .map(|(&tid, t)| {
                let xstate = XState::from_core_notes(t.xstate.as_deref(), t.fpregs.as_deref());
                (
                    tid,
                    CoreThread {
                        gprs: t.gprs,
                        xstate,
                        siginfo: t.siginfo.as_deref().map(|note| {
                            let mut info = [0u8; SIGINFO_SIZE];
                            let n = note.len().min(SIGINFO_SIZE);
                            info[..n].copy_from_slice(&note[..n]);
                            info
                        }),
                    },
                )
            })
            .collect();
        let psinfo = notes.psinfo.clone().unwrap_or_default();
        let pid = match psinfo.pid {
            0 => stop.0,
            pid => Pid::from_raw(pid),
        };
        Ok(Core {
            path: path.to_path_buf(),
            program,
            pid,
            psinfo,
            memory,
            threads,
            auxv: notes.auxv,
            stop,
            stop_id: next_stop_id(),
            breakpoints: Default::default(),
        })
    }

    /// The core's refusal of anything that would change or run the program.
    fn refuse<T>(&self, what: &str) -> Result<T, ProcessError> {
        log::warn!(
            "{}: cannot {what}: the program is not running",
            self.path.display()
        );
        Err(ProcessError::NotRunning)
    }

    fn thread(&self, tid: Pid) -> Result<&CoreThread, ProcessError> {
        self.threads
            .get(&tid)
            .ok_or(ProcessError::NoSuchThread(tid.as_raw()))
    }
}

/// The executable's name in the file list: the mapping that holds `AT_PHDR`, else the first.
fn executable_of(notes: &CoreNotes) -> Option<String> {
    let phdr = svr4::parse_auxv(&notes.auxv)
        .into_iter()
        .find(|(k, _)| *k == AT_PHDR)
        .map(|(_, v)| v);
    notes
        .files
        .iter()
        .find(|f| phdr.is_some_and(|a| f.start <= a && a < f.end))
        .or(notes.files.first())
        .map(|f| f.path.clone())
}

/// Refuses a core whose executable pages hold another build ID than `program`'s.
fn check_build_id(
    core: &Path,
    program: &Path,
    program_bytes: &[u8],
    memory: &CoreMemory,
    notes: &CoreNotes,
    named: Option<&str>,
) -> Result<(), CoreError> {
    let (Some(id), Some(named)) = (elf::build_id(program_bytes), named) else {
        return Ok(());
    };
    let Some(addr) = notes
        .files
        .iter()
        .filter(|f| f.path == named)
        .find(|f| f.offset <= id.file_offset && id.file_offset - f.offset < f.end - f.start)
        .map(|f| f.start + (id.file_offset - f.offset))
    else {
        return Ok(());
    };
    let mut in_core = vec![0u8; id.note.len()];
    if memory.read_core_only(addr, &mut in_core) != Ok(in_core.len()) || in_core == id.note {
        return Ok(());
    }
    let (found, _) = elf::notes(&in_core);
    let core_id = elf::BuildId {
        file_offset: id.file_offset,
        note: in_core.clone(),
    };
    Err(CoreError::OtherProgram {
        core: core.to_path_buf(),
        program: program.to_path_buf(),
        core_id: if found.is_empty() {
            "missing".to_string()
        } else {
            core_id.display()
        },
        program_id: id.display(),
    })
}

impl MemorySource for Core {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize, MemError> {
        self.memory.read(addr, buf)
    }
}

impl Backend for Core {
    fn pid(&self) -> Pid {
        self.pid
    }

    /// As an attached process: the client detaches (`qAttached` says 1), and nothing is left
    /// behind either way.
    fn origin(&self) -> Origin {
        Origin::Attached
    }

    fn exe(&self) -> Option<&Path> {
        Some(&self.program)
    }

    fn stop_id(&self) -> u64 {
        self.stop_id
    }

    fn is_running(&self) -> bool {
        false
    }

    /// No cache and no syscalls (the files are mapped): the bytes read are the bytes served,
    /// and the one stop a core has is the whole session.
    fn memory_stats(&self) -> MemoryStats {
        let total = CacheStats {
            bytes_served: self.memory.bytes_read(),
            ..CacheStats::default()
        };
        MemoryStats {
            last_stop: total,
            total,
            syscalls: SyscallCounters {
                bytes_read: total.bytes_served,
                ..SyscallCounters::default()
            },
        }
    }

    fn thread_ids(&self) -> Vec<Pid> {
        self.threads.keys().copied().collect()
    }

    fn has_thread(&self, tid: Pid) -> bool {
        self.threads.contains_key(&tid)
    }

    fn thread_name(&self, tid: Pid) -> Option<String> {
        (tid == self.pid && !self.psinfo.fname.is_empty()).then(|| self.psinfo.fname.clone())
    }

    fn gprs(&mut self, tid: Pid) -> Result<libc::user_regs_struct, ProcessError> {
        self.thread(tid)?.gprs.ok_or_else(|| {
            ProcessError::Core(CoreError::NoRegisters {
                core: self.path.clone(),
                tid: tid.as_raw(),
            })
        })
    }

    fn gprs_if_read(&self, tid: Pid) -> Option<libc::user_regs_struct> {
        self.threads.get(&tid)?.gprs
    }

    fn fs_base_seen(&self, tid: Pid) -> Option<u64> {
        Some(self.threads.get(&tid)?.gprs?.fs_base)
    }

    fn xstate(&mut self, tid: Pid) -> Result<&XState, ProcessError> {
        self.gprs(tid)?;
        Ok(&self.thread(tid)?.xstate)
    }

    fn edit_registers(
        &mut self,
        _tid: Pid,
        _edit: &mut dyn FnMut(&mut libc::user_regs_struct, &mut XState),
    ) -> Result<(), ProcessError> {
        self.refuse("write registers")
    }

    fn siginfo(&self, tid: Pid) -> Result<[u8; SIGINFO_SIZE], ProcessError> {
        self.thread(tid)?.siginfo.ok_or_else(|| {
            ProcessError::Core(CoreError::NoSiginfo {
                core: self.path.clone(),
                tid: tid.as_raw(),
            })
        })
    }

    fn set_siginfo(&mut self, _tid: Pid, _info: &[u8; SIGINFO_SIZE]) -> Result<(), ProcessError> {
        self.refuse("write siginfo")
    }

    fn write_memory(&mut self, _addr: u64, _data: &[u8]) -> Result<(), ProcessError> {
        self.refuse("write memory")
    }

    fn add_sw_breakpoint(&mut self, addr: u64) -> Result<(), MemError> {
        self.breakpoints.insert(addr);
        Ok(())
    }

    fn remove_sw_breakpoint(&mut self, addr: u64) -> bool {
        self.breakpoints.remove(&addr)
    }

    fn add_hw(&mut self, _addr: u64, _len: u64, _kind: HwKind) -> Result<(), HwError> {
        Err(HwError::NoFreeSlot)
    }

    fn remove_hw(&mut self, _addr: u64, _len: u64, _kind: HwKind) -> bool {
        false
    }

    fn clear_actions(&mut self) {}

    fn set_action(&mut self, tid: Pid, _action: Action) -> Result<(), ProcessError> {
        self.thread(tid).map(drop)
    }

    fn lock_scheduler(&mut self) {}

    fn resume(&mut self) -> Result<(), ProcessError> {
        self.refuse("resume (continue, step or deliver a signal)")
    }

    fn interrupt(&mut self) {}

    fn poll_stop(&mut self) -> Result<Option<StopEvent>, ProcessError> {
        Ok(None)
    }

    fn has_pending_event(&self) -> bool {
        false
    }

    fn other_breakpoint_hits(&self) -> &[Pid] {
        &[]
    }

    fn initial_stop(&self) -> Option<StopEvent> {
        // A core that names no signal (a gcore of a process gdb had stopped) says SIGTRAP, as
        // gdbstub's own `?` answer does.
        let sig = match self.stop.1 {
            0 => libc::SIGTRAP,
            sig => sig,
        };
        Some(StopEvent::Signal {
            tid: self.stop.0,
            sig,
        })
    }

    fn auxv(&self) -> Result<Vec<u8>, ProcessError> {
        Ok(self.auxv.clone())
    }

    fn link_map(&self) -> Result<LinkMap, ProcessError> {
        Ok(svr4::link_map(&mut CoreReader(&self.memory), &self.auxv)?)
    }

    fn process_info(&self) -> Result<ProcessInfo, ProcessError> {
        Ok(ProcessInfo {
            ppid: self.psinfo.ppid.into(),
            uid: self.psinfo.uid.into(),
            gid: self.psinfo.gid.into(),
        })
    }

    fn working_dir(&self) -> Result<PathBuf, ProcessError> {
        Err(ProcessError::NotRunning)
    }

    fn regions(&self) -> Result<Vec<Region>, ProcessError> {
        Ok(self.memory.regions())
    }

    fn detach(&mut self) -> Result<(), ProcessError> {
        Ok(())
    }

    fn kill(&mut self) {}

    fn release(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An x86_64 core: the ELF header, one PT_NOTE, and `notes` (type, descriptor) named CORE.
    fn synthetic_core(notes: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (n_type, desc) in notes {
            body.extend_from_slice(&5u32.to_le_bytes());
            body.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            body.extend_from_slice(&n_type.to_le_bytes());
            body.extend_from_slice(b"CORE\0\0\0\0");
            body.extend_from_slice(desc);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let mut f = vec![0u8; 64];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        f[16..18].copy_from_slice(&ET_CORE.to_le_bytes());
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[56..58].copy_from_slice(&1u16.to_le_bytes());
        let mut ph = vec![0u8; 56];
        ph[..4].copy_from_slice(&PT_NOTE.to_le_bytes());
        ph[8..16].copy_from_slice(&120u64.to_le_bytes());
        ph[32..40].copy_from_slice(&(body.len() as u64).to_le_bytes());
        f.extend(ph);
        f.extend(body);
        f
    }

    fn prstatus(tid: u32, with_regs: bool) -> Vec<u8> {
        let mut d = vec![0u8; if with_regs { 336 } else { 100 }];
        d[32..36].copy_from_slice(&tid.to_le_bytes());
        d
    }

    fn write(tag: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("gostub-core-{}-{tag}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn thread_without_registers_and_refusals() {
        let core = write(
            "noregs",
            &synthetic_core(&[(1, prstatus(10, true)), (1, prstatus(11, false))]),
        );
        let me = std::env::current_exe().unwrap();
        let mut c = Core::open(&core, Some(&me)).unwrap();
        assert_eq!(c.thread_ids(), [Pid::from_raw(10), Pid::from_raw(11)]);
        assert!(c.gprs(Pid::from_raw(10)).is_ok());
        let e = c.gprs(Pid::from_raw(11)).unwrap_err().to_string();
        assert!(
            e.contains(&core.display().to_string()) && e.contains("thread 11 has no registers"),
            "{e}"
        );
        assert!(c.xstate(Pid::from_raw(11)).is_err());
        assert!(matches!(
            c.write_memory(0, &[1]),
            Err(ProcessError::NotRunning)
        ));
        assert!(matches!(c.resume(), Err(ProcessError::NotRunning)));
        assert_eq!(
            c.initial_stop(),
            Some(StopEvent::Signal {
                tid: Pid::from_raw(10),
                sig: libc::SIGTRAP
            })
        );
        let _ = std::fs::remove_file(core);
    }

    #[test]
    fn truncated_and_threadless_cores_name_the_file() {
        let me = std::env::current_exe().unwrap();
        let whole = synthetic_core(&[(1, prstatus(10, true))]);
        let cut = write("cut", &whole[..whole.len() - 40]);
        let e = Core::open(&cut, Some(&me)).err().unwrap().to_string();
        assert!(
            e.contains("is a truncated core file") && e.contains("gostub-core-"),
            "{e}"
        );
        let empty = write("empty", &synthetic_core(&[]));
        let e = Core::open(&empty, Some(&me)).err().unwrap().to_string();
        assert!(e.contains("holds no thread"), "{e}");
        let e = Core::open(&me, None).err().unwrap().to_string();
        assert!(e.contains("is not a core file"), "{e}");
        let _ = std::fs::remove_file(cut);
        let _ = std::fs::remove_file(empty);
    }
}
