package symbols

import (
	"errors"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
)

// TestBTFGeneratedDumps loads BTF from the memory of every generated
// "hangs" dump (5.10, 6.1, 6.12, sid): the structures the walkers need
// resolve, and struct fuse_conn resolves wherever the kernel can describe
// it — from vmlinux when FUSE is built in, from module BTF when it is a
// module — while 5.10, which has no module BTF, says so in a warning.
func TestBTFGeneratedDumps(t *testing.T) {
	for _, rd := range testdata.GeneratedDumps(t) { // current and earlier generator versions
		if rd.Generated.Guest.Name != testdata.GuestHangs {
			continue
		}
		path := rd.Path
		t.Run(rd.Name, func(t *testing.T) {
			d, err := kcore.Open(path, kcore.Options{})
			if err != nil {
				t.Fatalf("kcore.Open(%s): %v", path, err)
			}
			defer d.Close()
			syms, err := LoadKernelSymbols(d, d.VMCoreInfo(), SymbolOptions{})
			if err != nil {
				t.Fatalf("symbols: %v", err)
			}
			b, err := LoadBTFFromMemory(d, syms)
			if err != nil {
				t.Fatal(err)
			}
			checkDumpTypes(t, b, false)
			checkGlobals(t, b, syms)
			ts, _ := b.LookupType("struct task_struct")
			// include/linux/sched.h: "state" became "__state" in 5.14.
			if ts != nil && !ts.HasMember("__state") && !ts.HasMember("state") {
				t.Error("task_struct has neither __state nor state")
			}

			fc, fcErr := b.LookupType("struct fuse_conn")
			b.LoadModules() // a built-in fuse_conn did not need them: load them anyway
			mods := b.Modules()
			warns := b.Warnings()
			noModuleBTF := false
			for _, w := range warns {
				noModuleBTF = noModuleBTF || strings.Contains(w, "no module BTF")
			}
			switch {
			case fcErr == nil:
				// fs/fuse/fuse_i.h: entry on fuse_conn_list everywhere; the
				// input queue is fc->iq up to 6.x, behind fc->chan in 7.x.
				if !fc.HasMember("entry") || !(fc.HasMember("iq") || fc.HasMember("chan")) {
					t.Errorf("fuse_conn lacks entry, or both iq and chan: %d bytes", fc.Size)
				}
			case noModuleBTF && errors.Is(fcErr, ErrNoType):
				t.Logf("fuse_conn: %v (this kernel has no module BTF)", fcErr)
			default:
				t.Errorf("struct fuse_conn: %v (modules %v, warnings %q)", fcErr, mods, warns)
			}
			if noModuleBTF && len(mods) != 0 {
				t.Errorf("warned of no module BTF but loaded %v", mods)
			}
			if !noModuleBTF && len(mods) == 0 {
				t.Errorf("no module BTF loaded and no warning saying why: %q", warns)
			}
			t.Logf("%s; modules %v; warnings %q", b.Describe(), mods, warns)
		})
	}
}

// checkDumpTypes checks the walkers' structures in a dump's BTF: all of
// dumpTypeChecks on the 6.1 kernel they were written for (sixOne), else
// those every kernel has (FUSE and task_struct.__state vary: the callers
// check them).
func checkDumpTypes(t *testing.T, b *BTFTypes, sixOne bool) {
	t.Helper()
	for _, c := range dumpTypeChecks {
		if !sixOne && (strings.Contains(c.typ, "fuse") || c.member == "__state") {
			continue
		}
		ty, err := b.LookupType(c.typ)
		if err != nil {
			t.Errorf("%s: %v", c.typ, err)
			continue
		}
		var m Member
		ok := false
		for _, alt := range strings.Split(c.member, "|") {
			if m, ok = ty.FindMember(alt); ok {
				break
			}
		}
		if !ok {
			t.Errorf("%s has no member %s", c.typ, c.member)
			continue
		}
		if m.Offset >= ty.Size || m.Offset+m.Type.Resolve().Size > ty.Size {
			t.Errorf("%s.%s at %d (+%d) outside the struct of %d bytes", c.typ, c.member, m.Offset, m.Type.Resolve().Size, ty.Size)
		}
	}
}
