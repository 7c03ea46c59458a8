package unwind

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// Syscall is the system call a task was in, decoded from the user pt_regs
// at the top of its kernel stack.
type Syscall struct {
	Nr   int64        `json:"nr"`   // pt_regs->orig_ax (x32 bit cleared)
	Name string       `json:"name"` // "unlinkat"; "" when the table does not say
	ABI  string       `json:"abi"`  // "x64", "ia32" or "x32"
	Args []SyscallArg `json:"args"`
	// UserIP and UserSP are where user space made the call.
	UserIP uint64 `json:"user_ip"`
	UserSP uint64 `json:"user_sp"`
}

// SyscallArg is one argument, raw and rendered.
type SyscallArg struct {
	Name  string  `json:"name,omitempty"`
	Kind  ArgKind `json:"-"`
	Value uint64  `json:"value"`
	// Text is the rendering: AT_FDCWD, 3</mnt/w/data>, "/etc/passwd",
	// O_RDONLY|O_CLOEXEC, 0644, 0x7ffc12345678.
	Text string `json:"text"`
	// Err says why a richer rendering failed (user page not in the dump,
	// unknown fd); Text then shows the raw value.
	Err string `json:"error,omitempty"`
}

// String renders the call: unlinkat(AT_FDCWD, "/opt/x", 0).
func (s *Syscall) String() string {
	var b strings.Builder
	name := s.Name
	if name == "" {
		name = fmt.Sprintf("syscall_%d", s.Nr)
	}
	b.WriteString(name)
	b.WriteByte('(')
	for i, a := range s.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Text)
	}
	b.WriteByte(')')
	return b.String()
}

// SyscallOptions tune argument rendering.
type SyscallOptions struct {
	// FDPath returns the path of the task's open file fd; nil shows bare
	// fd numbers.
	FDPath func(task symbols.Object, fd int) (string, error)
	// MaxString bounds user strings read (default 256).
	MaxString int
}

// User code segment selectors (arch/x86/include/asm/segment.h):
// __USER32_CS is 0x23, __USER_CS 0x33.
const user32CS = 0x23

// x32SyscallBit marks x32 calls in orig_ax (__X32_SYSCALL_BIT,
// arch/x86/include/uapi/asm/unistd.h).
const x32SyscallBit = 0x40000000

// syscallEntryFuncs are the C entry points of system calls
// (arch/x86/entry/common.c, syscall_64.c/syscall_32.c in 6.x); a trace
// through one of them ends at a syscall's pt_regs.
var syscallEntryFuncs = map[string]bool{
	"do_syscall_64": true, "do_int80_syscall_32": true, "do_fast_syscall_32": true,
	"do_SYSENTER_32": true, "do_int80_emulation": true,
}

// DecodeSyscall decodes the system call tr's task was in, from the user
// registers at the top of its stack: the number (orig_ax) named through the
// kernel's own sys_call_table and kallsyms, and the arguments (di, si, dx,
// r10, r8, r9; ia32: bx, cx, dx, si, di, bp) rendered by kind for the
// calls kwalk knows. It returns nil, nil when the task is not in a system
// call (a kernel thread, or interrupted in user mode).
func DecodeSyscall(p *symbols.Program, task symbols.Object, tr *Trace, opts SyscallOptions) (*Syscall, error) {
	if tr == nil || tr.UserRegs == nil || tr.UserRegs.Regs == nil || tr.UserRegs.Partial {
		return nil, nil
	}
	if tr.UserRegs.ARM64 != nil {
		return decodeARM64Syscall(p, task, tr, opts)
	}
	r := tr.UserRegs.Regs
	origAX, _ := r.Get(RegOrigAX)
	if int64(origAX) < 0 {
		return nil, nil
	}
	inSyscall := false
	for _, f := range tr.Frames {
		if syscallEntryFuncs[f.Symbol] || strings.HasPrefix(f.Symbol, "entry_SYSCALL") ||
			strings.HasPrefix(f.Symbol, "entry_SYSENTER") || strings.HasPrefix(f.Symbol, "entry_INT80") {
			inSyscall = true
		}
	}
	if !inSyscall {
		return nil, nil
	}
	sc := &Syscall{ABI: "x64", Nr: int64(origAX)}
	sc.UserIP, _ = r.Get(RegIP)
	sc.UserSP, _ = r.Get(RegSP)
	regs := []Reg{RegDI, RegSI, RegDX, RegR10, RegR8, RegR9}
	table := "sys_call_table"
	cs, _ := r.Get(RegCS)
	switch {
	case cs == user32CS:
		sc.ABI, table = "ia32", "ia32_sys_call_table"
		regs = []Reg{RegBX, RegCX, RegDX, RegSI, RegDI, RegBP}
		sc.Nr = int64(uint32(origAX))
	case origAX&x32SyscallBit != 0:
		sc.ABI, table = "x32", "x32_sys_call_table"
		sc.Nr = int64(origAX &^ x32SyscallBit)
	}
	names, err := syscallNames(p, table)
	if err != nil && sc.ABI == "x32" {
		names, err = syscallNames(p, "sys_call_table")
	}
	if err == nil && sc.Nr >= 0 && sc.Nr < int64(len(names)) {
		sc.Name = names[sc.Nr]
	}
	args := make([]uint64, 0, len(regs))
	for _, reg := range regs {
		v, _ := r.Get(reg)
		if sc.ABI == "ia32" {
			v = uint64(uint32(v))
		}
		args = append(args, v)
	}
	decodeArgs(p, task, sc, args, opts)
	return sc, nil
}

