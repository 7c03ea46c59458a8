package testdata

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
)

// kdumpWantFormats are the files every kdump guest has (zstd only where
// the suite's makedumpfile has it: sid's 1.7.8, not bookworm's 1.7.2).
var kdumpWantFormats = []Format{FormatKdumpELF, FormatKdumpD31Zlib, FormatKdumpD31LZO}

// The guest table has kdump guests on the oldest and the newest kernel,
// one per trigger, and Filter.Trigger picks them.
func TestKdumpGuests(t *testing.T) {
	triggers := map[string]bool{}
	kernels := map[string]bool{}
	for _, g := range Guests {
		if m := (Filter{Trigger: TriggerAny}).match(g); m != g.IsKdump() {
			t.Errorf("%s/%s: Filter{Trigger: any} matches %v, IsKdump %v", g.Kernel, g.Name, m, g.IsKdump())
		}
		if !g.IsKdump() {
			continue
		}
		triggers[g.Trigger], kernels[g.Kernel] = true, true
		if len(KdumpPanicLines(g.Trigger)) == 0 {
			t.Errorf("%s/%s: no panic lines for trigger %q", g.Kernel, g.Name, g.Trigger)
		}
		if k, _ := KernelByID(g.Kernel); len(k.Kdump) == 0 {
			t.Errorf("%s/%s: kernel %s pins no kdump tools", g.Kernel, g.Name, g.Kernel)
		}
		for _, tr := range []string{TriggerHungTask, TriggerSysrqC, TriggerOops, TriggerSoftLockup} {
			if m := (Filter{Trigger: tr}).match(g); m != (tr == g.Trigger) {
				t.Errorf("%s/%s (trigger %s): Filter{Trigger: %s} matches %v", g.Kernel, g.Name, g.Trigger, tr, m)
			}
		}
		if (Filter{Kernel: g.Kernel, Trigger: g.Trigger, Scenario: ScenarioSquare}).match(g) != slices.Contains(g.Scenarios, ScenarioSquare) {
			t.Errorf("%s/%s: Filter with Scenario and Trigger", g.Kernel, g.Name)
		}
	}
	for _, tr := range []string{TriggerHungTask, TriggerSysrqC, TriggerOops, TriggerSoftLockup} {
		if !triggers[tr] {
			t.Errorf("no kdump guest with trigger %s", tr)
		}
	}
	for _, k := range []string{"6.1", "sid"} {
		if !kernels[k] {
			t.Errorf("no kdump guest on kernel %s", k)
		}
	}
	for _, g := range Guests {
		if !g.IsKdump() && (Filter{Trigger: TriggerSysrqC}).match(g) {
			t.Errorf("%s/%s: a trigger filter matches a guest QEMU dumps", g.Kernel, g.Name)
		}
	}
}

// Every kdump guest's dump: the files the capture kernel wrote, the
// console of both kernels, the crash notes.
func TestKdumpDumps(t *testing.T) {
	for _, d := range Require(t, Filter{Trigger: TriggerAny}) {
		t.Run(d.ID(), func(t *testing.T) {
			km := d.Kdump
			if km == nil {
				t.Fatalf("manifest has no Kdump")
			}
			if km.Trigger != d.Guest.Trigger {
				t.Errorf("manifest trigger %q, guest %q", km.Trigger, d.Guest.Trigger)
			}
			if k, ok := KernelByID(d.Guest.Kernel); ok && !slices.Equal(km.Tools, k.Kdump) {
				t.Errorf("made with tools %v, kernel %s pins %v", km.Tools, k.ID, k.Kdump)
			}
			if !strings.HasPrefix(km.Makedumpfile, "makedumpfile: version ") {
				t.Errorf("makedumpfile -v said %q", km.Makedumpfile)
			}
			want := kdumpWantFormats
			if _, ok := km.MadeBy[FormatKdumpD31Zstd]; ok {
				want = append(slices.Clone(want), FormatKdumpD31Zstd)
			}
			for _, f := range want {
				if d.Path(f) == "" {
					t.Errorf("no %s file", f)
				}
				if cmd := km.MadeBy[f]; !strings.Contains(cmd, "/proc/vmcore") {
					t.Errorf("%s made by %q", f, cmd)
				}
			}
			checkKdumpConsole(t, d)
			pid, who := kdumpPanicPID(t, d)
			var elfPIDs []int
			for _, f := range want {
				t.Run(string(f), func(t *testing.T) {
					pids := checkKdumpFile(t, d, f)
					if pid != 0 && !slices.Contains(pids, pid) {
						t.Errorf("no CPU note of the panicking task %d (%s): notes of pids %v", pid, who, pids)
					}
					if f == FormatKdumpELF {
						elfPIDs = pids
					} else if elfPIDs != nil && !slices.Equal(pids, elfPIDs) {
						t.Errorf("CPU notes of pids %v, the ELF copy of /proc/vmcore has %v", pids, elfPIDs)
					}
				})
			}
			if d.Guest.Trigger == TriggerOops {
				if busy := d.Truth.Roles["kdump.busy"]; !slices.Contains(elfPIDs, busy) {
					t.Logf("the busy dd (%d) was not on the other CPU when it stopped: notes of pids %v", busy, elfPIDs)
				}
			}
		})
	}
}

