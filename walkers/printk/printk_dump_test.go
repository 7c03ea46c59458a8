package printk

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// consoleKernelLines returns the kernel messages the guest's console shows
// before the record: lines "[    1.234567] text".
func consoleKernelLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("SKIP: no console log %s: %v", path, err)
	}
	defer f.Close()
	re := regexp.MustCompile(`\[\s*\d+\.\d{6}\] .*`)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.Contains(line, "KWALK-TRUTH-BEGIN") {
			break
		}
		if m := re.FindString(line); m != "" {
			out = append(out, m)
		}
	}
	return out
}

func TestLogMatchesConsole(t *testing.T) {
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			recs, err := Log(p)
			if err != nil {
				t.Errorf("Log: %v", err)
			}
			if len(recs) == 0 {
				t.Fatal("no log records")
			}
			lines := make(map[string]bool)
			for i, r := range recs {
				for _, l := range r.Lines() {
					lines[l] = true
				}
				if i > 0 && r.Seq <= recs[i-1].Seq {
					t.Errorf("record %d: seq %d after %d", i, r.Seq, recs[i-1].Seq)
				}
				if r.Level < 0 || r.Level > 7 {
					t.Errorf("seq %d: level %d", r.Seq, r.Level)
				}
			}
			// The boot banner names the release VMCOREINFO gives. It
			// is the first record, or on arm64 the second: start_kernel
			// calls smp_setup_processor_id first, whose arm64 version
			// prints "Booting Linux on physical CPU" (init/main.c,
			// arch/arm64/kernel/setup.c).
			if p.Dump != nil && p.Dump.VMCoreInfo() != nil && recs[0].Seq == 0 {
				rel := p.Dump.VMCoreInfo().OSRelease()
				banner := recs[0]
				if strings.HasPrefix(banner.Text, "Booting Linux on physical CPU") && len(recs) > 1 {
					banner = recs[1]
				}
				if !strings.HasPrefix(banner.Text, "Linux version "+rel) {
					t.Errorf("first record %q is not the banner of %s", banner.Text, rel)
				}
			}
			con := consoleKernelLines(t, d.Console)
			missing := 0
			for _, c := range con {
				if !lines[c] {
					missing++
					if missing <= 5 {
						t.Errorf("console line %q not in the log", c)
					}
				}
			}
			t.Logf("%d records (seq %d..%d), %d console kernel lines, %d missing", len(recs), recs[0].Seq, recs[len(recs)-1].Seq, len(con), missing)
		})
	}
}
