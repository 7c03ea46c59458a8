package unwind

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// userPageTables maps user page va to physical page pa with a 4-level
// table rooted at root (all in the test memory's shared space).
func userPageTables(mem *symtest.Memory, root, va, pa uint64) {
	next := root + 0x1000
	table := root
	for level := 4; level > 1; level-- {
		idx := va >> (12 + 9*uint(level-1)) & 0x1ff
		mem.WriteU64(table+idx*8, next|uPresent|0x6)
		table = next
		next += 0x1000
	}
	mem.WriteU64(table+(va>>12&0x1ff)*8, pa|uPresent|0x6)
}

func TestDecodeSyscallSynthetic(t *testing.T) {
	p, _ := userTask(t, orcV1)
	mem := p.Mem.(*symtest.Memory)
	types := p.Types.(*symtest.Types)
	// task->mm->pgd, direct map at page_offset_base.
	const (
		pageOffset = 0xffff888000000000
		mm         = 0xffff888000400000
		pgdPhys    = 0x500000
		strPhys    = 0x600000
		userStr    = 0x7ffd12345ff8 // crosses into the next page
		tbl        = 0xffffffff82200000
	)
	types.Struct("mm_struct", 128, symtest.F("pgd", types.Ptr(nil), 80))
	task := types.Get("struct task_struct")
	task.Members = append(task.Members, symtest.F("mm", types.Ptr(types.Get("struct mm_struct")), 48))
	mem.WriteU64(tTask+48, mm)
	mem.WriteU64(mm+80, pageOffset+pgdPhys)
	userPageTables(mem, pgdPhys, userStr&^0xfff, strPhys)
	userPageTables(mem, pgdPhys, userStr&^0xfff+0x1000, strPhys+0x1000)
	mem.Write(strPhys+userStr&0xfff, []byte("/opt/myapp/js/fire.js\x00"))
	// sys_call_table: 263 = unlinkat, others ni_syscall.
	ni := uint64(tText + 0x6000)
	unlinkat := uint64(tText + 0x6100)
	for i := uint64(0); i < 300; i++ {
		v := ni
		if i == 263 {
			v = unlinkat
		}
		mem.WriteU64(tbl+i*8, v)
	}
	ptregs := uint64(tStack + defaultThreadSize - 168)
	mem.WriteU64(ptregs+uint64(RegOrigAX)*8, 263)
	mem.WriteU64(ptregs+uint64(RegDI)*8, uint64(0xffffffffffffff9c)) // AT_FDCWD
	mem.WriteU64(ptregs+uint64(RegSI)*8, userStr)
	mem.WriteU64(ptregs+uint64(RegDX)*8, 0x200)

	syms := []symbols.Symbol{
		{Name: "page_offset_base", Addr: 0xffffffff82300000, Size: 8, Type: 'D'},
		{Name: "sys_call_table", Addr: tbl, Size: 300 * 8, Type: 'R'},
		{Name: "__x64_sys_ni_syscall", Addr: ni, Size: 0x100, Type: 'T'},
		{Name: "__x64_sys_unlinkat", Addr: unlinkat, Size: 0x100, Type: 'T'},
	}
	mem.WriteU64(0xffffffff82300000, pageOffset)
	all := append([]symbols.Symbol{}, syms...)
	for _, n := range p.Syms.Names() {
		s, _ := p.Syms.Lookup(n)
		all = append(all, s)
	}
	// Entry frames are named like the kernel's for DecodeSyscall.
	for i := range all {
		if all[i].Name == "entry_SYSCALL_64" {
			all[i].Name = "entry_SYSCALL_64_after_hwframe"
		}
	}
	p = symtest.Program(mem, types, symtest.NewSymbols(all...))
	task0 := taskObj(t, p)
	tr, err := Stack(p, task0)
	if err != nil || tr.Err != nil {
		t.Fatalf("unwind: %v %v", err, tr.Err)
	}
	sc, err := DecodeSyscall(p, task0, tr, SyscallOptions{})
	if err != nil || sc == nil {
		t.Fatalf("DecodeSyscall: %v %v", sc, err)
	}
	if got, want := sc.String(), `unlinkat(AT_FDCWD, "/opt/myapp/js/fire.js", AT_REMOVEDIR)`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The user page unmapped (its PTE in the last-level table at
	// pgdPhys+0x3000 cleared): the pointer is shown, with why.
	mem.WriteU64(pgdPhys+0x3000+(userStr>>12&0x1ff)*8, 0)
	sc, _ = DecodeSyscall(p, task0, tr, SyscallOptions{})
	if sc == nil || sc.Args[1].Text != "0x7ffd12345ff8" || sc.Args[1].Err == "" {
		t.Errorf("unmapped path: %+v", sc)
	}
}

func TestRenderArg(t *testing.T) {
	fdPath := func(_ symbols.Object, fd int) (string, error) { return "/mnt/w/data", nil }
	for _, c := range []struct {
		kind ArgKind
		v    uint64
		want string
	}{
		{ArgInt, 0xffffffff, "-1"},
		{ArgUint, 512, "512"},
		{ArgHex, 0, "0"},
		{ArgHex, 0x7ffc, "0x7ffc"},
		{ArgMode, 0o644, "0644"},
		{ArgOpenFlags, 0o2000101, "O_WRONLY|O_CREAT|O_CLOEXEC"},
		{ArgOpenFlags, 0, "O_RDONLY"},
		{ArgAtFlags, 0x1100, "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH"},
		{ArgAtFlags, 0, "0"},
		{ArgDirFD, 0xffffff9c, "AT_FDCWD"},
		{ArgDirFD, 3, "3</mnt/w/data>"},
		{ArgFD, 3, "3</mnt/w/data>"},
		{ArgSignal, 9, "SIGKILL"},
		{ArgFutexOp, 128, "FUTEX_WAIT_PRIVATE"},
		{ArgPath, 0, "NULL"},
	} {
		a := SyscallArg{Kind: c.kind, Value: c.v}
		renderArg(nil, symbols.Object{}, &a, func() (*userMem, error) { return nil, errNoMM }, 64, SyscallOptions{FDPath: fdPath})
		if a.Text != c.want {
			t.Errorf("kind %d value %#x: %q, want %q", c.kind, c.v, a.Text, c.want)
		}
	}
}

func TestSyscallBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"__x64_sys_unlinkat": "unlinkat", "__ia32_compat_sys_openat": "openat",
		"__ia32_sys_write": "write", "__x64_sys_ni_syscall": "", "sys_ni_syscall": "", "foo": "",
		"__arm64_sys_ftruncate": "ftruncate", "__arm64_sys_ni_syscall": "", "__arm64_compat_sys_openat": "openat",
	} {
		if got := syscallBaseName(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
