package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// keyedInfo is a mapInfo that lists its keys, as *kcore.VMCoreInfo does.
type keyedInfo struct{ mapInfo }

func (k *keyedInfo) Keys() []string {
	var out []string
	for n := range k.syms {
		out = append(out, "SYMBOL("+n+")")
	}
	sort.Strings(out)
	return out
}

// Synthetic image: text, read-only data (the export table), init text,
// then data.
const (
	dsStext     = 0xffff800008000000
	dsEtext     = dsStext + 0x10000
	dsSinittext = dsEtext + 0x8000
	dsEinittext = dsSinittext + 0x1000
	dsData      = dsEinittext + 0x10000
	dsKsymtab   = dsEtext + 0x1000
	dsKstrtab   = dsEtext + 0x5000
)

// dsText returns the text symbols of the synthetic image.
func dsText(n int) []Symbol {
	syms := []Symbol{
		{Name: "_stext", Addr: dsStext, Type: 'T'},
		{Name: "_etext", Addr: dsEtext, Type: 'T'},
		{Name: "_sinittext", Addr: dsSinittext, Type: 'T'},
		{Name: "_einittext", Addr: dsEinittext, Type: 'T'},
	}
	for i := 0; i < n; i++ {
		syms = append(syms, Symbol{Name: fmt.Sprintf("func_%03d", i), Addr: dsStext + 0x100 + uint64(i)*0x100, Type: 'T'})
	}
	return syms
}

