package kcore

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenSpecialFiles: a FIFO, a socket or a character device given as
// the dump is refused at once with an error naming the file and what it
// is; nothing blocks in open(2) (a FIFO without a writer would).
func TestOpenSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "vmcore.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "vmcore.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		path, want string
	}{
		{fifo, "is a FIFO (named pipe)"},
		{sock, "is a socket"},
		{"/dev/null", "is a character device"},
		{dir, "is a directory"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				t.Skip(err)
			}
			type result struct {
				d   *Dump
				err error
			}
			done := make(chan result, 1)
			go func() {
				d, err := Open(tc.path, Options{})
				done <- result{d, err}
			}()
			select {
			case r := <-done:
				if r.err == nil {
					r.d.Close()
					t.Fatal("Open succeeded")
				}
				if !strings.Contains(r.err.Error(), tc.path) || !strings.Contains(r.err.Error(), tc.want) {
					t.Errorf("error %q should name %s and say %q", r.err, tc.path, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Open blocked")
			}
		})
	}
}
