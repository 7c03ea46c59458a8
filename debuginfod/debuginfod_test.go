package debuginfod

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// elfWithBuildID returns a minimal ELF64 file with one SHT_NOTE section
// (".notes", as in a vmlinux) holding a GNU build-id note, and pad bytes of
// filler so that downloads take more than one read.
func elfWithBuildID(id []byte, pad int) []byte {
	le := binary.LittleEndian
	var note []byte
	note = le.AppendUint32(note, 4)
	note = le.AppendUint32(note, uint32(len(id)))
	note = le.AppendUint32(note, ntGNUBuildID)
	note = append(note, "GNU\x00"...)
	note = append(note, id...)
	for len(note)%4 != 0 {
		note = append(note, 0)
	}
	shstr := []byte("\x00.notes\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	noteOff := ehsize
	strOff := noteOff + len(note)
	padOff := strOff + len(shstr)
	shOff := (padOff + pad + 7) &^ 7
	f := make([]byte, shOff+3*shentsize)
	copy(f, "\x7fELF")
	f[4], f[5], f[6] = 2, 1, 1 // ELFCLASS64, little-endian, EV_CURRENT
	le.PutUint16(f[16:], 1)    // ET_REL
	le.PutUint16(f[18:], 62)   // EM_X86_64
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[40:], uint64(shOff))
	le.PutUint16(f[52:], ehsize)
	le.PutUint16(f[58:], shentsize)
	le.PutUint16(f[60:], 3) // shnum
	le.PutUint16(f[62:], 2) // shstrndx
	copy(f[noteOff:], note)
	copy(f[strOff:], shstr)
	for i := 0; i < pad; i++ {
		f[padOff+i] = byte(i)
	}
	sh := func(i int, name, typ uint32, off, size int) {
		b := f[shOff+i*shentsize:]
		le.PutUint32(b[0:], name)
		le.PutUint32(b[4:], typ)
		le.PutUint64(b[24:], uint64(off))
		le.PutUint64(b[32:], uint64(size))
		le.PutUint64(b[48:], 1)
	}
	sh(1, 1, 7, noteOff, len(note)) // SHT_NOTE
	sh(2, 8, 3, strOff, len(shstr)) // SHT_STRTAB
	return f
}

var (
	testID    = bytes.Repeat([]byte{0xab, 0xcd}, 10)
	testIDHex = hex.EncodeToString(testID)
)

// server serves files by build-id on /buildid/HEX/debuginfo and counts
// requests.
func server(t *testing.T, files map[string][]byte, hits *atomic.Int32) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		id, ok := strings.CutPrefix(r.URL.Path, "/buildid/")
		id, ok2 := strings.CutSuffix(id, "/debuginfo")
		b, found := files[id]
		if !ok || !ok2 || !found {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestFileBuildID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, elfWithBuildID(testID, 0), 0o644)
	got, err := FileBuildID(p)
	if err != nil || got != testIDHex {
		t.Fatalf("FileBuildID = %q, %v; want %s", got, err, testIDHex)
	}
	os.WriteFile(p, []byte("not an ELF file"), 0o644)
	if _, err := FileBuildID(p); err == nil {
		t.Fatal("no error for a file that is not ELF")
	}
}

