package testdata

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"sort"
	"strings"
)

// The sources that decide what a dump holds. A change to any of them makes
// new cache keys, so stale dumps are never taken for current ones.
//
//go:embed guests.go hangfs/*.go hangfs/*.s gen/*.go gen/init.sh gen/setup-apt.sh kmod/kwalk_hang.c kmod/Kbuild cprog/ufutex.c
var generatorSources embed.FS

// GeneratorHash is a digest of the generator's sources (host and guest side).
func GeneratorHash() string {
	h := sha256.New()
	var names []string
	fs.WalkDir(generatorSources, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, "_test.go") {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		b, _ := generatorSources.ReadFile(n)
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Key is the cache key of g's dump: the generator hash, the guest and its
// kernel's packages (after any override).
func Key(g Guest, k Kernel) string {
	b, _ := json.Marshal(struct {
		Gen      string
		Guest    Guest
		Packages []Package
	}{GeneratorHash(), g, k.Packages})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// KmodSources are the kmod guest's kernel module sources (kmod/): file name
// to contents, for the generator to build against a kernel's headers.
func KmodSources() map[string][]byte {
	out := map[string][]byte{}
	for _, n := range []string{"kwalk_hang.c", "Kbuild"} {
		b, err := generatorSources.ReadFile("kmod/" + n)
		if err == nil {
			out[n] = b
		}
	}
	return out
}

// CprogSource is the source of one of the C programs some scenarios run
// (cprog/NAME.c), built static by the generator with the host's gcc.
func CprogSource(name string) ([]byte, error) {
	return generatorSources.ReadFile("cprog/" + name + ".c")
}