// kdumpPanicPID is the task that panicked the kernel, from the record:
// the trigger's thread (meta kdump.trigger_tid), or khungtaskd.
func kdumpPanicPID(t *testing.T, d *Dump) (int, string) {
	t.Helper()
	if d.Guest.Trigger == TriggerHungTask {
		for _, tk := range d.Truth.Tasks {
			if tk.Comm == "khungtaskd" {
				return tk.TID, "khungtaskd"
			}
		}
		t.Errorf("the record has no khungtaskd")
		return 0, ""
	}
	if d.Guest.Trigger == TriggerSoftLockup {
		// The spinner starts after the record: its pid is not there.
		return 0, "kwalk_spin"
	}
	tid, err := strconv.Atoi(d.Truth.Meta["kdump.trigger_tid"])
	if err != nil {
		t.Errorf("the record's meta kdump.trigger_tid: %v", err)
	}
	return tid, "meta kdump.trigger_tid"
}

// checkKdumpConsole: the record, then the trigger, the panic (or oops) the
// trigger makes, then the capture kernel's steps and its end.
func checkKdumpConsole(t *testing.T, d *Dump) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Dir, d.Console))
	if err != nil {
		t.Fatal(err)
	}
	con := string(b)
	end := strings.Index(con, "KWALK-TRUTH-END")
	trig := strings.Index(con, KdumpTriggerMarker+" "+d.Guest.Trigger)
	capt := strings.Index(con, KdumpCaptureMarker)
	if end < 0 || trig < end || capt < trig {
		t.Fatalf("console: record end at %d, %s at %d, %s at %d: want them in this order", end, KdumpTriggerMarker, trig, KdumpCaptureMarker, capt)
	}
	first := con[trig:capt]
	for _, l := range KdumpPanicLines(d.Guest.Trigger) {
		if !strings.Contains(first, l) {
			t.Errorf("the panicking kernel's console has no %q", l)
		}
	}
	// An oops goes to the capture kernel from oops_end, before panic().
	if got, want := strings.Contains(first, "Kernel panic - not syncing"), d.Guest.Trigger != TriggerOops; got != want {
		t.Errorf("trigger %s: \"Kernel panic - not syncing\" on the console: %v, want %v", d.Guest.Trigger, got, want)
	}
	if !strings.Contains(first, "Linux version "+d.Release) {
		t.Errorf("no boot of the capture kernel %s on the console", d.Release)
	}
	capture := con[capt:]
	if !strings.Contains(capture, KdumpDoneMarker) {
		t.Errorf("capture kernel did not say %s", KdumpDoneMarker)
	}
	steps := regexp.MustCompile(KdumpStepMarker+` (\S+) rc=(-?\d+) `).FindAllStringSubmatch(capture, -1)
	for f := range d.Files {
		ok := false
		for _, s := range steps {
			ok = ok || (s[1] == string(f) && s[2] == "0")
		}
		if !ok {
			t.Errorf("no successful %s step for %s on the console", KdumpStepMarker, f)
		}
	}
}