func TestFetch(t *testing.T) {
	file := elfWithBuildID(testID, 300<<10)
	other := elfWithBuildID(bytes.Repeat([]byte{0x11}, 20), 0)
	otherID := strings.Repeat("22", 20)
	var hits1, hits2 atomic.Int32
	empty := server(t, nil, &hits1)
	full := server(t, map[string][]byte{testIDHex: file, otherID: other}, &hits2)

	var prog bytes.Buffer
	c := &Client{URLs: []string{empty.URL, full.URL + "/"}, Cache: t.TempDir(), Progress: &prog}
	ctx := context.Background()

	path, err := c.Fetch(ctx, strings.ToUpper(testIDHex), Debuginfo, "vmlinux-test")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.Cache, testIDHex, "debuginfo"); path != want {
		t.Errorf("path %s, want elfutils' layout %s", path, want)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, file) {
		t.Errorf("cached file differs from the served one (%d bytes, want %d)", len(b), len(file))
	}
	if s := prog.String(); !strings.Contains(s, "vmlinux-test") || !strings.Contains(s, "MB/s") || !strings.Contains(s, "done") {
		t.Errorf("progress %q: want the name, a rate and the end", s)
	}
	if hits1.Load() != 1 || hits2.Load() != 1 {
		t.Errorf("requests %d, %d; want 1, 1 (the first server has nothing)", hits1.Load(), hits2.Load())
	}

	// From the cache: no request.
	if p2, err := c.Fetch(ctx, testIDHex, Debuginfo, ""); err != nil || p2 != path {
		t.Errorf("second Fetch = %s, %v", p2, err)
	}
	if hits2.Load() != 1 {
		t.Errorf("second Fetch asked the server again")
	}

	// A server that sends another build's file is refused.
	_, err = c.Fetch(ctx, otherID, Debuginfo, "wrong")
	if err == nil || !strings.Contains(err.Error(), "has build-id") {
		t.Errorf("wrong file: err %v, want a build-id mismatch", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.Cache, otherID)); len(ents) != 0 {
		t.Errorf("wrong file left in the cache: %v", ents)
	}

	// Not found anywhere: ErrNotFound, and a miss recorded (elfutils'
	// empty file) that stops the next asking.
	missing := strings.Repeat("33", 20)
	before := hits1.Load() + hits2.Load()
	if _, err := c.Fetch(ctx, missing, Debuginfo, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: err %v, want ErrNotFound", err)
	}
	if st, err := os.Stat(c.CachePath(missing, Debuginfo)); err != nil || st.Size() != 0 {
		t.Errorf("no miss record: %v", err)
	}
	if _, err := c.Fetch(ctx, missing, Debuginfo, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing again: err %v", err)
	}
	if n := hits1.Load() + hits2.Load() - before; n != 2 {
		t.Errorf("%d requests for a missing file asked twice, want 2 (the miss is remembered)", n)
	}

	if _, err := c.Fetch(ctx, "xyz", Debuginfo, ""); err == nil {
		t.Error("no error for a build-id that is not hex")
	}
}

// A damaged cache file (another build-id) is fetched again.
func TestFetchReplacesDamagedCache(t *testing.T) {
	var hits atomic.Int32
	s := server(t, map[string][]byte{testIDHex: elfWithBuildID(testID, 0)}, &hits)
	c := &Client{URLs: []string{s.URL}, Cache: t.TempDir()}
	p := c.CachePath(testIDHex, Debuginfo)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("garbage"), 0o644)
	if _, err := c.Fetch(context.Background(), testIDHex, Debuginfo, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := FileBuildID(p); got != testIDHex || hits.Load() != 1 {
		t.Errorf("cache holds build-id %q after %d requests", got, hits.Load())
	}
}

// Cancelling the context (Ctrl-C) ends a download at once and leaves
// nothing in the cache.
func TestFetchCancel(t *testing.T) {
	file := elfWithBuildID(testID, 1<<20)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Debuginfod-Size", "2000000")
		w.Write(file[:100<<10])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	}))
	defer s.Close()
	c := &Client{URLs: []string{s.URL}, Cache: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Fetch(ctx, testIDHex, Debuginfo, "")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
	ents, _ := os.ReadDir(filepath.Join(c.Cache, testIDHex))
	if len(ents) != 0 {
		t.Errorf("left in the cache: %v", ents)
	}
}

// A short body (the connection dropped) is not cached.
func TestFetchShort(t *testing.T) {
	file := elfWithBuildID(testID, 10<<10)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Debuginfod-Size", "999999")
		w.Write(file)
	}))
	defer s.Close()
	c := &Client{URLs: []string{s.URL}, Cache: t.TempDir()}
	if _, err := c.Fetch(context.Background(), testIDHex, Debuginfo, ""); err == nil || !strings.Contains(err.Error(), "bytes of 999999") {
		t.Errorf("err %v, want a short-read error", err)
	}
}

func TestDefaultCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	tests := []struct {
		cachePath, xdg, want string
	}{
		{"/c", "/x", "/c"},
		{"", "/x", "/x/debuginfod_client"},
		{"", "", filepath.Join(home, ".cache/debuginfod_client")},
	}
	for _, tt := range tests {
		t.Setenv("DEBUGINFOD_CACHE_PATH", tt.cachePath)
		t.Setenv("XDG_CACHE_HOME", tt.xdg)
		if got := DefaultCache(); got != tt.want {
			t.Errorf("DEBUGINFOD_CACHE_PATH=%q XDG_CACHE_HOME=%q: %s, want %s", tt.cachePath, tt.xdg, got, tt.want)
		}
	}
	t.Setenv("DEBUGINFOD_URLS", "")
	if FromEnv() != nil {
		t.Error("FromEnv without DEBUGINFOD_URLS is not nil")
	}
	t.Setenv("DEBUGINFOD_URLS", "http://a  https://b")
	if c := FromEnv(); c == nil || len(c.URLs) != 2 {
		t.Errorf("FromEnv = %+v", c)
	}
}