// arm64SyscallFuncs are the C entry points of arm64 system calls
// (arch/arm64/kernel/syscall.c, entry-common.c).
var arm64SyscallFuncs = map[string]bool{"el0_svc": true, "el0_svc_common": true, "do_el0_svc": true, "invoke_syscall": true, "el0_svc_compat": true}

// decodeARM64Syscall decodes an arm64 system call from the user pt_regs
// (arch/arm64/include/asm/ptrace.h): the number in syscallno (-1: none;
// regs[8] as the task passed it), the arguments in orig_x0 (x0 is
// overwritten by the return value) and x1-x5, named through
// sys_call_table (__arm64_sys_NAME; a 32-bit task's compat_sys_call_table
// is not decoded).
func decodeARM64Syscall(p *symbols.Program, task symbols.Object, tr *Trace, opts SyscallOptions) (*Syscall, error) {
	inSyscall := false
	for _, f := range tr.Frames {
		inSyscall = inSyscall || arm64SyscallFuncs[symbols.BaseName(f.Symbol)]
	}
	if !inSyscall {
		return nil, nil
	}
	a := tr.UserRegs.ARM64
	if a.PState&psrUsr32 != 0 {
		return nil, nil // AArch32 task: the compat table
	}
	regs, err := p.Object("struct pt_regs", tr.UserRegs.Addr)
	if err != nil {
		return nil, err
	}
	nr, err := regs.MemberUint("syscallno")
	if err != nil {
		return nil, err
	}
	if int32(nr) < 0 {
		return nil, nil
	}
	x0, err := regs.MemberUint("orig_x0")
	if err != nil {
		x0 = a.X[0]
	}
	sc := &Syscall{ABI: "arm64", Nr: int64(int32(nr)), UserIP: a.PC, UserSP: a.SP}
	if names, err := syscallNames(p, "sys_call_table"); err == nil && sc.Nr < int64(len(names)) {
		sc.Name = names[sc.Nr]
	}
	decodeArgs(p, task, sc, []uint64{x0, a.X[1], a.X[2], a.X[3], a.X[4], a.X[5]}, opts)
	return sc, nil
}

// decodeArgs renders the arguments of sc (values in argument order) by
// the call's prototype when kwalk knows it, else six hex words.
func decodeArgs(p *symbols.Program, task symbols.Object, sc *Syscall, args []uint64, opts SyscallOptions) {
	proto, known := syscallProtos[sc.Name]
	n := len(proto)
	if !known {
		n = 6
	}
	var um *userMem
	var umErr error
	umOnce := false
	user := func() (*userMem, error) {
		if !umOnce {
			umOnce = true
			um, umErr = newUserMem(p, task)
		}
		return um, umErr
	}
	maxStr := opts.MaxString
	if maxStr <= 0 {
		maxStr = 256
	}
	for i := 0; i < n && i < len(args); i++ {
		arg := SyscallArg{Value: args[i], Kind: ArgHex}
		if known {
			arg.Name, arg.Kind = proto[i].name, proto[i].kind
		}
		renderArg(p, task, &arg, user, maxStr, opts)
		sc.Args = append(sc.Args, arg)
	}
}

// renderArg fills arg.Text (and arg.Err) by kind.
func renderArg(p *symbols.Program, task symbols.Object, arg *SyscallArg, user func() (*userMem, error), maxStr int, opts SyscallOptions) {
	v := arg.Value
	hex := fmt.Sprintf("%#x", v)
	if v == 0 {
		hex = "0"
	}
	switch arg.Kind {
	case ArgInt:
		arg.Text = strconv.FormatInt(int64(int32(v)), 10)
	case ArgLong:
		arg.Text = strconv.FormatInt(int64(v), 10)
	case ArgUint:
		arg.Text = strconv.FormatUint(v, 10)
	case ArgHex:
		arg.Text = hex
	case ArgMode:
		arg.Text = "0" + strconv.FormatUint(v&0o7777, 8)
		if v&0o7777 == 0 {
			arg.Text = "0"
		}
	case ArgOpenFlags:
		arg.Text = openFlagsString(v)
	case ArgAtFlags:
		arg.Text = bitFlagsString(v, atFlagNames)
	case ArgSignal:
		if n := int(int32(v)); n > 0 && n <= 64 {
			arg.Text = sched.SignalName(n)
		} else {
			arg.Text = strconv.Itoa(n)
		}
	case ArgFutexOp:
		name, ok := futexOpNames[v&0x7f]
		if !ok {
			arg.Text = hex
			break
		}
		if v&128 != 0 {
			name += "_PRIVATE"
		}
		if v&256 != 0 {
			name += "|FUTEX_CLOCK_REALTIME"
		}
		arg.Text = name
	case ArgDirFD:
		if int32(v) == atFDCWD {
			arg.Text = "AT_FDCWD"
			break
		}
		fallthrough
	case ArgFD:
		fd := int(int32(v))
		arg.Text = strconv.Itoa(fd)
		if fd < 0 || opts.FDPath == nil {
			break
		}
		path, err := opts.FDPath(task, fd)
		if err != nil {
			arg.Err = err.Error()
			break
		}
		arg.Text = fmt.Sprintf("%d<%s>", fd, path)
	case ArgPath, ArgString:
		arg.Text = hex
		if v == 0 {
			arg.Text = "NULL"
			break
		}
		m, err := user()
		if err != nil {
			arg.Err = err.Error()
			break
		}
		s, trunc, err := m.readString(v, maxStr)
		if err != nil {
			arg.Err = fmt.Sprintf("user string at %#x: %v", v, err)
			break
		}
		arg.Text = strconv.Quote(s)
		if trunc {
			arg.Text += "..."
		}
	default:
		arg.Text = hex
	}
}