// writeKsymtab lays out an export table of the functions and vars (sorted
// by name, as the linker does) in lay's format.
func writeKsymtab(m *sparseMem, lay ksymLayout, funcs []Symbol, vars map[string]uint64) {
	type ent struct {
		name string
		val  uint64
	}
	var ents []ent
	for _, f := range funcs {
		if strings.HasPrefix(f.Name, "func_") {
			ents = append(ents, ent{f.Name, f.Addr})
		}
	}
	for n, v := range vars {
		ents = append(ents, ent{n, v})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	str := uint64(dsKstrtab)
	m.write(str, []byte{0}) // the empty namespace
	empty := str
	str++
	for i, e := range ents {
		at := dsKsymtab + uint64(i)*lay.stride
		name := str
		m.write(name, append([]byte(e.name), 0))
		str += uint64(len(e.name)) + 1
		b := make([]byte, lay.stride)
		if lay.rel {
			binary.LittleEndian.PutUint32(b, uint32(int32(int64(e.val-at))))
			binary.LittleEndian.PutUint32(b[4:], uint32(int32(int64(name-(at+4)))))
			if lay.stride == 12 {
				binary.LittleEndian.PutUint32(b[8:], uint32(int32(int64(empty-(at+8)))))
			}
		} else {
			binary.LittleEndian.PutUint64(b, e.val)
			binary.LittleEndian.PutUint64(b[8:], name)
			if lay.stride == 24 {
				binary.LittleEndian.PutUint64(b[16:], empty)
			}
		}
		m.write(at, b)
	}
}

func TestScanKsymtab(t *testing.T) {
	vars := map[string]uint64{
		"init_task":        dsData + 0x1000,
		"func_010_data":    dsData + 0x2000, // sorts among the functions
		"__per_cpu_offset": dsData + 0x3000,
		"cpu_number":       dsSinittext + 0x2000, // per-CPU, in the init section
	}
	tests := []struct {
		name    string
		lay     ksymLayout
		funcs   int
		hole    bool // a page of the table unreadable
		wantErr bool
	}{
		{"prel32 with namespace", ksymLayout{true, 12}, 40, false, false},
		{"prel32 before 5.4", ksymLayout{true, 8}, 40, false, false},
		{"absolute with namespace", ksymLayout{false, 24}, 40, false, false},
		{"absolute before 5.4", ksymLayout{false, 16}, 40, false, false},
		{"too few entries to be a table", ksymLayout{true, 12}, 5, false, true},
		{"unreadable page in the rodata", ksymLayout{true, 12}, 40, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSparseMem()
			text := dsText(tc.funcs)
			// Read-only data pages exist (zero) around the table.
			for a := uint64(dsEtext); a < dsSinittext; a += 4096 {
				m.write(a, make([]byte, 4096))
			}
			writeKsymtab(m, tc.lay, text, vars)
			if tc.hole {
				delete(m.pages, dsEtext+0x7000)
			}
			syms := NewSymTable("test kallsyms", text, nil)
			img, err := imageLayoutOf(syms, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := scanKsymtab(m, syms, img)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotMap := map[string]uint64{}
			for _, s := range got {
				gotMap[s.Name] = s.Addr
			}
			if len(gotMap) != len(vars) {
				t.Errorf("found %v, want %v", gotMap, vars)
			}
			for n, v := range vars {
				if gotMap[n] != v {
					t.Errorf("%s at %#x, want %#x", n, gotMap[n], v)
				}
			}
		})
	}
}

func TestVMCoreInfoSymbols(t *testing.T) {
	info := &keyedInfo{mapInfo{syms: map[string]uint64{
		"prb":             dsData + 0x100,
		"init_uts_ns":     dsData + 0x200,
		"swapper_pg_dir":  dsEtext + 0x100,
		"mem_section":     0xffff00001fedd380, // SPARSEMEM_EXTREME: the pointer's value
		"kallsyms_names":  dsEtext + 0x200,
		"_stext":          dsStext,
		"node_online_map": dsData + 0x300,
	}}}
	img := imageLayout{stext: dsStext, etext: dsEtext, sinittext: dsSinittext, einittext: dsEinittext}
	got := map[string]uint64{}
	for _, s := range vmcoreinfoSymbols(info, img) {
		got[s.Name] = s.Addr
	}
	want := map[string]uint64{"prb": dsData + 0x100, "init_uts_ns": dsData + 0x200, "swapper_pg_dir": dsEtext + 0x100, "node_online_map": dsData + 0x300}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if s := vmcoreinfoSymbols(nil, img); s != nil {
		t.Errorf("no VMCOREINFO gave %v", s)
	}
}

func TestDataSymTableMissing(t *testing.T) {
	ds := newDataSymTable(NewSymTable("test kallsyms", dsText(3), nil), newSparseMem(), nil)
	ds.add(srcKsymtab, []Symbol{{Name: "init_task", Addr: dsData, Type: 'D'}, {Name: "func_001", Addr: 1, Type: 'D'}})
	ds.note("modules list: none found")
	tables := []struct {
		name string
		t    SymbolTable
	}{
		{"alone", ds},
		{"with modules", CombineTables(ds, NewSymTable("modules", []Symbol{{Name: "fuse_simple_request", Addr: 0xffff800001000000, Type: 't', Module: "fuse"}}, nil))},
	}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := tc.t.Lookup("init_task"); err != nil || s.Addr != dsData {
				t.Errorf("init_task: %v %v", s, err)
			}
			// kallsyms wins over a found symbol of the same name.
			if s, err := tc.t.Lookup("func_001"); err != nil || s.Addr == 1 {
				t.Errorf("func_001: %v %v", s, err)
			}
			_, err := tc.t.Lookup("worker_pool_idr")
			var me *MissingDataSymbolError
			if !errors.Is(err, ErrNoSymbol) || !errors.As(err, &me) {
				t.Fatalf("worker_pool_idr: %v", err)
			}
			for _, w := range []string{"worker_pool_idr", "--system-map", "CONFIG_KALLSYMS_ALL", "modules list: none found"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if d := ds.Describe(); !strings.Contains(d, "1 data symbols found") {
		t.Errorf("Describe: %s", d)
	}
}

func TestPerCPUStartVotes(t *testing.T) {
	offs := map[string]uint64{"cpu_number": 0x8, "this_cpu_vector": 0, "runqueues": 0x13a40}
	tests := []struct {
		name    string
		found   []Symbol
		want    uint64
		wantErr string
	}{
		{"one exported", []Symbol{{Name: "cpu_number", Addr: 0x9008}}, 0x9000, ""},
		{"two agree", []Symbol{{Name: "cpu_number", Addr: 0x9008}, {Name: "this_cpu_vector", Addr: 0x9000}}, 0x9000, ""},
		{"two disagree", []Symbol{{Name: "cpu_number", Addr: 0x9008}, {Name: "this_cpu_vector", Addr: 0xa000}}, 0, "disagree"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDataSymTable(NewSymTable("k", dsText(1), nil), newSparseMem(), nil)
			ds.add(srcKsymtab, tc.found)
			got, _, err := perCPUStart(nil, ds, offs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %#x, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %#x, %v; want %#x", got, err, tc.want)
			}
		})
	}
}
