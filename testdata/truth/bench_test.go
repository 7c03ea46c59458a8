package truth

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse parses a record the size of the 10,000-thread guest's.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("KWALK-TRUTH-BEGIN\nmeta release=6.1.0-50-cloud-amd64\n")
	sb.WriteString("26 1 0:24 / /mnt/w rw,nosuid - fuse.hangfs hangfs-hang-write rw\nfuseconn 24 waiting=1\n")
	for i := 1; i <= 10000; i++ {
		fmt.Fprintf(&sb, "task tid=%d pid=100 comm=hangfs state=S SigPnd:=0000000000000000 ShdPnd:=0000000000000000 ppid=1 flags=0x400040\n", i)
		sb.WriteString("  stack [<0>] pipe_read+0x318/0x450\n  stack [<0>] vfs_read+0x23f/0x310\n  stack [<0>] ksys_read+0x6b/0xf0\n")
		sb.WriteString("  stack [<0>] do_syscall_64+0x5d/0x90\n  stack [<0>] entry_SYSCALL_64_after_hwframe+0x6e/0xd8\n")
	}
	sb.WriteString("KWALK-TRUTH-END\nKWALK-SCENARIO-READY\n")
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Parse(strings.NewReader(in))
		if err != nil || len(r.Tasks) != 10000 {
			b.Fatal(err)
		}
	}
}
