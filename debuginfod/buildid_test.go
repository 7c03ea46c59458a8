package debuginfod

import (
	"encoding/binary"
	"testing"
)

func noteBytes(name string, typ uint32, desc []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, 12)
	le.PutUint32(b, uint32(len(name)+1))
	le.PutUint32(b[4:], uint32(len(desc)))
	le.PutUint32(b[8:], typ)
	n := append([]byte(name), 0)
	for len(n)%4 != 0 {
		n = append(n, 0)
	}
	d := append([]byte(nil), desc...)
	for len(d)%4 != 0 {
		d = append(d, 0)
	}
	return append(append(b, n...), d...)
}

// TestNotesBuildID: the GNU build-id note among others in a run of notes
// (a module's .note.gnu.build-id section, /sys/kernel/notes); damaged runs
// give none.
func TestNotesBuildID(t *testing.T) {
	id := []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	good := noteBytes("GNU", 3, id)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"alone", good, "deadbeef0102030405060708090a0b0c0d0e0f10"},
		{"after another note", append(noteBytes("Linux", 0x100, []byte{1, 2, 3}), good...), "deadbeef0102030405060708090a0b0c0d0e0f10"},
		{"other type", noteBytes("GNU", 1, id), ""},
		{"other name", noteBytes("Xen", 3, id), ""},
		{"truncated", good[:len(good)-4], ""},
		{"lying size", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[4:], 1<<31)
			return b
		}(), ""},
		{"empty", nil, ""},
	} {
		got, ok := NotesBuildID(tc.b)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}

// FuzzNotesBuildID: any bytes give a build-id or none, never a panic; a
// build-id found is hex of a note's descriptor, so no longer than the input.
func FuzzNotesBuildID(f *testing.F) {
	f.Add(noteBytes("GNU", 3, []byte{1, 2, 3, 4}))
	f.Add(append(noteBytes("Linux", 0x100, []byte{1}), noteBytes("GNU", 3, make([]byte, 20))...))
	f.Add([]byte{4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 'G', 'N', 'U', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := NotesBuildID(b)
		if ok && (id == "" || len(id) > 2*len(b)) {
			t.Fatalf("build-id %q from %d bytes", id, len(b))
		}
	})
}
