package waitfor_test

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/waitfor"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// corruptFormats are the formats TestDeadlockCorruptDumps damages, one
// generated dump each: ELF (physical and paging), QEMU's flattened kdump,
// the plain kdump made from it, makedumpfile's own, and a filtered one.
var corruptFormats = []testdata.Format{
	testdata.FormatELF, testdata.FormatELFPaging, testdata.FormatKdumpZlibFlat, testdata.FormatKdumpZlib,
	testdata.FormatMakedumpfileLZO, testdata.FormatMakedumpfileZlib31,
}

// corruptCuts are where the damaged copies end, in thousandths of the
// file: denser in the upper half, where the kernel's symbols and types are
// still there and the tasks, stacks and locks start to go missing.
var corruptCuts = []int64{1, 100, 300, 500, 600, 700, 800, 850, 900, 950, 975, 990, 999}

// corruptCaseTimeout bounds one open and analysis of a damaged dump.
const corruptCaseTimeout = 30 * time.Second

// verdict is what a deadlock report concludes: its status, how many
// cycles, and the kinds of its chains' roots.
type verdict struct {
	status string
	cycles int
	roots  string
}

func verdictOf(r *waitfor.DeadlockReport) verdict {
	var kinds []string
	for _, c := range r.Chains {
		kinds = append(kinds, c.Root.Kind)
	}
	sort.Strings(kinds)
	return verdict{r.Status, r.Cycles, strings.Join(kinds, ",")}
}

// explicitlyIncomplete reports whether r says it did not see everything:
// the report is incomplete, or a chain rests on memory the dump lacks.
func explicitlyIncomplete(r *waitfor.DeadlockReport) bool {
	if r.Status == "incomplete" || r.Status == "error" {
		return true
	}
	for _, c := range r.Chains {
		if c.Root.Incomplete {
			return true
		}
	}
	return false
}

// corruptCase is one damaged copy: cut at Size, or with bits flipped.
type corruptCase struct {
	name  string
	cut   int64
	flips map[int64]byte
}

// TestDeadlockCorruptDumps damages one generated dump of each format —
// cut short at a sweep of points, and with bits flipped in its headers and
// page data — without copying it (walktest.Damaged reads the file through
// the damage), and checks that kwalk neither panics nor hangs, and that
// its deadlock verdict is the intact dump's or says it is incomplete (an
// error to open counts): never "nothing is stuck" when something is.
func TestDeadlockCorruptDumps(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short")
	}
	dumps := testdata.GeneratedDumps(t)
	start := time.Now()
	cases := 0
	for _, f := range corruptFormats {
		path, name := corruptDumpFor(dumps, f)
		if path == "" {
			t.Logf("MISSING: no generated hangs dump in format %s: not damaged", f)
			continue
		}
		t.Run(string(f), func(t *testing.T) {
			d, err := walktest.OpenDamaged(path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			intact := runDamaged(t, d, name)
			if intact.err != nil {
				t.Fatalf("intact %s: %v", path, intact.err)
			}
			want := verdictOf(intact.rep)
			if want.status == "ok" || want.status == "error" {
				t.Fatalf("intact %s: status %s: the test needs a dump where something is stuck", path, want.status)
			}
			for _, c := range damagedCases(d) {
				cases++
				d.Size, d.Flips = c.cut, c.flips
				got := runDamaged(t, d, fmt.Sprintf("%s (%s)", name, c.name))
				// The last 0.1% of a file may hold nothing the dump uses
				// (a QEMU paging dump ends with its section names).
				lost := c.cut <= d.FullSize()*990/1000 || (got.rep != nil && verdictOf(got.rep) != want)
				if got.err == nil && c.cut < d.FullSize() && lost && !got.truncated {
					t.Errorf("%s: the dump opened without saying it is truncated", c.name)
				}
				switch {
				case got.err != nil:
					t.Logf("%s: error: %.200s", c.name, got.err)
				case verdictOf(got.rep) == want:
					t.Logf("%s: as intact: %s", c.name, got.rep.Status)
				case got.rep.Status == "ok":
					t.Errorf("%s: nothing is stuck, but the intact dump is %s", c.name, want.status)
				case !explicitlyIncomplete(got.rep):
					t.Errorf("%s: verdict %+v, the intact dump's is %+v, and the report does not say it is incomplete", c.name, verdictOf(got.rep), want)
				default:
					u := ""
					if got.rep.Unexamined != nil {
						u = got.rep.Unexamined.Summary
					}
					t.Logf("%s: %s (%d cycles, %d chains) %.160s", c.name, got.rep.Status, got.rep.Cycles, len(got.rep.Chains), u)
				}
			}
			d.Size, d.Flips = d.FullSize(), map[int64]byte{}
		})
	}
	t.Logf("%d damaged dumps in %v", cases, time.Since(start).Round(time.Millisecond))
}

