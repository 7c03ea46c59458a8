package kwalk

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/kcore"
)

// checkBuildID refuses a vmlinux whose GNU build ID differs from the one the
// dumped kernel recorded in VMCOREINFO (BUILD-ID, kernel/vmcore_info.c). A
// dump without a usable BUILD-ID, or a vmlinux without the note, passes: there
// is nothing to compare.
func checkBuildID(vmlinux string, info *kcore.VMCoreInfo) error {
	if info == nil {
		return nil
	}
	want := strings.ToLower(strings.TrimSpace(info.BuildID()))
	if len(want) < 8 || strings.Trim(want, "0") == "" {
		return nil
	}
	got, err := elfBuildID(vmlinux)
	if err != nil || got == "" {
		return nil
	}
	if !strings.HasPrefix(got, want) && !strings.HasPrefix(want, got) {
		return fmt.Errorf("%s has build-id %s but the dumped kernel's is %s: this vmlinux belongs to another build (its types and symbols would be wrong)", vmlinux, got, want)
	}
	return nil
}

// elfBuildID reads the NT_GNU_BUILD_ID note of an ELF file.
func elfBuildID(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		for len(b) >= 12 {
			nsz := binary.LittleEndian.Uint32(b[0:])
			dsz := binary.LittleEndian.Uint32(b[4:])
			typ := binary.LittleEndian.Uint32(b[8:])
			nEnd := 12 + (uint64(nsz)+3)&^3
			dEnd := nEnd + (uint64(dsz)+3)&^3
			if dEnd > uint64(len(b)) {
				break
			}
			name := strings.TrimRight(string(b[12:12+nsz]), "\x00")
			if name == "GNU" && typ == 3 { // NT_GNU_BUILD_ID
				return hex.EncodeToString(b[nEnd : nEnd+uint64(dsz)]), nil
			}
			b = b[dEnd:]
		}
	}
	return "", nil
}