func openFlagsString(v uint64) string {
	var parts []string
	switch v & 3 {
	case 0:
		parts = append(parts, "O_RDONLY")
	case 1:
		parts = append(parts, "O_WRONLY")
	case 2:
		parts = append(parts, "O_RDWR")
	default:
		parts = append(parts, "O_ACCMODE")
	}
	rest := v &^ 3
	for _, f := range openFlagNames {
		if rest&f.bit == f.bit {
			parts = append(parts, f.name)
			rest &^= f.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#o", rest))
	}
	return strings.Join(parts, "|")
}

func bitFlagsString(v uint64, names []struct {
	bit  uint64
	name string
}) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	rest := v
	for _, f := range names {
		if rest&f.bit == f.bit {
			parts = append(parts, f.name)
			rest &^= f.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(parts, "|")
}

type syscallTableKey string

// maxSyscalls bounds a syscall table read (x86_64 has under 500).
const maxSyscalls = 2048

// syscallNames returns the names of a syscall table's entries, derived
// from the symbols its pointers name (arch/x86/entry/syscall_64.c: each
// entry is __x64_sys_<name>, __ia32_sys_<name> or __ia32_compat_sys_<name>;
// unused slots point at sys_ni_syscall and stay ""). Cached per Program.
func syscallNames(p *symbols.Program, table string) ([]string, error) {
	v, err := p.Memo(syscallTableKey(table), func() (any, error) { return loadSyscallNames(p, table) })
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

func loadSyscallNames(p *symbols.Program, table string) ([]string, error) {
	if p.Syms == nil {
		return nil, fmt.Errorf("%s: no symbols", table)
	}
	sym, err := p.Syms.Lookup(table)
	if err != nil {
		return nil, err
	}
	n := uint64(maxSyscalls)
	if sym.Size >= 8 && sym.Size/8 < n {
		n = sym.Size / 8
	}
	buf := make([]byte, n*8)
	// The symbol size may overstate the table (kallsyms sizes run to the
	// next symbol); read what is readable.
	for len(buf) > 0 {
		if err := p.Mem.ReadVirt(buf, sym.Addr); err == nil {
			break
		}
		buf = buf[:len(buf)/2&^7]
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("%s at %#x: unreadable", table, sym.Addr)
	}
	names := make([]string, len(buf)/8)
	for i := range names {
		ptr := binary.LittleEndian.Uint64(buf[i*8:])
		s, off, ok := p.Syms.LookupAddr(ptr)
		if !ok || off != 0 {
			names = names[:i] // past the end of the table
			break
		}
		names[i] = syscallBaseName(s.Name)
	}
	return names, nil
}

// syscallBaseName strips the ABI wrapper prefix from a syscall symbol
// (arch/x86/include/asm/syscall_wrapper.h).
func syscallBaseName(sym string) string {
	for _, pre := range []string{"__arm64_sys_", "__arm64_compat_sys_", "__x64_sys_", "__ia32_compat_sys_", "__ia32_sys_", "__x32_compat_sys_", "__x64_compat_sys_", "__se_sys_", "__do_sys_", "compat_sys_", "sys_"} {
		if strings.HasPrefix(sym, pre) {
			name := strings.TrimPrefix(sym, pre)
			if name == "ni_syscall" {
				return ""
			}
			return name
		}
	}
	return ""
}

// TaskFDPath returns the path of task's open file fd (task->files->fdt,
// then the file's f_path), as /proc/PID/fd shows it; a SyscallOptions.FDPath.
func TaskFDPath(task symbols.Object, fd int) (string, error) {
	p := task.Prog()
	files, err := task.MemberUint("files")
	if err != nil {
		return "", err
	}
	if files == 0 {
		return "", fmt.Errorf("fd %d: task has no files", fd)
	}
	slots, err := vfs.FDTable(p, files)
	for _, s := range slots {
		if s.FD == fd {
			return vfs.FilePath(p, s.File)
		}
	}
	if err != nil {
		return "", fmt.Errorf("fd %d: %w", fd, err)
	}
	return "", fmt.Errorf("fd %d is not open", fd)
}