// corruptDumpFor picks a generated dump with the staged hangs in format f,
// the 6.1 kernel's first.
func corruptDumpFor(dumps []testdata.RealDump, f testdata.Format) (path, name string) {
	for _, pass := range []bool{true, false} {
		for _, r := range dumps {
			g := r.Generated
			if g == nil || !r.Has(testdata.ScenarioSquare) || (pass && g.Guest.Kernel != "6.1") {
				continue
			}
			if p := g.Path(f); p != "" {
				return p, r.Name + "/" + string(f)
			}
		}
	}
	return "", ""
}

// damagedCases are the cuts and bit flips of d: flips in the first
// header (ELF e_shoff, kdump utsname; ELF program headers, kdump
// bitmap_blocks), at 1/64 of the file (bitmaps, page descriptors or low
// memory) and in page data.
func damagedCases(d *walktest.Damaged) []corruptCase {
	full := d.FullSize()
	var out []corruptCase
	for _, m := range corruptCuts {
		out = append(out, corruptCase{name: fmt.Sprintf("cut at %d.%d%%", m/10, m%10), cut: full * m / 1000, flips: map[int64]byte{}})
	}
	flips := []int64{40, 0x1b4, full / 64, full / 2, full * 3 / 4, full * 15 / 16}
	if at, ok := kdumpBitmapBit(d, 15, 16); ok {
		// A bit of the 2nd bitmap in high memory (slab: tasks, locks):
		// every later page then reads through its neighbour's descriptor.
		flips = append(flips, at)
	}
	for _, at := range flips {
		out = append(out, corruptCase{name: fmt.Sprintf("bit flipped at %#x", at), cut: full, flips: map[int64]byte{at: 0x10}})
	}
	return out
}

// kdumpBitmapBit is the offset in a plain kdump-compressed file of the 2nd
// bitmap's byte for PFN max_mapnr*num/den (struct disk_dump_header, little
// endian: block_size at 428, sub_hdr_size 432, bitmap_blocks 436,
// max_mapnr 440).
func kdumpBitmapBit(d *walktest.Damaged, num, den int64) (int64, bool) {
	var h [444]byte
	if _, err := d.ReadAt(h[:], 0); err != nil || string(h[:8]) != "KDUMP   " {
		return 0, false
	}
	le := binary.LittleEndian
	bs, sub := int64(le.Uint32(h[428:])), int64(le.Uint32(h[432:]))
	blocks, maxMapnr := int64(le.Uint32(h[436:])), int64(le.Uint32(h[440:]))
	bitmap2 := (1+sub)*bs + blocks/2*bs
	return bitmap2 + maxMapnr*num/den/8, true
}

type damagedResult struct {
	rep *waitfor.DeadlockReport
	err error
	// truncated: the dump said at open that the file is cut short.
	truncated bool
}

// runDamaged opens the damaged dump and analyses it, failing the test on
// a panic or when it takes longer than corruptCaseTimeout.
func runDamaged(t *testing.T, d *walktest.Damaged, name string) damagedResult {
	t.Helper()
	done := make(chan damagedResult, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- damagedResult{err: fmt.Errorf("PANIC: %v\n%s", r, debug.Stack())}
			}
		}()
		p, err := d.Open(name)
		if err != nil {
			done <- damagedResult{err: err}
			return
		}
		defer p.Dump.Close()
		rep, err := waitfor.Deadlock(p)
		if err != nil && rep != nil && rep.Status != "error" {
			err = fmt.Errorf("Deadlock returned %v with status %s", err, rep.Status)
		}
		done <- damagedResult{rep: rep, err: err, truncated: p.Dump.Truncation() != nil}
	}()
	select {
	case r := <-done:
		if r.err != nil && strings.HasPrefix(r.err.Error(), "PANIC") {
			t.Fatalf("%s: %v", name, r.err)
		}
		if r.err == nil && r.rep == nil {
			t.Fatalf("%s: no report and no error", name)
		}
		return r
	case <-time.After(corruptCaseTimeout):
		t.Fatalf("%s: no answer after %v (a hang?)", name, corruptCaseTimeout)
		return damagedResult{}
	}
}
