package debuginfod

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// ntGNUBuildID is the note type of a GNU build-id (elf.h NT_GNU_BUILD_ID).
const ntGNUBuildID = 3

// FileBuildID reads the GNU build-id note of an ELF file (in a vmlinux it
// is in .notes, in a module or program in .note.gnu.build-id), as hex.
func FileBuildID(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE || s.Size > 1<<20 {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		if id, ok := noteBuildID(b, f.ByteOrder); ok {
			return id, nil
		}
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			continue
		}
		if id, ok := noteBuildID(b, f.ByteOrder); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("%s: %w", path, errNoBuildID)
}

var errNoBuildID = errors.New("no GNU build-id note")

// NotesBuildID finds the GNU build-id in a run of ELF notes, such as the
// running kernel's /sys/kernel/notes (little-endian), as hex.
func NotesBuildID(b []byte) (string, bool) { return noteBuildID(b, binary.LittleEndian) }

// noteBuildID finds the NT_GNU_BUILD_ID note owned by "GNU" in b.
func noteBuildID(b []byte, bo binary.ByteOrder) (string, bool) {
	for len(b) >= 12 {
		nsz := uint64(bo.Uint32(b[0:]))
		dsz := uint64(bo.Uint32(b[4:]))
		typ := bo.Uint32(b[8:])
		nEnd := 12 + (nsz+3)&^3
		dEnd := nEnd + (dsz+3)&^3
		if nEnd > uint64(len(b)) || nEnd+dsz > uint64(len(b)) {
			return "", false
		}
		if typ == ntGNUBuildID && nsz == 4 && string(b[12:15]) == "GNU" && dsz > 0 {
			return hex.EncodeToString(b[nEnd : nEnd+dsz]), true
		}
		if dEnd > uint64(len(b)) {
			return "", false
		}
		b = b[dEnd:]
	}
	return "", false
}
