package repl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/repl/internal/synth"
	"github.com/kwalk/kwalk/walkers/block"
)

// TestDevNetTreeBareKernel runs dev, net and tree on a kernel without the
// block, network or maple types: a clear error, never a panic.
func TestDevNetTreeBareKernel(t *testing.T) {
	k := synth.New()
	for _, line := range []string{"dev", "dev -d", "dev -D", "net", "net -s", "net -s 1", "tree -t maple 0",
		"tree 0x10", "tree -t xarray init_task", "tree -t maple -r 8 init_task", "tree -N -o 8 init_task", "dev extra"} {
		var out, errb bytes.Buffer
		s := NewSession(k.Prog, NewDefaultRegistry(), &out, &errb)
		s.Reg.SetTaskSource(nil)
		s.Exec(context.Background(), line)
		if strings.Contains(errb.String(), "internal error") {
			t.Errorf("%s: %s", line, errb.String())
		}
	}
}

// TestDevText checks the layouts of dev and dev -d.
func TestDevText(t *testing.T) {
	var b bytes.Buffer
	r := DevResult{CharDevs: []DevChar{{Major: 1, Name: "mem", CDev: 0xffff888001000000, Ops: "memory_fops"}, {Major: 4, Name: "tty"}},
		BlockDevs: []BlockMajor{{Major: 7, Name: "loop", Disk: 0xffff888002000000, Ops: "lo_fops"}}}
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CHRDEV  NAME  CDEV              OPERATIONS", "   1    mem   ffff888001000000  memory_fops",
		"   4    tty   (none)            (none)", "BLKDEV  NAME  GENDISK           OPERATIONS", "   7    loop  ffff888002000000  lo_fops"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dev lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	r = DevResult{disks: true, Disks: []DevDisk{{
		Disk:  &block.Disk{Addr: 0xffff888002000000, Name: "vda", Major: 253, Queue: 0xffff888003000000, MQ: true},
		Total: 1, Write: 1, Driver: "virtio_mq_ops",
		Queue: &DevQueue{Addr: 0xffff888003000000, MQ: true, Frozen: true, FreezeDepth: 1, Quiesced: true,
			HWQueues: []DevHWQueue{{Addr: 0xffff888004000000, Num: 0, NrTags: 128, Busy: 1}},
			InFlight: []DevRequest{{Addr: 0xffff888005000000, Tag: 3, Op: "WRITE", Sector: 2048, Bytes: 4096, AgeNS: 1500e6}}},
	}}}
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MAJOR  GENDISK           NAME  REQUEST_QUEUE     TOTAL  READ  WRITE  DRIVER         STATE",
		"  253  ffff888002000000  vda   ffff888003000000  1      0     1      virtio_mq_ops  frozen(1),quiesced",
		"vda: 1 hardware queues, scheduler none", "HCTX 0 ffff888004000000: tags 1/128 busy, 0 on dispatch",
		"ffff888005000000  0     3    WRITE  2048    4096   1.5s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dev -d lacks %q:\n%s", want, b.String())
		}
	}
}
