package repl

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/walktest"
)

// prstatusHeader is the start of an x86_64 NT_PRSTATUS note: namesz 5,
// descsz 336, type 1, "CORE".
var prstatusHeader = []byte{5, 0, 0, 0, 0x50, 1, 0, 0, 1, 0, 0, 0, 'C', 'O', 'R', 'E', 0}

// bt -a lists every CPU: with the second CPU's register note damaged (its
// size runs past the note area), CPU 1 is still shown, with the reason it
// cannot be unwound, and the dump warns of the damaged notes.
func TestBtAllCPUsDamagedNote(t *testing.T) {
	if _, err := os.Stat(realDumpPath); err != nil {
		t.Skipf("SKIP: real dump %s not present: %v", realDumpPath, err)
	}
	d, err := walktest.OpenDamaged(realDumpPath)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	head := make([]byte, 1<<20)
	n, err := d.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	first := bytes.Index(head[:n], prstatusHeader)
	second := -1
	if first >= 0 {
		if i := bytes.Index(head[first+1:n], prstatusHeader); i >= 0 {
			second = first + 1 + i
		}
	}
	if second < 0 {
		t.Skip("SKIP: no second NT_PRSTATUS note in the first MiB of the dump")
	}
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], 0x7fffff00)
	for i := range size {
		d.Flips[int64(second+4+i)] = size[i] ^ prstatusHeader[4+i]
	}
	p, err := d.Open("damaged-notes")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	s := NewSession(p, NewDefaultRegistry(), &out, &errb)
	if st := s.Exec(context.Background(), "bt -a"); st != ExitOK {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	text := out.String()
	if strings.Count(text, "PID: ") != 2 || !strings.Contains(text, "CPU: 1 ") {
		t.Errorf("bt -a does not list both CPUs:\n%s", text)
	}
	if !strings.Contains(text, "no saved registers for that CPU") || !strings.Contains(text, "the dump's CPU notes are damaged: ") {
		t.Errorf("CPU 1 does not say why it cannot be unwound:\n%s", text)
	}
	if w := strings.Join(p.Dump.Warnings(), "\n"); !strings.Contains(w, "damaged CPU notes") {
		t.Errorf("no warning of the damaged notes: %q", w)
	}
}
