package mm

import (
	"math/bits"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestVmemmapFromStacksARM64: where an arm64 kernel gives SYMBOL(vmemmap)
// in VMCOREINFO (7.x), the base found from the tasks' stacks (what kwalk
// uses on the 6.1 kernels, which do not) is the same.
func TestVmemmapFromStacksARM64(t *testing.T) {
	for _, d := range testdata.Arm64Dumps(t) {
		t.Run(d.ID(), func(t *testing.T) {
			r := testdata.RealDump{Name: d.ID(), Path: d.Path(testdata.FormatELF)}
			if r.Path == "" {
				t.Skipf("SKIP: %s has no ELF dump", d.ID())
			}
			p := walktest.OpenReal(t, r)
			want, ok := p.Dump.VMCoreInfo().Symbol("vmemmap")
			if !ok {
				t.Skipf("SKIP: %s: no SYMBOL(vmemmap) to compare with", d.ID())
			}
			pageSz, err := p.SizeOf("struct page")
			if err != nil {
				t.Fatal(err)
			}
			got, err := vmemmapFromStacks(p, pageSz, uint(bits.TrailingZeros64(p.PageSize())))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("vmemmap from the stacks %#x, VMCOREINFO says %#x", got, want)
			}
		})
	}
}