// checkKdumpFile opens one file with kcore and reads its notes itself; it
// returns the pids of the CPU notes, sorted.
func checkKdumpFile(t *testing.T, d *Dump, f Format) []int {
	t.Helper()
	path := d.Path(f)
	kd, err := kcore.Open(path, kcore.Options{})
	if err != nil {
		t.Fatalf("kcore.Open: %v", err)
	}
	defer kd.Close()
	if kd.VMCoreInfo() == nil {
		t.Errorf("no VMCOREINFO")
	}
	if kd.Release() != d.Release {
		t.Errorf("release %q, manifest %q", kd.Release(), d.Release)
	}
	if kd.Machine() != "x86_64" {
		t.Errorf("machine %q", kd.Machine())
	}
	var pids []int
	for _, c := range kd.CPUs() {
		pids = append(pids, c.PID)
	}
	slices.Sort(pids)
	if len(pids) != d.Guest.CPUs {
		t.Errorf("kcore: %d CPU notes, the guest has %d CPUs", len(pids), d.Guest.CPUs)
	}

	// The notes as written: the ELF's PT_NOTE, the kdump sub-header's
	// note area (offset_note, size_note).
	var notes []byte
	if f == FormatKdumpELF {
		notes = elfNotes(t, path)
	} else {
		notes = kdumpNotes(t, path)
	}
	var raw []int
	vmcoreinfo := false
	for _, n := range splitNotes(t, notes) {
		switch {
		case n.name == "CORE" && n.typ == uint32(elf.NT_PRSTATUS):
			if len(n.desc) < 36 {
				t.Errorf("short NT_PRSTATUS (%d bytes)", len(n.desc))
				continue
			}
			raw = append(raw, int(int32(binary.LittleEndian.Uint32(n.desc[32:])))) // pr_pid
		case n.name == "VMCOREINFO":
			vmcoreinfo = true
		}
	}
	slices.Sort(raw)
	if len(raw) != d.Guest.CPUs || !slices.Equal(raw, pids) {
		t.Errorf("NT_PRSTATUS notes of pids %v, kcore's CPUs %v, guest has %d CPUs", raw, pids, d.Guest.CPUs)
	}
	if f == FormatKdumpELF && !vmcoreinfo {
		t.Errorf("no VMCOREINFO note in the ELF")
	}
	return pids
}

type rawNote struct {
	name string
	typ  uint32
	desc []byte
}

func splitNotes(t *testing.T, b []byte) []rawNote {
	t.Helper()
	var out []rawNote
	for len(b) >= 12 {
		nsz, dsz, typ := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
		if nsz == 0 && dsz == 0 && typ == 0 {
			break
		}
		nEnd := 12 + (uint64(nsz)+3)&^3
		dEnd := nEnd + (uint64(dsz)+3)&^3
		if dEnd > uint64(len(b)) {
			t.Errorf("note %d runs past the note area", len(out))
			break
		}
		out = append(out, rawNote{strings.TrimRight(string(b[12:12+nsz]), "\x00"), typ, b[nEnd : nEnd+uint64(dsz)]})
		b = b[dEnd:]
	}
	return out
}

func elfNotes(t *testing.T, path string) []byte {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if ef.Type != elf.ET_CORE {
		t.Errorf("ELF type %v, want ET_CORE", ef.Type)
	}
	var notes []byte
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			notes = append(notes, b...)
		}
	}
	if notes == nil {
		t.Errorf("no PT_NOTE")
	}
	return notes
}

// kdumpNotes reads the note area of a makedumpfile kdump file
// (makedumpfile diskdump_mod.h: struct disk_dump_header, block_size at
// 428; struct kdump_sub_header in block 1: dump_level at 8, offset_note
// at 48, size_note at 56) and checks the dump level is 31.
func kdumpNotes(t *testing.T, path string) []byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var hdr [464]byte
	if _, err := io.ReadFull(fh, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hdr[:8], []byte("KDUMP   ")) {
		t.Fatalf("signature %q", hdr[:8])
	}
	le := binary.LittleEndian
	if v := le.Uint32(hdr[8:]); v < 4 {
		t.Errorf("header version %d: no notes before 4", v)
	}
	bs := int64(le.Uint32(hdr[428:]))
	var sub [64]byte
	if _, err := fh.ReadAt(sub[:], bs); err != nil {
		t.Fatal(err)
	}
	if lvl := int32(le.Uint32(sub[8:])); lvl != 31 {
		t.Errorf("dump level %d, want 31", lvl)
	}
	off, size := le.Uint64(sub[48:]), le.Uint64(sub[56:])
	if off == 0 || size == 0 || size > 1<<20 {
		t.Fatalf("sub-header notes at %d, %d bytes", off, size)
	}
	notes := make([]byte, size)
	if _, err := fh.ReadAt(notes, int64(off)); err != nil {
		t.Fatal(fmt.Errorf("notes: %w", err))
	}
	return notes
}
